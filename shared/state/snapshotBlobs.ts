import { createHash } from 'node:crypto';
import { Snapshot, type SnapshotPatch, type SnapshotSections } from './snapshot';

/*
 * The bytes of a snapshot's data blobs: a base (every user) and patches (what a run changed). Where they live, how
 * they are named, uploaded and made current is `snapshotStore.ts`.
 *
 * Base data blob layout (little-endian; the typed arrays are written as they sit in memory):
 *   header, 64 bytes: magic "CIBZSNAP", version u32, users u32, segmentCount u32, attributeCount u32,
 *                     key byte length u32, zero padding
 *   key hashes        users × i32
 *   key offsets       (users + 1) × u32
 *   key bytes         UTF-8
 *   segments          users × ceil(segmentCount / 32) × u32
 *   attributes        users × attributeCount × u32
 *   raw fingerprints  users × u32 (from version 2)
 *   checksum          SHA-256 of everything above, 32 bytes
 *
 * Patch blob layout (`Snapshot.patchSince`; records are the changed users', then the added users'):
 *   header, 64 bytes: magic "CIBZPTCH", version u32, usersBefore u32, usersAfter u32, changed count u32,
 *                     segmentCount u32, attributeCount u32, added key byte length u32, zero padding
 *   changed slots     changed × u32
 *   added key hashes  added × i32
 *   added key offsets (added + 1) × u32, from 0
 *   segments          records × ceil(segmentCount / 32) × u32
 *   attributes        records × attributeCount × u32
 *   raw fingerprints  records × u32
 *   added key bytes   UTF-8
 *   checksum          SHA-256 of everything above, 32 bytes
 */

/** What the pointer says of a blob, and the snapshot's shape: everything read is checked against it. */
export interface ExpectedBlob {
  blob: string;
  bytes: number;
  sha256: string;
  /** Users the snapshot has once this blob is read. */
  users: number;
  segmentCount: number;
  attributeCount: number;
}

/** Room a loaded snapshot leaves for users and key bytes to come (see `Snapshot.allocateForLoad`). */
export interface LoadRoom {
  extraUsers: number;
  extraKeyBytes: number;
}

const DATA_MAGIC = 'CIBZSNAP';
/** Version 2 added the raw fingerprints; version 1 blobs still load (raw fingerprints all NO_RAW_FINGERPRINT). */
const DATA_VERSION = 2;
const FIRST_VERSION_WITH_RAW_FINGERPRINTS = 2;
const PATCH_MAGIC = 'CIBZPTCH';
const PATCH_VERSION = 1;
const HEADER_BYTES = 64;
const CHECKSUM_BYTES = 32;
/** About a millisecond of indexing per chunk received: enough to finish early in the download, not to stall it. */
const USERS_INDEXED_PER_CHUNK = 32_768;

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

function sectionList(sections: SnapshotSections, version = DATA_VERSION): Uint8Array[] {
  const list = [sections.keyHashes, sections.keyOffsets, sections.keyBytes, sections.segments, sections.attributes];
  if (version >= FIRST_VERSION_WITH_RAW_FINGERPRINTS) list.push(sections.rawFingerprints);
  return list.map(bytesOf);
}

function patchSectionList(patch: SnapshotPatch): Uint8Array[] {
  return [
    patch.changedSlots,
    patch.addedKeyHashes,
    patch.addedKeyOffsets,
    patch.segments,
    patch.attributes,
    patch.rawFingerprints,
    patch.addedKeyBytes,
  ].map(bytesOf);
}

function encodeHeader(magic: string, fields: number[]): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  header.write(magic, 0, 'latin1');
  fields.forEach((value, index) => header.writeUInt32LE(value, 8 + 4 * index));
  return header;
}

/** The parts of a base data blob: its header and views of the snapshot's arrays, to be followed by `blobChunks`. */
export function baseBlobParts(snapshot: Snapshot): Uint8Array[] {
  const sections = snapshot.sections();
  const header = encodeHeader(DATA_MAGIC, [
    DATA_VERSION,
    snapshot.size,
    snapshot.segmentCount,
    snapshot.attributeCount,
    sections.keyBytes.length,
  ]);
  return [header, ...sectionList(sections)];
}

/** The parts of a patch blob (`Snapshot.patchSince`): its header and views of the patch's arrays. */
export function patchBlobParts(snapshot: Snapshot, patch: SnapshotPatch): Uint8Array[] {
  const header = encodeHeader(PATCH_MAGIC, [
    PATCH_VERSION,
    patch.usersBefore,
    snapshot.size,
    patch.changedSlots.length,
    snapshot.segmentCount,
    snapshot.attributeCount,
    patch.addedKeyBytes.length,
  ]);
  return [header, ...patchSectionList(patch)];
}

