import { BrazeDelivery, resolveBrazeEndpoint, type BrazeDeliveryOptions, type RowResult } from '../../shared/braze';
import { ConcurrencyLimiter, parseConcurrencySetting } from '../../shared/braze/concurrency';
import { startBrazeSandbox, type BrazeSandbox } from '../../tools/braze-sandbox/server';

function fakeClock(start = 1_000_000) {
  let time = start;
  return { now: () => time, advance: (ms: number) => (time += ms) };
}

/** Answers `count` requests, each after `latencyInMs`, spread over one round trip. */
function answerRound(limiter: ConcurrencyLimiter, clock: ReturnType<typeof fakeClock>, latencyInMs: number) {
  const count = limiter.limit;
  for (let i = 0; i < count; i++) {
    clock.advance(latencyInMs / count);
    limiter.onAnswer(latencyInMs);
  }
}

describe('ConcurrencyLimiter', () => {
  it('grows by slow start to Little-law target (budget x latency x headroom) and stays there', () => {
    const clock = fakeClock();
    const limiter = new ConcurrencyLimiter({ ceiling: 256, requestsPerSecond: 500, clock, initialLimit: 4 });
    const limits: number[] = [];
    for (let round = 0; round < 12; round++) {
      answerRound(limiter, clock, 150);
      limits.push(limiter.limit);
    }
    // 500/s x 0.150 s x 1.5 = 112.5 -> 113 in flight.
    expect(limiter.target()).toBe(113);
    // Doubling per round trip at first.
    expect(limits.slice(0, 4)).toEqual([8, 16, 32, 64]);
    expect(limits.slice(-3)).toEqual([113, 113, 113]);
  });

  it('never exceeds the ceiling', () => {
    const clock = fakeClock();
    const limiter = new ConcurrencyLimiter({ ceiling: 40, requestsPerSecond: 1000, clock });
    for (let round = 0; round < 20; round++) answerRound(limiter, clock, 200);
    expect(limiter.target()).toBe(40);
    expect(limiter.limit).toBe(40);
  });

  it('halves once per round trip on congestion, then grows by one per round trip', () => {
    const clock = fakeClock();
    const limiter = new ConcurrencyLimiter({ ceiling: 256, requestsPerSecond: 500, clock, initialLimit: 4 });
    for (let round = 0; round < 10; round++) answerRound(limiter, clock, 150);
    expect(limiter.limit).toBe(113);

    // A burst of 429s from the requests in flight: one halving only.
    for (let i = 0; i < 50; i++) limiter.onCongestion();
    expect(limiter.limit).toBe(56);
    expect(limiter.decreases).toBe(1);

    // A round trip later, another signal halves again.
    clock.advance(200);
    limiter.onCongestion();
    expect(limiter.limit).toBe(28);

    // Congestion avoidance: about +1 per round trip, no more doubling.
    const before = limiter.limit;
    for (let round = 0; round < 5; round++) answerRound(limiter, clock, 150);
    expect(limiter.limit).toBeGreaterThanOrEqual(before + 4);
    expect(limiter.limit).toBeLessThanOrEqual(before + 6);
  });

  it('shrinks when answers get much slower than the fastest recent one (queueing)', () => {
    const clock = fakeClock();
    const limiter = new ConcurrencyLimiter({ ceiling: 256, requestsPerSecond: 500, clock, initialLimit: 4 });
    for (let round = 0; round < 10; round++) answerRound(limiter, clock, 100);
    const settled = limiter.limit;
    expect(settled).toBe(75);
    // The server starts queueing: answers take 10x as long. Little's law alone would raise the target to 750 (256).
    for (let round = 0; round < 6; round++) answerRound(limiter, clock, 1000);
    expect(limiter.latencyInMs).toBeGreaterThan(400);
    expect(limiter.limit).toBeLessThan(settled / 4);
    expect(limiter.decreases).toBeGreaterThanOrEqual(3);
  });

  it('ignores queueing below the latency floor (a loopback server answering in about 1 ms)', () => {
    const clock = fakeClock();
    const limiter = new ConcurrencyLimiter({ ceiling: 256, requestsPerSecond: 20_000, clock, initialLimit: 4 });
    limiter.onAnswer(0.2);
    for (let round = 0; round < 10; round++) answerRound(limiter, clock, 8);
    expect(limiter.decreases).toBe(0);
    // 20,000/s x 8 ms x 1.5 = 240.
    expect(limiter.limit).toBe(240);
  });

  it('halves for queueing no lower than its start, and at most every 100 ms when answers are fast', () => {
    const clock = fakeClock();
    const limiter = new ConcurrencyLimiter({ ceiling: 256, requestsPerSecond: 20_000, clock, initialLimit: 8 });
    for (let round = 0; round < 8; round++) answerRound(limiter, clock, 5);
    // 20,000/s x 5 ms x 1.5.
    expect(limiter.limit).toBe(150);
    // An event loop busy for a while: answers look 60x slower, one after the other, 1 ms apart.
    for (let i = 0; i < 50; i++) {
      clock.advance(1);
      limiter.onAnswer(300);
    }
    // 50 ms of such answers: one halving (two are at least 100 ms apart).
    expect(limiter.decreases).toBe(1);
    expect(limiter.limit).toBe(79); // half of the window (the target + 1)
    for (let i = 0; i < 100; i++) {
      clock.advance(100);
      limiter.onAnswer(300);
    }
    expect(limiter.limit).toBe(8);
    // Braze's own signals go lower.
    clock.advance(1000);
    limiter.onCongestion();
    expect(limiter.limit).toBe(4);
  });

  it('follows a latency that drops: fewer in flight are needed', () => {
    const clock = fakeClock();
    const limiter = new ConcurrencyLimiter({ ceiling: 256, requestsPerSecond: 500, clock, initialLimit: 4 });
    for (let round = 0; round < 10; round++) answerRound(limiter, clock, 200);
    expect(limiter.limit).toBe(150);
    for (let round = 0; round < 10; round++) answerRound(limiter, clock, 50);
    expect(limiter.limit).toBeLessThanOrEqual(40);
    expect(limiter.decreases).toBe(0);
  });
});

