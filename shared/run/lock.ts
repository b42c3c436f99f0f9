import { hostname } from 'node:os';
import type { ContainerClient } from '@azure/storage-blob';
import { AppError } from '../errors';
import type { Logger } from '../telemetry/logger';
import { scrubSecrets } from '../telemetry/scrub';
import { getRun, readJson, TERMINAL_STATUSES, writeJson } from './records';
import { storageStatus } from './storage';

export const RUN_LOCK_BLOB = 'locks/run.lock';
export const ACTIVE_RUN_BLOB = 'locks/active-run.json';

export interface RunLeaseOptions {
  /** Blob lease length, 15..60 s. A crashed holder blocks others for at most this long. */
  leaseDurationInSeconds?: number;
  /** How often the lease is renewed; well below the duration so one slow renewal does not lose it. */
  renewEveryInMs?: number;
  logger: Logger;
}

export const DEFAULT_LEASE_DURATION_IN_SECONDS = 60;

/** The lease could not be kept: another worker may now own the run, so this one must stop. */
export class RunLeaseLostError extends AppError {
  readonly code = 'RUN_LEASE_LOST';
  readonly retryable = true;
  constructor(cause: string) {
    super(`lost the run lease on ${RUN_LOCK_BLOB}: ${cause}`);
  }
}

/**
 * Runs `work` while holding the blob lease on `locks/run.lock`, so that only one worker executes a run at a time.
 * Returns `{ acquired: false }` at once, without calling `work`, when another worker holds the lease.
 * The lease is renewed in the background; when a renewal fails, `signal` aborts (with a `RunLeaseLostError`
 * as its reason). The lease is released on every path, errors included.
 */
export async function withRunLease<T>(
  container: ContainerClient,
  options: RunLeaseOptions,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<{ acquired: true; value: T } | { acquired: false }> {
  const durationInSeconds = options.leaseDurationInSeconds ?? DEFAULT_LEASE_DURATION_IN_SECONDS;
  const renewEveryInMs = options.renewEveryInMs ?? (durationInSeconds * 1000) / 3;
  const leaseClient = container.getBlobClient(RUN_LOCK_BLOB).getBlobLeaseClient();
  if (!(await acquire(container, leaseClient, durationInSeconds))) return { acquired: false };
  await recordHolder(container, leaseClient.leaseId).catch((error: unknown) => {
    // Only a local takeover reads it, to skip waiting out a dead process's lease; the lease itself is what counts.
    options.logger.log('warn', 'could not record the run lease holder', { status: storageStatus(error) ?? null });
  });

  const controller = new AbortController();
  let renewal: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    renewal = renewal.then(async () => {
      if (controller.signal.aborted) return;
      try {
        await leaseClient.renewLease();
      } catch (error) {
        const reason = storageStatus(error)
          ? `HTTP ${storageStatus(error)}`
          : scrubSecrets(String((error as Error)?.message));
        options.logger.log('error', 'run lease renewal failed; stopping the run', { lockBlob: RUN_LOCK_BLOB, reason });
        controller.abort(new RunLeaseLostError(reason));
      }
    });
  }, renewEveryInMs);
  timer.unref();
  try {
    return { acquired: true, value: await work(controller.signal) };
  } finally {
    clearInterval(timer);
    await renewal;
    if (!controller.signal.aborted) {
      await leaseClient.releaseLease().catch((error: unknown) => {
        // The lease expires by itself; a failed release only delays the next run by the lease duration.
        options.logger.log('warn', 'could not release the run lease', { status: storageStatus(error) ?? null });
      });
    }
  }
}

async function acquire(
  container: ContainerClient,
  leaseClient: ReturnType<ReturnType<ContainerClient['getBlobClient']>['getBlobLeaseClient']>,
  durationInSeconds: number,
): Promise<boolean> {
  for (let attempt = 1; attempt <= 2; attempt++) {
    try {
      await leaseClient.acquireLease(durationInSeconds);
      return true;
    } catch (error) {
      const status = storageStatus(error);
      if (status === 409) return false;
      if (status !== 404 || attempt === 2) throw error;
      await createLockBlob(container);
    }
  }
  return false;
}

async function createLockBlob(container: ContainerClient): Promise<void> {
  try {
    await container.getBlockBlobClient(RUN_LOCK_BLOB).upload('', 0, { conditions: { ifNoneMatch: '*' } });
  } catch (error) {
    // Another worker created it first: fine, the lease decides who runs.
    if (storageStatus(error) !== 409 && storageStatus(error) !== 412) throw error;
  }
}

