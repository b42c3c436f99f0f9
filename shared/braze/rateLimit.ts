export interface Clock {
  /** Milliseconds since the epoch (Date.now semantics: rate-limit reset headers are wall-clock epochs). */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export type ResponseHeaders = Readonly<Record<string, string | string[] | undefined>>;

/** Braze sends epoch seconds or seconds remaining in X-RateLimit-Reset; no window is anywhere near 1e9 seconds. */
const EPOCH_THRESHOLD_SECONDS = 1e9;

function header(headers: ResponseHeaders, name: string): string | undefined {
  const value = headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  const trimmed = first?.trim();
  return trimmed === '' ? undefined : trimmed;
}

function seconds(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+(\.\d+)?$/.test(value)) return undefined;
  return Number(value);
}

/** Milliseconds until an X-RateLimit-Reset value: epoch seconds when above 1e9, else seconds remaining. */
export function resetDelayInMs(reset: string | undefined, nowInMs: number): number | undefined {
  const value = seconds(reset);
  if (value === undefined) return undefined;
  const delay = value > EPOCH_THRESHOLD_SECONDS ? value * 1000 - nowInMs : value * 1000;
  return Math.max(0, Math.ceil(delay));
}

/**
 * How long a 429 asks the client to wait (spec §5 client policy): the first present of X-Ratelimit-Retry-After
 * (seconds), Retry-After (seconds or HTTP date), X-RateLimit-Reset (epoch or seconds). Undefined when none is usable.
 * Header names are lower-case, as node:http delivers them.
 */
export function throttleDelayInMs(headers: ResponseHeaders, nowInMs: number): number | undefined {
  const brazeRetryAfter = seconds(header(headers, 'x-ratelimit-retry-after'));
  if (brazeRetryAfter !== undefined) return Math.ceil(brazeRetryAfter * 1000);

  const retryAfter = header(headers, 'retry-after');
  if (retryAfter !== undefined) {
    const retryAfterSeconds = seconds(retryAfter);
    if (retryAfterSeconds !== undefined) return Math.ceil(retryAfterSeconds * 1000);
    const date = Date.parse(retryAfter);
    if (!Number.isNaN(date)) return Math.max(0, date - nowInMs);
  }

  return resetDelayInMs(header(headers, 'x-ratelimit-reset'), nowInMs);
}

/** When a successful response says the window is used up (remaining 0), milliseconds until it resets. */
export function exhaustedWindowDelayInMs(headers: ResponseHeaders, nowInMs: number): number | undefined {
  if (seconds(header(headers, 'x-ratelimit-remaining')) !== 0) return undefined;
  return resetDelayInMs(header(headers, 'x-ratelimit-reset'), nowInMs);
}

export interface TokenBucketOptions {
  requestsPerSecond: number;
  /** Requests that may start at once after a quiet period. */
  burst: number;
  clock?: Clock;
  /** After a throttling episode, the rate doubles every this many milliseconds until it is back to full. */
  recoveryDoublingInMs?: number;
  /** The rate never drops below this share of `requestsPerSecond`. */
  minimumRateShare?: number;
}

/**
 * Request budget shared by every request (first attempts and retries), as a virtual-schedule token bucket
 * (GCRA): each reservation takes the next free slot, so waiting callers are spaced evenly. Braze 429s pause it
 * and halve its rate; the rate recovers by doubling while no further 429 arrives.
 */
export class TokenBucket {
  readonly burst: number;
  private readonly clock: Clock;
  private readonly fullRate: number;
  private readonly recoveryDoublingInMs: number;
  private readonly minimumRateShare: number;
  /** Theoretical arrival time of the next request at the current rate. */
  private nextSlotAt = 0;
  private pausedUntil = 0;
  /** Rate share when the last pause ends; grows from there. */
  private shareAfterPause = 1;

  constructor(options: TokenBucketOptions) {
    this.fullRate = options.requestsPerSecond;
    this.burst = Math.max(1, Math.floor(options.burst));
    this.clock = options.clock ?? systemClock;
    this.recoveryDoublingInMs = options.recoveryDoublingInMs ?? 5_000;
    this.minimumRateShare = options.minimumRateShare ?? 1 / 64;
  }

  /** The rate in force now, in requests per second. */
  get requestsPerSecond(): number {
    return this.fullRate * this.rateShare(this.clock.now());
  }

  isPaused(): boolean {
    return this.clock.now() < this.pausedUntil;
  }

  /** Reserves the next slot; returns how many milliseconds from now the request may start. */
  reserve(): number {
    const now = this.clock.now();
    const intervalInMs = 1000 / (this.fullRate * this.rateShare(now));
    const toleranceInMs = (this.burst - 1) * intervalInMs;
    const earliest = Math.max(now, this.pausedUntil);
    const slot = Math.max(this.nextSlotAt, earliest);
    const startAt = Math.max(earliest, slot - toleranceInMs);
    this.nextSlotAt = slot + intervalInMs;
    return startAt - now;
  }

  /**
   * Braze said 429: nobody starts before `untilInMs`. The first 429 of an episode (one that arrives while not
   * paused) halves the rate; later ones of the same episode only extend the pause. Returns true when halved.
   */
  throttle(untilInMs: number): boolean {
    const now = this.clock.now();
    const newEpisode = now >= this.pausedUntil;
    const share = this.rateShare(now);
    this.pause(untilInMs, newEpisode ? Math.max(this.minimumRateShare, share / 2) : share);
    return newEpisode;
  }

  /** Nobody starts before `untilInMs`, and no burst right after it; the rate is unchanged. */
  hold(untilInMs: number): void {
    this.pause(untilInMs, this.rateShare(this.clock.now()));
  }

  private pause(untilInMs: number, share: number): void {
    this.shareAfterPause = share;
    this.pausedUntil = Math.max(this.pausedUntil, untilInMs);
    const intervalInMs = 1000 / (this.fullRate * share);
    this.nextSlotAt = Math.max(this.nextSlotAt, this.pausedUntil + (this.burst - 1) * intervalInMs);
  }

  private rateShare(now: number): number {
    if (now < this.pausedUntil || this.shareAfterPause >= 1) return this.shareAfterPause;
    const doublings = (now - this.pausedUntil) / this.recoveryDoublingInMs;
    return Math.min(1, this.shareAfterPause * 2 ** doublings);
  }
}