/**
 * Entries (4 bytes each) of a patch's sections before its key bytes: changed slots, added key hashes, added key
 * offsets, segments, attributes, raw fingerprints.
 */
function patchSectionEntries(changed: number, added: number, segmentCount: number, attributeCount: number): number[] {
  const records = changed + added;
  return [changed, added, added + 1, records * Math.ceil(segmentCount / 32), records * attributeCount, records];
}

function patchBlobLength(sectionEntries: number[], addedKeyBytes: number): number {
  return (
    HEADER_BYTES + 4 * sectionEntries.reduce((total, entries) => total + entries, 0) + addedKeyBytes + CHECKSUM_BYTES
  );
}

/** Bytes of the patch blob `Snapshot.patchSince(usersBefore, changedSlots)` would make, without making it. */
export function patchBlobBytes(snapshot: Snapshot, usersBefore: number, changedCount: number): number {
  const { keyOffsets } = snapshot.sections();
  const entries = patchSectionEntries(
    changedCount,
    snapshot.size - usersBefore,
    snapshot.segmentCount,
    snapshot.attributeCount,
  );
  return patchBlobLength(entries, keyOffsets[snapshot.size] - keyOffsets[usersBefore]);
}

/** Yields the parts in pieces of at most `chunkBytes` (views, not copies), then their SHA-256, hashing as it goes. */
export function* blobChunks(parts: Uint8Array[], chunkBytes: number, result: { sha256: string; bytes: number }) {
  const hash = createHash('sha256');
  result.bytes = 0;
  for (const part of parts) {
    for (let offset = 0; offset < part.length; offset += chunkBytes) {
      const chunk = Buffer.from(part.buffer, part.byteOffset + offset, Math.min(chunkBytes, part.length - offset));
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

function decodeHeader(
  header: Uint8Array,
  expected: ExpectedBlob,
  room: LoadRoom,
): { snapshot: Snapshot; version: number; keyByteLength: number } {
  const corrupt = (reason: string) => new Error(`Snapshot data blob ${expected.blob} is corrupt: ${reason}`);
  const view = Buffer.from(header.buffer, header.byteOffset, header.byteLength);
  if (view.toString('latin1', 0, 8) !== DATA_MAGIC) throw corrupt('it does not start with the snapshot magic');
  const version = view.readUInt32LE(8);
  if (version < 1 || version > DATA_VERSION) throw corrupt(`format version ${version}, expected 1 to ${DATA_VERSION}`);
  const users = view.readUInt32LE(12);
  const segmentCount = view.readUInt32LE(16);
  const attributeCount = view.readUInt32LE(20);
  const keyByteLength = view.readUInt32LE(24);
  if (
    users !== expected.users ||
    segmentCount !== expected.segmentCount ||
    attributeCount !== expected.attributeCount
  ) {
    throw corrupt(
      `header says ${users} users, ${segmentCount} segments, ${attributeCount} attributes; the pointer ` +
        `${expected.users}, ${expected.segmentCount}, ${expected.attributeCount}`,
    );
  }
  const segmentWords = Math.ceil(segmentCount / 32);
  const expectedBytes =
    HEADER_BYTES +
    4 * (users + users + 1 + users * segmentWords + users * attributeCount) +
    (version >= FIRST_VERSION_WITH_RAW_FINGERPRINTS ? 4 * users : 0) +
    keyByteLength +
    CHECKSUM_BYTES;
  if (expectedBytes !== expected.bytes) {
    throw corrupt(`header implies ${expectedBytes} bytes, the pointer says ${expected.bytes}`);
  }
  try {
    const snapshot = Snapshot.allocateForLoad({ segmentCount, attributeCount, users, keyByteLength, ...room });
    return { snapshot, version, keyByteLength };
  } catch (error) {
    throw corrupt((error as Error).message);
  }
}

/**
 * Reads a base blob into a new snapshot: copies the streamed bytes region by region into the header, the snapshot's
 * arrays and the checksum, indexing the users as the bytes come. Checks the header, length and SHA-256 against what
 * the pointer says. Call `Snapshot.finishIndex` after applying the patches.
 */
export async function readBaseBlob(
  stream: NodeJS.ReadableStream,
  expected: ExpectedBlob,
  room: LoadRoom,
): Promise<{ snapshot: Snapshot; keyByteLength: number }> {
  const corrupt = (reason: string) => new Error(`Snapshot data blob ${expected.blob} is corrupt: ${reason}`);
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
      if (regionIndex >= regions.length) throw corrupt(`more than the ${expected.bytes} bytes it should hold`);
      const region = regions[regionIndex];
      const count = Math.min(region.length - regionFilled, chunk.length - offset);
      const piece = chunk.subarray(offset, offset + count);
      region.set(piece, regionFilled);
      if (region !== checksum) hash.update(piece);
      offset += count;
      regionFilled += count;
      if (regionFilled < region.length) continue;
      if (region === header) {
        const decoded = decodeHeader(header, expected, room);
        snapshot = decoded.snapshot;
        keyByteLength = decoded.keyByteLength;
        regions = [header, ...sectionList(snapshot.sections(), decoded.version), checksum];
      }
      regionFilled = 0;
      regionIndex++;
      while (regionIndex < regions.length && regions[regionIndex].length === 0) regionIndex++;
    }
    // Regions 0 and 1 are the header and the key hashes: once they are in, the index grows as bytes come.
    if (snapshot && regionIndex >= 2) snapshot.indexLoadedKeys(USERS_INDEXED_PER_CHUNK);
  }
  if (!snapshot || regionIndex < regions.length) {
    throw corrupt(`it ends after ${received} bytes, ${expected.bytes} expected`);
  }
  const computed = hash.digest();
  if (!computed.equals(checksum) || computed.toString('hex') !== expected.sha256) {
    throw corrupt('its SHA-256 checksum does not match');
  }
  return { snapshot, keyByteLength };
}

/**
 * Checks a downloaded patch blob against what the pointer says and applies it to the snapshot being loaded. Returns
 * the key bytes it added.
 */
export function applyPatchBlob(snapshot: Snapshot, body: Buffer, expected: ExpectedBlob): number {
  const corrupt = (reason: string) => new Error(`Snapshot patch blob ${expected.blob} is corrupt: ${reason}`);
  if (body.length !== expected.bytes) throw corrupt(`${body.length} bytes, the pointer says ${expected.bytes}`);
  const content = body.subarray(0, body.length - CHECKSUM_BYTES);
  const computed = createHash('sha256').update(content).digest();
  if (!computed.equals(body.subarray(content.length)) || computed.toString('hex') !== expected.sha256) {
    throw corrupt('its SHA-256 checksum does not match');
  }
  if (body.length < HEADER_BYTES + CHECKSUM_BYTES || body.toString('latin1', 0, 8) !== PATCH_MAGIC) {
    throw corrupt('it does not start with the patch magic');
  }
  const [version, usersBefore, usersAfter, changed, segmentCount, attributeCount, addedKeyByteLength] = Array.from(
    { length: 7 },
    (_, index) => body.readUInt32LE(8 + 4 * index),
  );
  if (version !== PATCH_VERSION) throw corrupt(`format version ${version}, expected ${PATCH_VERSION}`);
  if (
    usersBefore !== snapshot.size ||
    usersAfter !== expected.users ||
    usersAfter < usersBefore ||
    segmentCount !== expected.segmentCount ||
    attributeCount !== expected.attributeCount
  ) {
    throw corrupt(
      `header says ${usersBefore} to ${usersAfter} users, ${segmentCount} segments, ${attributeCount} attributes; ` +
        `the chain ${snapshot.size} to ${expected.users}, ${expected.segmentCount}, ${expected.attributeCount}`,
    );
  }
  const lengths = patchSectionEntries(changed, usersAfter - usersBefore, segmentCount, attributeCount);
  const expectedBytes = patchBlobLength(lengths, addedKeyByteLength);
  if (expectedBytes !== body.length) throw corrupt(`header implies ${expectedBytes} bytes, it has ${body.length}`);
  // Typed arrays need aligned offsets: one aligned copy of the (small) patch.
  const aligned = new Uint8Array(content.length);
  aligned.set(content);
  let offset = HEADER_BYTES;
  const words32 = (length: number) => {
    const view = new Uint32Array(aligned.buffer, offset, length);
    offset += 4 * length;
    return view;
  };
  const [changedSlots, hashes, addedKeyOffsets, segments, attributes, rawFingerprints] = lengths.map(words32);
  try {
    snapshot.applyPatch({
      usersBefore,
      changedSlots,
      addedKeyHashes: new Int32Array(hashes.buffer, hashes.byteOffset, hashes.length),
      addedKeyOffsets,
      addedKeyBytes: aligned.subarray(offset, offset + addedKeyByteLength),
      segments,
      attributes,
      rawFingerprints,
    });
  } catch (error) {
    throw corrupt((error as Error).message);
  }
  return addedKeyByteLength;
}
