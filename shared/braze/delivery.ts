import { setMaxListeners } from 'node:events';
import pRetry, { AbortError } from 'p-retry';
import { AppError } from '../errors';
import { silentLogger, type Logger } from '../telemetry/logger';
import { ConcurrencyLimiter, FixedConcurrency, type Concurrency, type ConcurrencySetting } from './concurrency';
import { createBrazeClient } from './client';
import { TransportError, type HttpResponse, type HttpTransport } from './http';
import { exhaustedWindowDelayInMs, systemClock, throttleDelayInMs, TokenBucket, type Clock } from './rateLimit';
import { BrazeTextRedactor, describeResponse, isBrazeAnswer, parseBrazeBody, rowErrors } from './response';
import { apiKeyFormatProblem, setupProblem, statusKind } from './statuses';
import {
  BrazeFatalError,
  type BrazeDeliveryOptions,
  type DeliveryItem,
  type DeliveryStats,
  type RowResult,
} from './types';

const BODY_PREFIX = '{"attributes":[';
const BODY_SUFFIX = ']}';
const BODY_OVERHEAD_BYTES = BODY_PREFIX.length + BODY_SUFFIX.length;
/** Braze's per-request object cap (spec §4). */
export const MAX_BATCH_SIZE = 75;

interface Batch {
  refs: number[];
  /** Each object serialised once, in the order of `refs`. */
  pieces: string[];
  /** UTF-8 bytes of the pieces joined with commas. */
  bytes: number;
}

interface Waiter {
  resolve: () => void;
  reject: (error: Error) => void;
}

/** A failure worth another attempt: 429, 5xx, timeout, connection error, a 2xx that is not Braze's answer. */
class RetryableFailure extends AppError {
  readonly code = 'BRAZE_RETRYABLE';
  readonly retryable = true;
  constructor(
    message: string,
    readonly status: number | null,
    readonly throttleDelayInMs?: number,
  ) {
    super(message);
  }
}

/** A 2xx whose body is not Braze's JSON: nothing proves Braze applied the batch, so it is not a delivery. */
class UnconfirmedAnswer extends RetryableFailure {}

/** Retries of a 2xx that never became Braze's answer: the batch's rows are rejected with this reason. */
class UnconfirmedBatchError extends AppError {
  readonly code = 'BRAZE_UNCONFIRMED';
  readonly retryable = false;
}

function timerSleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0) return signal.aborted ? Promise.reject(signal.reason) : Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, Math.ceil(ms));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
}

function validateOptions(options: BrazeDeliveryOptions): void {
  const wholeNumber = (name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER) => {
    if (value === undefined) return;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
      throw new TypeError(`Expected \`${name}\` to be a whole number ${range}, got ${String(value)}.`);
    }
  };
  const positive = (name: string, value: unknown) => {
    if (value === undefined) return;
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw new TypeError(`Expected \`${name}\` to be a finite number > 0, got ${String(value)}.`);
    }
  };
  if (!(options.endpoint instanceof URL)) {
    throw new TypeError('Expected `endpoint` to be a URL from resolveBrazeEndpoint().');
  }
  if (typeof options.apiKey !== 'string' || options.apiKey.trim() === '') {
    throw new TypeError('Expected `apiKey` to be a non-empty string (BRAZE_API_KEY).');
  }
  const keyProblem = apiKeyFormatProblem(options.apiKey);
  if (keyProblem) throw new TypeError(keyProblem);
  if (typeof options.onResults !== 'function') throw new TypeError('Expected `onResults` to be a function.');
  wholeNumber('batchSize', options.batchSize, 1, MAX_BATCH_SIZE);
  wholeNumber('maxBodyBytes', options.maxBodyBytes, 1024);
  const concurrency = options.concurrency;
  if (typeof concurrency === 'object' && concurrency !== null) {
    wholeNumber(
      'concurrency.ceiling',
      concurrency.mode === 'adaptive' ? concurrency.ceiling : concurrency.limit,
      1,
      256,
    );
  } else wholeNumber('concurrency', concurrency, 1, 256);
  positive('requestsPerSecond', options.requestsPerSecond);
  wholeNumber('maxAttempts', options.maxAttempts, 1);
  wholeNumber('maxRetryTimeInMs', options.maxRetryTimeInMs, 0);
  wholeNumber('requestTimeoutInMs', options.requestTimeoutInMs, 1);
  wholeNumber('retryBaseDelayInMs', options.retryBaseDelayInMs, 0);
  wholeNumber('retryMaxDelayInMs', options.retryMaxDelayInMs, 0);
  wholeNumber('throttleJitterInMs', options.throttleJitterInMs, 0);
  wholeNumber('requestBurst', options.requestBurst, 1);
}

