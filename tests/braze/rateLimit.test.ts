import { resetDelayInMs, throttleDelayInMs, TokenBucket } from '../../shared/braze';
import { exhaustedWindowDelayInMs } from '../../shared/braze/rateLimit';

const now = Date.UTC(2026, 10, 28, 12, 0, 0);

describe('throttleDelayInMs', () => {
  it('prefers X-Ratelimit-Retry-After, then Retry-After, then X-RateLimit-Reset', () => {
    const all = { 'x-ratelimit-retry-after': '2', 'retry-after': '5', 'x-ratelimit-reset': '9' };
    expect(throttleDelayInMs(all, now)).toBe(2000);
    expect(throttleDelayInMs({ 'retry-after': '5', 'x-ratelimit-reset': '9' }, now)).toBe(5000);
    expect(throttleDelayInMs({ 'x-ratelimit-reset': '9' }, now)).toBe(9000);
  });

  it('reads X-RateLimit-Reset as epoch seconds above 1e9 and as seconds remaining below', () => {
    expect(resetDelayInMs(String(now / 1000 + 3), now)).toBe(3000);
    expect(resetDelayInMs('3', now)).toBe(3000);
    expect(resetDelayInMs(String(now / 1000 - 10), now)).toBe(0);
  });

  it('accepts fractional seconds and an HTTP-date Retry-After', () => {
    expect(throttleDelayInMs({ 'x-ratelimit-retry-after': '0.25' }, now)).toBe(250);
    expect(throttleDelayInMs({ 'retry-after': new Date(now + 4000).toUTCString() }, now)).toBe(4000);
  });

  it('ignores missing, empty and malformed values', () => {
    expect(throttleDelayInMs({}, now)).toBeUndefined();
    expect(throttleDelayInMs({ 'x-ratelimit-retry-after': '', 'retry-after': 'soon' }, now)).toBeUndefined();
    expect(throttleDelayInMs({ 'x-ratelimit-retry-after': '-1', 'x-ratelimit-reset': '2' }, now)).toBe(2000);
  });

  it('sees an exhausted window only when remaining is 0', () => {
    expect(exhaustedWindowDelayInMs({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '2' }, now)).toBe(2000);
    expect(exhaustedWindowDelayInMs({ 'x-ratelimit-remaining': '7', 'x-ratelimit-reset': '2' }, now)).toBeUndefined();
  });
});

describe('TokenBucket', () => {
  function fakeClock(start = 1_000_000) {
    let time = start;
    return { now: () => time, advance: (ms: number) => (time += ms) };
  }

  it('lets a burst start at once, then spaces requests at the rate', () => {
    const clock = fakeClock();
    const bucket = new TokenBucket({ requestsPerSecond: 10, burst: 3, clock });
    const waits = Array.from({ length: 6 }, () => bucket.reserve());
    expect(waits).toEqual([0, 0, 0, 100, 200, 300]);
  });

  it('never starts more than rate + burst requests in any second', () => {
    const clock = fakeClock();
    const bucket = new TokenBucket({ requestsPerSecond: 20, burst: 4, clock });
    const starts: number[] = [];
    for (let step = 0; step < 300; step++) {
      // Callers arrive in clumps of 3 every 25 ms: far more than the budget.
      for (let i = 0; i < 3; i++) starts.push(clock.now() + bucket.reserve());
      clock.advance(25);
    }
    starts.sort((a, b) => a - b);
    let maxInOneSecond = 0;
    for (let i = 0, j = 0; i < starts.length; i++) {
      while (starts[i] - starts[j] >= 1000) j++;
      maxInOneSecond = Math.max(maxInOneSecond, i - j + 1);
    }
    expect(maxInOneSecond).toBeLessThanOrEqual(24);
    expect(maxInOneSecond).toBeGreaterThanOrEqual(20);
  });

  it('refills after a quiet period up to the burst only', () => {
    const clock = fakeClock();
    const bucket = new TokenBucket({ requestsPerSecond: 10, burst: 2, clock });
    bucket.reserve();
    bucket.reserve();
    clock.advance(10_000);
    expect([bucket.reserve(), bucket.reserve(), bucket.reserve()]).toEqual([0, 0, 100]);
  });

  it('pauses everyone until a 429 wait ends, halves the rate once per episode, and recovers', () => {
    const clock = fakeClock();
    const bucket = new TokenBucket({ requestsPerSecond: 100, burst: 5, clock, recoveryDoublingInMs: 1000 });
    expect(bucket.throttle(clock.now() + 2000)).toBe(true);
    expect(bucket.throttle(clock.now() + 2500)).toBe(false);
    expect(bucket.isPaused()).toBe(true);
    expect(bucket.requestsPerSecond).toBe(50);
    // No burst right after the pause: requests resume one interval (20 ms at 50/s) apart.
    expect([bucket.reserve(), bucket.reserve(), bucket.reserve()]).toEqual([2500, 2520, 2540]);
    clock.advance(2500);
    expect(bucket.isPaused()).toBe(false);
    clock.advance(1000);
    expect(bucket.requestsPerSecond).toBeCloseTo(100);
    expect(bucket.throttle(clock.now() + 100)).toBe(true);
    expect(bucket.requestsPerSecond).toBeCloseTo(50);
  });

  it('keeps a floor under the rate however many episodes occur', () => {
    const clock = fakeClock();
    const bucket = new TokenBucket({ requestsPerSecond: 64, burst: 1, clock, minimumRateShare: 1 / 16 });
    for (let i = 0; i < 10; i++) {
      bucket.throttle(clock.now() + 1);
      clock.advance(1);
    }
    expect(bucket.requestsPerSecond).toBeGreaterThanOrEqual(4);
  });

  it('holds without slowing down when a response reports the window used up', () => {
    const clock = fakeClock();
    const bucket = new TokenBucket({ requestsPerSecond: 10, burst: 2, clock });
    bucket.hold(clock.now() + 700);
    expect(bucket.requestsPerSecond).toBe(10);
    expect(bucket.reserve()).toBe(700);
  });
});
