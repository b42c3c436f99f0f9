import { createHash, randomUUID } from 'node:crypto';
import { endianness } from 'node:os';
import type { ContainerClient } from '@azure/storage-blob';
import { Snapshot, SnapshotSections } from './snapshot';

export interface SnapshotMeta {
  configHash: string;
  exportFingerprint: string;
  runId: string;
  committedAt: string;
  segmentIds: string[];
  attributeNames: string[];
  users: number;
  segmentMembers: number[];
  pendingRejected: number;
}

export interface CommitSnapshotOptions {
  /** Largest staged block (default 4 MiB). Blocks are views of the snapshot's arrays: the upload copies nothing. */
  blockSizeInBytes?: number;
  /** Blocks uploaded in parallel (default 4). */
  uploadConcurrency?: number;
}

/** The pointer blob: the only thing a reader trusts, replaced in one conditional write. */
interface SnapshotPointer {
  format: typeof POINTER_FORMAT;
  dataBlob: string;
  dataBytes: number;
  sha256: string;
  meta: SnapshotMeta;
}

const POINTER_FORMAT = 'ci-braze-export/snapshot-pointer@1';
const DATA_MAGIC = 'CIBZSNAP';
/** Version 2 added the raw fingerprints; version 1 blobs still load (raw fingerprints all NO_RAW_FINGERPRINT). */
const DATA_VERSION = 2;
const FIRST_VERSION_WITH_RAW_FINGERPRINTS = 2;
const HEADER_BYTES = 64;
const CHECKSUM_BYTES = 32;
const DEFAULT_BLOCK_SIZE_IN_BYTES = 4 * 1024 * 1024;
const DEFAULT_UPLOAD_CONCURRENCY = 4;

/*
 * Data blob layout (little-endian; the typed arrays are written as they sit in memory):
 *   header, 64 bytes: magic "CIBZSNAP", version u32, users u32, segmentCount u32, attributeCount u32,
 *                     key byte length u32, zero padding
 *   key hashes        users × i32
 *   key offsets       (users + 1) × u32
 *   key bytes         UTF-8
 *   segments          users × ceil(segmentCount / 32) × u32
 *   attributes        users × attributeCount × u32
 *   raw fingerprints  users × u32 (from version 2)
 *   checksum          SHA-256 of everything above, 32 bytes
 */

function snapshotFolder(configHash: string): string {
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(configHash)) {
    throw new Error(`Snapshot config hash "${configHash}" must be 1-128 letters, digits, '.', '_' or '-'`);
  }
  return `snapshots/${configHash}/`;
}

function pointerBlobName(configHash: string): string {
  return `${snapshotFolder(configHash)}current.json`;
}

function checkHostIsLittleEndian(): void {
  if (endianness() !== 'LE') throw new Error('Snapshot files are little-endian; this host is big-endian');
}

function statusOf(error: unknown): number | undefined {
  return typeof error === 'object' && error !== null && 'statusCode' in error
    ? (error as { statusCode?: number }).statusCode
    : undefined;
}

/** A storage error's status and code, without its request (which carries headers) or anything else. */
function describeStorageError(error: unknown): string {
  const status = statusOf(error);
  const code =
    typeof error === 'object' && error !== null && 'code' in error ? (error as { code?: string }).code : undefined;
  if (status !== undefined || code !== undefined) return `status ${status ?? '?'}, ${code ?? 'no code'}`;
  return error instanceof Error ? error.message : String(error);
}

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

function sectionList(sections: SnapshotSections, version = DATA_VERSION): Uint8Array[] {
  const list = [sections.keyHashes, sections.keyOffsets, sections.keyBytes, sections.segments, sections.attributes];
  if (version >= FIRST_VERSION_WITH_RAW_FINGERPRINTS) list.push(sections.rawFingerprints);
  return list.map(bytesOf);
}

function encodeHeader(snapshot: Snapshot, keyByteLength: number): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  header.write(DATA_MAGIC, 0, 'latin1');
  header.writeUInt32LE(DATA_VERSION, 8);
  header.writeUInt32LE(snapshot.size, 12);
  header.writeUInt32LE(snapshot.segmentCount, 16);
  header.writeUInt32LE(snapshot.attributeCount, 20);
  header.writeUInt32LE(keyByteLength, 24);
  return header;
}

