import { systemClock, type Clock } from './rateLimit';

/** `BRAZE_CONCURRENCY`: a ceiling the limit adapts under (`256`), or a fixed number of requests in flight (`fixed:16`). */
export type ConcurrencySetting = { mode: 'adaptive'; ceiling: number } | { mode: 'fixed'; limit: number };

export interface ConcurrencyLimiterOptions {
  /** Requests in flight never exceed this. */
  ceiling: number;
  /** The request budget (requests per second): more in flight than budget × latency only queue on the bucket. */
  requestsPerSecond: number;
  clock?: Clock;
  /** Limit at the start, grown by slow start. Default 8 (at most the ceiling). */
  initialLimit?: number;
  /** In flight kept above budget × latency, so jitter in answer times does not leave the budget unused. Default 1.5. */
  headroom?: number;
  /**
   * Answers slower than this many times the fastest recent answer mean requests queue somewhere (the server, the
   * network, this process's event loop): the limit stops growing and halves. Default 4.
   */
  queueingFactor?: number;
  /**
   * Answer times below this are this process's own scheduling (an event loop busy reading rows), not Braze's: the
   * queueing guard compares with at least this. Default 50.
   */
  latencyFloorInMs?: number;
  /** Two halvings are at least a round trip and at least this far apart. Default 100. */
  minimumDecreaseIntervalInMs?: number;
  /** The fastest answer is the minimum over the current and the previous window of this length. Default 10,000. */
  minimumWindowInMs?: number;
}

/** Weight of a new answer time in the smoothed latency. */
const SMOOTHING = 1 / 8;

/**
 * How many requests may be in flight: additive increase, multiplicative decrease (AIMD, as TCP's congestion window),
 * under a target from Little's law (in flight = request budget × answer time × headroom).
 *
 * - Slow start: from `initialLimit`, +1 per answer (doubling per round trip) until the first congestion signal or
 *   the target; then +1/limit per answer (+1 per round trip).
 * - A 429, a 5xx, a timeout or a connection error halves the limit, once per round trip and at most every 100 ms
 *   (the answers of the requests already in flight when the first signal came do not halve it again).
 * - When the smoothed answer time exceeds `queueingFactor` × the fastest recent answer (at least 50 ms), requests are
 *   queueing rather than being served: the limit halves too, but not below its start, so a slow server is not buried
 *   under more requests, and a busy event loop (whose delays look like slow answers) does not starve the pool.
 * - The target follows the measured latency; the limit never exceeds it or the ceiling, and never drops below 1.
 */
export class ConcurrencyLimiter {
  private readonly ceiling: number;
  private readonly requestsPerSecond: number;
  private readonly clock: Clock;
  private readonly headroom: number;
  private readonly queueingFactor: number;
  private readonly latencyFloorInMs: number;
  private readonly minimumDecreaseIntervalInMs: number;
  /** The queueing guard halves no lower than this (the start): only Braze's own signals go lower. */
  private readonly queueingFloor: number;
  private readonly minimumWindowInMs: number;
  private window: number;
  private slowStart = true;
  private smoothedLatencyInMs: number | null = null;
  private windowStartedAt: number;
  private currentWindowMinimumInMs = Infinity;
  private previousWindowMinimumInMs = Infinity;
  /** No decrease before this time: one halving per round trip. */
  private decreaseAllowedAt = -Infinity;
  /** Congestion signals and queueing halvings so far (for the bench and logs). */
  decreases = 0;

  constructor(options: ConcurrencyLimiterOptions) {
    this.ceiling = Math.max(1, Math.floor(options.ceiling));
    this.requestsPerSecond = options.requestsPerSecond;
    this.clock = options.clock ?? systemClock;
    this.headroom = options.headroom ?? 1.5;
    this.queueingFactor = options.queueingFactor ?? 4;
    this.latencyFloorInMs = options.latencyFloorInMs ?? 50;
    this.minimumDecreaseIntervalInMs = options.minimumDecreaseIntervalInMs ?? 100;
    this.minimumWindowInMs = options.minimumWindowInMs ?? 10_000;
    this.window = Math.min(this.ceiling, Math.max(1, options.initialLimit ?? 8));
    this.queueingFloor = this.window;
    this.windowStartedAt = this.clock.now();
  }

