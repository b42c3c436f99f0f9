import { BlobServiceClient } from '@azure/storage-blob';
import { fingerprintValue } from '../../shared/state/fingerprint';
import { Snapshot } from '../../shared/state/snapshot';
import { commitSnapshot, loadSnapshot } from '../../shared/state/snapshotStore';
import { startAzurite } from '../local/azurite';

export interface SnapshotMemoryFigures {
  users: number;
  segments: number;
  attributes: number;
  /** `Snapshot.byteLength` once all users are in. */
  byteLength: number;
  bytesPerUser: number;
  /** Growth of the process's resident set while building the snapshot (after a GC when `--expose-gc` is on). */
  rssDeltaBytes: number;
  /** One `find` then one `insert` per new key, from an empty snapshot that grows as it goes. */
  findAndInsertMs: number;
  /** One `find` per key, all present. */
  findMs: number;
}

export interface SnapshotStoreFigures {
  users: number;
  dataBytes: number;
  commitMs: number;
  loadMs: number;
  /** Growth of the resident set while loading (the loaded snapshot plus streaming buffers). */
  loadRssDeltaBytes: number;
}

const collectGarbage = (globalThis as { gc?: () => void }).gc ?? (() => undefined);

function residentBytes(): number {
  collectGarbage();
  return process.memoryUsage().rss;
}

function userKey(index: number): string {
  return index % 4 === 0 ? `m:customer.${index}@example.com` : `e:${(index * 2654435761) >>> 0}-${index}`;
}

const KEY_BATCH = 65_536;

/** Keys for users `from`..`to` (exclusive), made outside the timed loops so that they time the snapshot only. */
function keyBatch(from: number, to: number): string[] {
  const keys: string[] = [];
  for (let index = from; index < to; index++) keys.push(userKey(index));
  return keys;
}

/** Builds a snapshot of `users` users the way a run does, filling every segment bit and attribute, and measures it. */
export function measureSnapshotMemory(
  users: number,
  segments: number,
  attributes: number,
): { figures: SnapshotMemoryFigures; snapshot: Snapshot } {
  const before = residentBytes();
  const snapshot = Snapshot.create({ segmentCount: segments, attributeCount: attributes });
  let findAndInsertMs = 0;
  let findMs = 0;
  for (let from = 0; from < users; from += KEY_BATCH) {
    const keys = keyBatch(from, Math.min(users, from + KEY_BATCH));
    const started = performance.now();
    for (const key of keys) {
      if (snapshot.find(key) !== -1) throw new Error(`bench key ${key} is not unique`);
      snapshot.insert(key);
    }
    findAndInsertMs += performance.now() - started;
    for (let slot = from; slot < from + keys.length; slot++) {
      for (let segment = 0; segment < segments; segment++)
        snapshot.setSegment(slot, segment, (slot + segment) % 3 !== 0);
      for (let attribute = 0; attribute < attributes; attribute++) {
        snapshot.setAttribute(slot, attribute, fingerprintValue(slot * 31 + attribute));
      }
    }
  }
  for (let from = 0; from < users; from += KEY_BATCH) {
    const keys = keyBatch(from, Math.min(users, from + KEY_BATCH));
    const started = performance.now();
    for (let offset = 0; offset < keys.length; offset++) {
      if (snapshot.find(keys[offset]) !== from + offset) throw new Error(`bench key ${keys[offset]} was not found`);
    }
    findMs += performance.now() - started;
  }
  const rssDeltaBytes = residentBytes() - before;
  return {
    snapshot,
    figures: {
      users,
      segments,
      attributes,
      byteLength: snapshot.byteLength,
      bytesPerUser: Math.round(snapshot.byteLength / Math.max(1, users)),
      rssDeltaBytes,
      findAndInsertMs: Math.round(findAndInsertMs),
      findMs: Math.round(findMs),
    },
  };
}

/** Commits `snapshot` to a fresh Azurite and loads it back, timing both. */
export async function measureSnapshotStore(snapshot: Snapshot, segments: number, attributes: number) {
  const azurite = await startAzurite();
  try {
    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('bench');
    await container.create();
    const meta = {
      configHash: 'bench',
      exportFingerprint: 'bench',
      runId: 'bench',
      committedAt: new Date().toISOString(),
      segmentIds: Array.from({ length: segments }, (_, index) => `segment-${index}`),
      attributeNames: Array.from({ length: attributes }, (_, index) => `attribute_${index}`),
      users: snapshot.size,
      segmentMembers: snapshot.segmentMemberCounts(),
      pendingRejected: 0,
    };
    let started = performance.now();
    await commitSnapshot(container, 'bench', snapshot, meta);
    const commitMs = performance.now() - started;
    const before = residentBytes();
    started = performance.now();
    const loaded = await loadSnapshot(container, 'bench');
    const loadMs = performance.now() - started;
    const loadRssDeltaBytes = residentBytes() - before;
    if (loaded?.snapshot.size !== snapshot.size) throw new Error('bench snapshot did not load back whole');
    const properties = await container.getBlobClient(`snapshots/bench/current.json`).downloadToBuffer();
    const pointer = JSON.parse(properties.toString()) as { base: { bytes: number } };
    const figures: SnapshotStoreFigures = {
      users: snapshot.size,
      dataBytes: pointer.base.bytes,
      commitMs: Math.round(commitMs),
      loadMs: Math.round(loadMs),
      loadRssDeltaBytes,
    };
    return figures;
  } finally {
    await azurite.stop();
  }
}

/** `node --expose-gc dist/tools/bench/snapshot-memory.js [users] [segments] [attributes] [--store]`: prints JSON. */
async function main(args: string[]): Promise<void> {
  const [users = 1_000_000, segments = 3, attributes = 8] = args.filter((arg) => !arg.startsWith('--')).map(Number);
  const { figures, snapshot } = measureSnapshotMemory(users, segments, attributes);
  console.log(JSON.stringify({ memory: figures }));
  if (args.includes('--store')) {
    console.log(JSON.stringify({ store: await measureSnapshotStore(snapshot, segments, attributes) }));
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
