import { BrazeSandbox, FaultRule, startBrazeSandbox } from '../../tools/braze-sandbox/server';
import { call, track, users } from './http';

describe('Braze sandbox: fault injection', () => {
  let sandbox: BrazeSandbox;

  beforeAll(async () => {
    sandbox = await startBrazeSandbox({
      rateLimit: { limit: 1000, windowSeconds: 60, resetStyle: 'seconds', throttleHeaders: 'retry-after' },
    });
  });
  afterAll(async () => sandbox.close());
  beforeEach(() => sandbox.reset('all'));

  async function statuses(n: number): Promise<number[]> {
    const result: number[] = [];
    for (let i = 0; i < n; i++) result.push((await track(sandbox, { attributes: users(1) })).status);
    return result;
  }

  it('fires on the nth request only', async () => {
    sandbox.setFaults([{ match: { nth: 2 }, action: { status: 503 } }]);
    expect(await statuses(3)).toEqual([201, 503, 201]);
    const faulted = sandbox.requests().find((r) => r.status === 503);
    expect(faulted?.fault).toBe('status:503');
  });

  it('fires on every nth request up to count times', async () => {
    sandbox.setFaults([{ match: { every: 2, count: 2 }, action: { status: 500 } }]);
    expect(await statuses(6)).toEqual([201, 500, 201, 500, 201, 201]);
  });

  it('counts ordinals from the moment rules are installed over HTTP, and clears them', async () => {
    await statuses(2);
    const installed = await call(sandbox, 'POST', '/_sim/faults', {
      rules: [{ match: { nth: 1 }, action: { status: 504 } }],
    });
    expect(installed.status).toBe(200);
    expect(await statuses(2)).toEqual([504, 201]);
    await call(sandbox, 'POST', '/_sim/faults', { rules: [{ match: { every: 1 }, action: { status: 500 } }] });
    expect((await call(sandbox, 'DELETE', '/_sim/faults')).status).toBe(200);
    expect(await statuses(1)).toEqual([201]);
  });

  it('serves a raw HTML 502 page', async () => {
    const page = '<html><body><h1>502 Bad Gateway</h1></body></html>';
    sandbox.setFaults([{ match: { nth: 1 }, action: { status: 502, body: page } }]);
    const reply = await track(sandbox, { attributes: users(1) });
    expect(reply.status).toBe(502);
    expect(reply.text).toBe(page);
    expect(reply.headers.get('content-type')).toBe('text/html');
    expect(sandbox.profiles()).toHaveLength(0);
  });

  it('gives an injected 429 the configured throttle headers unless the rule sets its own', async () => {
    sandbox.setFaults([
      { match: { nth: 1 }, action: { status: 429 } },
      { match: { nth: 2 }, action: { status: 429, headers: { 'x-ratelimit-retry-after': '7' } } },
    ]);
    const configured = await track(sandbox, { attributes: users(1) });
    expect(configured.status).toBe(429);
    expect(configured.headers.get('retry-after')).toMatch(/^\d+$/);
    const custom = await track(sandbox, { attributes: users(1) });
    expect(custom.headers.get('x-ratelimit-retry-after')).toBe('7');
    expect(custom.headers.has('retry-after')).toBe(false);
  });

  it('resets the connection without applying anything', async () => {
    sandbox.setFaults([{ match: { nth: 1 }, action: { reset: true } }]);
    await expect(track(sandbox, { attributes: users(1) })).rejects.toThrow();
    expect(sandbox.profiles()).toHaveLength(0);
    expect(sandbox.requests()[0]).toMatchObject({ status: 0, fault: 'reset' });
    expect((await track(sandbox, { attributes: users(1) })).status).toBe(201);
  });

  it('hangs until the client gives up, and close() still ends promptly', async () => {
    const hanging = await startBrazeSandbox();
    try {
      hanging.setFaults([{ match: { nth: 1 }, action: { hang: true } }]);
      const signal = AbortSignal.timeout(200);
      await expect(
        fetch(`${hanging.url}/users/track`, {
          method: 'POST',
          signal,
          headers: { authorization: `Bearer ${hanging.apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ attributes: users(1) }),
        }),
      ).rejects.toThrow();
      expect(hanging.requests()[0].fault).toBe('hang');
      // A second hanging request is still open when the sandbox closes.
      hanging.setFaults([{ match: { nth: 1 }, action: { hang: true } }]);
      const pending = fetch(`${hanging.url}/users/track`, {
        method: 'POST',
        headers: { authorization: `Bearer ${hanging.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ attributes: users(1) }),
      });
      await waitFor(() => hanging.stats().inFlight === 1);
      await hanging.close();
      await expect(pending).rejects.toThrow();
    } finally {
      await hanging.close().catch(() => undefined);
    }
  });

  it('adds latency and then processes the request normally', async () => {
    sandbox.setFaults([{ match: { nth: 1 }, action: { latencyMs: 50 } }]);
    const reply = await track(sandbox, { attributes: users(1) });
    expect(reply.status).toBe(201);
    expect(sandbox.findProfile({ external_id: 'u0' })).toBeDefined();
    expect(sandbox.requests()[0].fault).toBe('latency:50');
  });

  it('rejects chosen attribute indexes with a 201 and errors', async () => {
    sandbox.setFaults([{ match: { nth: 1 }, action: { rejectIndexes: [1, 3] } }]);
    const reply = await track(sandbox, { attributes: users(4) });
    expect(reply.status).toBe(201);
    expect(reply.json.attributes_processed).toBe(2);
    const errors = reply.json.errors as Array<{ input_array: string; index: number }>;
    expect(errors.map((e) => [e.input_array, e.index])).toEqual([
      ['attributes', 1],
      ['attributes', 3],
    ]);
    expect(
      sandbox
        .profiles()
        .map((p) => p.external_id)
        .sort(),
    ).toEqual(['u0', 'u2']);
  });

  it('draws probabilities from a seeded PRNG, so the same seed gives the same faults', async () => {
    const rules: FaultRule[] = [{ match: { probability: 0.5 }, action: { status: 500 } }];
    const runs: number[][] = [];
    for (let run = 0; run < 2; run++) {
      const seeded = await startBrazeSandbox({ seed: 42 });
      try {
        seeded.setFaults(rules);
        const result: number[] = [];
        for (let i = 0; i < 20; i++) result.push((await track(seeded, { attributes: users(1) })).status);
        runs.push(result);
      } finally {
        await seeded.close();
      }
    }
    expect(runs[0]).toEqual(runs[1]);
    const faults = runs[0].filter((s) => s === 500).length;
    expect(faults).toBeGreaterThan(0);
    expect(faults).toBeLessThan(20);
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}
