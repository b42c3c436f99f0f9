import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { createApp, type App } from '../../shared/run/app';
import type { RunSummary } from '../../shared/run/types';
import { MemoryLogger } from '../../shared/telemetry/logger';
import { startBrazeSandbox, type BrazeSandbox } from '../../tools/braze-sandbox/server';
import { runNow } from '../../tools/cli/runNow';
import { compareWithSandbox, expectedState } from '../../tools/demo/expected';
import {
  containerSink,
  runFolderOf,
  sampleExportConfig,
  writeExport,
  type GeneratorOptions,
} from '../../tools/generate-export/generator';
import { startAzurite, type Azurite } from '../../tools/local/azurite';
import { localEnvironment } from '../../tools/local/environment';

const EXPORT_PATH = 'CustomerInsights_delta/BrazeFeed';
const base: GeneratorOptions = { profiles: 6000, seed: 99, churnPercent: 8, mergePercent: 2, rowsPerPartition: 1000 };
const config = sampleExportConfig(base) as { segments: GeneratorOptions['segments'] };
const options: GeneratorOptions = { ...base, segments: config.segments };

/** Three CI runs with churn (joins, leaves, field changes, merges), synced one after the other. */
describe('delta sync over three generated CI runs', () => {
  let azurite: Azurite;
  let sandbox: BrazeSandbox;
  let container: ContainerClient;
  let app: App;
  const logger = new MemoryLogger();

  beforeAll(async () => {
    azurite = await startAzurite({ queue: true });
    sandbox = await startBrazeSandbox({ rateLimit: null, logBodies: false });
    container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('ci-exports');
    await container.create();
    app = await createApp(
      localEnvironment({
        storageConnectionString: azurite.connectionString,
        brazeUrl: sandbox.url,
        brazeApiKey: sandbox.apiKey,
        exportContainer: 'ci-exports',
        exportPath: EXPORT_PATH,
        exportConfig: config,
      }),
    );
  });
  afterAll(async () => {
    await sandbox?.close();
    await azurite?.stop();
  });

  async function sync(): Promise<RunSummary> {
    const record = await runNow(
      app,
      { dryRun: false, fullResync: false, allowMassRemoval: false, trigger: 'cli' },
      logger,
    );
    expect(record.status).toBe('succeeded');
    return record.summary!;
  }

  it.each([0, 1, 2])(
    'after CI run %i Braze holds exactly what the export implies, charged only for changes',
    async (run) => {
      await writeExport(containerSink(container), EXPORT_PATH, { ...options, run });
      const ledgerBefore = sandbox.ledger();
      const summary = await sync();
      const ledger = sandbox.ledger();

      const comparison = compareWithSandbox(sandbox, expectedState(options, run));
      expect(comparison.differences).toEqual([]);
      expect(comparison.matchingUsers).toBe(comparison.expectedUsers);

      // Every data point charged is a key whose value changed in Braze, and the run counted exactly those.
      const charged = ledger.total - ledgerBefore.total;
      expect(charged).toBe(summary.attributesSent);
      expect(ledger.keysChanged - ledgerBefore.keysChanged).toBe(ledger.keysSent - ledgerBefore.keysSent);
      // Every row is accounted for: sent (alone or merged into its user's object), unchanged, skipped, rejected or a
      // repeat (removal objects are not rows).
      const rowsSent = summary.objectsSent - summary.removalObjectsSent + summary.rowsMerged!;
      expect(rowsSent + summary.unchanged + summary.skipped + summary.rejected + summary.duplicateRows).toBe(
        summary.profilesRead,
      );
      // A first sync sends one object per user; the deltas one per changed row.
      if (run === 0) expect(summary.objectsSent).toBe(summary.usersSent);
      if (run > 0) {
        expect(summary.membershipsRemoved).toBeGreaterThan(0);
        expect(summary.attributesSent).toBeLessThan(summary.attributesFullResend / 5);
      }
    },
  );

  it('an unchanged re-run sends zero requests', async () => {
    const requests = sandbox.stats().requests;
    const summary = await sync();
    expect(summary).toMatchObject({ alreadySynced: true, requests: 0 });
    expect(sandbox.stats().requests).toBe(requests);
  });

  it('the same data in a new export folder is diffed to nothing', async () => {
    // Runs 1 and 2 saved what they changed as patches: this run reads the first run's snapshot through them.
    const state = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('ci-braze-state');
    const pointers: string[] = [];
    for await (const blob of state.listBlobsFlat({ prefix: 'snapshots/' })) {
      if (blob.name.endsWith('/current.json')) pointers.push(blob.name);
    }
    expect(pointers).toHaveLength(1);
    const pointer = JSON.parse((await state.getBlobClient(pointers[0]).downloadToBuffer()).toString());
    expect(pointer.patches).toHaveLength(2);
    // Rewritten blobs get new ETags, so the export's fingerprint changes: the diff, not the shortcut, finds nothing.
    await writeExport(containerSink(container), EXPORT_PATH, { ...options, run: 2 });
    const requests = sandbox.stats().requests;
    const summary = await sync();
    expect(summary.alreadySynced).toBe(false);
    expect(summary).toMatchObject({ objectsSent: 0, attributesSent: 0 });
    expect(sandbox.stats().requests).toBe(requests);
  });

  it('holds back removals of a segment that lost more than half its members, and says so', async () => {
    const table = options.segments![0].table;
    const partitions: string[] = [];
    for await (const blob of container.listBlobsFlat({ prefix: `${EXPORT_PATH}/${table}/${runFolderOf(2)}/` })) {
      partitions.push(blob.name);
    }
    expect(partitions.length).toBeGreaterThanOrEqual(3);
    // Empty all partitions but the first: the segment keeps a third of its members or fewer.
    for (const name of partitions.sort().slice(1)) await container.getBlockBlobClient(name).upload('', 0);
    const chargedBefore = sandbox.ledger().total;
    const record = await runNow(
      app,
      { dryRun: false, fullResync: false, allowMassRemoval: false, trigger: 'cli' },
      logger,
    );
    expect(record.status).toBe('held');
    const segment = record.summary!.segments.find((s) => s.table === table)!;
    expect(segment.removalsHeld).toBeGreaterThan(0);
    expect(segment.removed).toBe(0);
    expect(segment.heldReason).toMatch(new RegExp(`segment ${table} shrank by \\d+\\.\\d %`));
    expect(sandbox.ledger().total).toBe(chargedBefore);
  });
});
