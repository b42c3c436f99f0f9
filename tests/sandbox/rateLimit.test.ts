import { BrazeSandbox, RateLimitOptions, startBrazeSandbox } from '../../tools/braze-sandbox/server';
import { call, track, users } from './http';

/** 2026-01-01T00:00:00.500Z: half a second into a 3-second window (windows align to epoch multiples). */
const START_MS = 1_767_225_600_500;

describe('Braze sandbox: rate limiting of /users/track', () => {
  let now = START_MS;
  const clock = () => now;
  const opened: BrazeSandbox[] = [];

  async function sandboxWith(rateLimit: Partial<RateLimitOptions> | null): Promise<BrazeSandbox> {
    const sandbox = await startBrazeSandbox({
      clock,
      rateLimit:
        rateLimit === null
          ? null
          : { limit: 2, windowSeconds: 3, resetStyle: 'epoch', throttleHeaders: 'ratelimit', ...rateLimit },
    });
    opened.push(sandbox);
    return sandbox;
  }

  beforeEach(() => {
    now = START_MS;
  });
  afterAll(async () => Promise.all(opened.map((s) => s.close())));

  it('counts requests per window and reports an epoch reset on every non-429 response', async () => {
    const sandbox = await sandboxWith({});
    const first = await track(sandbox, { attributes: users(1) });
    const second = await track(sandbox, { attributes: [] });
    expect(first.status).toBe(201);
    expect(second.status).toBe(400);
    const windowEndEpoch = String(Math.ceil((Math.floor(START_MS / 3000) * 3000 + 3000) / 1000));
    expect(first.headers.get('x-ratelimit-limit')).toBe('2');
    expect(first.headers.get('x-ratelimit-remaining')).toBe('1');
    expect(first.headers.get('x-ratelimit-reset')).toBe(windowEndEpoch);
    expect(second.headers.get('x-ratelimit-remaining')).toBe('0');

    const throttled = await track(sandbox, { attributes: users(1) });
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(throttled.headers.get('x-ratelimit-reset')).toBe(windowEndEpoch);
    expect(typeof throttled.json.message).toBe('string');

    now = Math.floor(START_MS / 3000) * 3000 + 3000;
    const nextWindow = await track(sandbox, { attributes: users(1) });
    expect(nextWindow.status).toBe(201);
    expect(nextWindow.headers.get('x-ratelimit-remaining')).toBe('1');
  });

  it('reports seconds remaining in seconds style', async () => {
    const sandbox = await sandboxWith({ resetStyle: 'seconds' });
    const reply = await track(sandbox, { attributes: users(1) });
    // 0.5 s into the window: 2.5 s left, rounded up.
    expect(reply.headers.get('x-ratelimit-reset')).toBe('3');
    now += 1000;
    expect((await track(sandbox, { attributes: users(1) })).headers.get('x-ratelimit-reset')).toBe('2');
    const throttled = await track(sandbox, { attributes: users(1) });
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('x-ratelimit-reset')).toBe('2');
  });

  it.each([
    ['retry-after-ratelimit', 'x-ratelimit-retry-after'],
    ['retry-after', 'retry-after'],
  ] as const)('sends only %s on a 429 in that style', async (style, header) => {
    const sandbox = await sandboxWith({ throttleHeaders: style, limit: 1 });
    const allowed = await track(sandbox, { attributes: users(1) });
    expect(allowed.headers.get('x-ratelimit-limit')).toBe('1');
    const throttled = await track(sandbox, { attributes: users(1) });
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get(header)).toBe('3');
    const hints = ['x-ratelimit-retry-after', 'retry-after', 'x-ratelimit-reset', 'x-ratelimit-limit'];
    expect(hints.filter((h) => throttled.headers.has(h))).toEqual([header]);
  });

  it('sends no hint at all on a 429 in none style', async () => {
    const sandbox = await sandboxWith({ throttleHeaders: 'none', limit: 1 });
    await track(sandbox, { attributes: users(1) });
    const throttled = await track(sandbox, { attributes: users(1) });
    expect(throttled.status).toBe(429);
    const hints = ['x-ratelimit-retry-after', 'retry-after', 'x-ratelimit-reset', 'x-ratelimit-limit'];
    expect(hints.filter((h) => throttled.headers.has(h))).toEqual([]);
  });

  it('adds an hourly limit on top of the burst window in MAU mode', async () => {
    const sandbox = await sandboxWith({ limit: 2, hourlyLimit: 3, throttleHeaders: 'retry-after-ratelimit' });
    const first = await track(sandbox, { attributes: users(1) });
    expect(first.headers.get('x-ratelimit-limit')).toBe('3');
    expect(first.headers.get('x-ratelimit-remaining')).toBe('2');
    const hourEndEpoch = Math.ceil((Math.floor(START_MS / 3_600_000) * 3_600_000 + 3_600_000) / 1000);
    expect(first.headers.get('x-ratelimit-reset')).toBe(String(hourEndEpoch));
    await track(sandbox, { attributes: users(1) });
    const burstBlocked = await track(sandbox, { attributes: users(1) });
    expect(burstBlocked.status).toBe(429);
    expect(burstBlocked.headers.get('x-ratelimit-retry-after')).toBe('3');
    now += 3000;
    expect((await track(sandbox, { attributes: users(1) })).status).toBe(201);
    now += 3000;
    const hourBlocked = await track(sandbox, { attributes: users(1) });
    expect(hourBlocked.status).toBe(429);
    expect(hourBlocked.headers.get('x-ratelimit-retry-after')).toBe(String(hourEndEpoch - Math.floor(now / 1000)));
  });

  it('counts a request before its body is read, but not one refused by auth', async () => {
    const sandbox = await sandboxWith({ limit: 2 });
    await track(sandbox, undefined, { apiKey: 'wrong' });
    const broken = await track(sandbox, undefined, { rawBody: '{' });
    expect(broken.status).toBe(400);
    expect(broken.headers.get('x-ratelimit-remaining')).toBe('1');
    await track(sandbox, { attributes: users(1) });
    const throttled = await track(sandbox, { attributes: users(1) });
    expect(throttled.status).toBe(429);
    expect(sandbox.profiles()).toHaveLength(1);
  });

  it('sends no rate-limit headers when the limit is off, and can be changed at run time', async () => {
    const sandbox = await sandboxWith(null);
    for (let i = 0; i < 5; i++) expect((await track(sandbox, { attributes: users(1) })).status).toBe(201);
    expect((await track(sandbox, { attributes: users(1) })).headers.has('x-ratelimit-limit')).toBe(false);
    const patched = await call(sandbox, 'PATCH', '/_sim/config', {
      rateLimit: { limit: 1, windowSeconds: 60, resetStyle: 'seconds', throttleHeaders: 'retry-after' },
    });
    expect(patched.status).toBe(200);
    expect((await track(sandbox, { attributes: users(1) })).status).toBe(201);
    const throttled = await track(sandbox, { attributes: users(1) });
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('retry-after')).toBe('60');
  });
});