/** Yields the data blob in pieces of at most `chunkBytes` (views, not copies), hashing as it goes. */
function* dataChunks(snapshot: Snapshot, chunkBytes: number, result: { sha256: string; bytes: number }) {
  const sections = snapshot.sections();
  const hash = createHash('sha256');
  const header = encodeHeader(snapshot, sections.keyBytes.length);
  hash.update(header);
  result.bytes = header.length;
  yield header;
  for (const section of sectionList(sections)) {
    for (let offset = 0; offset < section.length; offset += chunkBytes) {
      const chunk = Buffer.from(
        section.buffer,
        section.byteOffset + offset,
        Math.min(chunkBytes, section.length - offset),
      );
      hash.update(chunk);
      result.bytes += chunk.length;
      yield chunk;
    }
  }
  const checksum = hash.digest();
  result.sha256 = checksum.toString('hex');
  result.bytes += checksum.length;
  yield checksum;
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

async function readPointer(
  container: ContainerClient,
  configHash: string,
): Promise<{ pointer: SnapshotPointer; etag: string } | null> {
  const name = pointerBlobName(configHash);
  let body: Buffer;
  let etag: string | undefined;
  try {
    const client = container.getBlobClient(name);
    const response = await client.download();
    etag = response.etag;
    body = await streamToBuffer(response.readableStreamBody, name);
  } catch (error) {
    if (statusOf(error) === 404) return null;
    throw new Error(`Could not read snapshot pointer ${name}: ${describeStorageError(error)}`);
  }
  let pointer: SnapshotPointer;
  try {
    pointer = JSON.parse(body.toString('utf8')) as SnapshotPointer;
  } catch {
    throw new Error(`Snapshot pointer ${name} is not valid JSON`);
  }
  if (
    pointer?.format !== POINTER_FORMAT ||
    typeof pointer.dataBlob !== 'string' ||
    typeof pointer.dataBytes !== 'number' ||
    typeof pointer.sha256 !== 'string' ||
    typeof pointer.meta !== 'object' ||
    pointer.meta === null ||
    typeof pointer.meta.users !== 'number' ||
    !Array.isArray(pointer.meta.segmentIds) ||
    !Array.isArray(pointer.meta.attributeNames)
  ) {
    throw new Error(`Snapshot pointer ${name} is not a ${POINTER_FORMAT} document`);
  }
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
  dataBlob: string;
  dataBytes: number;
  sha256: string;
  users: number;
  segmentCount: number;
  attributeCount: number;
  /** The pointer when the upload started: the switch is conditioned on it (a commit in between wins). */
  basedOn: { etag: string; dataBlob: string } | null;
}

/**
 * Writes the snapshot as a new data blob under `snapshots/<configHash>/`, streamed in blocks. Readers do not see it
 * until `switchSnapshot`. The snapshot must not change until the returned promise settles.
 */
export async function uploadSnapshotData(
  container: ContainerClient,
  configHash: string,
  snapshot: Snapshot,
  options: CommitSnapshotOptions = {},
): Promise<StagedSnapshot> {
  checkHostIsLittleEndian();
  const folder = snapshotFolder(configHash);
  const blockSizeInBytes = options.blockSizeInBytes ?? DEFAULT_BLOCK_SIZE_IN_BYTES;
  const uploadConcurrency = options.uploadConcurrency ?? DEFAULT_UPLOAD_CONCURRENCY;
  const previous = await readPointer(container, configHash);

  const stamp = new Date().toISOString().replace(/[^0-9A-Za-z]/g, '');
  const dataBlob = `${folder}data-${stamp}-${randomUUID()}.snap`;
  const dataClient = container.getBlockBlobClient(dataBlob);
  const written = { sha256: '', bytes: 0 };
  // Blocks are staged straight from views of the snapshot's arrays (no copy into upload buffers), a few at once.
  const chunks = dataChunks(snapshot, blockSizeInBytes, written);
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
    throw new Error(`Snapshot upload to ${dataBlob} failed (${describeStorageError(error)}); the previous one stays`);
  }
  return {
    dataBlob,
    dataBytes: written.bytes,
    sha256: written.sha256,
    users: snapshot.size,
    segmentCount: snapshot.segmentCount,
    attributeCount: snapshot.attributeCount,
    basedOn: previous && { etag: previous.etag, dataBlob: previous.pointer.dataBlob },
  };
}

