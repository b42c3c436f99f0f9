import http from 'node:http';
import https from 'node:https';
import { AppError } from '../errors';
import type { ResponseHeaders } from './rateLimit';

export interface HttpRequest {
  url: URL;
  apiKey: string;
  /** JSON text of the request body. */
  body: string;
  timeoutInMs: number;
  /** Aborting cancels the request (the run is stopping). */
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: ResponseHeaders;
  /** The response body as text (possibly an HTML error page), cut at `MAX_RESPONSE_CHARS`. */
  text: string;
}

/** Sends one POST and returns the response, whatever its status; throws `TransportError` when none arrived. */
export type HttpTransport = (request: HttpRequest) => Promise<HttpResponse>;

/** Braze answers with short JSON; anything longer is an error page whose tail is of no use. */
const MAX_RESPONSE_CHARS = 256 * 1024;

/**
 * No response: connection refused or reset, DNS failure, timeout. The message is built here from the error
 * code only, so neither request headers (the API key) nor the request options ever reach logs or reports.
 */
export class TransportError extends AppError {
  override readonly name = 'TransportError';
  readonly retryable = true;
  constructor(readonly code: string) {
    super(code === 'TIMEOUT' ? 'no response before the request timeout' : `connection failed (${code})`);
  }
}

export interface NodeTransport {
  send: HttpTransport;
  /** Closes idle keep-alive sockets. */
  close(): void;
}

/** An HTTP transport over node:http / node:https with a keep-alive agent of `maxSockets` sockets. */
export function createNodeTransport(options: { maxSockets: number; secure: boolean }): NodeTransport {
  const agentOptions = { keepAlive: true, maxSockets: options.maxSockets, maxFreeSockets: options.maxSockets };
  const agent = options.secure ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  const client = options.secure ? https : http;

  const send: HttpTransport = (request) =>
    new Promise<HttpResponse>((resolve, reject) => {
      let settled = false;
      const fail = (code: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        request.signal?.removeEventListener('abort', onAbort);
        reject(new TransportError(code));
      };
      const body = Buffer.from(request.body, 'utf8');
      const req = client.request(request.url, {
        method: 'POST',
        agent,
        headers: {
          Authorization: `Bearer ${request.apiKey}`,
          'Content-Type': 'application/json',
          'Content-Length': body.length,
        },
      });
      const timer = setTimeout(() => {
        fail('TIMEOUT');
        req.destroy();
      }, request.timeoutInMs);
      const onAbort = () => {
        fail('ABORTED');
        req.destroy();
      };
      if (request.signal?.aborted) onAbort();
      request.signal?.addEventListener('abort', onAbort, { once: true });

      req.on('error', (error: NodeJS.ErrnoException) => fail(typeof error.code === 'string' ? error.code : 'ERROR'));
      req.on('response', (res) => {
        const chunks: string[] = [];
        let length = 0;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (length < MAX_RESPONSE_CHARS) chunks.push(chunk.slice(0, MAX_RESPONSE_CHARS - length));
          length += chunk.length;
        });
        res.on('error', () => fail('ECONNRESET'));
        // A body cut short ends in 'close' without 'end'.
        res.on('close', () => fail('ECONNRESET'));
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          request.signal?.removeEventListener('abort', onAbort);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: chunks.join('') });
        });
      });
      req.end(body);
    });

  return { send, close: () => agent.destroy() };
}