/**
 * Delivers Braze user attributes objects to `POST /users/track`: batches them (≤ batchSize objects, ≤ maxBodyBytes),
 * sends batches from a bounded pool under a shared token bucket, retries what Braze asks to retry, splits what is
 * too large, and reports every item's fate exactly once through `onResults`.
 */
export class BrazeDelivery {
  private readonly url: URL;
  private readonly batchSize: number;
  private readonly maxBodyBytes: number;
  /** The most requests ever in flight: the fixed count, or the adaptive limit's ceiling. */
  private readonly maxConcurrency: number;
  private readonly concurrency: Concurrency;
  private readonly maxAttempts: number;
  private readonly maxRetryTimeInMs: number;
  private readonly requestTimeoutInMs: number;
  private readonly retryBaseDelayInMs: number;
  private readonly retryMaxDelayInMs: number;
  private readonly throttleJitterInMs: number;
  private readonly onResults: (results: RowResult[]) => void;
  private readonly onFailure: ((error: Error) => void) | undefined;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly bucket: TokenBucket;
  private readonly send: HttpTransport;
  private readonly redactor: BrazeTextRedactor;
  private readonly closeTransport: () => void;
  /** Aborted with the fatal error: stops the retries and requests of every other batch. */
  private readonly stopping = new AbortController();

  private current: Batch = { refs: [], pieces: [], bytes: 0 };
  /** Sealed batches waiting for a free slot in the pool. */
  private readonly queue: Batch[] = [];
  private activeBatches = 0;
  private requestsInFlight = 0;
  private readonly spaceWaiters: Waiter[] = [];
  private readonly idleWaiters: Array<() => void> = [];
  private failure: Error | undefined;
  private flushed = false;
  private readonly counters: Omit<
    DeliveryStats,
    'concurrencyLimit' | 'concurrencyDecreases' | 'inFlight' | 'queuedBatches'
  > = {
    requests: 0,
    retries: 0,
    throttled: 0,
    splits: 0,
    accepted: 0,
    rejected: 0,
    peakInFlight: 0,
  };

  constructor(options: BrazeDeliveryOptions) {
    validateOptions(options);
    this.url = new URL('/users/track', options.endpoint);
    this.redactor = new BrazeTextRedactor(options.apiKey);
    this.batchSize = options.batchSize ?? MAX_BATCH_SIZE;
    this.maxBodyBytes = options.maxBodyBytes ?? 4_000_000;
    const setting: ConcurrencySetting =
      typeof options.concurrency === 'object'
        ? options.concurrency
        : { mode: 'fixed', limit: options.concurrency ?? 16 };
    const requestsPerSecond = options.requestsPerSecond ?? 500;
    this.maxConcurrency = setting.mode === 'fixed' ? setting.limit : setting.ceiling;
    this.concurrency =
      setting.mode === 'fixed'
        ? new FixedConcurrency(setting.limit)
        : new ConcurrencyLimiter({ ceiling: setting.ceiling, requestsPerSecond, clock: options.clock });
    this.maxAttempts = options.maxAttempts ?? 8;
    this.maxRetryTimeInMs = options.maxRetryTimeInMs ?? 600_000;
    this.requestTimeoutInMs = options.requestTimeoutInMs ?? 30_000;
    this.retryBaseDelayInMs = options.retryBaseDelayInMs ?? 1_000;
    this.retryMaxDelayInMs = options.retryMaxDelayInMs ?? 60_000;
    this.throttleJitterInMs = options.throttleJitterInMs ?? 1_000;
    this.onResults = options.onResults;
    this.onFailure = options.onFailure;
    this.logger = options.logger ?? silentLogger;
    this.clock = options.clock ?? systemClock;
    this.sleep = options.sleep ?? timerSleep;
    // Each batch in flight listens for the stop (its request, its retry wait, p-retry): more than Node's default
    // of 10 listeners is expected here, not a leak.
    setMaxListeners(this.maxConcurrency * 4, this.stopping.signal);
    this.bucket = new TokenBucket({
      requestsPerSecond,
      // The limit at the start: a burst of the ceiling could exceed a budget set at Braze's own limit.
      burst: options.requestBurst ?? Math.max(1, Math.min(this.concurrency.limit, Math.floor(requestsPerSecond))),
      clock: this.clock,
    });
    if (options.transport) {
      this.send = options.transport;
      this.closeTransport = () => {};
    } else {
      const client = createBrazeClient({
        endpoint: options.endpoint,
        apiKey: options.apiKey,
        timeoutInMs: this.requestTimeoutInMs,
        maxSockets: this.maxConcurrency,
      });
      this.send = client.send;
      this.closeTransport = client.close;
    }
  }

