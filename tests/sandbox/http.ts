/** Small HTTP helpers for the sandbox tests: real requests over loopback. */
import type { BrazeSandbox } from '../../tools/braze-sandbox/server';

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, unknown>;
}

async function toReply(response: Response): Promise<Reply> {
  const text = await response.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // Non-JSON bodies (HTML fault pages) are inspected through `text`.
  }
  return { status: response.status, headers: response.headers, text, json };
}

export async function track(
  sandbox: BrazeSandbox,
  body: unknown,
  options: { apiKey?: string | null; contentType?: string; rawBody?: string } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { 'content-type': options.contentType ?? 'application/json' };
  const apiKey = options.apiKey === undefined ? sandbox.apiKey : options.apiKey;
  if (apiKey !== null) headers.authorization = `Bearer ${apiKey}`;
  const response = await fetch(`${sandbox.url}/users/track`, {
    method: 'POST',
    headers,
    body: options.rawBody ?? JSON.stringify(body),
  });
  return toReply(response);
}

export async function call(
  sandbox: BrazeSandbox,
  method: string,
  path: string,
  body?: unknown,
  apiKey: string | null = sandbox.apiKey,
): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (apiKey !== null) headers.authorization = `Bearer ${apiKey}`;
  const response = await fetch(`${sandbox.url}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return toReply(response);
}

/** `n` attribute objects for distinct users. */
export function users(n: number, extra: Record<string, unknown> = {}): Array<Record<string, unknown>> {
  return Array.from({ length: n }, (_, i) => ({ external_id: `u${i}`, ...extra }));
}
