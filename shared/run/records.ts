import { randomBytes } from 'node:crypto';
import type { ContainerClient } from '@azure/storage-blob';
import { AppError } from '../errors';
import { storageStatus } from './storage';
import { withStorageRetry } from './storageErrors';
import type { RunRecord, RunRequest, RunStatus } from './types';

/** `20261128T121500Z-1a2b3c4d`: creation time (UTC, sortable) plus 32 random bits. */
const RUN_ID_PATTERN = /^\d{8}T\d{6}Z-[0-9a-f]{8}$/;
/** Newest-first index: blob names sort ascending, so the key counts down from this far-future instant. */
const INDEX_PREFIX = 'run-index/';
const INDEX_EPOCH_MS = 9_999_999_999_999;
const MAX_UPDATE_ATTEMPTS = 10;

export const TERMINAL_STATUSES: ReadonlySet<RunStatus> = new Set(['succeeded', 'failed', 'held']);
/** Runs that hold admission and that a later start resumes: their work is not done. */
export const UNFINISHED_STATUSES: ReadonlySet<RunStatus> = new Set(['queued', 'running', 'interrupted']);

export class InvalidRunIdError extends AppError {
  readonly code = 'INVALID_RUN_ID';
  readonly retryable = false;
  constructor() {
    super('invalid run id: expected the form 20261128T121500Z-1a2b3c4d');
  }
}

export class RunNotFoundError extends AppError {
  readonly code = 'RUN_NOT_FOUND';
  readonly retryable = false;
  constructor(readonly runId: string) {
    super(`run ${runId} not found`);
  }
}

export function isValidRunId(value: unknown): value is string {
  return typeof value === 'string' && RUN_ID_PATTERN.test(value);
}

/** Throws before any blob name is built from the id, so a crafted id can never reach another path. */
export function assertValidRunId(value: unknown): asserts value is string {
  if (!isValidRunId(value)) throw new InvalidRunIdError();
}

export function newRunId(nowInMs: number): string {
  const stamp = new Date(nowInMs)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  return `${stamp}-${randomBytes(4).toString('hex')}`;
}

export function runRecordBlobName(runId: string): string {
  assertValidRunId(runId);
  return `runs/${runId}/record.json`;
}

function indexBlobName(runId: string, createdAtInMs: number): string {
  return `${INDEX_PREFIX}${String(INDEX_EPOCH_MS - createdAtInMs).padStart(13, '0')}-${runId}`;
}

export interface CreateRunOptions {
  request: RunRequest;
  clock?: () => number;
  /** Lets the caller claim admission under the id before the record exists. */
  runId?: string;
}

/** Writes a new `queued` record (create-only) and its entry in the newest-first index. */
export async function createRun(container: ContainerClient, options: CreateRunOptions): Promise<RunRecord> {
  const nowInMs = (options.clock ?? Date.now)();
  const runId = options.runId ?? newRunId(nowInMs);
  const now = new Date(nowInMs).toISOString();
  const record: RunRecord = {
    runId,
    status: 'queued',
    request: options.request,
    createdAt: now,
    updatedAt: now,
    invocations: 0,
  };
  await writeJson(container, runRecordBlobName(runId), record, { conditions: { ifNoneMatch: '*' } });
  await container.getBlockBlobClient(indexBlobName(runId, nowInMs)).upload('', 0);
  return record;
}

export async function getRun(container: ContainerClient, runId: string): Promise<RunRecord | null> {
  const read = await readJson<RunRecord>(container, runRecordBlobName(runId));
  return read?.value ?? null;
}

/**
 * Read-modify-write under the record's ETag: a concurrent writer makes the write fail with 412, and the change
 * is applied again to the fresh record. `change` may return null to leave the record as it is. Transient storage
 * failures are retried (a write that did land before its error then shows as a 412, and the change is re-applied).
 */
export async function updateRun(
  container: ContainerClient,
  runId: string,
  change: (record: RunRecord) => RunRecord | null,
  clock: () => number = Date.now,
): Promise<RunRecord> {
  const name = runRecordBlobName(runId);
  for (let attempt = 1; ; attempt++) {
    const read = await withStorageRetry(name, () => readJson<RunRecord>(container, name));
    if (!read) throw new RunNotFoundError(runId);
    const changed = change(structuredClone(read.value));
    if (!changed) return read.value;
    const next: RunRecord = { ...changed, runId, updatedAt: new Date(clock()).toISOString() };
    try {
      await withStorageRetry(name, () => writeJson(container, name, next, { conditions: { ifMatch: read.etag } }));
      return next;
    } catch (error) {
      if (storageStatus(error) !== 412 || attempt >= MAX_UPDATE_ATTEMPTS) throw error;
    }
  }
}

/** The `limit` most recent runs, newest first. */
export async function listRuns(container: ContainerClient, limit: number): Promise<RunRecord[]> {
  const runIds: string[] = [];
  const pages = container.listBlobsFlat({ prefix: INDEX_PREFIX }).byPage({ maxPageSize: Math.min(limit, 1000) });
  for await (const page of pages) {
    for (const blob of page.segment.blobItems) {
      const key = blob.name.slice(INDEX_PREFIX.length);
      const runId = key.slice(key.indexOf('-') + 1);
      if (isValidRunId(runId)) runIds.push(runId);
    }
    if (runIds.length >= limit) break;
  }
  const records = await Promise.all(runIds.slice(0, limit).map((runId) => getRun(container, runId)));
  return records.filter((record): record is RunRecord => record !== null);
}

export async function readJson<T>(
  container: ContainerClient,
  name: string,
): Promise<{ value: T; etag: string } | null> {
  try {
    const response = await container.getBlobClient(name).download();
    const chunks: Buffer[] = [];
    for await (const chunk of response.readableStreamBody as AsyncIterable<Buffer>) chunks.push(chunk);
    return { value: JSON.parse(Buffer.concat(chunks).toString('utf8')) as T, etag: response.etag as string };
  } catch (error) {
    if (storageStatus(error) === 404) return null;
    throw error;
  }
}

export interface JsonWriteOptions {
  /** Write only if the blob is still this version (`ifMatch`) or does not exist yet (`ifNoneMatch: '*'`). */
  conditions?: { ifMatch?: string; ifNoneMatch?: string };
  /** `compact` for machine-read blobs that are written often (checkpoints, pins). */
  format?: 'indented' | 'compact';
}

/**
 * Writes `value` as JSON. An unconditional write is retried on transient storage failures (it is idempotent); a
 * conditional one is not: whether a write that failed did land decides the caller's next step, so it decides.
 */
export async function writeJson(
  container: ContainerClient,
  name: string,
  value: unknown,
  { conditions = {}, format = 'indented' }: JsonWriteOptions = {},
): Promise<string> {
  const text = format === 'indented' ? JSON.stringify(value, null, 2) : JSON.stringify(value);
  const upload = async () =>
    (
      await container.getBlockBlobClient(name).upload(text, Buffer.byteLength(text), {
        conditions,
        blobHTTPHeaders: { blobContentType: 'application/json' },
      })
    ).etag as string;
  return conditions.ifMatch || conditions.ifNoneMatch ? upload() : withStorageRetry(name, upload);
}
