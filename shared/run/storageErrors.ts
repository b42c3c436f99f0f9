import { AppError, isTransientStorageError, storageStatus } from '../errors';

/** A storage write that kept failing transiently: the run stops, and resumes from its checkpoint later. */
export class StorageUnavailableError extends AppError {
  readonly code = 'STORAGE_UNAVAILABLE';
  readonly retryable = true;
  constructor(what: string, cause: unknown) {
    const status = storageStatus(cause);
    super(`state storage unavailable while writing ${what} (${status ? `HTTP ${status}` : connectionCode(cause)})`);
  }
}

export interface StorageRetryOptions {
  /** Tries in all (the SDK's own retries of 500/503 and connection errors happen inside each). Default 5. */
  attempts?: number;
  /** Wait before the second try, doubled for each further one. Default 500. */
  firstDelayInMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Runs an idempotent storage write, retrying transient failures (the SDK does not retry 408, 429, 502 or 504);
 * a failure that persists becomes a `StorageUnavailableError` (retryable). Other errors pass through at once.
 */
export async function withStorageRetry<T>(
  what: string,
  write: () => Promise<T>,
  options: StorageRetryOptions = {},
): Promise<T> {
  const attempts = options.attempts ?? 5;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (error) {
      if (!isTransientStorageError(error)) throw error;
      if (attempt >= attempts) throw new StorageUnavailableError(what, error);
      await sleep((options.firstDelayInMs ?? 500) * 2 ** (attempt - 1));
    }
  }
}

function connectionCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'connection error';
}
