import { AppError } from '../errors';
import type { ResponseHeaders } from './rateLimit';

/** One call to the Braze REST API, relative to the endpoint the client was made for. */
export interface HttpRequest {
  method: 'GET' | 'POST';
  /** Path under the endpoint, e.g. `/users/track`. */
  path: string;
  /** Query parameters (`GET /segments/list?page=1`). */
  params?: Readonly<Record<string, string | number>>;
  /** JSON text of the request body (POST). */
  body?: string;
  /** Aborting cancels the request (the run is stopping). */
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  /** Header names in lower case. */
  headers: ResponseHeaders;
  /** The response body as text (possibly an HTML error page). */
  text: string;
}

/** Sends one request and returns the response, whatever its status; throws `TransportError` when none arrived. */
export type HttpTransport = (request: HttpRequest) => Promise<HttpResponse>;

/** Transport failures worth another attempt; the others are the run stopping (`ABORTED`). */
const NOT_RETRYABLE = new Set(['ABORTED']);

/**
 * No response: connection refused or reset, DNS failure, timeout. The message is built here from the error
 * code only, so neither request headers (the API key) nor the request options ever reach logs or reports.
 */
export class TransportError extends AppError {
  readonly retryable: boolean;
  constructor(readonly code: string) {
    super(code === 'TIMEOUT' ? 'no response before the request timeout' : `connection failed (${code})`);
    this.retryable = !NOT_RETRYABLE.has(code);
  }
}
