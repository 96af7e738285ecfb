/**
 * A warning that would repeat every second while something stays wrong: said when it starts, then once a
 * minute with a count, and once when it stops.
 */
import { describe, expect, it } from 'vitest';
import { RepeatedWarning } from '../../src/util/repeated-warning.js';
import type { Logger } from '../../src/util/logger.js';

function recording(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (_fields: object, message = '') => lines.push(`${level}: ${message}`);
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

describe('RepeatedWarning', () => {
  it('says a failure once, then once a minute with how often it happened, and says when it stops', () => {
    const log = recording();
    let now = 0;
    const warning = new RepeatedWarning(log, 'could not read the keys again', 'the keys are read again', () => now);
    warning.succeeded();
    for (; now < 125_000; now += 1_000) warning.failed(new Error('database away'));
    warning.succeeded();
    warning.succeeded();
    expect(log.lines).toEqual([
      'warn: could not read the keys again',
      'warn: could not read the keys again (still; 60 more times since it was last said)',
      'warn: could not read the keys again (still; 60 more times since it was last said)',
      'info: the keys are read again',
    ]);
    // A new failure after the recovery is said again at once.
    warning.failed(new Error('away again'));
    expect(log.lines.at(-1)).toBe('warn: could not read the keys again');
  });
});
