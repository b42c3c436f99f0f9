import { randomUUID } from 'node:crypto';
import { endianness } from 'node:os';
import type { ContainerClient } from '@azure/storage-blob';
import { storageStatus } from '../errors';
import type { SnapshotMapping } from './mappingChange';
import type { Snapshot, SnapshotPatch } from './snapshot';
import {
  applyPatchBlob,
  baseBlobParts,
  blobChunks,
  patchBlobBytes,
  patchBlobParts,
  readBaseBlob,
  type ExpectedBlob,
} from './snapshotBlobs';

/**
 * What a snapshot is: the last state Braze accepted for one export, Braze workspace and identity config (its
 * `stateKey`, the folder `snapshots/<stateKey>/`), with the layout and mapping it was built with.
 */
export interface SnapshotMeta {
  /** The state key (stateKey.ts); named so since pointers of format 1. */
  configHash: string;
  exportFingerprint: string;
  runId: string;
  committedAt: string;
  /** Segment and attribute order of the snapshot's arrays. */
  segmentIds: string[];
  attributeNames: string[];
  users: number;
  segmentMembers: number[];
  pendingRejected: number;
  /** Tables, columns and membership values of the layout (absent in snapshots committed before it was kept). */
  mapping?: SnapshotMapping;
  /** `exportConfigHash` of the committing run's config, and the segments synced with it at `exportFingerprint`. */
  exportConfigHash?: string;
  syncedSegments?: string[];
}

export interface CommitSnapshotOptions {
  /** Largest staged block (default 4 MiB). Blocks are views of the snapshot's arrays: the upload copies nothing. */
  blockSizeInBytes?: number;
  /** Blocks uploaded in parallel (default 4). */
  uploadConcurrency?: number;
  /**
   * What changed since the snapshot was loaded: with it, the upload writes a patch of the changed and added users
   * instead of the whole snapshot, while the chain allows (see `maxPatchCount`, `maxPatchBytesPercentOfBase`).
   */
  changes?: SnapshotChanges;
  /** Patches a chain may hold; the save after that writes the whole snapshot (default 8). */
  maxPatchCount?: number;
  /** The chain's patches may add up to this share of the base's bytes; beyond, a save writes it whole (default 25). */
  maxPatchBytesPercentOfBase?: number;
}

/** What a run changed in a loaded snapshot (see `CommitSnapshotOptions.changes`). */
export interface SnapshotChanges {
  /** `LoadedSnapshot.version` of the snapshot the run loaded: a patch applies to that chain only. */
  loadedVersion: string;
  /** Users it had when loaded; the users from there on were added by the run. */
  loadedUsers: number;
  /** Known slots (below `loadedUsers`) whose records may differ from the loaded ones, ascending. */
  changedSlots: Uint32Array;
}

/** A data blob the pointer names, and how many users the snapshot has once it is read. */
interface DataBlobRef {
  blob: string;
  bytes: number;
  sha256: string;
  users: number;
}

/**
 * The pointer blob: the only thing a reader trusts, replaced in one conditional write. The snapshot is its base data
 * blob with its patches applied in order.
 */
interface SnapshotPointer {
  format: typeof POINTER_FORMAT;
  base: DataBlobRef;
  patches: DataBlobRef[];
  meta: SnapshotMeta;
}

/** Format 1 named one data blob: read as a base without patches. */
interface SnapshotPointerV1 {
  format: typeof POINTER_FORMAT_V1;
  dataBlob: string;
  dataBytes: number;
  sha256: string;
  meta: SnapshotMeta;
}

const POINTER_FORMAT = 'ci-braze-export/snapshot-pointer@2';
const POINTER_FORMAT_V1 = 'ci-braze-export/snapshot-pointer@1';
const DEFAULT_BLOCK_SIZE_IN_BYTES = 4 * 1024 * 1024;
const DEFAULT_UPLOAD_CONCURRENCY = 4;
const DEFAULT_MAX_PATCH_COUNT = 8;
const DEFAULT_MAX_PATCH_BYTES_PERCENT_OF_BASE = 25;
function snapshotFolder(stateKey: string): string {
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(stateKey)) {
    throw new Error(`Snapshot state key "${stateKey}" must be 1-128 letters, digits, '.', '_' or '-'`);
  }
  return `snapshots/${stateKey}/`;
}

