/**
 * @module errors/startup-error
 *
 * A refusal to start that the operator fixes (a flag, a configuration value, a
 * data directory), not a bug: the CLI prints its message alone on stderr, with
 * no stack trace, and exits with status 1 (cli/main.ts). A stack trace there
 * points into DAN's code, where nothing is wrong, and buries the one line
 * that says what to change.
 *
 * Not a DanError: it never reaches a client or crosses a process boundary,
 * and has no catalog id or HTTP status.
 */
export class StartupError extends Error {
  override readonly name: string = 'StartupError';
}
