/**
 * @module cli/command-output
 *
 * Where a management command (`dan keys`, `dan catalog`) writes: results to
 * stdout, notes to stderr, so a script can read the one without the other.
 * Tests pass their own to read both.
 */
export interface CommandOutput {
  out(text: string): void;
  note(text: string): void;
}

export const processOutput: CommandOutput = {
  out: (text) => process.stdout.write(`${text}\n`),
  note: (text) => process.stderr.write(`${text}\n`),
};
