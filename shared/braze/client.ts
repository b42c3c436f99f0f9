import http from 'node:http';
import https from 'node:https';
import axios, { AxiosHeaders, type AxiosResponse } from 'axios';
import { TransportError, type HttpRequest, type HttpResponse, type HttpTransport } from './http';

/**
 * The one HTTP client for the Braze REST API (delivery, identity calls, `check`): axios over a keep-alive agent,
 * bound to one endpoint and key. Statuses are the caller's to judge (`./statuses`); failures without a response
 * become a `TransportError` built from the error code only.
 */
export interface BrazeClientOptions {
  /** Base URL from `resolveBrazeEndpoint`: no request leaves for any other host. */
  endpoint: URL;
  apiKey: string;
  /** Time from sending a request to its whole response (BRAZE_REQUEST_TIMEOUT_IN_MS). */
  timeoutInMs: number;
  /** Sockets kept open: the most requests the caller ever has in flight. */
  maxSockets: number;
}

export interface BrazeClient {
  send: HttpTransport;
  /** Closes idle keep-alive sockets. */
  close(): void;
}

/** Braze answers with short JSON; anything longer is an error page of no use, not worth the memory. */
const MAX_RESPONSE_BYTES = 256 * 1024;

export function createBrazeClient(options: BrazeClientOptions): BrazeClient {
  const agentOptions = { keepAlive: true, maxSockets: options.maxSockets, maxFreeSockets: options.maxSockets };
  const secure = options.endpoint.protocol === 'https:';
  const agent = secure ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  const instance = axios.create({
    baseURL: options.endpoint.href,
    // A path that is a whole URL would carry the key elsewhere.
    allowAbsoluteUrls: false,
    headers: { Authorization: `Bearer ${options.apiKey}`, Accept: 'application/json' },
    ...(secure ? { httpsAgent: agent } : { httpAgent: agent }),
    // Redirects and proxies from the environment would take the key to another host.
    maxRedirects: 0,
    proxy: false,
    validateStatus: () => true,
    responseType: 'text',
    // The body is JSON text already: axios would parse it again to check.
    transformRequest: [(data: unknown) => data],
    maxContentLength: MAX_RESPONSE_BYTES,
  });

  const send: HttpTransport = async (request) => {
    // The timeout covers the whole exchange (axios's own restarts on every byte received).
    const cancel = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      cancel.abort();
    }, options.timeoutInMs);
    const onStop = () => cancel.abort();
    if (request.signal?.aborted) onStop();
    request.signal?.addEventListener('abort', onStop, { once: true });
    try {
      return toResponse(await instance.request<string>(axiosRequest(request, cancel.signal)));
    } catch (error) {
      throw new TransportError(timedOut ? 'TIMEOUT' : failureCode(error));
    } finally {
      clearTimeout(timer);
      request.signal?.removeEventListener('abort', onStop);
    }
  };

  return { send, close: () => agent.destroy() };
}

function axiosRequest(request: HttpRequest, signal: AbortSignal) {
  return {
    method: request.method,
    url: request.path,
    params: request.params,
    data: request.body,
    headers: request.body === undefined ? undefined : { 'Content-Type': 'application/json' },
    signal,
  };
}

function toResponse(response: AxiosResponse<string>): HttpResponse {
  return {
    status: response.status,
    headers: AxiosHeaders.from(response.headers as InstanceType<typeof AxiosHeaders>).toJSON(),
    text: typeof response.data === 'string' ? response.data : '',
  };
}

/**
 * The code of a failure, and nothing else of it: an axios error holds the request's config, headers included.
 * Node's codes (ECONNREFUSED, ECONNRESET, ENOTFOUND) pass; axios's own become what they mean here.
 */
function failureCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return 'ERROR';
  switch (code) {
    case 'ERR_CANCELED':
      return 'ABORTED';
    case 'ECONNABORTED':
    case 'ETIMEDOUT':
      return 'TIMEOUT';
    case 'ERR_BAD_RESPONSE': {
      // The body was cut short, or longer than Braze ever answers.
      const tooLong = /maxContentLength/.test((error as { message?: unknown }).message as string);
      return tooLong ? 'RESPONSE_TOO_LARGE' : 'ECONNRESET';
    }
    default:
      return /^E[A-Z0-9_]+$/.test(code) ? code : 'ERROR';
  }
}
