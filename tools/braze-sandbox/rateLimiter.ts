/** Fixed-window rate limit of `/users/track` with Braze's header styles (braze-api.md §5). */
import type { RateLimitOptions } from './types';

export interface RateDecision {
  allowed: boolean;
  /** Headers for this response: the three `x-ratelimit-*` when allowed, the configured throttle hint when not. */
  headers: Record<string, string>;
}

const HOUR_SECONDS = 3600;

/** A counter over windows aligned to multiples of their length since the epoch (an hour resets on the clock hour). */
class FixedWindow {
  private startMs = -1;
  used = 0;

  constructor(
    readonly limit: number,
    private readonly lengthMs: number,
  ) {}

  roll(now: number): void {
    const start = Math.floor(now / this.lengthMs) * this.lengthMs;
    if (start !== this.startMs) {
      this.startMs = start;
      this.used = 0;
    }
  }

  endMs(now: number): number {
    return Math.floor(now / this.lengthMs) * this.lengthMs + this.lengthMs;
  }
}

export class RateLimiter {
  private readonly burst: FixedWindow;
  /** MAU contracts: an hourly limit on top of the burst window; headers then describe the hour. */
  private readonly hourly: FixedWindow | null;

  constructor(
    private readonly options: RateLimitOptions,
    private readonly clock: () => number,
  ) {
    this.burst = new FixedWindow(options.limit, options.windowSeconds * 1000);
    this.hourly = options.hourlyLimit === undefined ? null : new FixedWindow(options.hourlyLimit, HOUR_SECONDS * 1000);
  }

  /** Counts one request (before its body is read) and decides whether it may proceed. */
  take(): RateDecision {
    const now = this.clock();
    this.burst.roll(now);
    this.hourly?.roll(now);
    const blocking = [this.hourly, this.burst].find((w) => w !== null && w.used >= w.limit);
    if (blocking) return { allowed: false, headers: this.throttleHeaders(now, blocking) };
    this.burst.used++;
    if (this.hourly) this.hourly.used++;
    return { allowed: true, headers: this.rateHeaders(now) };
  }

  /** The `x-ratelimit-*` headers without counting a request (responses refused before the limiter, e.g. 401). */
  peek(): Record<string, string> {
    const now = this.clock();
    this.burst.roll(now);
    this.hourly?.roll(now);
    return this.rateHeaders(now);
  }

  /** Headers a 429 gets in the configured style (also used by injected 429 faults). */
  throttleHeaders(now = this.clock(), blocking: FixedWindow = this.burst): Record<string, string> {
    const secondsLeft = String(secondsUntil(blocking.endMs(now), now));
    switch (this.options.throttleHeaders) {
      case 'ratelimit':
        return { ...this.rateHeaders(now), 'x-ratelimit-remaining': '0' };
      case 'retry-after-ratelimit':
        return { 'x-ratelimit-retry-after': secondsLeft };
      case 'retry-after':
        return { 'retry-after': secondsLeft };
      case 'none':
        return {};
    }
  }

  private rateHeaders(now: number): Record<string, string> {
    const window = this.hourly ?? this.burst;
    const endMs = window.endMs(now);
    const reset = this.options.resetStyle === 'epoch' ? Math.ceil(endMs / 1000) : secondsUntil(endMs, now);
    return {
      'x-ratelimit-limit': String(window.limit),
      'x-ratelimit-remaining': String(Math.max(0, window.limit - window.used)),
      'x-ratelimit-reset': String(reset),
    };
  }
}

function secondsUntil(endMs: number, now: number): number {
  return Math.max(1, Math.ceil((endMs - now) / 1000));
}
