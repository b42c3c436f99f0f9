import { IdentityDelivery } from '../../shared/braze/identity';
import type { IdentityChange } from '../../shared/state/diff';
import { BrazeSandbox, RateLimitOptions, startBrazeSandbox } from '../../tools/braze-sandbox/server';
import { call, track } from './http';

/** 2026-01-01T00:00:00.500Z: half a second into a minute window (windows align to epoch multiples). */
const START_MS = 1_767_225_600_500;
const perMinute = (limit: number): RateLimitOptions => ({
  limit,
  windowSeconds: 60,
  resetStyle: 'epoch',
  throttleHeaders: 'ratelimit',
});
const identifyBody = (i: number) => ({
  emails_to_identify: [{ external_id: `E${i}`, email: `p${i}@example.com`, prioritization: ['unidentified'] }],
});
const renameBody = (i: number) => ({
  external_id_renames: [{ current_external_id: `R${i}`, new_external_id: `N${i}` }],
});
const mergeBody = (i: number) => ({
  merge_updates: [{ identifier_to_merge: { external_id: `M${i}` }, identifier_to_keep: { external_id: `K${i}` } }],
});

describe('Braze sandbox: rate limits of the identity endpoints', () => {
  let now = START_MS;
  let sandbox: BrazeSandbox;

  beforeAll(async () => {
    sandbox = await startBrazeSandbox({
      clock: () => now,
      rateLimit: null,
      identityRateLimit: perMinute(3),
      renameRateLimit: perMinute(1),
    });
  });
  afterAll(async () => sandbox.close());
  beforeEach(() => {
    now = START_MS;
    sandbox.reset('all');
    // A new window for every test: the limiters keep their counts across a reset.
    sandbox.configure({ identityRateLimit: perMinute(3), renameRateLimit: perMinute(1) });
  });

  it('defaults to Braze limits: 20,000 a minute shared by identify and merge, 1,000 a minute for renames', async () => {
    const defaults = await startBrazeSandbox({ clock: () => START_MS });
    try {
      const identify = await call(defaults, 'POST', '/users/identify', identifyBody(0));
      const rename = await call(defaults, 'POST', '/users/external_ids/rename', renameBody(0));
      expect(identify.headers.get('x-ratelimit-limit')).toBe('20000');
      expect(rename.headers.get('x-ratelimit-limit')).toBe('1000');
    } finally {
      await defaults.close();
    }
  });

  it('shares one budget between /users/identify and /users/merge, apart from /users/track and renames', async () => {
    const statuses = [
      (await call(sandbox, 'POST', '/users/identify', identifyBody(1))).status,
      (await call(sandbox, 'POST', '/users/merge', mergeBody(1))).status,
      (await call(sandbox, 'POST', '/users/identify', identifyBody(2))).status,
    ];
    expect(statuses.every((status) => status !== 429)).toBe(true);
    const throttled = await call(sandbox, 'POST', '/users/merge', mergeBody(2));
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(throttled.headers.get('x-ratelimit-reset')).toBe(String((Math.floor(START_MS / 60_000) + 1) * 60));
    expect((await call(sandbox, 'POST', '/users/identify', identifyBody(3))).status).toBe(429);
    // Other budgets are untouched.
    expect((await track(sandbox, { attributes: [{ external_id: 'T' }] })).status).toBe(201);
    expect((await call(sandbox, 'POST', '/users/external_ids/rename', renameBody(1))).status).not.toBe(429);
    expect((await call(sandbox, 'POST', '/users/external_ids/rename', renameBody(2))).status).toBe(429);
    // The next minute opens a new window.
    now = (Math.floor(START_MS / 60_000) + 1) * 60_000;
    expect((await call(sandbox, 'POST', '/users/merge', mergeBody(3))).status).not.toBe(429);
    expect((await call(sandbox, 'POST', '/users/external_ids/rename', renameBody(3))).status).not.toBe(429);
  });

  it('makes the identity stage wait: every change is delivered after 429s, in the next window', async () => {
    const emails = Array.from({ length: 200 }, (_, i) => `q${i}@example.com`);
    for (let at = 0; at < emails.length; at += 75) {
      await track(sandbox, { attributes: emails.slice(at, at + 75).map((email) => ({ email })) });
    }
    const slept: number[] = [];
    const delivery = new IdentityDelivery({
      endpoint: new URL(sandbox.url),
      apiKey: sandbox.apiKey,
      clock: { now: () => now },
      sleep: async (ms) => {
        slept.push(ms);
        now += ms;
      },
    });
    const change = (email: string, i: number): IdentityChange => ({
      kind: 'identify',
      from: `m:${email}`,
      to: `e:Q${i}`,
      slot: 0,
      foldedSlot: -1,
    });
    const verdicts = Promise.all(emails.map((email, i) => delivery.push(change(email, i))));
    await delivery.flush();
    delivery.close();
    expect((await verdicts).every((v) => v.status === 'accepted')).toBe(true);
    const identify = sandbox.requests().filter((r) => r.path === '/users/identify');
    // 4 requests of at most 50 under a limit of 3 a minute: one is refused, then sent in the next minute.
    expect(identify.filter((r) => r.status === 429).length).toBeGreaterThan(0);
    expect(identify.filter((r) => r.status !== 429).map((r) => r.objectCount)).toEqual([50, 50, 50, 50]);
    expect(now).toBeGreaterThanOrEqual((Math.floor(START_MS / 60_000) + 1) * 60_000);
    expect(sandbox.profiles().filter((p) => p.external_id?.startsWith('Q'))).toHaveLength(200);
  });
});