/** Deletes a staged data blob that will not be switched to (best effort: the next commit's sweep also removes it). */
export async function deleteSnapshotData(container: ContainerClient, staged: StagedSnapshot): Promise<void> {
  await container
    .getBlobClient(staged.dataBlob)
    .deleteIfExists()
    .catch(() => undefined);
}

/**
 * Makes a staged data blob the current snapshot: switches the pointer blob `snapshots/<configHash>/current.json` to
 * it in one write conditioned on the pointer's ETag when the upload started (or on its absence). A failure leaves the
 * previous snapshot in use: readers never see a half-written one. A concurrent commit that switched the pointer first
 * makes this one fail. After the switch, data blobs other than the new and the previous one are deleted.
 */
export async function switchSnapshot(
  container: ContainerClient,
  configHash: string,
  staged: StagedSnapshot,
  meta: SnapshotMeta,
): Promise<void> {
  checkMetaMatches(staged, meta);
  const folder = snapshotFolder(configHash);
  const pointerName = pointerBlobName(configHash);
  const pointer: SnapshotPointer = {
    format: POINTER_FORMAT,
    dataBlob: staged.dataBlob,
    dataBytes: staged.dataBytes,
    sha256: staged.sha256,
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
    const status = statusOf(error);
    if (status === 412 || status === 409) {
      throw new Error(
        `Snapshot pointer ${pointerName} changed while this commit ran; another commit won, this one was dropped`,
      );
    }
    throw new Error(
      `Could not switch snapshot pointer ${pointerName} (${describeStorageError(error)}); the previous snapshot stays`,
    );
  }

  const keep = new Set([staged.dataBlob, staged.basedOn?.dataBlob]);
  try {
    for await (const blob of container.listBlobsFlat({ prefix: `${folder}data-` })) {
      if (!keep.has(blob.name)) await container.getBlobClient(blob.name).deleteIfExists();
    }
  } catch {
    // The commit itself succeeded; leftovers are only storage, and the next commit's sweep removes them.
  }
}

/** `uploadSnapshotData` then `switchSnapshot`: writes the snapshot and makes it current. */
export async function commitSnapshot(
  container: ContainerClient,
  configHash: string,
  snapshot: Snapshot,
  meta: SnapshotMeta,
  options: CommitSnapshotOptions = {},
): Promise<void> {
  checkMetaMatches(
    { users: snapshot.size, segmentCount: snapshot.segmentCount, attributeCount: snapshot.attributeCount },
    meta,
  );
  const staged = await uploadSnapshotData(container, configHash, snapshot, options);
  await switchSnapshot(container, configHash, staged, meta);
}

/** The current snapshot's meta, from the pointer blob alone (cheap), or null when no snapshot was committed yet. */
export async function loadSnapshotMeta(container: ContainerClient, configHash: string): Promise<SnapshotMeta | null> {
  return (await readPointer(container, configHash))?.pointer.meta ?? null;
}

/**
 * Reads the current snapshot, or null when none exists. The data blob streams straight into preallocated typed
 * arrays; its length, header and SHA-256 are checked against the pointer, and any mismatch throws an error naming
 * the blob.
 */
export interface LoadSnapshotOptions {
  /** Room for this many users more than the snapshot holds (a run that adds users then does not regrow it). */
  extraUsers?: number;
}

export async function loadSnapshot(
  container: ContainerClient,
  configHash: string,
  options: LoadSnapshotOptions = {},
): Promise<{ snapshot: Snapshot; meta: SnapshotMeta } | null> {
  checkHostIsLittleEndian();
  const current = await readPointer(container, configHash);
  if (!current) return null;
  const { pointer } = current;
  const name = pointer.dataBlob;
  let body: NodeJS.ReadableStream | undefined;
  let contentLength: number | undefined;
  try {
    const response = await container.getBlobClient(name).download();
    body = response.readableStreamBody;
    contentLength = response.contentLength;
  } catch (error) {
    throw new Error(
      `Could not read snapshot data blob ${name} named by ${pointerBlobName(configHash)} (${describeStorageError(error)})`,
    );
  }
  if (!body) throw new Error(`Snapshot data blob ${name} came back without a body`);
  if (contentLength !== undefined && contentLength !== pointer.dataBytes) {
    throw new Error(
      `Snapshot data blob ${name} is corrupt: ${contentLength} bytes, the pointer says ${pointer.dataBytes}`,
    );
  }
  const snapshot = await readSnapshotData(body, name, pointer, options.extraUsers ?? 0);
  return { snapshot, meta: pointer.meta };
}