/** The lease holder, as the lock blob's metadata: host name and process id (nothing personal). */
export interface RunLeaseHolder {
  host: string;
  pid: number;
}

async function recordHolder(container: ContainerClient, leaseId: string): Promise<void> {
  await container
    .getBlobClient(RUN_LOCK_BLOB)
    .setMetadata({ holderhost: hostname(), holderpid: String(process.pid) }, { conditions: { leaseId } });
}

/** Whether the run lease is held now and, when it is, by whom (if the holder said). */
export async function inspectRunLease(
  container: ContainerClient,
): Promise<{ held: false } | { held: true; holder: RunLeaseHolder | null }> {
  try {
    const properties = await container.getBlobClient(RUN_LOCK_BLOB).getProperties();
    if (properties.leaseState !== 'leased') return { held: false };
    const { holderhost, holderpid } = properties.metadata ?? {};
    const pid = Number(holderpid);
    return { held: true, holder: holderhost && Number.isInteger(pid) ? { host: holderhost, pid } : null };
  } catch (error) {
    if (storageStatus(error) === 404) return { held: false };
    throw error;
  }
}

/** Ends the run lease at once. Only for a holder known to be dead: a live one would lose its lease and stop. */
export async function breakRunLease(container: ContainerClient): Promise<void> {
  await container.getBlobClient(RUN_LOCK_BLOB).getBlobLeaseClient().breakLease(0);
}

interface ActiveRunMarker {
  runId: string;
  claimedAt: string;
}

/** A marker whose run record never appeared: the claimer crashed between claiming and creating the record. */
const ORPHAN_MARKER_AGE_IN_MS = 5 * 60_000;
const MAX_CLAIM_ATTEMPTS = 5;

/**
 * Admission of new runs: `locks/active-run.json` is created only if absent, which the storage service decides
 * atomically, so of many concurrent starts exactly one wins. A marker left by a run that has finished (or failed
 * without clearing it) is replaced.
 */
export async function claimActiveRun(
  container: ContainerClient,
  runId: string,
  clock: () => number = Date.now,
): Promise<{ claimed: true } | { claimed: false; activeRunId: string }> {
  const marker: ActiveRunMarker = { runId, claimedAt: new Date(clock()).toISOString() };
  for (let attempt = 1; attempt <= MAX_CLAIM_ATTEMPTS; attempt++) {
    try {
      await writeJson(container, ACTIVE_RUN_BLOB, marker, { conditions: { ifNoneMatch: '*' } });
      return { claimed: true };
    } catch (error) {
      if (storageStatus(error) !== 409 && storageStatus(error) !== 412) throw error;
    }
    const current = await readJson<ActiveRunMarker>(container, ACTIVE_RUN_BLOB);
    if (!current) continue;
    if (!(await isStale(container, current.value, clock))) return { claimed: false, activeRunId: current.value.runId };
    await deleteIfUnchanged(container, current.etag);
  }
  const current = await readJson<ActiveRunMarker>(container, ACTIVE_RUN_BLOB);
  return { claimed: false, activeRunId: current?.value.runId ?? 'unknown' };
}

/** Frees admission, but only if the marker still names `runId` (a newer run's marker is left alone). */
export async function clearActiveRun(container: ContainerClient, runId: string): Promise<void> {
  const current = await readJson<ActiveRunMarker>(container, ACTIVE_RUN_BLOB);
  if (current?.value.runId === runId) await deleteIfUnchanged(container, current.etag);
}

export async function getActiveRunId(container: ContainerClient): Promise<string | null> {
  return (await readJson<ActiveRunMarker>(container, ACTIVE_RUN_BLOB))?.value.runId ?? null;
}

async function isStale(container: ContainerClient, marker: ActiveRunMarker, clock: () => number): Promise<boolean> {
  const record = await getRun(container, marker.runId).catch(() => null);
  if (record) return TERMINAL_STATUSES.has(record.status);
  return clock() - Date.parse(marker.claimedAt) > ORPHAN_MARKER_AGE_IN_MS;
}

async function deleteIfUnchanged(container: ContainerClient, etag: string): Promise<void> {
  try {
    await container.getBlobClient(ACTIVE_RUN_BLOB).delete({ conditions: { ifMatch: etag } });
  } catch (error) {
    // Someone else replaced or removed it meanwhile; the next claim attempt sees the new state.
    if (storageStatus(error) !== 404 && storageStatus(error) !== 412) throw error;
  }
}
