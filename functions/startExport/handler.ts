import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { ExportConfig } from '../../shared/config/exportConfig';
import { startRun } from '../../shared/run/service';
import { HTTP_FUNCTION_KEY_CALLER, HTTP_MASTER_KEY_CALLER, callerForLogs } from '../../shared/run/caller';
import type { RunRequest } from '../../shared/run/types';
import { AppDependencies, contextLogger, serviceDeps } from '../dependencies';
import { badRequest, json, withDependencies } from '../http';

export const MAX_BODY_BYTES = 64 * 1024;
const FIELDS = [
  'segments',
  'dryRun',
  'fullResync',
  'allowMassRemoval',
  'removeUnmapped',
  'maxRetryTimeSeconds',
] as const;

/**
 * Which key the Functions host checked before the handler ran (the registration's authLevel). Removing the
 * memberships of a segment that shrank past the guard is the one destructive request: it needs the master key,
 * which only those who may manage the app can read, rather than a function key handed to schedulers.
 */
export type HttpKeyLevel = 'function' | 'master';

export const MASS_REMOVAL_ENDPOINT = 'POST /api/exports/mass-removal-runs';

/** `POST /api/exports/runs` (function key): validates the body, admits the run and hands it to the worker queue. */
export async function startExport(
  request: HttpRequest,
  context: InvocationContext,
  given?: AppDependencies,
): Promise<HttpResponseInit> {
  return admitRun(request, context, given, 'function');
}

/**
 * Admits a run requested over HTTP. The run records its caller (the key level), and the admission is logged
 * with it. `allowMassRemoval` is refused below the master key.
 */
export async function admitRun(
  request: HttpRequest,
  context: InvocationContext,
  given: AppDependencies | undefined,
  keyLevel: HttpKeyLevel,
): Promise<HttpResponseInit> {
  return withDependencies(context, given, async (deps) => {
    const body = await readBody(request, MAX_BODY_BYTES);
    if (body === null) return badRequest(`request body is larger than ${MAX_BODY_BYTES} bytes`);
    const parsed = parseStartRequest(body, deps.exportConfig, keyLevel === 'master');
    if ('error' in parsed) return badRequest(parsed.error);
    if (parsed.request.allowMassRemoval && keyLevel !== 'master') {
      return json(403, {
        error: `allowMassRemoval needs the master key: use ${MASS_REMOVAL_ENDPOINT} (see docs/deployment.md)`,
      });
    }
    const caller = keyLevel === 'master' ? HTTP_MASTER_KEY_CALLER : HTTP_FUNCTION_KEY_CALLER;
    const runRequest: RunRequest = { ...parsed.request, caller };

    const logger = contextLogger(context);
    const result = await startRun(serviceDeps(deps, logger), runRequest);
    if (result.kind === 'conflict') {
      return json(409, { error: 'another run is in progress', activeRunId: result.activeRunId });
    }
    logger.log('info', 'run started over HTTP', {
      runId: result.record.runId,
      caller: callerForLogs(caller),
      allowMassRemoval: runRequest.allowMassRemoval,
    });
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
 * `massRemovalEndpoint`: allowMassRemoval is implied, and an explicit `false` contradicts the endpoint.
 */
export function parseStartRequest(
  text: string,
  config: ExportConfig,
  massRemovalEndpoint = false,
): { request: RunRequest } | { error: string } {
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
  for (const flag of ['dryRun', 'fullResync', 'allowMassRemoval', 'removeUnmapped'] as const) {
    if (fields[flag] !== undefined && typeof fields[flag] !== 'boolean')
      return { error: `${flag} must be true or false` };
  }
  if (massRemovalEndpoint && fields.allowMassRemoval === false) {
    return { error: 'allowMassRemoval is always true here; start a run without it with POST /api/exports/runs' };
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
    allowMassRemoval: massRemovalEndpoint || fields.allowMassRemoval === true,
    trigger: 'http',
    // Only when asked: the runs recorded before this field existed keep their shape.
    ...(fields.removeUnmapped === true ? { removeUnmapped: true } : {}),
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

/**
 * The run's status URL, `.../exports/runs/<runId>` whichever collection was posted to; the query string (which
 * may hold the key) is dropped.
 */
function runStatusUrl(requestUrl: string, runId: string): string {
  const url = new URL(requestUrl);
  return `${url.origin}${url.pathname.replace(/\/exports\/[^/]+\/*$/, '/exports/runs')}/${runId}`;
}
