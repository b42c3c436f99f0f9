import type { Clock } from '../../shared/braze/rateLimit';

/**
 * Time that moves only when the code under test waits: each sleep ends at `now + ms`, sleeps end in that order, and
 * `now` jumps to the end of each. Pacing measured on it depends on the code alone, not on how busy the machine is.
 */
export class VirtualTime {
  private nowMs = Date.UTC(2026, 0, 1);
  private readonly sleepers: Array<{ endsAt: number; wake: () => void }> = [];
  private waking = false;

  readonly clock: Clock = { now: () => this.nowMs };

  readonly sleep = (ms: number, signal: AbortSignal): Promise<void> => {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const sleeper = {
        endsAt: this.nowMs + ms,
        wake: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.sleepers.splice(this.sleepers.indexOf(sleeper), 1);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.sleepers.push(sleeper);
      this.wakeNext();
    });
  };

  /** Wakes the sleeper that ends first, once the sleeps started in this turn of the event loop are all queued. */
  private wakeNext(): void {
    if (this.waking) return;
    this.waking = true;
    setImmediate(() => {
      this.waking = false;
      this.sleepers.sort((a, b) => a.endsAt - b.endsAt);
      const next = this.sleepers.shift();
      if (!next) return;
      this.nowMs = Math.max(this.nowMs, next.endsAt);
      next.wake();
      if (this.sleepers.length > 0) this.wakeNext();
    });
  }
}