function pointerBlobName(stateKey: string): string {
  return `${snapshotFolder(stateKey)}current.json`;
}

function checkHostIsLittleEndian(): void {
  if (endianness() !== 'LE') throw new Error('Snapshot files are little-endian; this host is big-endian');
}

/** A storage error's status and code, without its request (which carries headers) or anything else. */
function describeStorageError(error: unknown): string {
  const status = storageStatus(error);
  const code =
    typeof error === 'object' && error !== null && 'code' in error ? (error as { code?: string }).code : undefined;
  if (status !== undefined || code !== undefined) return `status ${status ?? '?'}, ${code ?? 'no code'}`;
  return error instanceof Error ? error.message : String(error);
}

function checkMetaMatches(data: { users: number; segmentCount: number; attributeCount: number }, meta: SnapshotMeta) {
  const problems: string[] = [];
  if (meta.users !== data.users) problems.push(`meta.users is ${meta.users}, the snapshot has ${data.users}`);
  if (meta.segmentIds.length !== data.segmentCount) {
    problems.push(`meta.segmentIds has ${meta.segmentIds.length} entries, the snapshot ${data.segmentCount}`);
  }
  if (meta.attributeNames.length !== data.attributeCount) {
    problems.push(`meta.attributeNames has ${meta.attributeNames.length} entries, the snapshot ${data.attributeCount}`);
  }
  if (problems.length > 0) throw new Error(`Snapshot meta does not match the snapshot: ${problems.join('; ')}`);
}

function isDataBlobRef(value: unknown): value is DataBlobRef {
  const ref = value as DataBlobRef;
  return (
    typeof ref === 'object' &&
    ref !== null &&
    typeof ref.blob === 'string' &&
    typeof ref.bytes === 'number' &&
    typeof ref.sha256 === 'string' &&
    typeof ref.users === 'number'
  );
}

/** The pointer's document in the current format (a format 1 document as a base without patches), or null. */
function parsePointer(document: unknown): SnapshotPointer | null {
  const candidate = document as Partial<SnapshotPointer> & Partial<SnapshotPointerV1>;
  const meta = candidate?.meta;
  if (
    typeof meta !== 'object' ||
    meta === null ||
    typeof meta.users !== 'number' ||
    !Array.isArray(meta.segmentIds) ||
    !Array.isArray(meta.attributeNames)
  ) {
    return null;
  }
  if (candidate.format === POINTER_FORMAT_V1) {
    const { dataBlob, dataBytes, sha256 } = candidate;
    if (typeof dataBlob !== 'string' || typeof dataBytes !== 'number' || typeof sha256 !== 'string') return null;
    return {
      format: POINTER_FORMAT,
      base: { blob: dataBlob, bytes: dataBytes, sha256, users: meta.users },
      patches: [],
      meta,
    };
  }
  if (
    candidate.format !== POINTER_FORMAT ||
    !isDataBlobRef(candidate.base) ||
    !Array.isArray(candidate.patches) ||
    !candidate.patches.every(isDataBlobRef)
  ) {
    return null;
  }
  return candidate as SnapshotPointer;
}

async function readPointer(
  container: ContainerClient,
  stateKey: string,
): Promise<{ pointer: SnapshotPointer; etag: string } | null> {
  const name = pointerBlobName(stateKey);
  let body: Buffer;
  let etag: string | undefined;
  try {
    const client = container.getBlobClient(name);
    const response = await client.download();
    etag = response.etag;
    body = await streamToBuffer(response.readableStreamBody, name);
  } catch (error) {
    if (storageStatus(error) === 404) return null;
    throw new Error(`Could not read snapshot pointer ${name}: ${describeStorageError(error)}`);
  }
  let document: unknown;
  try {
    document = JSON.parse(body.toString('utf8'));
  } catch {
    throw new Error(`Snapshot pointer ${name} is not valid JSON`);
  }
  const pointer = parsePointer(document);
  if (!pointer) throw new Error(`Snapshot pointer ${name} is not a ${POINTER_FORMAT} document`);
  if (!etag) throw new Error(`Snapshot pointer ${name} came back without an ETag`);
  return { pointer, etag };
}

