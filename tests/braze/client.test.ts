import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { inspect } from 'node:util';
import { createBrazeClient, type BrazeClient } from '../../shared/braze/client';
import { TransportError, type HttpRequest } from '../../shared/braze/http';
import { throttleDelayInMs } from '../../shared/braze/rateLimit';

const API_KEY = 'key-7f3a91c2-secret';

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A loopback server answering with `handler`; records requests and the connections it accepted. */
async function startServer(handler: (req: IncomingMessage, res: ServerResponse, body: string) => void) {
  const received: Received[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, res, body);
    });
  });
  server.on('connection', (socket: Socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: new URL(`http://127.0.0.1:${port}/`),
    received,
    connections: () => connections,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

type TestServer = Awaited<ReturnType<typeof startServer>>;

const post = (path: string, body = '{"attributes":[]}'): HttpRequest => ({ method: 'POST', path, body });

describe('the Braze client (axios over a keep-alive agent)', () => {
  const servers: TestServer[] = [];
  const clients: BrazeClient[] = [];
  const serve = async (handler: Parameters<typeof startServer>[0]) => {
    const server = await startServer(handler);
    servers.push(server);
    return server;
  };
  const clientFor = (endpoint: URL, options: { timeoutInMs?: number; maxSockets?: number } = {}) => {
    const client = createBrazeClient({
      endpoint,
      apiKey: API_KEY,
      timeoutInMs: options.timeoutInMs ?? 30_000,
      maxSockets: options.maxSockets ?? 4,
    });
    clients.push(client);
    return client;
  };
  const failureOf = async (promise: Promise<unknown>): Promise<TransportError> => {
    const error = await promise.then(
      () => new Error('expected the request to fail'),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TransportError);
    return error as TransportError;
  };
  /** Everything a log, a report or an exception handler could print of an error. */
  const expectNoKey = (error: Error) => {
    for (const text of [String(error), error.message, error.stack ?? '', JSON.stringify(error), inspect(error)]) {
      expect(text).not.toContain(API_KEY);
      expect(text).not.toMatch(/authorization|bearer/i);
    }
    expect(Object.keys(error).sort()).toEqual(['code', 'name', 'retryable']);
  };

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    for (const server of servers.splice(0)) await server.close();
  });

  it('posts the body as sent, under the endpoint, with the key as a Bearer token', async () => {
    const server = await serve((_req, res) => res.end('{"message":"success"}'));
    const body = '{"attributes":[{"external_id":"u1","first_name":"Zoë"}]}';
    const response = await clientFor(server.url).send(post('/users/track', body));
    expect(response).toEqual({ status: 200, headers: expect.any(Object), text: '{"message":"success"}' });
    expect(server.received).toEqual([
      {
        method: 'POST',
        url: '/users/track',
        body,
        headers: expect.objectContaining({
          authorization: `Bearer ${API_KEY}`,
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
        }),
      },
    ]);
  });

  it('sends a GET with its query and no body', async () => {
    const server = await serve((_req, res) => res.end('{"segments":[]}'));
    const response = await clientFor(server.url).send({ method: 'GET', path: '/segments/list', params: { page: 2 } });
    expect(response.text).toBe('{"segments":[]}');
    expect(server.received).toEqual([
      expect.objectContaining({ method: 'GET', url: '/segments/list?page=2', body: '' }),
    ]);
    expect(server.received[0].headers['content-type']).toBeUndefined();
  });

  it('returns every status with its body and lower-case headers, for the caller to judge', async () => {
    const answers: Array<[number, Record<string, string>, string]> = [
      [401, {}, '{"message":"Invalid API key"}'],
      [429, { 'Retry-After': '7', 'X-RateLimit-Remaining': '0' }, '{"message":"rate limited"}'],
      [503, { 'Content-Type': 'text/html' }, '<html>Service Unavailable</html>'],
      [200, {}, ''],
    ];
    let next = 0;
    const server = await serve((_req, res) => {
      const [status, headers, body] = answers[next++];
      res.writeHead(status, headers).end(body);
    });
    const client = clientFor(server.url);
    const responses = [];
    for (let i = 0; i < answers.length; i++) responses.push(await client.send(post('/users/track')));
    expect(responses.map((r) => [r.status, r.text])).toEqual(answers.map(([status, , body]) => [status, body]));
    expect(responses[1].headers).toMatchObject({ 'retry-after': '7', 'x-ratelimit-remaining': '0' });
    // The rate-limit reader gets the headers as node:http delivers them.
    expect(throttleDelayInMs(responses[1].headers, Date.now())).toBe(7_000);
  });

  it('follows no redirect and no absolute path: the key goes to the endpoint only', async () => {
    const elsewhere = await serve((_req, res) => res.end('{}'));
    const server = await serve((_req, res) =>
      res.writeHead(307, { Location: new URL('/users/track', elsewhere.url).href }).end(),
    );
    const client = clientFor(server.url);
    expect((await client.send(post('/users/track'))).status).toBe(307);
    await client.send(post(new URL('/users/track', elsewhere.url).href));
    expect(elsewhere.received).toEqual([]);
    expect(server.received).toHaveLength(2);
  });

  it('keeps connections open and opens no more than maxSockets', async () => {
    const server = await serve((_req, res) => setTimeout(() => res.end('{"message":"success"}'), 20));
    const client = clientFor(server.url, { maxSockets: 2 });
    await Promise.all(Array.from({ length: 6 }, () => client.send(post('/users/track'))));
    await client.send(post('/users/track'));
    expect(server.received).toHaveLength(7);
    expect(server.connections()).toBe(2);
  });

  it('turns a reset connection into a retryable TransportError that carries no key', async () => {
    const server = await serve((req) => req.socket.destroy());
    const error = await failureOf(clientFor(server.url).send(post('/users/track')));
    expect(error).toMatchObject({ name: 'TransportError', code: 'ECONNRESET', retryable: true });
    expect(error.message).toBe('connection failed (ECONNRESET)');
    expectNoKey(error);
  });

  it('turns a refused connection into a retryable TransportError that carries no key', async () => {
    const server = await serve(() => undefined);
    await server.close();
    servers.splice(servers.indexOf(server), 1);
    const error = await failureOf(clientFor(server.url).send(post('/users/track')));
    expect(error).toMatchObject({ code: 'ECONNREFUSED', retryable: true });
    expectNoKey(error);
  });

  it('turns a body cut short into a retryable ECONNRESET', async () => {
    const server = await serve((req, res) => {
      res.writeHead(200, { 'Content-Length': '100' });
      res.write('{"message":', () => req.socket.destroy());
    });
    const error = await failureOf(clientFor(server.url).send(post('/users/track')));
    expect(error).toMatchObject({ code: 'ECONNRESET', retryable: true });
    expectNoKey(error);
  });

  it('refuses a response far longer than Braze ever answers', async () => {
    const server = await serve((_req, res) => res.end('x'.repeat(300 * 1024)));
    const error = await failureOf(clientFor(server.url).send(post('/users/track')));
    expect(error).toMatchObject({ code: 'RESPONSE_TOO_LARGE', retryable: true });
    expectNoKey(error);
  });

  it('gives up on a request without an answer after the timeout, as TIMEOUT', async () => {
    const server = await serve(() => undefined);
    const error = await failureOf(clientFor(server.url, { timeoutInMs: 300 }).send(post('/users/track')));
    expect(error).toMatchObject({ code: 'TIMEOUT', retryable: true });
    expect(error.message).toBe('no response before the request timeout');
    expectNoKey(error);
  });

  it('cancels a request when the caller stops, as ABORTED and not retryable', async () => {
    let arrived: () => void = () => undefined;
    const requestArrived = new Promise<void>((resolve) => (arrived = resolve));
    const server = await serve(() => arrived());
    const stop = new AbortController();
    const sent = clientFor(server.url).send({ ...post('/users/track'), signal: stop.signal });
    await requestArrived;
    stop.abort(new Error(`stopping, key ${API_KEY}`));
    const error = await failureOf(sent);
    expect(error).toMatchObject({ code: 'ABORTED', retryable: false });
    expectNoKey(error);
  });
});
