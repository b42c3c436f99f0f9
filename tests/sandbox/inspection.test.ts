import { request } from 'node:http';
import { parseCliArgs } from '../../tools/braze-sandbox/cliOptions';
import { BrazeSandbox, RequestLogEntry, SandboxProfile, startBrazeSandbox } from '../../tools/braze-sandbox/server';
import { call, track, users } from './http';

const SECRET_KEY = 'key-that-must-not-leak-123';

describe('Braze sandbox: request log and control API', () => {
  let sandbox: BrazeSandbox;

  beforeAll(async () => {
    sandbox = await startBrazeSandbox({
      apiKeys: [{ key: SECRET_KEY }],
      segments: Array.from({ length: 150 }, (_, i) => ({ id: `seg-${i}`, name: `Segment ${i}` })),
    });
  });
  afterAll(async () => sandbox.close());
  beforeEach(() => sandbox.reset('all'));

  it('logs each Braze request with the key redacted, in process and over HTTP', async () => {
    await track(sandbox, { attributes: users(3) });
    await track(sandbox, { attributes: users(1) }, { apiKey: 'wrong' });
    const [first, second] = sandbox.requests();
    expect(first).toMatchObject({ seq: 1, method: 'POST', path: '/users/track', status: 201, objectCount: 3 });
    expect(first.bodyBytes).toBe(Buffer.byteLength(JSON.stringify({ attributes: users(3) })));
    expect(first.body).toEqual({ attributes: users(3) });
    expect(first.headers.authorization).toBe('[redacted]');
    expect(second.status).toBe(401);
    const overHttp = await call(sandbox, 'GET', '/_sim/requests', undefined, null);
    expect(overHttp.text).not.toContain(SECRET_KEY);
    expect(JSON.stringify(sandbox.requests())).not.toContain(SECRET_KEY);
    expect((overHttp.json.requests as RequestLogEntry[]).map((r) => r.status)).toEqual([201, 401]);
  });

  it('pages the log with since and strips bodies on request', async () => {
    for (let i = 0; i < 3; i++) await track(sandbox, { attributes: users(1) });
    const reply = await call(sandbox, 'GET', '/_sim/requests?since=1&bodies=false', undefined, null);
    const entries = reply.json.requests as RequestLogEntry[];
    expect(entries.map((e) => e.seq)).toEqual([2, 3]);
    expect(entries.every((e) => e.body === undefined)).toBe(true);
  });

  it('keeps only the last requestLogLimit entries and no bodies when logBodies is off', async () => {
    const lean = await startBrazeSandbox({ requestLogLimit: 2, logBodies: false });
    try {
      for (let i = 0; i < 5; i++) await track(lean, { attributes: users(1) });
      expect(lean.requests().map((r) => r.seq)).toEqual([4, 5]);
      expect(lean.requests()[0]).not.toHaveProperty('body');
      expect(lean.stats().requests).toBe(5);
    } finally {
      await lean.close();
    }
  });

  it('logs a chunked body over the limit as 413', async () => {
    const small = await startBrazeSandbox({ maxBodyBytes: 100 });
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(
          `${small.url}/users/track`,
          {
            method: 'POST',
            headers: { authorization: `Bearer ${small.apiKey}`, 'content-type': 'application/json' },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.write('{"attributes":[');
        req.end(`${JSON.stringify({ external_id: 'x', pad: 'p'.repeat(200) })}]}`);
      });
      expect(status).toBe(413);
      expect(small.requests()[0]).toMatchObject({ status: 413, bodyBytes: expect.any(Number) });
      expect(small.requests()[0].bodyBytes).toBeGreaterThan(100);
    } finally {
      await small.close();
    }
  });

  it('reads profiles, the ledger and stats over HTTP', async () => {
    await track(sandbox, { attributes: [{ external_id: 'p1', email: 'p1@example.com', seg: true }] }, {});
    await track(sandbox, {
      attributes: [{ user_alias: { alias_name: 'a1', alias_label: 'crm' }, _update_existing_only: false, x: 1 }],
    });
    const all = await call(sandbox, 'GET', '/_sim/profiles', undefined, null);
    expect((all.json.profiles as SandboxProfile[]).length).toBe(2);
    const byId = await call(sandbox, 'GET', '/_sim/profile?external_id=p1', undefined, null);
    expect(byId.json.attributes).toEqual({ seg: true });
    const byEmail = await call(sandbox, 'GET', '/_sim/profile?email=p1%40example.com', undefined, null);
    expect(byEmail.json.external_id).toBe('p1');
    const byAlias = await call(sandbox, 'GET', '/_sim/profile?alias_name=a1&alias_label=crm', undefined, null);
    expect(byAlias.json.attributes).toEqual({ x: 1 });
    const byBrazeId = await call(sandbox, 'GET', `/_sim/profile?braze_id=${byAlias.json.braze_id}`, undefined, null);
    expect(byBrazeId.json.user_aliases).toEqual([{ alias_name: 'a1', alias_label: 'crm' }]);
    expect((await call(sandbox, 'GET', '/_sim/profile?external_id=nobody', undefined, null)).status).toBe(404);
    const ledger = await call(sandbox, 'GET', '/_sim/ledger', undefined, null);
    expect(ledger.json).toMatchObject({ total: 3, byKey: { email: 1, seg: 1, x: 1 } });
    const stats = await call(sandbox, 'GET', '/_sim/stats', undefined, null);
    expect(stats.json).toMatchObject({ requests: 2, inFlight: 0, peakInFlight: 1 });
  });

  it('resets only what it is asked to', async () => {
    await track(sandbox, { attributes: users(2, { seg: true }) });
    await call(sandbox, 'POST', '/_sim/reset?what=ledger', undefined, null);
    expect(sandbox.ledger().total).toBe(0);
    expect(sandbox.profiles()).toHaveLength(2);
    await call(sandbox, 'POST', '/_sim/reset?what=profiles', undefined, null);
    expect(sandbox.profiles()).toHaveLength(0);
    expect(sandbox.requests()).toHaveLength(1);
    expect((await call(sandbox, 'POST', '/_sim/reset?what=everything', undefined, null)).status).toBe(400);
  });

  it('changes knobs at run time through PATCH /_sim/config', async () => {
    await call(sandbox, 'PATCH', '/_sim/config', { maxObjectsPerRequest: 2, errorTypeStyle: 'sentence' }, null);
    try {
      expect((await track(sandbox, { attributes: users(3) })).status).toBe(400);
      const reply = await track(sandbox, { attributes: [{ external_id: 'u', email: 'bad' }, ...users(1)] });
      expect((reply.json.errors as Array<{ type: string }>)[0].type).not.toBe('EMAIL_BAD_FORMAT');
    } finally {
      sandbox.configure({ maxObjectsPerRequest: 75, errorTypeStyle: 'code' });
    }
  });

  it('refuses an unknown or fixed option in PATCH /_sim/config, naming it', async () => {
    const reply = await call(sandbox, 'PATCH', '/_sim/config', { maxObjects: 2, port: 1 }, null);
    expect(reply.status).toBe(400);
    expect(reply.json.message).toMatch(/maxObjects, port/);
  });

  describe('POST /users/export/ids', () => {
    it('returns stored users in the documented shape and lists unknown ids', async () => {
      await track(sandbox, {
        attributes: [{ external_id: 'x1', email: 'x1@example.com', first_name: 'Xa', plan: 'pro', tags: ['a'] }],
      });
      const reply = await call(sandbox, 'POST', '/users/export/ids', { external_ids: ['x1', 'missing'] });
      expect(reply.status).toBe(200);
      expect(reply.json.message).toBe('success');
      expect(reply.json.invalid_user_ids).toEqual(['missing']);
      const [user] = reply.json.users as Array<Record<string, unknown>>;
      expect(user).toMatchObject({
        external_id: 'x1',
        email: 'x1@example.com',
        first_name: 'Xa',
        custom_attributes: { plan: 'pro', tags: ['a'] },
      });
      const selected = await call(sandbox, 'POST', '/users/export/ids', {
        email_address: 'x1@example.com',
        fields_to_export: ['external_id', 'custom_attributes', 'last_name'],
      });
      expect(selected.json.users).toEqual([
        { external_id: 'x1', custom_attributes: { plan: 'pro', tags: ['a'] }, last_name: null },
      ]);
    });

    it('refuses more than 50 ids', async () => {
      const ids = Array.from({ length: 51 }, (_, i) => `id${i}`);
      expect((await call(sandbox, 'POST', '/users/export/ids', { external_ids: ids })).status).toBe(400);
    });
  });

  describe('segments', () => {
    it('lists segments in pages of 100 and answers details or 400 for an unknown id', async () => {
      const page0 = await call(sandbox, 'GET', '/segments/list?page=0');
      const page1 = await call(sandbox, 'GET', '/segments/list?page=1');
      expect((page0.json.segments as unknown[]).length).toBe(100);
      expect((page1.json.segments as Array<{ id: string }>).map((s) => s.id)).toContain('seg-149');
      const desc = await call(sandbox, 'GET', '/segments/list?sort_direction=desc');
      expect((desc.json.segments as Array<{ id: string }>)[0].id).toBe('seg-149');
      const details = await call(sandbox, 'GET', '/segments/details?segment_id=seg-3');
      expect(details.json).toMatchObject({ message: 'success', name: 'Segment 3' });
      const unknown = await call(sandbox, 'GET', '/segments/details?segment_id=nope');
      expect(unknown.status).toBe(400);
      expect(unknown.json).toEqual({ message: 'Invalid segment_id' });
    });
  });
});

