import { createHash } from 'node:crypto';
import { createServer, IncomingMessage, request, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { BlobServiceClient, ContainerClient } from '@azure/storage-blob';
import { fingerprintValue, NO_VALUE } from '../../shared/state/fingerprint';
import { NO_RAW_FINGERPRINT, Snapshot } from '../../shared/state/snapshot';
import {
  commitSnapshot,
  loadSnapshot,
  loadSnapshotMeta,
  type CommitSnapshotOptions,
  type SnapshotMeta,
} from '../../shared/state/snapshotStore';
import { Azurite, startAzurite } from '../../tools/local/azurite';

const SEGMENT_IDS = ['seg-a', 'seg-b', 'seg-c'];
const ATTRIBUTE_NAMES = ['first_name', 'email', 'ci_lifetime_value'];

/** A snapshot whose content depends on `variant`, so two commits can be told apart after loading. */
function buildSnapshot(users: number, variant: number): Snapshot {
  const snapshot = Snapshot.create({ segmentCount: 3, attributeCount: 3, expectedUsers: users });
  for (let index = 0; index < users; index++) {
    const slot = snapshot.insert(index % 7 === 0 ? `m:üser${index}@exämple.com` : `e:${index}`);
    if ((index + variant) % 2 === 0) snapshot.setSegment(slot, 0, true);
    if (index % 5 === variant % 5) snapshot.setSegment(slot, 2, true);
    snapshot.setAttribute(slot, 0, fingerprintValue(`name-${index}-${variant}`));
    if (index % 3 !== 0) snapshot.setAttribute(slot, 2, fingerprintValue(index * 1.5 + variant));
    if (index % 4 !== 0) snapshot.setRawFingerprint(slot, fingerprintValue(`row-${index}-${variant}`));
  }
  return snapshot;
}

function metaFor(snapshot: Snapshot, runId: string): SnapshotMeta {
  return {
    configHash: 'cfg1',
    exportFingerprint: `export-${runId}`,
    runId,
    committedAt: new Date(Date.UTC(2026, 0, 2, 3, 4, 5)).toISOString(),
    segmentIds: SEGMENT_IDS,
    attributeNames: ATTRIBUTE_NAMES,
    users: snapshot.size,
    segmentMembers: snapshot.segmentMemberCounts(),
    pendingRejected: 0,
  };
}

/** Fails with a thrown Error naming the first difference: one expect per user would make 100k checks slow. */
function expectSameSnapshot(actual: Snapshot, expected: Snapshot): void {
  expect(actual.size).toBe(expected.size);
  expect(actual.segmentCount).toBe(expected.segmentCount);
  expect(actual.attributeCount).toBe(expected.attributeCount);
  for (let slot = 0; slot < expected.size; slot++) {
    const key = expected.keyOf(slot);
    if (actual.find(key) !== slot) throw new Error(`key of slot ${slot} found at ${actual.find(key)}`);
    for (let segment = 0; segment < expected.segmentCount; segment++) {
      if (actual.hasSegment(slot, segment) !== expected.hasSegment(slot, segment)) {
        throw new Error(`slot ${slot} segment ${segment} differs`);
      }
    }
    for (let attribute = 0; attribute < expected.attributeCount; attribute++) {
      if (actual.attribute(slot, attribute) !== expected.attribute(slot, attribute)) {
        throw new Error(`slot ${slot} attribute ${attribute} differs`);
      }
    }
    if (actual.rawFingerprint(slot) !== expected.rawFingerprint(slot)) throw new Error(`slot ${slot} raw differs`);
  }
}

async function dataBlobNames(container: ContainerClient, configHash: string): Promise<string[]> {
  const names: string[] = [];
  for await (const blob of container.listBlobsFlat({ prefix: `snapshots/${configHash}/data-` })) names.push(blob.name);
  return names.sort();
}

interface PointerDocument {
  base: { blob: string; bytes: number; users: number };
  patches: Array<{ blob: string; bytes: number; users: number }>;
}

async function readPointerDocument(container: ContainerClient, configHash: string): Promise<PointerDocument> {
  const body = await container.getBlobClient(`snapshots/${configHash}/current.json`).downloadToBuffer();
  return JSON.parse(body.toString()) as PointerDocument;
}

async function currentDataBlob(container: ContainerClient, configHash: string): Promise<string> {
  return (await readPointerDocument(container, configHash)).base.blob;
}

/** Changes every 97th user and adds `added` users, as a run would; returns the changed known slots. */
function changeUsers(snapshot: Snapshot, variant: number, added: number): Uint32Array {
  const changed: number[] = [];
  for (let slot = variant; slot < snapshot.size; slot += 97) {
    snapshot.setSegment(slot, 1, !snapshot.hasSegment(slot, 1));
    snapshot.setAttribute(slot, 1, fingerprintValue(`changed-${variant}`));
    snapshot.setRawFingerprint(slot, fingerprintValue(`row-${slot}-${variant}`));
    changed.push(slot);
  }
  for (let index = 0; index < added; index++) {
    const slot = snapshot.insert(index % 3 === 0 ? `m:nëw${variant}-${index}@x.io` : `e:new-${variant}-${index}`);
    snapshot.setSegment(slot, 2, true);
    snapshot.setAttribute(slot, 0, fingerprintValue(`new-${index}`));
    snapshot.setRawFingerprint(slot, index + 1);
  }
  return Uint32Array.from(changed);
}

/** Loads the current snapshot, lets `change` change it as a run would, and commits what changed. */
async function commitChanges(
  container: ContainerClient,
  configHash: string,
  runId: string,
  change: (snapshot: Snapshot) => Uint32Array,
  options: CommitSnapshotOptions = {},
): Promise<Snapshot> {
  const loaded = (await loadSnapshot(container, configHash, { extraUsers: 1000 }))!;
  const loadedUsers = loaded.snapshot.size;
  const changedSlots = change(loaded.snapshot);
  await commitSnapshot(container, configHash, loaded.snapshot, metaFor(loaded.snapshot, runId), {
    ...options,
    changes: { loadedVersion: loaded.version, loadedUsers, changedSlots },
  });
  return loaded.snapshot;
}

/**
 * A loopback HTTP proxy in front of Azurite that cuts the connection of every block upload to a snapshot data blob
 * after the first `blocksAllowed`: a storage outage in the middle of a commit.
 */
async function startBlockCuttingProxy(
  targetPort: number,
  blocksAllowed: number,
): Promise<{ server: Server; port: number; blocksSeen: () => number }> {
  let blocksSeen = 0;
  const isDataBlock = (incoming: IncomingMessage) =>
    incoming.method === 'PUT' && /\/data-[^?]*\?(.*&)?comp=block(&|$)/.test(incoming.url ?? '');
  const server = createServer((incoming, response) => {
    if (isDataBlock(incoming) && ++blocksSeen > blocksAllowed) {
      incoming.socket.destroy();
      return;
    }
    const upstream = request(
      { host: '127.0.0.1', port: targetPort, method: incoming.method, path: incoming.url, headers: incoming.headers },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    upstream.on('error', () => response.destroy());
    incoming.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, blocksSeen: () => blocksSeen };
}

describe('snapshot store', () => {
  let azurite: Azurite;
  let container: ContainerClient;

  beforeAll(async () => {
    azurite = await startAzurite();
    container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('state');
    await container.create();
  });
  afterAll(async () => azurite.stop());

  it('returns null before the first commit', async () => {
    expect(await loadSnapshot(container, 'none-yet')).toBeNull();
    expect(await loadSnapshotMeta(container, 'none-yet')).toBeNull();
  });

  it('round-trips 100k users through blob storage', async () => {
    const original = buildSnapshot(100_000, 1);
    const meta = metaFor(original, 'run-1');
    await commitSnapshot(container, 'roundtrip', original, meta, { blockSizeInBytes: 512 * 1024 });
    expect(await loadSnapshotMeta(container, 'roundtrip')).toEqual(meta);
    const loaded = await loadSnapshot(container, 'roundtrip');
    expect(loaded?.meta).toEqual(meta);
    expectSameSnapshot(loaded!.snapshot, original);
    const { snapshot } = loaded!;
    expect(snapshot.keyOf(7)).toBe('m:üser7@exämple.com');
    expect(snapshot.attribute(3, 2)).toBe(NO_VALUE);
    expect(snapshot.segmentMemberCounts()).toEqual(meta.segmentMembers);
    // The loaded snapshot is a normal one: it takes new users.
    expect(snapshot.insert('e:new')).toBe(100_000);
    expect(snapshot.find('e:new')).toBe(100_000);

    // Loaded with room for more users, it takes them without regrowing an array.
    const roomy = (await loadSnapshot(container, 'roundtrip', { extraUsers: 5_000 }))!.snapshot;
    expectSameSnapshot(roomy, original);
    const bytesLoaded = roomy.byteLength;
    for (let index = 0; index < 5_000; index++) expect(roomy.insert(`e:extra-${index}`)).toBe(100_000 + index);
    expect(roomy.byteLength).toBe(bytesLoaded);
    expect(roomy.find('e:extra-4999')).toBe(104_999);
    expect(roomy.find(original.keyOf(99_999))).toBe(99_999);
  });

  it('round-trips an empty snapshot', async () => {
    const empty = Snapshot.create({ segmentCount: 3, attributeCount: 3 });
    await commitSnapshot(container, 'empty', empty, metaFor(empty, 'run-0'));
    const loaded = await loadSnapshot(container, 'empty');
    expect(loaded?.snapshot.size).toBe(0);
    expect(loaded?.snapshot.find('e:1')).toBe(-1);
  });

  it('keeps the current and the previous data blob, and deletes older ones', async () => {
    const names: string[] = [];
    for (let variant = 0; variant < 3; variant++) {
      const snapshot = buildSnapshot(1000, variant);
      await commitSnapshot(container, 'history', snapshot, metaFor(snapshot, `run-${variant}`));
      names.push(await currentDataBlob(container, 'history'));
    }
    expect(new Set(names).size).toBe(3);
    expect(await dataBlobNames(container, 'history')).toEqual([names[1], names[2]].sort());
    expect((await loadSnapshotMeta(container, 'history'))?.runId).toBe('run-2');
  });

  it('leaves the previous snapshot in use when the upload fails midway', async () => {
    const previous = buildSnapshot(20_000, 1);
    await commitSnapshot(container, 'atomic', previous, metaFor(previous, 'run-1'));
    const previousBlob = await currentDataBlob(container, 'atomic');

    const proxy = await startBlockCuttingProxy(azurite.blobPort, 2);
    try {
      const proxiedConnection = azurite.connectionString.replace(
        `127.0.0.1:${azurite.blobPort}`,
        `127.0.0.1:${proxy.port}`,
      );
      const flakyContainer = BlobServiceClient.fromConnectionString(proxiedConnection, {
        retryOptions: { maxTries: 1 },
      }).getContainerClient('state');
      const next = buildSnapshot(30_000, 2);
      await expect(
        commitSnapshot(flakyContainer, 'atomic', next, metaFor(next, 'run-2'), {
          blockSizeInBytes: 64 * 1024,
          uploadConcurrency: 1,
        }),
      ).rejects.toThrow(/Snapshot upload to snapshots\/atomic\/data-.*\.snap failed.*the previous one stays/);
      // Blocks went through before the cut: the failure hit a half-uploaded data blob.
      expect(proxy.blocksSeen()).toBeGreaterThan(2);
    } finally {
      await new Promise((resolve) => proxy.server.close(resolve));
    }

    expect(await currentDataBlob(container, 'atomic')).toBe(previousBlob);
    expect(await dataBlobNames(container, 'atomic')).toEqual([previousBlob]);
    const loaded = await loadSnapshot(container, 'atomic');
    expect(loaded?.meta.runId).toBe('run-1');
    expectSameSnapshot(loaded!.snapshot, previous);
  });

  it('lets only one of two concurrent commits switch the pointer', async () => {
    const first = buildSnapshot(20_000, 1);
    const second = buildSnapshot(20_000, 2);
    const results = await Promise.allSettled([
      commitSnapshot(container, 'race', first, metaFor(first, 'run-a')),
      commitSnapshot(container, 'race', second, metaFor(second, 'run-b')),
    ]);
    const rejected = results.filter((result) => result.status === 'rejected');
    expect(rejected).toHaveLength(1);
    expect(String((rejected[0] as PromiseRejectedResult).reason)).toContain(
      'Snapshot pointer snapshots/race/current.json changed while this commit ran',
    );
    const winner = results[0].status === 'fulfilled' ? 'run-a' : 'run-b';
    expect((await loadSnapshotMeta(container, 'race'))?.runId).toBe(winner);
    expect(await dataBlobNames(container, 'race')).toEqual([await currentDataBlob(container, 'race')]);
  });

  it('reads a format 1 pointer naming a version 1 data blob (before raw fingerprints)', async () => {
    const snapshot = buildSnapshot(3000, 1);
    const meta = metaFor(snapshot, 'run-v1');
    await commitSnapshot(container, 'v1', snapshot, meta);
    const pointerName = 'snapshots/v1/current.json';
    const current = await container.getBlobClient(await currentDataBlob(container, 'v1')).downloadToBuffer();
    // Version 1: the same layout without the raw fingerprints (the last section), under its own checksum.
    const body = Buffer.from(current.subarray(0, current.length - 32 - 4 * snapshot.size));
    body.writeUInt32LE(1, 8);
    const checksum = createHash('sha256').update(body).digest();
    const versionOne = Buffer.concat([body, checksum]);
    await container.getBlockBlobClient('snapshots/v1/data-v1.bin').uploadData(versionOne);
    const versionOnePointer = {
      format: 'ci-braze-export/snapshot-pointer@1',
      meta,
      dataBlob: 'snapshots/v1/data-v1.bin',
      dataBytes: versionOne.length,
      sha256: checksum.toString('hex'),
    };
    await container.getBlockBlobClient(pointerName).uploadData(Buffer.from(JSON.stringify(versionOnePointer)));

    const loaded = (await loadSnapshot(container, 'v1'))!.snapshot;
    const withoutRaw = buildSnapshot(3000, 1);
    for (let slot = 0; slot < withoutRaw.size; slot++) withoutRaw.setRawFingerprint(slot, NO_RAW_FINGERPRINT);
    expectSameSnapshot(loaded, withoutRaw);
  });

  describe('corruption', () => {
    let dataBlob: string;
    let original: Buffer;

    beforeEach(async () => {
      const snapshot = buildSnapshot(5000, 3);
      await commitSnapshot(container, 'corrupt', snapshot, metaFor(snapshot, `run-${Date.now()}`));
      dataBlob = await currentDataBlob(container, 'corrupt');
      original = await container.getBlobClient(dataBlob).downloadToBuffer();
    });

    async function replaceData(bytes: Buffer): Promise<void> {
      await container.getBlockBlobClient(dataBlob).uploadData(bytes);
    }

    it('detects a flipped byte by its checksum', async () => {
      const damaged = Buffer.from(original);
      damaged[Math.floor(damaged.length / 2)] ^= 0x40;
      await replaceData(damaged);
      await expect(loadSnapshot(container, 'corrupt')).rejects.toThrow(
        `Snapshot data blob ${dataBlob} is corrupt: its SHA-256 checksum does not match`,
      );
    });

    it('detects a truncated blob by its length', async () => {
      await replaceData(original.subarray(0, original.length - 100));
      await expect(loadSnapshot(container, 'corrupt')).rejects.toThrow(
        `Snapshot data blob ${dataBlob} is corrupt: ${original.length - 100} bytes, the pointer says ${original.length}`,
      );
    });

    it('detects a foreign blob by its header', async () => {
      const foreign = Buffer.alloc(original.length, 0x41);
      await replaceData(foreign);
      await expect(loadSnapshot(container, 'corrupt')).rejects.toThrow(
        `Snapshot data blob ${dataBlob} is corrupt: it does not start with the snapshot magic`,
      );
    });

    it('names a missing data blob and a damaged pointer', async () => {
      await container.getBlobClient(dataBlob).delete();
      await expect(loadSnapshot(container, 'corrupt')).rejects.toThrow(
        `Could not read snapshot data blob ${dataBlob} named by snapshots/corrupt/current.json (status 404`,
      );
      await container.getBlockBlobClient('snapshots/corrupt/current.json').uploadData(Buffer.from('{"format":'));
      await expect(loadSnapshotMeta(container, 'corrupt')).rejects.toThrow(
        'Snapshot pointer snapshots/corrupt/current.json is not valid JSON',
      );
    });
  });

  describe('patches', () => {
    it('saves what a run changed as a patch of the loaded snapshot, and loads the chain back', async () => {
      const original = buildSnapshot(20_000, 1);
      await commitSnapshot(container, 'patch', original, metaFor(original, 'run-1'));
      const baseBlob = await currentDataBlob(container, 'patch');
      for (let run = 2; run <= 3; run++) {
        const expected = await commitChanges(container, 'patch', `run-${run}`, (s) => changeUsers(s, run, 500));
        const loaded = (await loadSnapshot(container, 'patch'))!;
        expectSameSnapshot(loaded.snapshot, expected);
        expect(loaded.meta.runId).toBe(`run-${run}`);
      }
      const pointer = await readPointerDocument(container, 'patch');
      expect(pointer.base.blob).toBe(baseBlob);
      expect(pointer.patches.map((patch) => patch.users)).toEqual([20_500, 21_000]);
      // A patch holds the changed and added users only.
      for (const patch of pointer.patches) expect(patch.bytes).toBeLessThan(pointer.base.bytes / 10);
      expect(await dataBlobNames(container, 'patch')).toEqual([baseBlob, ...pointer.patches.map((p) => p.blob)].sort());
      const { snapshot } = (await loadSnapshot(container, 'patch'))!;
      expect(snapshot.keyOf(20_000)).toBe('m:nëw2-0@x.io');
      expect(snapshot.find('e:new-3-499')).toBe(20_999);
      // A user no patch touched is as the base has them.
      expect(snapshot.attribute(1, 1)).toBe(original.attribute(1, 1));
    });

    it('writes the whole snapshot once the chain is long or heavy, or when the pointer moved since the load', async () => {
      const original = buildSnapshot(10_000, 1);
      await commitSnapshot(container, 'compact', original, metaFor(original, 'run-1'));
      const options = { maxPatchCount: 2, maxPatchBytesPercentOfBase: 20 };
      for (let run = 2; run <= 3; run++) {
        await commitChanges(container, 'compact', `run-${run}`, (s) => changeUsers(s, run, 10), options);
      }
      const chain = await readPointerDocument(container, 'compact');
      expect(chain.patches).toHaveLength(2);

      // A third patch would make the chain too long.
      let expected = await commitChanges(container, 'compact', 'run-4', (s) => changeUsers(s, 4, 10), options);
      let pointer = await readPointerDocument(container, 'compact');
      expect(pointer.patches).toEqual([]);
      expect(pointer.base.users).toBe(10_030);
      // The previous chain stays for readers that are still reading it.
      const chainBlobs = [chain.base.blob, ...chain.patches.map((patch) => patch.blob)];
      expect(await dataBlobNames(container, 'compact')).toEqual([pointer.base.blob, ...chainBlobs].sort());
      expectSameSnapshot((await loadSnapshot(container, 'compact'))!.snapshot, expected);

      // A patch of half the users would outweigh 20 % of the base.
      const everySecond = (snapshot: Snapshot) => {
        const slots = Array.from({ length: snapshot.size / 2 }, (_, index) => index * 2);
        for (const slot of slots) snapshot.setAttribute(slot, 0, fingerprintValue(`half-${slot}`));
        return Uint32Array.from(slots);
      };
      expected = await commitChanges(container, 'compact', 'run-5', everySecond, options);
      pointer = await readPointerDocument(container, 'compact');
      expect(pointer.patches).toEqual([]);
      expectSameSnapshot((await loadSnapshot(container, 'compact'))!.snapshot, expected);

      // Another commit switched the pointer after this run's load: a patch would apply to a chain it never read.
      const stale = (await loadSnapshot(container, 'compact', { extraUsers: 10 }))!;
      const loadedUsers = stale.snapshot.size;
      await commitChanges(container, 'compact', 'run-6', (s) => changeUsers(s, 6, 10), options);
      const changedSlots = changeUsers(stale.snapshot, 7, 10);
      await commitSnapshot(container, 'compact', stale.snapshot, metaFor(stale.snapshot, 'run-7'), {
        ...options,
        changes: { loadedVersion: stale.version, loadedUsers, changedSlots },
      });
      pointer = await readPointerDocument(container, 'compact');
      expect(pointer.patches).toEqual([]);
      expectSameSnapshot((await loadSnapshot(container, 'compact'))!.snapshot, stale.snapshot);
    });

    it('names a damaged, missing or misplaced patch blob', async () => {
      const original = buildSnapshot(5000, 2);
      await commitSnapshot(container, 'bad-patch', original, metaFor(original, 'run-1'));
      for (let run = 2; run <= 3; run++) {
        await commitChanges(container, 'bad-patch', `run-${run}`, (s) => changeUsers(s, run, 100));
      }
      const pointerName = 'snapshots/bad-patch/current.json';
      const pointerBody = await container.getBlobClient(pointerName).downloadToBuffer();
      const pointer = JSON.parse(pointerBody.toString()) as PointerDocument;
      const [first, second] = pointer.patches;

      // The patches in the wrong order: the first one applied does not start where the base ends.
      const swapped = { ...pointer, patches: [second, first] };
      await container.getBlockBlobClient(pointerName).uploadData(Buffer.from(JSON.stringify(swapped)));
      await expect(loadSnapshot(container, 'bad-patch')).rejects.toThrow(
        `Snapshot patch blob ${second.blob} is corrupt: header says 5100 to 5200 users, 3 segments, 3 attributes; ` +
          'the chain 5000 to 5200, 3, 3',
      );
      await container.getBlockBlobClient(pointerName).uploadData(pointerBody);

      const patchBody = await container.getBlobClient(first.blob).downloadToBuffer();
      const damaged = Buffer.from(patchBody);
      damaged[100] ^= 0x01;
      await container.getBlockBlobClient(first.blob).uploadData(damaged);
      await expect(loadSnapshot(container, 'bad-patch')).rejects.toThrow(
        `Snapshot patch blob ${first.blob} is corrupt: its SHA-256 checksum does not match`,
      );

      await container.getBlobClient(first.blob).delete();
      await expect(loadSnapshot(container, 'bad-patch')).rejects.toThrow(
        `Could not read snapshot data blob ${first.blob} named by ${pointerName} (status 404`,
      );
    });
  });

  it('refuses meta that does not describe the snapshot, and unsafe config hashes', async () => {
    const snapshot = buildSnapshot(10, 0);
    await expect(commitSnapshot(container, 'meta', snapshot, { ...metaFor(snapshot, 'r'), users: 9 })).rejects.toThrow(
      'meta.users is 9, the snapshot has 10',
    );
    await expect(commitSnapshot(container, '../escape', snapshot, metaFor(snapshot, 'r'))).rejects.toThrow(
      'Snapshot state key "../escape" must be',
    );
    expect(await loadSnapshotMeta(container, 'meta')).toBeNull();
  });
});
