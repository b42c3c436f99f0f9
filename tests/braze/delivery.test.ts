import {
  BrazeDelivery,
  BrazeFatalError,
  resolveBrazeEndpoint,
  type BrazeAttributesObject,
  type BrazeDeliveryOptions,
  type DeliveryStats,
  type RowResult,
} from '../../shared/braze';
import { createBrazeClient } from '../../shared/braze/client';
import type { HttpTransport } from '../../shared/braze/http';
import { MemoryLogger } from '../../shared/telemetry/logger';
import { VirtualTime } from '../helpers/virtualTime';
import {
  startBrazeSandbox,
  type BrazeSandbox,
  type FaultRule,
  type SandboxOptions,
  type ThrottleHeaderStyle,
} from '../../tools/braze-sandbox/server';

/** Retry waits kept to milliseconds so the suite runs in seconds. */
const FAST_RETRIES: Partial<BrazeDeliveryOptions> = {
  retryBaseDelayInMs: 5,
  retryMaxDelayInMs: 50,
  throttleJitterInMs: 20,
  requestTimeoutInMs: 2_000,
};

function users(count: number, from = 0): BrazeAttributesObject[] {
  return Array.from({ length: count }, (_, i) => ({
    external_id: `user-${from + i}`,
    email: `person${from + i}@example.com`,
    ci_seq: from + i,
  }));
}

interface Outcome {
  results: RowResult[];
  stats: DeliveryStats;
  error?: Error;
  delivery: BrazeDelivery;
}

async function deliver(
  sandbox: BrazeSandbox,
  objects: BrazeAttributesObject[],
  options: Partial<BrazeDeliveryOptions> = {},
): Promise<Outcome> {
  const results: RowResult[] = [];
  const delivery = new BrazeDelivery({
    endpoint: resolveBrazeEndpoint(sandbox.url, { allowInsecureLoopback: true }),
    apiKey: sandbox.apiKey,
    ...FAST_RETRIES,
    ...options,
    onResults: (batch) => results.push(...batch),
  });
  try {
    for (let ref = 0; ref < objects.length; ref++) await delivery.push({ ref, object: objects[ref] });
    await delivery.flush();
    return { results, stats: delivery.stats, delivery };
  } catch (error) {
    return { results, stats: delivery.stats, error: error as Error, delivery };
  }
}

function expectEachRefOnce(results: RowResult[], count: number): void {
  const refs = results.map((r) => r.ref).sort((a, b) => a - b);
  expect(refs).toEqual(Array.from({ length: count }, (_, i) => i));
}

/** Every user exactly once in Braze with its own values, and every attribute applied exactly once. */
function expectDeliveredExactlyOnce(sandbox: BrazeSandbox, objects: BrazeAttributesObject[]): void {
  expect(sandbox.profiles()).toHaveLength(objects.length);
  for (const object of objects) {
    const profile = sandbox.findProfile({ external_id: object.external_id as string });
    expect(profile?.attributes.ci_seq).toBe(object.ci_seq);
  }
  expect(sandbox.ledger().byKey.ci_seq).toBe(objects.length);
}

const trackRequests = (sandbox: BrazeSandbox) => sandbox.requests().filter((r) => r.path === '/users/track');

let sandbox: BrazeSandbox | undefined;
async function start(options: SandboxOptions = {}): Promise<BrazeSandbox> {
  sandbox = await startBrazeSandbox(options);
  return sandbox;
}
afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
});

describe('BrazeDelivery options', () => {
  const endpoint = new URL('http://127.0.0.1:9/');
  const base = { endpoint, apiKey: 'k-123456', onResults: () => {} };
  it.each([
    [{ batchSize: 76 }, 'Expected `batchSize` to be a whole number from 1 to 75, got 76.'],
    [{ batchSize: 0 }, 'Expected `batchSize` to be a whole number from 1 to 75, got 0.'],
    [{ concurrency: 1.5 }, 'Expected `concurrency` to be a whole number from 1 to 256, got 1.5.'],
    [{ requestsPerSecond: 0 }, 'Expected `requestsPerSecond` to be a finite number > 0, got 0.'],
    [{ maxAttempts: 0 }, 'Expected `maxAttempts` to be a whole number ≥ 1, got 0.'],
    [{ maxBodyBytes: 10 }, 'Expected `maxBodyBytes` to be a whole number ≥ 1024, got 10.'],
    [{ apiKey: '' }, 'Expected `apiKey` to be a non-empty string (BRAZE_API_KEY).'],
  ])('refuses %j up front', (patch, message) => {
    expect(() => new BrazeDelivery({ ...base, ...patch })).toThrow(message);
  });

  it('refuses a quoted key without echoing it', () => {
    const create = () => new BrazeDelivery({ ...base, apiKey: '"k-quoted-secret"' });
    expect(create).toThrow(/without quotes or whitespace/);
    expect(create).not.toThrow(/k-quoted-secret/);
  });
});

