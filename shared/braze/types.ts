/**
 * Contract of the Braze delivery engine. The run pipeline depends only on these types and on
 * `BrazeDelivery` / `resolveBrazeEndpoint` in `./index`.
 */

import { AppError } from '../errors';

/** A Braze user attributes object as sent to `/users/track` (identifier, flags, attributes). */
export type BrazeAttributesObject = Record<string, unknown>;

export interface DeliveryItem {
  /** The caller's reference for this object (e.g. a row sequence number); returned in its result. */
  ref: number;
  object: BrazeAttributesObject;
}

export type RowResult = { ref: number; status: 'accepted' } | { ref: number; status: 'rejected'; reason: string };

export interface DeliveryStats {
  requests: number;
  /** Requests retried (any cause). */
  retries: number;
  /** 429 responses received. */
  throttled: number;
  /** 413 (or 400 "Max Input Length Exceeded") responses that made a batch split. */
  splits: number;
  accepted: number;
  rejected: number;
  /** Largest number of requests in flight at once. */
  peakInFlight: number;
  /** Requests allowed in flight at the end (the adaptive limit, or the fixed count). */
  concurrencyLimit: number;
  /** Times the adaptive limit halved (429s, 5xx, timeouts, queueing). */
  concurrencyDecreases: number;
  /** Requests in flight now, and sealed batches waiting for a slot. */
  inFlight: number;
  queuedBatches: number;
}

export interface BrazeDeliveryOptions {
  /** Base URL from `resolveBrazeEndpoint`. */
  endpoint: URL;
  apiKey: string;
  /** Objects per request, 1..75. Default 75. */
  batchSize?: number;
  /** Maximum request body in bytes. Default 4,000,000 (Braze: 4 MB). */
  maxBodyBytes?: number;
  /**
   * Requests in flight: a number is a fixed count; `{ mode: 'adaptive', ceiling }` adapts to answer times and the
   * budget (shared/braze/concurrency.ts). Default: 16, fixed.
   */
  concurrency?: number | import('./concurrency').ConcurrencySetting;
  /** Token bucket: requests started per second, across all in flight. Default 500. */
  requestsPerSecond?: number;
  /** Attempts per request for retryable failures. Default 8. */
  maxAttempts?: number;
  /** Total time a request may spend retrying. Default 600,000. */
  maxRetryTimeInMs?: number;
  /** Timeout of one HTTP request. Default 30,000. */
  requestTimeoutInMs?: number;
  /** Called for every item, exactly once, when its fate is known (in completion order). */
  onResults: (results: RowResult[]) => void;
  /**
   * Called once when delivery stops for good (401/403/404, retries exhausted). Items still in flight then get no
   * result: a caller waiting for results must stop waiting.
   */
  onFailure?: (error: Error) => void;
  logger?: import('../telemetry/logger').Logger;
  /** First backoff step for 5xx, timeouts, connection errors and header-less 429s; doubles per attempt, full jitter. Default 1,000. */
  retryBaseDelayInMs?: number;
  /** Largest backoff step. Default 60,000. */
  retryMaxDelayInMs?: number;
  /** Random extra wait (0..this) after a 429's own wait, so throttled requests do not all return at once. Default 1,000. */
  throttleJitterInMs?: number;
  /** Requests the token bucket lets start at once after a quiet period. Default: `concurrency`, at most `requestsPerSecond`. */
  requestBurst?: number;
  /** Wall clock (rate-limit reset headers are epochs). Default: Date.now. */
  clock?: import('./rateLimit').Clock;
  /**
   * Waits `ms` (retry delays, the request budget); rejects when `signal` aborts. Default: a timer. Tests pass one
   * that advances a fake `clock`, so pacing is checked without the machine's speed in it.
   */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Sends one HTTP request. Default: the Braze client (`./client`, axios) with `concurrency` keep-alive sockets. */
  transport?: import('./http').HttpTransport;
}

/**
 * Why the run must stop: a configuration problem Braze reported (401/403/404), retries exhausted, or a 429 wait
 * longer than the retry budget.
 */
export class BrazeFatalError extends AppError {
  readonly code = 'BRAZE_FATAL';
  constructor(
    message: string,
    readonly status: number | null,
    readonly retryable: boolean,
    /** Braze asked for this wait (429 headers) before the next request: the run resumes after it, not before. */
    readonly resumeAfterInMs?: number,
  ) {
    super(message);
  }
}