  get stats(): DeliveryStats {
    return {
      ...this.counters,
      concurrencyLimit: this.concurrency.limit,
      concurrencyDecreases: this.concurrency.decreases,
      inFlight: this.requestsInFlight,
      queuedBatches: this.queue.length,
    };
  }

  /** Requests that may be in flight now (adapts to Braze's answer times unless fixed). */
  get concurrencyLimit(): number {
    return this.concurrency.limit;
  }

  /**
   * Adds one object. Returns a promise when the caller must wait before pushing more (about `concurrencyLimit` sealed
   * batches wait already, or the delivery failed), else undefined: the hot loop then needs no await per object.
   */
  push(item: DeliveryItem): Promise<void> | undefined {
    const unusable = this.unusableError();
    if (unusable) return Promise.reject(unusable);
    const piece = JSON.stringify(item.object);
    const bytes = Buffer.byteLength(piece, 'utf8');
    if (bytes + BODY_OVERHEAD_BYTES > this.maxBodyBytes) {
      const reason = `object is ${bytes} bytes as JSON, over the request limit of ${this.maxBodyBytes} bytes`;
      this.report([{ ref: item.ref, status: 'rejected', reason }]);
      return undefined;
    }
    // Pieces are joined with one comma each.
    const fits = this.current.bytes + 1 + bytes + BODY_OVERHEAD_BYTES <= this.maxBodyBytes;
    if (this.current.refs.length > 0 && !fits) this.seal();
    this.current.bytes += (this.current.refs.length > 0 ? 1 : 0) + bytes;
    this.current.refs.push(item.ref);
    this.current.pieces.push(piece);
    if (this.current.refs.length >= this.batchSize) this.seal();

    if (this.queue.length < this.concurrency.limit) return undefined;
    return new Promise<void>((resolve, reject) => this.spaceWaiters.push({ resolve, reject }));
  }

  /** Sends the last, partial batch and waits for every batch; rejects with the fatal error if there was one. */
  async flush(): Promise<DeliveryStats> {
    this.assertUsable();
    this.flushed = true;
    if (this.current.refs.length > 0) this.seal();
    await new Promise<void>((resolve) => {
      this.idleWaiters.push(resolve);
      this.notifyIdle();
    });
    this.closeTransport();
    if (this.failure) throw this.failure;
    return this.stats;
  }

  private assertUsable(): void {
    const unusable = this.unusableError();
    if (unusable) throw unusable;
  }

  private unusableError(): Error | undefined {
    if (this.failure) return this.failure;
    if (this.flushed) return new Error('BrazeDelivery was already flushed: create a new one for another run');
    return undefined;
  }

  private seal(): void {
    this.queue.push(this.current);
    this.current = { refs: [], pieces: [], bytes: 0 };
    this.pump();
  }

  private pump(): void {
    while (!this.failure && this.activeBatches < this.concurrency.limit && this.queue.length > 0) {
      const batch = this.queue.shift() as Batch;
      this.activeBatches++;
      void this.run(batch);
    }
    while (this.spaceWaiters.length > 0 && this.queue.length < this.concurrency.limit) {
      this.spaceWaiters.shift()?.resolve();
    }
  }

  private async run(batch: Batch): Promise<void> {
    try {
      await this.sendBatch(batch.refs, batch.pieces);
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
    } finally {
      this.activeBatches--;
      this.pump();
      this.notifyIdle();
    }
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.queue.length = 0;
    this.stopping.abort(error);
    for (const waiter of this.spaceWaiters.splice(0)) waiter.reject(error);
    this.onFailure?.(error);
    this.logger.log('error', 'Braze delivery stopped', {
      status: error instanceof BrazeFatalError ? error.status : null,
      retryable: error instanceof BrazeFatalError ? error.retryable : false,
    });
  }

