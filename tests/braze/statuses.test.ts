import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BrazeDelivery, BrazeFatalError, resolveBrazeEndpoint, type RowResult } from '../../shared/braze';
import { IdentityDelivery, type IdentityVerdict } from '../../shared/braze/identity';
import { apiKeyFormatProblem, setupProblem, statusKind } from '../../shared/braze/statuses';
import type { IdentityChange } from '../../shared/state/diff';
import { startBrazeSandbox, type BrazeSandbox } from '../../tools/braze-sandbox/server';

describe('what Braze statuses mean', () => {
  it.each([
    [[200, 201, 204], 'success'],
    [[429], 'throttled'],
    [[408, 500, 502, 503, 504], 'transient'],
    [[401, 403, 404], 'setup'],
    [[301, 307, 400, 409, 413, 422], 'refused'],
  ] as const)('%j: %s', (statuses, kind) => {
    for (const status of statuses) expect(statusKind(status)).toBe(kind);
  });

  it('names the host and the permission in what to fix', () => {
    expect(setupProblem(401, 'rest.iad-03.braze.com', 'users.track')).toMatch(
      /^the key is wrong or revoked, quoted, or belongs to a workspace on another cluster than rest\.iad-03\.braze\.com/,
    );
    expect(setupProblem(403, 'rest.iad-03.braze.com', 'users.merge')).toMatch(
      /^the API key lacks the users\.merge permission, or the plan or account at rest\.iad-03\.braze\.com/,
    );
    expect(setupProblem(404, 'rest.iad-03.braze.com', 'users.track')).toMatch(
      /^wrong host or path; check BRAZE_REST_ENDPOINT \(rest\.iad-03\.braze\.com\)/,
    );
  });

  it.each(['"abc123"', "'abc123'", 'abc123\n', ' abc123', 'abc 123', 'abc123"'])(
    'refuses the key %j, which Braze answers with 401',
    (key) => expect(apiKeyFormatProblem(key)).toMatch(/quotes or whitespace/),
  );

  it('accepts a key without quotes or whitespace', () => {
    expect(apiKeyFormatProblem('a1b2c3d4-e5f6-4711-8a9b-0c1d2e3f4a5b')).toBeUndefined();
  });
});

describe('one meaning for /users/track and the identity calls, over HTTP', () => {
  let sandbox: BrazeSandbox;
  let server: Server;
  let nextStatus = 404;
  let answered = 0;
  let serverUrl: URL;

  beforeAll(async () => {
    sandbox = await startBrazeSandbox({
      rateLimit: null,
      apiKeys: [{ key: 'all' }, { key: 'track-only', permissions: ['users.track'] }],
    });
    // Answers every request with `nextStatus`: the sandbox answers 404 only to unknown paths.
    server = createServer((_req, res) => {
      answered++;
      res.writeHead(nextStatus, { 'Content-Type': 'application/json' }).end('{"message":"no"}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    serverUrl = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  });
  afterAll(async () => {
    await sandbox.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  beforeEach(() => {
    sandbox.reset('all');
    answered = 0;
  });

  const change: IdentityChange = { kind: 'merge', from: 'e:A', to: 'e:B', slot: 0, foldedSlot: -1 };

  async function track(endpoint: URL, apiKey: string): Promise<{ error?: Error; results: RowResult[] }> {
    const results: RowResult[] = [];
    const delivery = new BrazeDelivery({ endpoint, apiKey, maxAttempts: 2, onResults: (r) => results.push(...r) });
    try {
      await delivery.push({ ref: 1, object: { external_id: 'A' } });
      await delivery.flush();
      return { results };
    } catch (error) {
      return { error: error as Error, results };
    }
  }

  async function merge(endpoint: URL, apiKey: string): Promise<IdentityVerdict | Error> {
    const delivery = new IdentityDelivery({ endpoint, apiKey, maxAttempts: 2, sleep: async () => undefined });
    const verdict = delivery.push(change).catch((error: Error) => error);
    await delivery.flush();
    delivery.close();
    return verdict;
  }

  it('401: both stop, not retryable, with the same cause', async () => {
    const endpoint = resolveBrazeEndpoint(sandbox.url, { allowInsecureLoopback: true });
    const cause = setupProblem(401, endpoint.host, '');
    const tracked = await track(endpoint, 'not-a-key');
    const merged = await merge(endpoint, 'not-a-key');
    for (const error of [tracked.error, merged]) {
      expect(error).toBeInstanceOf(BrazeFatalError);
      expect(error).toMatchObject({ status: 401, retryable: false, message: expect.stringContaining(cause) });
    }
    expect(tracked.results).toEqual([]);
  });

  it('403: both stop naming the permission their call needs', async () => {
    const endpoint = resolveBrazeEndpoint(sandbox.url, { allowInsecureLoopback: true });
    sandbox.configure({ apiKeys: [{ key: 'merge-only', permissions: ['users.merge'] }] });
    const tracked = await track(endpoint, 'merge-only');
    sandbox.configure({ apiKeys: [{ key: 'track-only', permissions: ['users.track'] }] });
    const merged = await merge(endpoint, 'track-only');
    expect(tracked.error).toMatchObject({
      status: 403,
      retryable: false,
      message: expect.stringContaining(setupProblem(403, endpoint.host, 'users.track')),
    });
    expect(merged).toMatchObject({
      status: 403,
      retryable: false,
      message: expect.stringContaining(setupProblem(403, endpoint.host, 'users.merge')),
    });
  });

  it('404: both stop pointing at BRAZE_REST_ENDPOINT, after one request each', async () => {
    nextStatus = 404;
    const cause = setupProblem(404, serverUrl.host, '');
    const tracked = await track(serverUrl, 'all');
    const merged = await merge(serverUrl, 'all');
    for (const error of [tracked.error, merged]) {
      expect(error).toMatchObject({ status: 404, retryable: false, message: expect.stringContaining(cause) });
    }
    expect(answered).toBe(2);
  });

  it('another 4xx: both refuse the rows of that request and go on, without retrying it', async () => {
    nextStatus = 409;
    const tracked = await track(serverUrl, 'all');
    const merged = await merge(serverUrl, 'all');
    expect(tracked).toEqual({
      results: [{ ref: 1, status: 'rejected', reason: 'Braze refused the request (HTTP 409: no)' }],
    });
    expect(merged).toEqual({ status: 'rejected', reason: 'no' });
    expect(answered).toBe(2);
  });

  it('5xx: both send again, then stop as retryable so the run resumes', async () => {
    nextStatus = 503;
    const tracked = await track(serverUrl, 'all');
    const merged = await merge(serverUrl, 'all');
    for (const error of [tracked.error, merged]) {
      expect(error).toBeInstanceOf(BrazeFatalError);
      expect(error).toMatchObject({ status: 503, retryable: true });
    }
    expect(answered).toBe(4);
  });
});