describe('BrazeDelivery against the Braze sandbox', () => {
  it('sends full batches of at most batchSize objects and reports every row once', async () => {
    const box = await start();
    const objects = users(1000);
    const { results, stats, error } = await deliver(box, objects, { batchSize: 75 });
    expect(error).toBeUndefined();
    expectEachRefOnce(results, 1000);
    expect(results.every((r) => r.status === 'accepted')).toBe(true);
    const counts = trackRequests(box).map((r) => r.objectCount);
    expect(counts.filter((n) => n === 75)).toHaveLength(13);
    expect(counts.filter((n) => n !== 75)).toEqual([25]);
    expect(stats).toMatchObject({ requests: 14, retries: 0, accepted: 1000, rejected: 0 });
    expectDeliveredExactlyOnce(box, objects);
  });

  it('keeps bodies within maxBodyBytes counted in UTF-8 bytes, and rejects an object too big alone', async () => {
    const box = await start({ maxBodyBytes: 4096 });
    // 600 two-byte characters: 1,200 bytes but 600 JS characters per object.
    const objects: BrazeAttributesObject[] = users(20).map((o) => ({ ...o, note: 'ü'.repeat(600) }));
    objects.push({ external_id: 'huge', note: 'x'.repeat(5000) });
    const { results, stats, error } = await deliver(box, objects, { maxBodyBytes: 4096 });
    expect(error).toBeUndefined();
    expectEachRefOnce(results, 21);
    expect(stats.splits).toBe(0);
    for (const request of trackRequests(box)) expect(request.bodyBytes).toBeLessThanOrEqual(4096);
    expect(trackRequests(box).every((r) => r.status === 201)).toBe(true);
    const huge = results.find((r) => r.ref === 20);
    expect(huge).toEqual({
      ref: 20,
      status: 'rejected',
      reason: expect.stringMatching(/over the request limit of 4096 bytes/),
    });
    expect(stats.accepted).toBe(20);
  });

  it('splits a batch Braze refuses with 413 and rejects a single object that is still too large', async () => {
    const box = await start({ maxBodyBytes: 3000 });
    const objects: BrazeAttributesObject[] = users(40).map((o) => ({ ...o, note: 'n'.repeat(200) }));
    objects.push({ external_id: 'too-large-for-braze', note: 'y'.repeat(3500) });
    const { results, stats, error } = await deliver(box, objects, { concurrency: 2 });
    expect(error).toBeUndefined();
    expectEachRefOnce(results, 41);
    expect(stats.splits).toBeGreaterThan(0);
    expect(trackRequests(box).some((r) => r.status === 413)).toBe(true);
    expect(results.find((r) => r.ref === 40)).toEqual({
      ref: 40,
      status: 'rejected',
      reason: expect.stringMatching(/too large \(HTTP 413/),
    });
    expectDeliveredExactlyOnce(box, objects.slice(0, 40));
  });

  it('splits a batch over the account object cap (400 Max Input Length Exceeded)', async () => {
    const box = await start({ maxObjectsPerRequest: 50 });
    const objects = users(150);
    const { stats, error } = await deliver(box, objects, { batchSize: 75 });
    expect(error).toBeUndefined();
    expect(stats.splits).toBe(2);
    expect(stats.accepted).toBe(150);
    expectDeliveredExactlyOnce(box, objects);
  });

  it('rejects an all-invalid batch with Braze error types, without retrying', async () => {
    const box = await start();
    const objects = Array.from({ length: 5 }, (_, i) => ({ external_id: `bad-${i}`, email: 'not-an-email' }));
    const { results, stats, error } = await deliver(box, objects);
    expect(error).toBeUndefined();
    expect(trackRequests(box)).toHaveLength(1);
    expect(trackRequests(box)[0].status).toBe(400);
    expect(results).toHaveLength(5);
    for (const result of results) expect(result).toMatchObject({ status: 'rejected', reason: 'EMAIL_BAD_FORMAT' });
    expect(stats).toMatchObject({ requests: 1, retries: 0, rejected: 5, accepted: 0 });
  });

  it('rejects only the row with an invalid email in an otherwise valid batch', async () => {
    const box = await start();
    const objects = users(10);
    objects[4] = { external_id: 'user-4', email: 'broken@', ci_seq: 4 };
    const { results, error } = await deliver(box, objects);
    expect(error).toBeUndefined();
    expectEachRefOnce(results, 10);
    expect(results.filter((r) => r.status === 'rejected')).toEqual([
      { ref: 4, status: 'rejected', reason: 'EMAIL_BAD_FORMAT' },
    ]);
    expect(box.findProfile({ external_id: 'user-4' })).toBeUndefined();
    expect(box.profiles()).toHaveLength(9);
  });

  it('maps per-row errors of a 201 to the rows named and accepts a bare 201 {}', async () => {
    const box = await start();
    box.setFaults([{ match: { nth: 1 }, action: { rejectIndexes: [0, 3] } }]);
    const first = await deliver(box, users(6), { concurrency: 1 });
    expect(first.results.filter((r) => r.status === 'rejected').map((r) => r.ref)).toEqual([0, 3]);
    expect(first.stats).toMatchObject({ accepted: 4, rejected: 2 });

    box.configure({ emptySuccessBody: true });
    const second = await deliver(box, users(6, 100));
    expect(second.error).toBeUndefined();
    expect(second.stats).toMatchObject({ accepted: 6, rejected: 0 });
  });

  it('stops on 401 with a message naming the likely causes and the host, never the key', async () => {
    const box = await start();
    const outcome = await deliver(box, users(300), { apiKey: 'wrong-key-1234', concurrency: 2 });
    expect(outcome.error).toBeInstanceOf(BrazeFatalError);
    expect(outcome.error).toMatchObject({ status: 401, retryable: false });
    expect(outcome.error?.message).toBe(
      `Braze rejected the API key (401): the key is wrong or revoked, quoted, or belongs to a workspace on another ` +
        `cluster than 127.0.0.1:${box.port} (an EU key needs rest.fra-0N.braze.eu; the dashboard URL tells the cluster)`,
    );
    expect(trackRequests(box).length).toBeLessThanOrEqual(2);
    expect(outcome.results).toEqual([]);
    await expect(outcome.delivery.push({ ref: 999, object: {} })).rejects.toBe(outcome.error);
  });

  it('stops on 403 naming the users.track permission', async () => {
    const box = await start({ apiKeys: [{ key: 'no-track-key', permissions: ['users.export.ids'] }] });
    const outcome = await deliver(box, users(10));
    expect(outcome.error).toMatchObject({ name: 'BrazeFatalError', status: 403, retryable: false });
    expect(outcome.error?.message).toMatch(/HTTP 403: Access Denied\).*users\.track permission/);
    expect(outcome.error?.message).not.toMatch(/no-track-key/);
  });

  it('stops on 404 pointing at the endpoint setting', async () => {
    const box = await start();
    box.setFaults([{ match: {}, action: { status: 404 } }]);
    const outcome = await deliver(box, users(10));
    expect(outcome.error).toMatchObject({ status: 404, retryable: false });
    expect(outcome.error?.message).toMatch(/wrong host or path; check BRAZE_REST_ENDPOINT/);
  });

  it('delivers every row exactly once through a burst of 503s, HTML 502s, resets and a hung request', async () => {
    const box = await start();
    const faults: FaultRule[] = [
      { match: { nth: 2 }, action: { hang: true } },
      { match: { every: 3, count: 5 }, action: { status: 503 } },
      { match: { every: 4, count: 3 }, action: { reset: true } },
      { match: { every: 5, count: 3 }, action: { status: 502, body: '<html><body>Bad gateway</body></html>' } },
    ];
    box.setFaults(faults);
    // 20 batches; the rules fire on 12 of the first 25 requests (hang 1, 503 ×5, reset ×3, 502 ×3).
    const objects = users(20 * 75);
    const { results, stats, error } = await deliver(box, objects, { concurrency: 4, requestTimeoutInMs: 300 });
    expect(error).toBeUndefined();
    expectEachRefOnce(results, objects.length);
    expect(results.every((r) => r.status === 'accepted')).toBe(true);
    expect(stats.retries).toBe(12);
    expect(stats.requests).toBe(20 + 12);
    expectDeliveredExactlyOnce(box, objects);
  });

  it('fails retryably when retries are exhausted, leaving that batch without results', async () => {
    const box = await start();
    box.setFaults([{ match: {}, action: { status: 503, body: '{"message":"Service Unavailable"}' } }]);
    const outcome = await deliver(box, users(10), { maxAttempts: 3, concurrency: 1 });
    expect(outcome.error).toBeInstanceOf(BrazeFatalError);
    expect(outcome.error).toMatchObject({ status: 503, retryable: true });
    // Server errors are described by status only: their bodies may quote the request.
    expect(outcome.error?.message).toMatch(/kept failing \(HTTP 503\) after 3 attempts/);
    expect(outcome.error?.message).not.toContain('Service Unavailable');
    expect(trackRequests(box)).toHaveLength(3);
    expect(outcome.results).toEqual([]);
  });

  it('gives up when the retry time budget would be exceeded', async () => {
    const box = await start();
    box.setFaults([{ match: {}, action: { status: 500 } }]);
    const outcome = await deliver(box, users(5), {
      maxAttempts: 100,
      maxRetryTimeInMs: 150,
      retryBaseDelayInMs: 40,
      retryMaxDelayInMs: 40,
    });
    expect(outcome.error).toMatchObject({ status: 500, retryable: true });
    expect(trackRequests(box).length).toBeLessThan(100);
  });

  describe('a 429 storm (half the requests throttled)', () => {
    // Small waits in the headers keep the suite fast; the sandbox's own header styles are covered below.
    it.each<[string, () => Record<string, string>]>([
      ['X-Ratelimit-Retry-After', () => ({ 'x-ratelimit-retry-after': '0.2' })],
      ['Retry-After', () => ({ 'retry-after': '0.2' })],
      ['X-RateLimit-Reset as epoch seconds', () => ({ 'x-ratelimit-reset': String((Date.now() + 200) / 1000) })],
      ['X-RateLimit-Reset as seconds remaining', () => ({ 'x-ratelimit-reset': '0.2' })],
      ['no header at all', () => ({})],
    ])('with %s still delivers every row exactly once', async (_style, headers) => {
      const box = await start();
      box.setFaults([{ match: { every: 2, count: 6 }, action: { status: 429, headers: headers() } }]);
      const logger = new MemoryLogger();
      const objects = users(900);
      const { results, stats, error } = await deliver(box, objects, { concurrency: 4, logger });
      expect(error).toBeUndefined();
      expectEachRefOnce(results, 900);
      expect(stats).toMatchObject({ throttled: 6, retries: 6, requests: 18, accepted: 900 });
      expect(trackRequests(box).filter((r) => r.status === 429)).toHaveLength(6);
      expectDeliveredExactlyOnce(box, objects);
      expect(logger.text()).toMatch(/Braze throttled requests \(429\)/);
    });

    it.each<[ThrottleHeaderStyle, 'epoch' | 'seconds']>([
      ['retry-after-ratelimit', 'seconds'],
      ['retry-after', 'epoch'],
    ])(
      'with the sandbox %s headers (reset as %s) delivers every row exactly once',
      async (throttleHeaders, resetStyle) => {
        const box = await start({ rateLimit: { limit: 100_000, windowSeconds: 1, resetStyle, throttleHeaders } });
        box.setFaults([{ match: { every: 2, count: 2 }, action: { status: 429 } }]);
        const objects = users(8 * 75);
        const { results, stats, error } = await deliver(box, objects, { concurrency: 4 });
        expect(error).toBeUndefined();
        expectEachRefOnce(results, objects.length);
        expect(stats).toMatchObject({ throttled: 2, accepted: objects.length });
        expectDeliveredExactlyOnce(box, objects);
      },
    );

    it('waits for the window the headers announce before retrying', async () => {
      const box = await start({
        rateLimit: { limit: 100_000, windowSeconds: 1, resetStyle: 'seconds', throttleHeaders: 'retry-after' },
      });
      box.setFaults([{ match: { nth: 1 }, action: { status: 429, headers: { 'retry-after': '1' } } }]);
      await deliver(box, users(75), { concurrency: 1 });
      const [throttled, retried] = trackRequests(box);
      expect(throttled.status).toBe(429);
      expect(Date.parse(retried.startedAt) - Date.parse(throttled.finishedAt)).toBeGreaterThanOrEqual(990);
    });

    it('honours a real exhausted rate-limit window', async () => {
      const box = await start({
        rateLimit: { limit: 10, windowSeconds: 1, resetStyle: 'epoch', throttleHeaders: 'ratelimit' },
      });
      const objects = users(20 * 75);
      const { results, stats, error } = await deliver(box, objects, { concurrency: 4, requestsPerSecond: 1000 });
      expect(error).toBeUndefined();
      expectEachRefOnce(results, objects.length);
      expectDeliveredExactlyOnce(box, objects);
      // Pausing when a response reports "remaining 0" leaves only requests already in flight to be throttled.
      const windowsUsed = new Set(trackRequests(box).map((r) => Math.floor(Date.parse(r.startedAt) / 1000))).size;
      expect(stats.throttled).toBeLessThanOrEqual(4 * windowsUsed);
    });
  });

  it('keeps requests in flight within the concurrency, and a slow request does not stall the others', async () => {
    const box = await start();
    const client = createBrazeClient({
      endpoint: resolveBrazeEndpoint(box.url, { allowInsecureLoopback: true }),
      apiKey: box.apiKey,
      timeoutInMs: 120_000,
      maxSockets: 3,
    });
    // The first request is held until eleven others have answered (or a minute has passed: a pool that sends in
    // waves would never get there, and the count below fails).
    let answered = 0;
    let answeredBeforeSlow = -1;
    let othersAnswered: () => void = () => {};
    const elevenAnswered = new Promise<void>((resolve) => (othersAnswered = resolve));
    let calls = 0;
    const transport: HttpTransport = async (request) => {
      if (++calls === 1) {
        await Promise.race([elevenAnswered, new Promise((resolve) => setTimeout(resolve, 60_000).unref())]);
        answeredBeforeSlow = answered;
        return client.send(request);
      }
      const response = await client.send(request);
      if (++answered === 11) othersAnswered();
      return response;
    };
    try {
      const { stats, error } = await deliver(box, users(40 * 75), { concurrency: 3, transport });
      expect(error).toBeUndefined();
      expect(box.stats().peakInFlight).toBeLessThanOrEqual(3);
      expect(stats.peakInFlight).toBe(3);
      expect(answeredBeforeSlow).toBeGreaterThanOrEqual(11);
      expect(trackRequests(box)).toHaveLength(40);
    } finally {
      client.close();
    }
  });

  it('keeps the request rate within the budget plus the bucket burst in every sliding second', async () => {
    const box = await start();
    const time = new VirtualTime();
    const client = createBrazeClient({
      endpoint: resolveBrazeEndpoint(box.url, { allowInsecureLoopback: true }),
      apiKey: box.apiKey,
      timeoutInMs: 120_000,
      maxSockets: 4,
    });
    // Start times on the virtual clock: only the token bucket's waits move it, so the pacing measured is the code's.
    const starts: number[] = [];
    const transport: HttpTransport = (request) => {
      starts.push(time.clock.now());
      return client.send(request);
    };
    const requestsPerSecond = 40;
    const burst = 4;
    try {
      const { error } = await deliver(box, users(70 * 10), {
        batchSize: 10,
        concurrency: 4,
        requestsPerSecond,
        requestBurst: burst,
        clock: time.clock,
        sleep: time.sleep,
        transport,
      });
      expect(error).toBeUndefined();
    } finally {
      client.close();
    }
    expect(starts).toHaveLength(70);
    starts.sort((a, b) => a - b);
    let busiest = 0;
    for (let i = 0, j = 0; i < starts.length; i++) {
      while (starts[i] - starts[j] >= 1000) j++;
      busiest = Math.max(busiest, i - j + 1);
    }
    expect(busiest).toBeLessThanOrEqual(requestsPerSecond + burst);
    expect(busiest).toBeGreaterThanOrEqual(requestsPerSecond);
    // 70 requests: the burst at once, the other 66 one every 25 ms.
    expect(starts[69] - starts[0]).toBeGreaterThanOrEqual(((70 - burst) * 1000) / requestsPerSecond - 1);
  });

  it('applies backpressure: push waits while about concurrency batches are queued', async () => {
    const box = await start({ latencyMs: 30 });
    const batchSize = 5;
    const concurrency = 2;
    let settled = 0;
    let mostUnsettled = 0;
    const delivery = new BrazeDelivery({
      endpoint: resolveBrazeEndpoint(box.url, { allowInsecureLoopback: true }),
      apiKey: box.apiKey,
      batchSize,
      concurrency,
      onResults: (results) => (settled += results.length),
    });
    for (let ref = 0; ref < 200; ref++) {
      await delivery.push({ ref, object: { external_id: `u${ref}` } });
      mostUnsettled = Math.max(mostUnsettled, ref + 1 - settled);
    }
    await delivery.flush();
    expect(settled).toBe(200);
    // In flight + queued + the batch being filled.
    expect(mostUnsettled).toBeLessThanOrEqual((concurrency + concurrency + 1) * batchSize);
  });

  it('puts neither the API key nor any email in logs, errors or reasons of a run with faults', async () => {
    const apiKey = 'sk-live-7f3a9c1e5b2d4680';
    const box = await start({
      apiKeys: [{ key: apiKey }],
      rateLimit: { limit: 100_000, windowSeconds: 1, resetStyle: 'epoch', throttleHeaders: 'ratelimit' },
    });
    const objects = users(600);
    objects[7] = { external_id: 'user-7', email: 'broken-7@', ci_seq: 7 };
    box.setFaults([
      { match: { nth: 1 }, action: { status: 429 } },
      { match: { nth: 2 }, action: { reset: true } },
      {
        match: { nth: 3 },
        action: {
          status: 502,
          body: `<html>upstream said: Authorization: Bearer ${apiKey} for person3@example.com</html>`,
        },
      },
      {
        match: { nth: 4 },
        action: { status: 503, body: `{"message":"busy, token ${apiKey}, user person4@example.com"}` },
      },
      { match: { nth: 5 }, action: { hang: true } },
      { match: { nth: 6 }, action: { rejectIndexes: [1] } },
    ]);
    const logger = new MemoryLogger();
    const first = await deliver(box, objects, { apiKey, logger, requestTimeoutInMs: 200, concurrency: 2 });
    expect(first.error).toBeUndefined();

    box.setFaults([
      { match: {}, action: { status: 503, body: `{"message":"down for person9@example.com ${apiKey}"}` } },
    ]);
    const second = await deliver(box, users(10), { apiKey, logger, maxAttempts: 2 });
    box.setFaults([]);
    const third = await deliver(box, users(10), { apiKey: 'sk-wrong-8e2b', logger });
    box.setFaults([{ match: {}, action: { status: 403, body: `{"message":"Access Denied for ${apiKey}"}` } }]);
    const fourth = await deliver(box, users(10), { apiKey, logger });

    const errors = [second.error, third.error, fourth.error];
    expect(errors.every((e) => e instanceof BrazeFatalError)).toBe(true);
    const everything = [
      logger.text(),
      ...errors.map((e) => `${e?.message}\n${e?.stack}\n${JSON.stringify(e)}`),
      ...first.results.map((r) => JSON.stringify(r)),
    ].join('\n');
    expect(logger.lines.length).toBeGreaterThan(3);
    expect(everything).toMatch(/EMAIL_BAD_FORMAT/);
    expect(everything).not.toContain(apiKey);
    expect(everything).not.toContain('sk-wrong-8e2b');
    expect(everything).not.toMatch(/[\w.-]+@[\w-]+\.[\w.]+/);
    expect(everything).not.toMatch(/broken-7@/);
  });
});
