import type { ContainerClient } from '@azure/storage-blob';
import type { RunSummary } from './types';
import { assertValidRunId, readJson, writeJson } from './records';

/**
 * Files a run leaves in the state container, under `runs/<runId>/` beside its record: the checkpoint while it runs,
 * then the summary, the rejected rows and (dry runs) the plan.
 */
export function runBlobName(runId: string, file: string): string {
  assertValidRunId(runId);
  return `runs/${runId}/${file}`;
}

/** A row that did not reach Braze, or that Braze refused: where it came from and why, never its values. */
export interface RejectedRow {
  seq: number;
  stage: 'source' | 'mapping' | 'braze';
  blob?: string;
  line?: number;
  column?: string;
  reason: string;
  /** hashId of the user's identity key, when known. */
  idHash?: string;
}

/**
 * Progress of a run that survives the process. Rows below `settledBelow` are settled (answered by Braze, or needing
 * no request) except `unsettled`, which were sent and not yet answered: a resumed step sends only those again.
 */
export interface Checkpoint {
  version: 2;
  runId: string;
  exportFingerprint: string;
  configHash: string;
  settledBelow: number;
  /** Ascending. */
  unsettled: number[];
  /** Braze's verdicts on settled rows that it rejected (sequence number -> reason). */
  brazeRejected: Array<[number, string]>;
  delivery: { requests: number; retries: number; throttled: number };
  startedAt: string;
  /** Working time of the run's steps up to this checkpoint (time between steps not counted). */
  workedMs?: number;
  savedAt: string;
  /** Written once, just before the snapshot pointer switch: the run's results, for a takeover after the switch. */
  final?: { summary: RunSummary; rejected: RejectedRow[] };
}

export async function loadCheckpoint(container: ContainerClient, runId: string): Promise<Checkpoint | null> {
  return (await readJson<Checkpoint>(container, runBlobName(runId, 'checkpoint.json')))?.value ?? null;
}

export async function saveCheckpoint(container: ContainerClient, checkpoint: Checkpoint): Promise<void> {
  // Written once per window of Braze's answers and read only by a resuming step: compact.
  await writeJson(container, runBlobName(checkpoint.runId, 'checkpoint.json'), checkpoint, { format: 'compact' });
}

export async function deleteCheckpoint(container: ContainerClient, runId: string): Promise<void> {
  await container.getBlobClient(runBlobName(runId, 'checkpoint.json')).deleteIfExists();
}

export async function writeRunResults(
  container: ContainerClient,
  summary: RunSummary,
  rejected: readonly RejectedRow[],
  plan: unknown | null,
): Promise<void> {
  const ndjson = rejected.map((row) => JSON.stringify(row)).join('\n') + (rejected.length > 0 ? '\n' : '');
  await container
    .getBlockBlobClient(runBlobName(summary.runId, 'rejected.ndjson'))
    .upload(ndjson, Buffer.byteLength(ndjson), { blobHTTPHeaders: { blobContentType: 'application/x-ndjson' } });
  if (plan) await writeJson(container, runBlobName(summary.runId, 'plan.json'), plan);
  await writeJson(container, runBlobName(summary.runId, 'summary.json'), summary);
}

/** The rejected rows a finished run wrote (empty when none). */
export async function readRejectedRows(container: ContainerClient, runId: string): Promise<RejectedRow[]> {
  const text = (await container.getBlobClient(runBlobName(runId, 'rejected.ndjson')).downloadToBuffer()).toString(
    'utf8',
  );
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as RejectedRow);
}

export type RunPlan = ReturnType<import('./plan').ChangePlan['toJSON']>;

export async function readRunPlan(container: ContainerClient, runId: string): Promise<RunPlan | null> {
  return (await readJson<RunPlan>(container, runBlobName(runId, 'plan.json')))?.value ?? null;
}
