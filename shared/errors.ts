/**
 * The project's errors and the one rule for retrying them. Every error class of the project extends `AppError`,
 * so whether a failure is retried is read from the error itself; errors of the storage SDK (which are not ours)
 * are classified here by status, once.
 */

/** Base of every error the project throws: a stable `code` to branch on and whether a retry may succeed. */
export abstract class AppError extends Error {
  /** Stable, machine-readable kind of failure (messages may be reworded; codes are not). */
  abstract readonly code: string;
  /** True when the same step may succeed later: the run is retried or resumed from its checkpoint. */
  abstract readonly retryable: boolean;

  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    // The class's own name (`SourceError: …` in logs), without each class restating it.
    this.name = new.target.name;
  }
}

/** Whether a failure may pass when tried again: our errors say so; storage SDK errors are classified by status. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof AppError) return error.retryable;
  return isTransientStorageError(error);
}

/** Error codes of a request that never got an answer: the service may be fine a moment later. */
export const CONNECTION_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'REQUEST_SEND_ERROR',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** HTTP status of a storage SDK error (`RestError`), or undefined for anything else. */
export function storageStatus(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/**
 * The one classifier of storage failures: a 5xx, 408 or 429 answer, or a connection error, is transient (retried,
 * and when it persists the run stays resumable); any other answer (404, 409, 412, 403, ...) is one to act on.
 * A wrapper without a status of its own is classified by its `cause`.
 */
export function isTransientStorageError(error: unknown): boolean {
  const status = storageStatus(error);
  if (status !== undefined && status !== 0) return status >= 500 || status === 408 || status === 429;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && CONNECTION_ERROR_CODES.has(code.toUpperCase())) return true;
  const cause = (error as { cause?: unknown } | null)?.cause;
  return cause !== undefined && cause !== error && isTransientStorageError(cause);
}
