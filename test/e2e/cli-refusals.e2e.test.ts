/**
 * The command line's own refusals (a bad choice, a number that is not one), as an operator sees them from
 * the built CLI: one error line and a pointer to --help, not the command's whole help after it.
 */
import { describe, expect, it } from 'vitest';
import { runDan } from '../helpers/processes.js';

describe('dan refusing a flag', () => {
  it.each([
    [['gateway', '--auth', 'maybe'], "error: option '--auth <mode>' argument 'maybe' is invalid. Allowed choices are off, optional, required."],
    [['node', '--slots', 'two'], "error: option '--slots <n>' argument 'two' is invalid. expected an integer"],
  ])('%j: one line and a pointer to --help', async (args, error) => {
    const { code, stderr } = await runDan(args);
    expect(code).toBe(1);
    expect(stderr.trimEnd().split('\n')).toEqual([error, '(add --help for the options)']);
  });
});
