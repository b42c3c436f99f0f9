/** A configuration problem: never retried, reported with every problem found, values of secrets never included. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly retryable = false;

  constructor(
    readonly source: string,
    readonly problems: readonly string[],
  ) {
    super(`Invalid ${source}:\n- ${problems.join('\n- ')}`);
  }
}