describe('Braze sandbox CLI options', () => {
  it('parses every flag into sandbox options', () => {
    expect(
      parseCliArgs([
        '--port',
        '4041',
        '--rate-limit',
        '100/2',
        '--hourly-limit',
        '5000',
        '--reset-style',
        'seconds',
        '--throttle-headers',
        'retry-after-ratelimit',
        '--latency-ms',
        '5',
        '--api-key',
        'k',
        '--no-log-bodies',
        '--no-ledger-per-user',
      ]),
    ).toEqual({
      port: 4041,
      rateLimit: {
        limit: 100,
        windowSeconds: 2,
        resetStyle: 'seconds',
        throttleHeaders: 'retry-after-ratelimit',
        hourlyLimit: 5000,
      },
      latencyMs: 5,
      apiKeys: [{ key: 'k' }],
      logBodies: false,
      ledgerPerUser: false,
    });
  });

  it('defaults to port 4040 and 3000/3 s, and names the flag of a bad value', () => {
    expect(parseCliArgs([])).toEqual({
      port: 4040,
      rateLimit: { limit: 3000, windowSeconds: 3, resetStyle: 'epoch', throttleHeaders: 'ratelimit' },
    });
    expect(parseCliArgs(['--rate-limit', 'off']).rateLimit).toBeNull();
    expect(() => parseCliArgs(['--rate-limit', 'fast'])).toThrow(/--rate-limit/);
    expect(() => parseCliArgs(['--throttle-headers', 'loud'])).toThrow(/--throttle-headers/);
    expect(() => parseCliArgs(['--latency-ms', '-1'])).toThrow(/--latency-ms/);
    expect(parseCliArgs(['--latency-ms', '50-250']).latencyMs).toEqual({ min: 50, max: 250 });
    expect(() => parseCliArgs(['--latency-ms', '250-50'])).toThrow(/--latency-ms expects MIN-MAX/);
  });
});
