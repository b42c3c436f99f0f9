import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { ExportConfig } from '../../shared/config/exportConfig';
import { startRun } from '../../shared/run/service';
import type { RunRequest } from '../../shared/run/types';
import { AppDependencies, contextLogger, serviceDeps } from '../dependencies';
import { badRequest, json, withDependencies } from '../http';

export const MAX_BODY_BYTES = 64 * 1024;
const FIELDS = ['segments', 'dryRun', 'fullResync', 'allowMassRemoval', 'maxRetryTimeSeconds'] as const;

/** `POST /api/exports/runs`: validates the body, admits the run and hands it to the worker queue. */
export async function startExport(
  request: HttpRequest,
  context: InvocationContext,
  given?: AppDependencies,
): Promise<HttpResponseInit> {
  return withDependencies(context, given, async (deps) => {
    const body = await readBody(request, MAX_BODY_BYTES);
    if (body === null) return badRequest(`request body is larger than ${MAX_BODY_BYTES} bytes`);
    const parsed = parseStartRequest(body, deps.exportConfig);
    if ('error' in parsed) return badRequest(parsed.error);

    const result = await startRun(serviceDeps(deps, contextLogger(context)), parsed.request);
    if (result.kind === 'conflict') {
      return json(409, { error: 'another run is in progress', activeRunId: result.activeRunId });
    }
    const statusUrl = runStatusUrl(request.url, result.record.runId);
    return json(202, { runId: result.record.runId, status: result.record.status, statusUrl }, { Location: statusUrl });
  });
}

/**
 * Reads at most `maxBytes`; null when the body is larger. The declared length is checked first, and the stream
 * is cut off as soon as it passes the limit, so an oversized body is never held in memory.
 */
async function readBody(request: HttpRequest, maxBytes: number): Promise<string | null> {
  if (Number(request.headers.get('content-length') ?? 0) > maxBytes) return null;
  if (!request.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The body as a run request, or a message naming the field at fault. An empty body starts a run of every
 * configured segment. Segments may be named by CI table or by Braze segment API id; they are stored as tables.
 */
export function parseStartRequest(text: string, config: ExportConfig): { request: RunRequest } | { error: string } {
  let body: unknown = {};
  if (text.trim() !== '') {
    try {
      body = JSON.parse(text);
    } catch {
      return { error: 'request body is not valid JSON' };
    }
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return { error: 'request body must be a JSON object' };
  }
  const fields = body as Record<string, unknown>;
  const unknown = Object.keys(fields).find((key) => !(FIELDS as readonly string[]).includes(key));
  if (unknown !== undefined) {
    return { error: `unknown field "${unknown.slice(0, 100)}": expected only ${FIELDS.join(', ')}` };
  }
  for (const flag of ['dryRun', 'fullResync', 'allowMassRemoval'] as const) {
    if (fields[flag] !== undefined && typeof fields[flag] !== 'boolean')
      return { error: `${flag} must be true or false` };
  }
  const maxRetryTimeSeconds = fields.maxRetryTimeSeconds;
  if (
    maxRetryTimeSeconds !== undefined &&
    (!Number.isInteger(maxRetryTimeSeconds) ||
      (maxRetryTimeSeconds as number) < 1 ||
      (maxRetryTimeSeconds as number) > 86_400)
  ) {
    return { error: 'maxRetryTimeSeconds must be a whole number of seconds from 1 to 86400' };
  }
  const request: RunRequest = {
    dryRun: fields.dryRun === true,
    fullResync: fields.fullResync === true,
    allowMassRemoval: fields.allowMassRemoval === true,
    trigger: 'http',
    ...(maxRetryTimeSeconds === undefined ? {} : { maxRetryTimeSeconds: maxRetryTimeSeconds as number }),
  };
  if (fields.segments === undefined) return { request };

  const segments = fields.segments;
  if (!Array.isArray(segments) || segments.length === 0) {
    return { error: 'segments must be a non-empty array of segment table names or Braze segment API ids' };
  }
  const tables: string[] = [];
  for (const [index, name] of segments.entries()) {
    if (typeof name !== 'string' || name.trim() === '')
      return { error: `segments[${index}] must be a non-empty string` };
    const segment = config.segments.find((s) => s.table === name || s.brazeSegmentApiId === name);
    if (!segment) {
      const known = config.segments.map((s) => s.table).join(', ');
      return {
        error: `segments[${index}]: "${name.slice(0, 100)}" is not a configured segment (configured: ${known})`,
      };
    }
    if (!tables.includes(segment.table)) tables.push(segment.table);
  }
  return { request: { ...request, segments: tables } };
}

/** The run's status URL, next to the collection; the query string (which may hold the function key) is dropped. */
function runStatusUrl(requestUrl: string, runId: string): string {
  const url = new URL(requestUrl);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}/${runId}`;
}