function decodeHeader(
  header: Uint8Array,
  name: string,
  pointer: SnapshotPointer,
  extraUsers: number,
): { snapshot: Snapshot; version: number; keyByteLength: number } {
  const corrupt = (reason: string) => new Error(`Snapshot data blob ${name} is corrupt: ${reason}`);
  const view = Buffer.from(header.buffer, header.byteOffset, header.byteLength);
  if (view.toString('latin1', 0, 8) !== DATA_MAGIC) throw corrupt('it does not start with the snapshot magic');
  const version = view.readUInt32LE(8);
  if (version < 1 || version > DATA_VERSION) throw corrupt(`format version ${version}, expected 1 to ${DATA_VERSION}`);
  const users = view.readUInt32LE(12);
  const segmentCount = view.readUInt32LE(16);
  const attributeCount = view.readUInt32LE(20);
  const keyByteLength = view.readUInt32LE(24);
  const { meta } = pointer;
  if (
    users !== meta.users ||
    segmentCount !== meta.segmentIds.length ||
    attributeCount !== meta.attributeNames.length
  ) {
    throw corrupt(
      `header says ${users} users, ${segmentCount} segments, ${attributeCount} attributes; the pointer's meta ` +
        `${meta.users}, ${meta.segmentIds.length}, ${meta.attributeNames.length}`,
    );
  }
  const segmentWords = Math.ceil(segmentCount / 32);
  const expectedBytes =
    HEADER_BYTES +
    4 * (users + users + 1 + users * segmentWords + users * attributeCount) +
    (version >= FIRST_VERSION_WITH_RAW_FINGERPRINTS ? 4 * users : 0) +
    keyByteLength +
    CHECKSUM_BYTES;
  if (expectedBytes !== pointer.dataBytes) {
    throw corrupt(`header implies ${expectedBytes} bytes, the pointer says ${pointer.dataBytes}`);
  }
  try {
    const snapshot = Snapshot.allocateForLoad({ segmentCount, attributeCount, users, keyByteLength, extraUsers });
    return { snapshot, version, keyByteLength };
  } catch (error) {
    throw corrupt((error as Error).message);
  }
}

/** Copies the streamed bytes region by region into the header, the snapshot's arrays and the checksum. */
async function readSnapshotData(
  stream: NodeJS.ReadableStream,
  name: string,
  pointer: SnapshotPointer,
  extraUsers: number,
): Promise<Snapshot> {
  const corrupt = (reason: string) => new Error(`Snapshot data blob ${name} is corrupt: ${reason}`);
  const hash = createHash('sha256');
  const header = new Uint8Array(HEADER_BYTES);
  const checksum = new Uint8Array(CHECKSUM_BYTES);
  let snapshot: Snapshot | undefined;
  let keyByteLength = 0;
  let regions: Uint8Array[] = [header];
  let regionIndex = 0;
  let regionFilled = 0;
  let received = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    received += chunk.length;
    let offset = 0;
    while (offset < chunk.length) {
      if (regionIndex >= regions.length) throw corrupt(`more than the ${pointer.dataBytes} bytes it should hold`);
      const region = regions[regionIndex];
      const count = Math.min(region.length - regionFilled, chunk.length - offset);
      const piece = chunk.subarray(offset, offset + count);
      region.set(piece, regionFilled);
      if (region !== checksum) hash.update(piece);
      offset += count;
      regionFilled += count;
      if (regionFilled < region.length) continue;
      if (region === header) {
        const decoded = decodeHeader(header, name, pointer, extraUsers);
        snapshot = decoded.snapshot;
        keyByteLength = decoded.keyByteLength;
        regions = [header, ...sectionList(snapshot.sections(), decoded.version), checksum];
      }
      regionFilled = 0;
      regionIndex++;
      while (regionIndex < regions.length && regions[regionIndex].length === 0) regionIndex++;
    }
  }
  if (!snapshot || regionIndex < regions.length) {
    throw corrupt(`it ends after ${received} bytes, ${pointer.dataBytes} expected`);
  }
  const computed = hash.digest();
  if (!computed.equals(checksum) || computed.toString('hex') !== pointer.sha256) {
    throw corrupt('its SHA-256 checksum does not match');
  }
  try {
    snapshot.rebuildIndex(keyByteLength);
  } catch (error) {
    throw corrupt((error as Error).message);
  }
  return snapshot;
}