  /** Requests that may be in flight now. */
  get limit(): number {
    return Math.max(1, Math.min(Math.floor(this.window), this.target()));
  }

  /** Little's law: the in-flight count that spends the budget at the measured answer time, with headroom. */
  target(): number {
    if (this.smoothedLatencyInMs === null) return this.ceiling;
    const needed = Math.ceil((this.requestsPerSecond * this.smoothedLatencyInMs * this.headroom) / 1000);
    return Math.min(this.ceiling, Math.max(1, needed));
  }

  /** Smoothed answer time in ms (null before the first answer). */
  get latencyInMs(): number | null {
    return this.smoothedLatencyInMs;
  }

  /** An answer that is not a congestion signal (2xx, 4xx other than 429) came after `latencyInMs`. */
  onAnswer(latencyInMs: number): void {
    const now = this.clock.now();
    this.observe(latencyInMs, now);
    if (this.queueing()) {
      this.decrease(now, this.queueingFloor);
      return;
    }
    // Growing past the target only adds requests that wait on the token bucket (and objects a crash resends).
    const target = this.target();
    if (this.window >= target) {
      // Kept near the target, so a rise in latency grows it again step by step rather than all at once.
      this.window = Math.min(this.window, target + 1);
      return;
    }
    this.window = Math.min(this.ceiling, this.window + (this.slowStart ? 1 : 1 / this.window));
  }

  /** A 429, 5xx, 408, timeout or connection error. */
  onCongestion(): void {
    this.decrease(this.clock.now(), 1);
  }

  private decrease(now: number, floor: number): void {
    this.slowStart = false;
    if (now < this.decreaseAllowedAt) return;
    const halved = Math.max(floor, Math.min(this.window, this.target()) / 2);
    if (halved >= this.window) return;
    this.window = halved;
    this.decreases++;
    this.decreaseAllowedAt = now + Math.max(this.smoothedLatencyInMs ?? 0, this.minimumDecreaseIntervalInMs);
  }

  private observe(latencyInMs: number, now: number): void {
    this.smoothedLatencyInMs =
      this.smoothedLatencyInMs === null
        ? latencyInMs
        : this.smoothedLatencyInMs + SMOOTHING * (latencyInMs - this.smoothedLatencyInMs);
    if (now - this.windowStartedAt >= this.minimumWindowInMs) {
      this.previousWindowMinimumInMs = this.currentWindowMinimumInMs;
      this.currentWindowMinimumInMs = Infinity;
      this.windowStartedAt = now;
    }
    this.currentWindowMinimumInMs = Math.min(this.currentWindowMinimumInMs, latencyInMs);
  }

  private queueing(): boolean {
    const fastest = Math.min(this.currentWindowMinimumInMs, this.previousWindowMinimumInMs);
    const baseline = Math.max(fastest, this.latencyFloorInMs);
    return (this.smoothedLatencyInMs ?? 0) > this.queueingFactor * baseline;
  }
}

/** A fixed number of requests in flight, with the limiter's interface. */
export class FixedConcurrency {
  readonly decreases = 0;
  constructor(readonly limit: number) {}
  get latencyInMs(): number | null {
    return null;
  }
  onAnswer(): void {}
  onCongestion(): void {}
}

export type Concurrency = Pick<ConcurrencyLimiter, 'limit' | 'latencyInMs' | 'onAnswer' | 'onCongestion' | 'decreases'>;

/** Parses `BRAZE_CONCURRENCY`: `N` (adaptive, ceiling N) or `fixed:N`, N from 1 to `max`; null when invalid. */
export function parseConcurrencySetting(text: string, max: number): ConcurrencySetting | null {
  const match = /^(fixed:)?\s*(\d+)$/i.exec(text.trim());
  if (!match) return null;
  const value = Number(match[2]);
  if (!Number.isInteger(value) || value < 1 || value > max) return null;
  return match[1] ? { mode: 'fixed', limit: value } : { mode: 'adaptive', ceiling: value };
}