  private notifyIdle(): void {
    if (this.activeBatches > 0 || this.queue.length > 0) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private report(results: RowResult[]): void {
    for (const result of results) {
      if (result.status === 'accepted') this.counters.accepted++;
      else this.counters.rejected++;
    }
    this.onResults(results);
  }

  private async sendBatch(refs: number[], pieces: string[]): Promise<void> {
    let response: HttpResponse;
    try {
      response = await this.post(pieces);
    } catch (error) {
      if (!(error instanceof UnconfirmedBatchError)) throw error;
      this.report(refs.map((ref) => ({ ref, status: 'rejected', reason: error.message })));
      return;
    }
    const body = parseBrazeBody(response.text);
    const { status } = response;
    const reasons = rowErrors(body, pieces, this.redactor);

    if (status >= 200 && status < 300) {
      this.report(
        refs.map((ref, index): RowResult => {
          const reason = reasons.get(index);
          return reason === undefined ? { ref, status: 'accepted' } : { ref, status: 'rejected', reason };
        }),
      );
      return;
    }

    const tooLarge = status === 413 || (status === 400 && /max input length exceeded/i.test(String(body?.message)));
    if (tooLarge && refs.length > 1) {
      this.counters.splits++;
      this.logger.log('debug', 'Braze refused a batch as too large; splitting it', { status, objects: refs.length });
      const half = Math.ceil(refs.length / 2);
      await this.sendBatch(refs.slice(0, half), pieces.slice(0, half));
      await this.sendBatch(refs.slice(half), pieces.slice(half));
      return;
    }

    // Any other 4xx: Braze applied nothing from this request.
    const detail = describeResponse(status, response.text, pieces, this.redactor);
    const reason = tooLarge
      ? `Braze refused the object as too large (${detail})`
      : `Braze refused the request (${detail})`;
    this.report(refs.map((ref, index) => ({ ref, status: 'rejected', reason: reasons.get(index) ?? reason })));
  }

  /** POSTs one body, retrying 429, 5xx, timeouts and connection errors; returns any other response. */
  private async post(pieces: string[]): Promise<HttpResponse> {
    const body = BODY_PREFIX + pieces.join(',') + BODY_SUFFIX;
    const signal = this.stopping.signal;
    const startedAt = this.clock.now();
    let delayBeforeAttemptInMs = 0;
    let attempts = 0;
    try {
      return await pRetry(
        async () => {
          await this.sleep(delayBeforeAttemptInMs, signal);
          await this.acquireSlot(signal);
          attempts++;
          if (attempts > 1) this.counters.retries++;
          return this.attempt(body, pieces, signal);
        },
        {
          retries: this.maxAttempts - 1,
          // Waits are computed below (rate-limit headers, full jitter) and taken before the next attempt.
          minTimeout: 0,
          maxRetryTime: this.maxRetryTimeInMs,
          signal,
          // A 429 is Braze pacing us, not a failure of this request: bounded by maxRetryTimeInMs only.
          shouldConsumeRetry: ({ error }) => !(error instanceof RetryableFailure && error.status === 429),
          onFailedAttempt: ({ error, retriesLeft }) => {
            if (!(error instanceof RetryableFailure)) throw error;
            const now = this.clock.now();
            let waitInMs: number;
            if (error.status === 429) {
              this.counters.throttled++;
              const headerWaitInMs = error.throttleDelayInMs ?? this.backoffInMs(attempts);
              if (this.bucket.throttle(now + headerWaitInMs)) {
                this.logger.log('info', 'Braze throttled requests (429); pausing and halving the request rate', {
                  status: 429,
                  waitInMs: headerWaitInMs,
                  requestsPerSecond: Math.round(this.bucket.requestsPerSecond * 10) / 10,
                });
              }
              // The bucket holds everyone until the header's time; the jitter spreads the returning requests.
              delayBeforeAttemptInMs = Math.random() * this.throttleJitterInMs;
              waitInMs = headerWaitInMs + delayBeforeAttemptInMs;
            } else {
              delayBeforeAttemptInMs = this.backoffInMs(attempts);
              waitInMs = delayBeforeAttemptInMs;
            }
            if (now + waitInMs - startedAt > this.maxRetryTimeInMs) {
              if (error.status === 429 && error.throttleDelayInMs !== undefined) {
                throw this.waitRequestedError(error.throttleDelayInMs);
              }
              throw error;
            }
            if (error.status === 429 || retriesLeft > 0) {
              this.logger.log('debug', 'Braze request will be retried', {
                status: error.status ?? error.message,
                attempt: attempts,
                waitInMs: Math.round(waitInMs),
              });
            }
          },
        },
      );
    } catch (error) {
      if (error instanceof UnconfirmedAnswer) {
        throw new UnconfirmedBatchError(
          `Braze's answer could not be confirmed: ${error.message} after ${attempts} attempts ` +
            '(an intermediary answered instead of Braze); sent again next run',
        );
      }
      if (error instanceof RetryableFailure) {
        throw new BrazeFatalError(
          `Braze /users/track at ${this.url.host} kept failing (${error.message}) after ${attempts} attempts ` +
            `in ${Math.round((this.clock.now() - startedAt) / 1000)} s; stopping so the run can resume later`,
          error.status,
          true,
        );
      }
      throw error;
    }
  }

  /**
   * Braze asked (Retry-After or its reset headers) for a wait longer than the retry budget left: waiting here would
   * hold the worker past its budget, retrying earlier only earns more 429s. The step stops; the run resumes after it.
   */
  private waitRequestedError(waitInMs: number): BrazeFatalError {
    const seconds = Math.ceil(waitInMs / 1000);
    return new BrazeFatalError(
      `Braze asked to wait ${seconds} s (429 from ${this.url.host}), longer than the retry budget of ` +
        `${Math.round(this.maxRetryTimeInMs / 1000)} s (BRAZE_MAX_RETRY_TIME_MS); the run resumes after that wait`,
      429,
      true,
      waitInMs,
    );
  }

  /** Waits for the token bucket; a 429 pause that starts while waiting sends the request back in line. */
  private async acquireSlot(signal: AbortSignal): Promise<void> {
    do {
      await this.sleep(this.bucket.reserve(), signal);
    } while (this.bucket.isPaused());
  }

  /** Exponential backoff with full jitter: uniform in [0, min(max, base · 2^(attempt−1))]. */
  private backoffInMs(attempt: number): number {
    const ceiling = Math.min(this.retryMaxDelayInMs, this.retryBaseDelayInMs * 2 ** Math.max(0, attempt - 1));
    return Math.random() * ceiling;
  }

  /** One HTTP request. Throws RetryableFailure, or AbortError(BrazeFatalError) for 401/403/404. */
  private async attempt(body: string, pieces: readonly string[], signal: AbortSignal): Promise<HttpResponse> {
    this.counters.requests++;
    this.requestsInFlight++;
    this.counters.peakInFlight = Math.max(this.counters.peakInFlight, this.requestsInFlight);
    let response: HttpResponse;
    const sentAt = this.clock.now();
    try {
      response = await this.send({ method: 'POST', path: this.url.pathname, body, signal });
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      this.concurrency.onCongestion();
      const code = error instanceof TransportError ? error.code : 'ERROR';
      const message = code === 'TIMEOUT' ? `timeout after ${this.requestTimeoutInMs} ms` : `connection error ${code}`;
      throw new RetryableFailure(message, null);
    } finally {
      this.requestsInFlight--;
    }

    const { status } = response;
    const kind = statusKind(status);
    const now = this.clock.now();
    if (kind === 'throttled' || kind === 'transient') this.concurrency.onCongestion();
    else this.concurrency.onAnswer(now - sentAt);
    if (kind === 'throttled') {
      throw new RetryableFailure('HTTP 429', 429, throttleDelayInMs(response.headers, now));
    }
    const windowResetInMs = exhaustedWindowDelayInMs(response.headers, now);
    if (windowResetInMs !== undefined && windowResetInMs > 0) this.bucket.hold(now + windowResetInMs);
    if (kind === 'transient') {
      // Server errors are described by status only: their bodies are free text from load balancers or Braze that
      // may quote the request (names, ids), and nothing in them helps an operator act.
      throw new RetryableFailure(`HTTP ${status}`, status);
    }
    if (kind === 'setup') throw new AbortError(this.fatalError(response, pieces));
    if (kind === 'success' && !isBrazeAnswer(parseBrazeBody(response.text))) {
      const shape = response.text.trim() === '' ? 'an empty body' : "a body that is not Braze's JSON";
      throw new UnconfirmedAnswer(`HTTP ${status} with ${shape}`, status);
    }
    return response;
  }

  /** 401, 403, 404: what to fix, with Braze's message (redacted) except on 401, which says nothing more. */
  private fatalError(response: HttpResponse, pieces: readonly string[]): BrazeFatalError {
    const { status } = response;
    const problem = setupProblem(status, this.url.host, 'users.track');
    const detail = describeResponse(status, response.text, pieces, this.redactor);
    const message =
      status === 401
        ? `Braze rejected the API key (401): ${problem}`
        : `Braze refused the request (${detail}): ${problem}`;
    return new BrazeFatalError(message, status, false);
  }
}
