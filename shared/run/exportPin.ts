import type { ContainerClient } from '@azure/storage-blob';
import type { EntityDescriptor, ExportDescriptor } from '../source/types';
import type { Logger } from '../telemetry/logger';
import type { Snapshot } from '../state/snapshot';
import { runBlobName } from './artifacts';
import { readJson, writeJson } from './records';
import { storageStatus } from './storage';
import { withStorageRetry } from './storageErrors';

/** Braze-independent limit of one append: Azure takes at most 4 MiB a block. */
const MAX_APPEND_BYTES = 4 * 1024 * 1024;

/**
 * The export version a run is bound to, as `runs/<runId>/export.json`: the descriptor its first step read (entities,
 * columns, partition blobs) and each partition blob's ETag then.
 */
interface ExportPin {
  descriptor: Omit<ExportDescriptor, 'entities'> & { entities: EntityDescriptor[] };
  etags: Record<string, string>;
}

export type BoundExport =
  /** The version the run started with: the current one, or an older one whose blobs are all still unchanged. */
  | { kind: 'bound'; descriptor: ExportDescriptor; changedSince: boolean }
  /** The version the run started with is gone (a partition deleted or rewritten): the run starts over on `descriptor`. */
  | { kind: 'gone'; descriptor: ExportDescriptor; goneBlob: string };

/**
 * Binds a run to one export version (issue 23.1). Its first step pins the export it discovered. A later step (after
 * a pause, a crash or an interruption) that finds a newer export finishes against the pinned version while its
 * partition blobs still have their ETags, so what earlier steps sent and what this one sends come from the same rows
 * and Braze ends equal to the export the summary names. When a pinned blob is gone or was rewritten, that version
 * cannot be read again: the caller starts over on the current export, which is pinned instead.
 */
export async function bindExportVersion(
  stateContainer: ContainerClient,
  exportContainer: ContainerClient,
  runId: string,
  discovered: ExportDescriptor,
  logger: Logger,
): Promise<BoundExport> {
  const name = runBlobName(runId, 'export.json');
  const pin = (await readJson<ExportPin>(stateContainer, name))?.value;
  if (pin?.descriptor.fingerprint === discovered.fingerprint) {
    return { kind: 'bound', descriptor: discovered, changedSince: false };
  }
  if (!pin) {
    await writeJson(stateContainer, name, await pinOf(exportContainer, discovered), { format: 'compact' });
    return { kind: 'bound', descriptor: discovered, changedSince: false };
  }
  const goneBlob = await firstChangedBlob(exportContainer, pin.etags);
  if (goneBlob === null) {
    logger.log('warn', 'the export changed since the run started; finishing against the version it started with', {
      runId,
      startedWith: pin.descriptor.fingerprint,
      newest: discovered.fingerprint,
    });
    const { entities, ...rest } = pin.descriptor;
    return {
      kind: 'bound',
      descriptor: { ...rest, entities: new Map(entities.map((entity) => [entity.name, entity])) },
      changedSince: true,
    };
  }
  logger.log('warn', 'the export version the run started with is gone; the run starts over on the newest export', {
    runId,
    goneBlob,
  });
  await writeJson(stateContainer, name, await pinOf(exportContainer, discovered), { format: 'compact' });
  return { kind: 'gone', descriptor: discovered, goneBlob };
}

async function pinOf(exportContainer: ContainerClient, descriptor: ExportDescriptor): Promise<ExportPin> {
  const blobs = [...descriptor.entities.values()].flatMap((entity) => entity.partitions.map((p) => p.blobName));
  const etags = await Promise.all(
    blobs.map(async (blob) => [blob, (await exportContainer.getBlobClient(blob).getProperties()).etag ?? ''] as const),
  );
  return {
    descriptor: { ...descriptor, entities: [...descriptor.entities.values()] },
    etags: Object.fromEntries(etags),
  };
}

/** The first pinned blob that no longer exists or has another ETag; null when all are as pinned. */
async function firstChangedBlob(
  exportContainer: ContainerClient,
  etags: Record<string, string>,
): Promise<string | null> {
  const names = Object.keys(etags);
  const current = await Promise.all(
    names.map(async (blob) => {
      try {
        return (await exportContainer.getBlobClient(blob).getProperties()).etag ?? '';
      } catch (error) {
        if (storageStatus(error) === 404) return null;
        throw error;
      }
    }),
  );
  const index = names.findIndex((blob, i) => current[i] !== etags[blob]);
  return index < 0 ? null : names[index];
}

/** A membership a run sent: the user's key and the segment's Braze API id. */
export type SentMembership = readonly [key: string, segmentId: string];

/**
 * The append blob of the memberships run `runId` sent, one `[user key, Braze segment API id]` JSON array a line. It
 * holds users' keys, as the snapshot does: it is kept beside it, not in the run's folder (records without identifiers).
 */
export function sentMembershipsBlobName(stateKey: string, runId: string): string {
  return `snapshots/${stateKey}/sent-memberships-${runId}.ndjson`;
}

/**
 * Records the memberships this run sent (issue 23.1), before the checkpoint that settles their rows: should the
 * version the run started with be gone, those rows cannot be read again, and these are what the run must take back
 * where the newest export does not imply them (`assumeMembers`).
 */
export async function recordMembershipKeys(
  stateContainer: ContainerClient,
  blobName: string,
  memberships: readonly SentMembership[],
): Promise<void> {
  if (memberships.length === 0) return;
  const blob = stateContainer.getAppendBlobClient(blobName);
  await withStorageRetry(blobName, () => blob.createIfNotExists());
  let lines: string[] = [];
  let bytes = 0;
  const append = async () => {
    const body = Buffer.from(lines.join(''), 'utf8');
    await withStorageRetry(blobName, () => blob.appendBlock(body, body.length));
    lines = [];
    bytes = 0;
  };
  for (const membership of memberships) {
    const line = `${JSON.stringify(membership)}\n`;
    const length = Buffer.byteLength(line, 'utf8');
    if (bytes + length > MAX_APPEND_BYTES) await append();
    lines.push(line);
    bytes += length;
  }
  await append();
}

/** The memberships `recordMembershipKeys` recorded for the run, repeats included; none when it recorded nothing. */
export async function readMembershipKeys(stateContainer: ContainerClient, blobName: string): Promise<SentMembership[]> {
  try {
    const body = await stateContainer.getBlobClient(blobName).downloadToBuffer();
    return body
      .toString('utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as SentMembership);
  } catch (error) {
    if (storageStatus(error) === 404) return [];
    throw error;
  }
}

export async function deleteMembershipKeys(stateContainer: ContainerClient, blobName: string): Promise<void> {
  await stateContainer.getBlobClient(blobName).deleteIfExists();
}

/**
 * Makes `snapshot` hold the sent memberships of the covered segments (`segmentIds`: the snapshot's order): the planner
 * then sends the leave value (with `_update_existing_only`) for those the newest export does not imply. Users it did
 * not know are added (no attributes known).
 */
export function assumeMembers(
  snapshot: Snapshot,
  memberships: Iterable<SentMembership>,
  segmentIds: readonly string[],
  covered: ReadonlySet<number>,
): void {
  const indexOf = new Map(segmentIds.map((id, index) => [id, index]));
  for (const [key, segmentId] of memberships) {
    const segment = indexOf.get(segmentId);
    if (segment !== undefined && covered.has(segment)) snapshot.setSegment(snapshot.insert(key), segment, true);
  }
}
