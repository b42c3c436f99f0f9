import { AppError } from '../errors';

/** A configuration problem: never retried, reported with every problem found, values of secrets never included. */
export class ConfigError extends AppError {
  readonly code = 'CONFIG_INVALID';
  readonly retryable = false;

  constructor(
    readonly source: string,
    readonly problems: readonly string[],
  ) {
    super(`Invalid ${source}:\n- ${problems.join('\n- ')}`);
  }
}