describe('parseConcurrencySetting', () => {
  it('reads a ceiling or a fixed count', () => {
    expect(parseConcurrencySetting('256', 256)).toEqual({ mode: 'adaptive', ceiling: 256 });
    expect(parseConcurrencySetting(' fixed:16 ', 256)).toEqual({ mode: 'fixed', limit: 16 });
    expect(parseConcurrencySetting('FIXED:1', 256)).toEqual({ mode: 'fixed', limit: 1 });
  });

  it('refuses anything else', () => {
    for (const text of ['0', '257', 'fixed:0', 'fixed:', 'fixed:1.5', 'auto', '-3', '']) {
      expect(parseConcurrencySetting(text, 256)).toBeNull();
    }
  });
});

describe('BrazeDelivery with adaptive concurrency (Braze sandbox over loopback)', () => {
  let sandbox: BrazeSandbox | undefined;
  afterEach(async () => {
    await sandbox?.close();
    sandbox = undefined;
  });

  function objects(count: number) {
    return Array.from({ length: count }, (_, i) => ({ external_id: `user-${i}`, ci_seq: i }));
  }

  async function deliver(count: number, options: Partial<BrazeDeliveryOptions>) {
    const results: RowResult[] = [];
    const delivery = new BrazeDelivery({
      endpoint: resolveBrazeEndpoint(sandbox!.url, { allowInsecureLoopback: true }),
      apiKey: sandbox!.apiKey,
      retryBaseDelayInMs: 5,
      retryMaxDelayInMs: 50,
      ...options,
      onResults: (batch) => results.push(...batch),
    });
    for (const [ref, object] of objects(count).entries()) await delivery.push({ ref, object });
    const stats = await delivery.flush();
    return { results, stats };
  }

  it('grows past its initial limit when answers are slow, within the ceiling, and delivers each object once', async () => {
    sandbox = await startBrazeSandbox({ port: 0, rateLimit: null, latencyMs: 100 });
    // 200 requests of 75: budget 1,000/s x 0.1 s x 1.5 = 150 in flight wanted, ceiling 40.
    const { results, stats } = await deliver(15_000, {
      concurrency: { mode: 'adaptive', ceiling: 40 },
      requestsPerSecond: 1000,
    });
    expect(results.filter((r) => r.status === 'accepted')).toHaveLength(15_000);
    expect(stats.requests).toBe(200);
    expect(stats.peakInFlight).toBeGreaterThan(8);
    expect(stats.peakInFlight).toBeLessThanOrEqual(40);
    expect(sandbox.stats().peakInFlight).toBeLessThanOrEqual(40);
    expect(sandbox.ledger().byKey.ci_seq).toBe(15_000);
  });

  it('halves on 5xx answers and still delivers every object exactly once', async () => {
    sandbox = await startBrazeSandbox({ port: 0, rateLimit: null, latencyMs: 20 });
    sandbox.setFaults([{ match: { every: 15, count: 4 }, action: { status: 503 } }]);
    const { results, stats } = await deliver(7_500, {
      concurrency: { mode: 'adaptive', ceiling: 32 },
      requestsPerSecond: 2000,
    });
    expect(results.filter((r) => r.status === 'accepted')).toHaveLength(7_500);
    expect(stats.retries).toBe(4);
    expect(stats.concurrencyDecreases).toBeGreaterThanOrEqual(1);
    expect(sandbox.ledger().byKey.ci_seq).toBe(7_500);
  });

  it('keeps a fixed count when asked (BRAZE_CONCURRENCY=fixed:N)', async () => {
    sandbox = await startBrazeSandbox({ port: 0, rateLimit: null, latencyMs: 30 });
    const { stats } = await deliver(3_000, { concurrency: { mode: 'fixed', limit: 3 }, requestsPerSecond: 2000 });
    expect(stats.peakInFlight).toBe(3);
    expect(stats.concurrencyLimit).toBe(3);
  });
});