async function streamToBuffer(stream: NodeJS.ReadableStream | undefined, name: string): Promise<Buffer> {
  if (!stream) throw new Error(`Blob ${name} came back without a body`);
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/**
 * A data blob written by `uploadSnapshotData` and not yet named by the pointer: `switchSnapshot` makes it current,
 * `deleteSnapshotData` drops it.
 */
export interface StagedSnapshot {
  /** A base replaces the chain; a patch extends the chain of `basedOn`. */
  kind: 'base' | 'patch';
  data: DataBlobRef;
  segmentCount: number;
  attributeCount: number;
  /** The pointer when the upload started: the switch is conditioned on it (a commit in between wins). */
  basedOn: { etag: string; pointer: SnapshotPointer } | null;
}

/** Whether the save can be a patch of the chain the pointer names, and which patch. */
function patchToWrite(
  snapshot: Snapshot,
  previous: { pointer: SnapshotPointer; etag: string } | null,
  options: CommitSnapshotOptions,
): SnapshotPatch | null {
  const { changes } = options;
  if (!changes || !previous || previous.etag !== changes.loadedVersion) return null;
  const { base, patches } = previous.pointer;
  if (patches.length >= (options.maxPatchCount ?? DEFAULT_MAX_PATCH_COUNT)) return null;
  const chainPatchBytes =
    patches.reduce((total, patch) => total + patch.bytes, 0) +
    patchBlobBytes(snapshot, changes.loadedUsers, changes.changedSlots.length);
  const percent = options.maxPatchBytesPercentOfBase ?? DEFAULT_MAX_PATCH_BYTES_PERCENT_OF_BASE;
  if (chainPatchBytes * 100 > base.bytes * percent) return null;
  return snapshot.patchSince(changes.loadedUsers, changes.changedSlots);
}

/**
 * Writes the snapshot under `snapshots/<stateKey>/`, streamed in blocks: a patch of what `options.changes` names
 * when the loaded chain is still current and short enough, else a whole (base) data blob. Readers do not see it
 * until `switchSnapshot`. The snapshot must not change until the returned promise settles.
 */
export async function uploadSnapshotData(
  container: ContainerClient,
  stateKey: string,
  snapshot: Snapshot,
  options: CommitSnapshotOptions = {},
): Promise<StagedSnapshot> {
  checkHostIsLittleEndian();
  const folder = snapshotFolder(stateKey);
  const blockSizeInBytes = options.blockSizeInBytes ?? DEFAULT_BLOCK_SIZE_IN_BYTES;
  const uploadConcurrency = options.uploadConcurrency ?? DEFAULT_UPLOAD_CONCURRENCY;
  const previous = await readPointer(container, stateKey);
  const patch = patchToWrite(snapshot, previous, options);

  const stamp = new Date().toISOString().replace(/[^0-9A-Za-z]/g, '');
  const dataBlob = `${folder}data-${stamp}-${randomUUID()}.${patch ? 'patch' : 'snap'}`;
  const dataClient = container.getBlockBlobClient(dataBlob);
  const written = { sha256: '', bytes: 0 };
  // Blocks are staged straight from views of the snapshot's arrays (no copy into upload buffers), a few at once.
  const parts = patch ? patchBlobParts(snapshot, patch) : baseBlobParts(snapshot);
  const chunks = blobChunks(parts, blockSizeInBytes, written);
  const blockIds: string[] = [];
  const stageBlocks = async () => {
    for (let next = chunks.next(); !next.done; next = chunks.next()) {
      const id = Buffer.from(String(blockIds.length).padStart(8, '0')).toString('base64');
      blockIds.push(id);
      await dataClient.stageBlock(id, next.value, next.value.length);
    }
  };
  try {
    await Promise.all(Array.from({ length: uploadConcurrency }, stageBlocks));
    await dataClient.commitBlockList(blockIds, {
      blobHTTPHeaders: { blobContentType: 'application/octet-stream' },
    });
  } catch (error) {
    chunks.return(undefined);
    await dataClient.deleteIfExists().catch(() => undefined);
    throw new Error(`Snapshot upload to ${dataBlob} failed (${describeStorageError(error)}); the previous one stays`, {
      cause: error,
    });
  }
  return {
    kind: patch ? 'patch' : 'base',
    data: { blob: dataBlob, bytes: written.bytes, sha256: written.sha256, users: snapshot.size },
    segmentCount: snapshot.segmentCount,
    attributeCount: snapshot.attributeCount,
    basedOn: previous,
  };
}

/** Deletes a staged data blob that will not be switched to (best effort: the next commit's sweep also removes it). */
export async function deleteSnapshotData(container: ContainerClient, staged: StagedSnapshot): Promise<void> {
  await container
    .getBlobClient(staged.data.blob)
    .deleteIfExists()
    .catch(() => undefined);
}

function blobsOf(pointer: SnapshotPointer): string[] {
  return [pointer.base.blob, ...pointer.patches.map((patch) => patch.blob)];
}

/**
 * Makes a staged data blob the current snapshot: switches the pointer blob `snapshots/<stateKey>/current.json` to
 * it (a base alone, or the previous chain with the patch added) in one write conditioned on the pointer's ETag when
 * the upload started (or on its absence). A failure leaves the previous snapshot in use: readers never see a
 * half-written one. A concurrent commit that switched the pointer first makes this one fail. After the switch, data
 * blobs that neither the new nor the previous pointer names are deleted.
 */
export async function switchSnapshot(
  container: ContainerClient,
  stateKey: string,
  staged: StagedSnapshot,
  meta: SnapshotMeta,
): Promise<void> {
  checkMetaMatches({ ...staged, users: staged.data.users }, meta);
  const folder = snapshotFolder(stateKey);
  const pointerName = pointerBlobName(stateKey);
  const previous = staged.basedOn?.pointer;
  if (staged.kind === 'patch' && !previous) throw new Error('A snapshot patch needs the pointer it was based on');
  const pointer: SnapshotPointer = {
    format: POINTER_FORMAT,
    base: staged.kind === 'patch' && previous ? previous.base : staged.data,
    patches: staged.kind === 'patch' && previous ? [...previous.patches, staged.data] : [],
    meta,
  };
  const pointerBody = JSON.stringify(pointer);
  try {
    await container.getBlockBlobClient(pointerName).upload(pointerBody, Buffer.byteLength(pointerBody), {
      conditions: staged.basedOn ? { ifMatch: staged.basedOn.etag } : { ifNoneMatch: '*' },
      blobHTTPHeaders: { blobContentType: 'application/json' },
    });
  } catch (error) {
    await deleteSnapshotData(container, staged);
    const status = storageStatus(error);
    if (status === 412 || status === 409) {
      throw new Error(
        `Snapshot pointer ${pointerName} changed while this commit ran; another commit won, this one was dropped`,
      );
    }
    throw new Error(
      `Could not switch snapshot pointer ${pointerName} (${describeStorageError(error)}); the previous snapshot stays`,
      { cause: error },
    );
  }

  // A reader that read the previous pointer may still be reading its blobs.
  const keep = new Set([...blobsOf(pointer), ...(previous ? blobsOf(previous) : [])]);
  try {
    for await (const blob of container.listBlobsFlat({ prefix: `${folder}data-` })) {
      if (!keep.has(blob.name)) await container.getBlobClient(blob.name).deleteIfExists();
    }
  } catch {
    // The commit itself succeeded; leftovers are only storage, and the next commit's sweep removes them.
  }
}

/** `uploadSnapshotData` then `switchSnapshot`: writes the snapshot (or a patch of it) and makes it current. */
export async function commitSnapshot(
  container: ContainerClient,
  stateKey: string,
  snapshot: Snapshot,
  meta: SnapshotMeta,
  options: CommitSnapshotOptions = {},
): Promise<void> {
  checkMetaMatches(
    { users: snapshot.size, segmentCount: snapshot.segmentCount, attributeCount: snapshot.attributeCount },
    meta,
  );
  const staged = await uploadSnapshotData(container, stateKey, snapshot, options);
  await switchSnapshot(container, stateKey, staged, meta);
}

/** The current snapshot's meta, from the pointer blob alone (cheap), or null when no snapshot was committed yet. */
export async function loadSnapshotMeta(container: ContainerClient, stateKey: string): Promise<SnapshotMeta | null> {
  return (await readPointer(container, stateKey))?.pointer.meta ?? null;
}

export interface LoadSnapshotOptions {
  /** Room for this many users more than the snapshot holds (a run that adds users then does not regrow it). */
  extraUsers?: number;
}

export interface LoadedSnapshot {
  snapshot: Snapshot;
  meta: SnapshotMeta;
  /** Which pointer was read (its ETag), for `SnapshotChanges.loadedVersion`. */
  version: string;
}

/**
 * Reads the current snapshot, or null when none exists: the base data blob streams straight into preallocated typed
 * arrays while the patches download, then the patches are applied in order. Every blob's length, header and SHA-256
 * are checked against the pointer, and any mismatch throws an error naming the blob.
 */
export async function loadSnapshot(
  container: ContainerClient,
  stateKey: string,
  options: LoadSnapshotOptions = {},
): Promise<LoadedSnapshot | null> {
  checkHostIsLittleEndian();
  const current = await readPointer(container, stateKey);
  if (!current) return null;
  const { pointer } = current;
  const pointerName = pointerBlobName(stateKey);
  const patchBodies = pointer.patches.map((ref) =>
    downloadBlob(container, ref, pointerName).then(async (body) => streamToBuffer(body, ref.blob)),
  );
  // Rejections are read in order below; none goes unhandled meanwhile.
  for (const body of patchBodies) body.catch(() => undefined);
  const addedUsers = pointer.meta.users - pointer.base.users;
  const { snapshot, keyByteLength } = await readBaseBlob(
    await downloadBlob(container, pointer.base, pointerName),
    expectation(pointer.base, pointer.meta),
    {
      extraUsers: Math.max(0, addedUsers) + (options.extraUsers ?? 0),
      // The patches' key bytes are fewer than their blobs' bytes.
      extraKeyBytes: pointer.patches.reduce((total, ref) => total + ref.bytes, 0) + (options.extraUsers ?? 0) * 32,
    },
  );
  let keyBytesLoaded = keyByteLength;
  for (let index = 0; index < pointer.patches.length; index++) {
    const body = await patchBodies[index];
    keyBytesLoaded += applyPatchBlob(snapshot, body, expectation(pointer.patches[index], pointer.meta));
  }
  const corrupt = (reason: string) => new Error(`Snapshot ${pointerName} is corrupt: ${reason}`);
  if (snapshot.size !== pointer.meta.users) {
    throw corrupt(`its blobs hold ${snapshot.size} users, its meta says ${pointer.meta.users}`);
  }
  try {
    snapshot.finishIndex(keyBytesLoaded);
  } catch (error) {
    throw corrupt((error as Error).message);
  }
  return { snapshot, meta: pointer.meta, version: current.etag };
}

function expectation(ref: DataBlobRef, meta: SnapshotMeta): ExpectedBlob {
  return { ...ref, segmentCount: meta.segmentIds.length, attributeCount: meta.attributeNames.length };
}

async function downloadBlob(
  container: ContainerClient,
  ref: DataBlobRef,
  pointerName: string,
): Promise<NodeJS.ReadableStream> {
  let body: NodeJS.ReadableStream | undefined;
  let contentLength: number | undefined;
  try {
    const response = await container.getBlobClient(ref.blob).download();
    body = response.readableStreamBody;
    contentLength = response.contentLength;
  } catch (error) {
    throw new Error(
      `Could not read snapshot data blob ${ref.blob} named by ${pointerName} (${describeStorageError(error)})`,
    );
  }
  if (!body) throw new Error(`Snapshot data blob ${ref.blob} came back without a body`);
  if (contentLength !== undefined && contentLength !== ref.bytes) {
    throw new Error(`Snapshot data blob ${ref.blob} is corrupt: ${contentLength} bytes, the pointer says ${ref.bytes}`);
  }
  return body;
}
