import { AppError } from '../errors';

/**
 * Bad or missing export input (metadata, partition blob, CSV structure). Never retried: the export itself must be
 * fixed or re-run. The message names the blob and, where it applies, the line and column; it never holds a cell value.
 */
export class SourceError extends AppError {
  readonly code = 'SOURCE_INVALID';
  readonly retryable = false;

  constructor(
    readonly blobName: string,
    problem: string,
    readonly line?: number,
    readonly column?: string,
  ) {
    super(
      `${blobName}${line !== undefined ? ` line ${line}` : ''}${column !== undefined ? ` column ${column}` : ''}: ${problem}`,
    );
  }
}

/**
 * Reading a blob failed on the way (connection cut, timeout) after the SDK's own retries. Retryable: the run fails
 * its step, the queue delivers it again, and it resumes from its checkpoint.
 */
export class SourceReadError extends AppError {
  readonly code = 'SOURCE_READ_FAILED';
  readonly retryable = true;

  constructor(blobName: string, cause: string) {
    super(`${blobName}: reading the blob failed (${cause}); the run will be retried`);
  }
}
