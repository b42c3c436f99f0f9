import type { ContainerClient } from '@azure/storage-blob';
import { parse } from 'csv-parse/sync';
import { validateExportConfig } from '../../shared/config/exportConfig';
import { loadSettings } from '../../shared/config/settings';
import { loadCheckpoint } from '../../shared/run/artifacts';
import { createRunExecutor } from '../../shared/run/pipeline';
import { newRunId } from '../../shared/run/records';
import type { RunRequest, RunStepOutcome, RunSummary } from '../../shared/run/types';
import { legacyStateKey, stateKey, stateScope } from '../../shared/state/stateKey';
import { MemoryLogger } from '../../shared/telemetry/logger';
import type { SandboxProfile } from '../../tools/braze-sandbox/types';
import { checkConfiguration } from '../../tools/cli/check';
import { localEnvironment } from '../../tools/local/environment';
import { startLocalStack, type LocalStack } from '../helpers/localStack';
import { random } from '../helpers/random';

/**
 * What the snapshot means (issue 18) and when an export counts as synced (issue 23, items 2 and 7), end to end against
 * Azurite and the Braze sandbox. Braze is checked independently of the product: the export is read back from Azurite
 * and parsed with csv-parse, and every user of the test is compared with the sandbox's profiles, read over HTTP.
 */

const TABLES = ['Gold', 'Churn', 'Silver'] as const;
type Table = (typeof TABLES)[number];
const COLUMNS = ['CustomerId', 'BrazeCustomerId', 'PrimaryEmail', 'FirstName', 'LoyaltyPoints', 'PreviousCustomerId'];

interface TestConfig {
  identity: { externalId: string; email: string; whenExternalIdMissing: string };
  segments: Array<{ table: Table; brazeSegmentApiId: string }>;
  attributes: Record<string, string>;
  membership?: { value: string | boolean; onLeave?: string };
}

/** Config A of a test whose ids start with `prefix` (segment ids and external ids are the test's own). */
function configA(prefix: string): TestConfig {
  return {
    identity: { externalId: 'BrazeCustomerId', email: 'PrimaryEmail', whenExternalIdMissing: 'alias' },
    segments: [
      { table: 'Gold', brazeSegmentApiId: `${prefix}-seg-gold` },
      { table: 'Churn', brazeSegmentApiId: `${prefix}-seg-churn` },
    ],
    attributes: { FirstName: 'first_name', LoyaltyPoints: 'ci_points' },
  };
}

/** A with its attributes and segments in the other order: the same config. */
function reordered(config: TestConfig): TestConfig {
  return {
    membership: config.membership,
    attributes: Object.fromEntries(Object.entries(config.attributes).reverse()),
    segments: [...config.segments].reverse(),
    identity: { whenExternalIdMissing: 'alias', email: 'PrimaryEmail', externalId: 'BrazeCustomerId' },
  };
}

/** Config B: Gold dropped, Silver added, first_name renamed given_name, another membership value. */
function configB(prefix: string): TestConfig {
  return {
    identity: { externalId: 'BrazeCustomerId', email: 'PrimaryEmail', whenExternalIdMissing: 'alias' },
    segments: [
      { table: 'Churn', brazeSegmentApiId: `${prefix}-seg-churn` },
      { table: 'Silver', brazeSegmentApiId: `${prefix}-seg-silver` },
    ],
    attributes: { LoyaltyPoints: 'ci_points', FirstName: 'given_name' },
    membership: { value: 'yes' },
  };
}

/** One export version: each user's values and the tables they are in. Version n is version n-1 with ~12 % churn. */
interface UserState {
  firstName: string;
  points: string;
  tables: Set<Table>;
}

function exportVersion(prefix: string, users: number, version: number): Map<string, UserState> {
  // The same seed for every version: version n replays the churn of versions 1 to n-1 first.
  const rng = random(7);
  const state = new Map<string, UserState>();
  for (let i = 0; i < users; i++) {
    const tables = new Set<Table>(TABLES.filter(() => rng.next() < 0.45));
    state.set(`${prefix}-${i}`, { firstName: rng.next() < 0.1 ? '' : `N${i}`, points: `${rng.int(1000)}`, tables });
  }
  for (let v = 1; v <= version; v++) {
    for (const [id, user] of state) {
      for (const table of TABLES) {
        if (rng.next() >= 0.12) continue;
        if (user.tables.has(table)) user.tables.delete(table);
        else user.tables.add(table);
      }
      if (rng.next() < 0.12) user.firstName = `N${id}-v${v}`;
      if (rng.next() < 0.12) user.points = `${rng.int(1000)}`;
    }
  }
  return state;
}

describe('what the snapshot means: keyed by export, workspace and identity; mapping changes reconciled', () => {
  let stack: LocalStack;
  let logger: MemoryLogger;
  /** Export version written per test prefix: a run folder of its own for each write. */
  let folderSeq = 0;

  beforeAll(async () => {
    stack = await startLocalStack({ rateLimit: null, logBodies: false });
  });
  afterAll(async () => stack?.stop());

  function environment(exportPath: string, config: TestConfig, extra: Record<string, string> = {}) {
    return localEnvironment({
      storageConnectionString: stack.azurite.connectionString,
      brazeUrl: stack.sandbox.url,
      brazeApiKey: stack.sandbox.apiKey,
      exportContainer: 'ci-exports',
      exportPath,
      exportConfig: config,
      extra,
    });
  }

  async function step(
    exportPath: string,
    config: TestConfig,
    request: Partial<RunRequest> = {},
    options: { runId?: string; stateContainer?: ContainerClient } = {},
  ): Promise<RunStepOutcome> {
    const executor = createRunExecutor({
      settings: loadSettings(environment(exportPath, config)),
      exportConfig: validateExportConfig(config),
      exportContainer: stack.exportContainer,
      stateContainer: options.stateContainer ?? stack.stateContainer,
    });
    logger = new MemoryLogger();
    return executor({
      runId: options.runId ?? newRunId(Date.now()),
      request: { dryRun: false, fullResync: false, allowMassRemoval: false, trigger: 'cli', ...request },
      deadline: Date.now() + 600_000,
      logger,
    });
  }

  async function sync(exportPath: string, config: TestConfig, request: Partial<RunRequest> = {}): Promise<RunSummary> {
    const outcome = await step(exportPath, config, request);
    if (outcome.kind !== 'completed') throw new Error('expected the run to complete');
    return outcome.summary;
  }

  /** Writes the export version as CI does: a new run folder, then model.json pointing at it. */
  async function writeExport(exportPath: string, state: Map<string, UserState>): Promise<void> {
    const folder = `2026/12/${String(++folderSeq).padStart(4, '0')}`;
    const entities = [];
    for (const table of TABLES) {
      const lines: string[] = [];
      for (const [id, user] of state) {
        if (!user.tables.has(table)) continue;
        const cells = [`c-${id}`, id, '', user.firstName, user.points, ''];
        lines.push(cells.map((cell) => (cell === '' ? '' : `"${cell}"`)).join(','));
      }
      const csv = lines.length > 0 ? lines.join('\r\n') + '\r\n' : '';
      const location = `${table}/${folder}/${table}_1.csv`;
      await stack.exportContainer.getBlockBlobClient(`${exportPath}/${location}`).upload(csv, Buffer.byteLength(csv));
      entities.push({
        $type: 'LocalEntity',
        name: table,
        attributes: COLUMNS.map((name) => ({ name, dataType: name === 'LoyaltyPoints' ? 'int64' : 'string' })),
        partitions: [{ name: `${table}_1`, location }],
      });
    }
    const model = JSON.stringify({ name: 'BrazeFeed', version: '1.0', entities });
    await stack.exportContainer.getBlockBlobClient(`${exportPath}/model.json`).upload(model, Buffer.byteLength(model));
  }

  /** The export as written in Azurite, parsed with csv-parse: external id -> column values, and table -> members. */
  async function readExportBack(exportPath: string) {
    const download = async (name: string) =>
      (await stack.exportContainer.getBlobClient(`${exportPath}/${name}`).downloadToBuffer()).toString('utf8');
    const model = JSON.parse(await download('model.json')) as {
      entities: Array<{ name: Table; attributes: Array<{ name: string }>; partitions: Array<{ location: string }> }>;
    };
    const values = new Map<string, Record<string, string>>();
    const members = new Map<Table, Set<string>>();
    for (const entity of model.entities) {
      const names = entity.attributes.map((a) => a.name);
      members.set(entity.name, new Set());
      for (const partition of entity.partitions) {
        const rows = parse(await download(partition.location), { relax_quotes: false }) as string[][];
        for (const cells of rows) {
          const row = Object.fromEntries(names.map((name, i) => [name, cells[i]]));
          values.set(row.BrazeCustomerId, row);
          members.get(entity.name)!.add(row.BrazeCustomerId);
        }
      }
    }
    return { values, members };
  }

  async function brazeProfiles(prefix: string): Promise<Map<string, Record<string, unknown>>> {
    const response = await fetch(`${stack.sandbox.url}/_sim/profiles`);
    const { profiles } = (await response.json()) as { profiles: SandboxProfile[] };
    return new Map(
      profiles
        .filter((p) => p.external_id?.startsWith(`${prefix}-`))
        .map((p) => [p.external_id!, p.attributes] as const),
    );
  }

  /**
   * Every difference between Braze and what the export implies under `config`: mapped values, memberships of the
   * configured segments (the member value, else absent), and `absentKeys` (dropped segments and cleared attributes)
   * absent from every profile of the test.
   */
  async function differences(prefix: string, exportPath: string, config: TestConfig, absentKeys: string[] = []) {
    const exported = await readExportBack(exportPath);
    const profiles = await brazeProfiles(prefix);
    const memberValue = config.membership?.value ?? true;
    const found: string[] = [];
    // Users in a table the config names: the others are not the config's to deliver.
    const covered = new Set(config.segments.flatMap((segment) => [...(exported.members.get(segment.table) ?? [])]));
    for (const [id, row] of exported.values) {
      if (!covered.has(id)) continue;
      const attributes = profiles.get(id);
      if (!attributes) {
        found.push(`${id}: not in Braze`);
        continue;
      }
      for (const [column, name] of Object.entries(config.attributes)) {
        const cell = row[column];
        const expected = cell === '' ? undefined : column === 'LoyaltyPoints' ? Number(cell) : cell;
        if (attributes[name] !== expected) found.push(`${id}: ${name} is ${String(attributes[name])}, not ${expected}`);
      }
    }
    for (const [id, attributes] of profiles) {
      for (const segment of config.segments) {
        const member = exported.members.get(segment.table)?.has(id) ?? false;
        const actual = attributes[segment.brazeSegmentApiId];
        if (member && actual !== memberValue) found.push(`${id}: member of ${segment.table}, Braze has ${actual}`);
        if (!member && actual !== undefined) found.push(`${id}: not in ${segment.table}, Braze has ${actual}`);
      }
      for (const key of absentKeys) if (key in attributes) found.push(`${id}: still has ${key}`);
    }
    return found;
  }

  /** Memberships (user, segment id) that `before` implies and `after` does not, counted from the export states. */
  function leavers(config: TestConfig, before: Map<string, UserState>, after: Map<string, UserState>): number {
    let count = 0;
    for (const [id, user] of before) {
      for (const segment of config.segments) {
        if (user.tables.has(segment.table) && !after.get(id)?.tables.has(segment.table)) count++;
      }
    }
    return count;
  }

  it('a reordered config is the same config: no writes on an unchanged export, exact removals on a changed one', async () => {
    const prefix = 'RO';
    const path = 'CustomerInsights_reorder/BrazeFeed';
    const a = configA(prefix);
    const v0 = exportVersion(prefix, 300, 0);
    await writeExport(path, v0);
    expect(await sync(path, a)).toMatchObject({ status: 'succeeded', stateChange: { fresh: true } });
    expect(await differences(prefix, path, a)).toEqual([]);

    // Same export version: already synced, not one request.
    const requests = stack.sandbox.stats().requests;
    expect(await sync(path, reordered(a))).toMatchObject({ alreadySynced: true, requests: 0 });
    // The same data in a new run folder (a new export version): the diff, through the reordered layout, finds nothing.
    await writeExport(path, v0);
    const rediffed = await sync(path, reordered(a));
    expect(rediffed).toMatchObject({ alreadySynced: false, objectsSent: 0, membershipsRemoved: 0 });
    expect(rediffed.stateChange).toMatchObject({ fresh: false, segmentsAdded: [], segmentsDropped: [] });
    expect(stack.sandbox.stats().requests).toBe(requests);

    const v1 = exportVersion(prefix, 300, 1);
    await writeExport(path, v1);
    const expectedRemovals = leavers(a, v0, v1);
    expect(expectedRemovals).toBeGreaterThan(20);
    const changed = await sync(path, reordered(a));
    expect(changed).toMatchObject({ status: 'succeeded', membershipsRemoved: expectedRemovals });
    expect(await differences(prefix, path, a)).toEqual([]);
  });

  it('A -> B -> A with churn: Braze equals the export after each run', async () => {
    const prefix = 'AB';
    const path = 'CustomerInsights_abba/BrazeFeed';
    const [a, b] = [configA(prefix), configB(prefix)];
    const reconcile = { allowMassRemoval: true, removeUnmapped: true };

    await writeExport(path, exportVersion(prefix, 300, 0));
    await sync(path, a);
    expect(await differences(prefix, path, a)).toEqual([]);

    await writeExport(path, exportVersion(prefix, 300, 1));
    const toB = await sync(path, b, reconcile);
    expect(toB.status).toBe('succeeded');
    expect(toB.stateChange).toMatchObject({
      fresh: false,
      segmentsAdded: [`${prefix}-seg-silver`],
      segmentsDropped: [`${prefix}-seg-gold`],
      attributesRenamed: [{ from: 'first_name', to: 'given_name' }],
      attributesRemoved: ['first_name'],
      membershipValueChanged: true,
    });
    expect(await differences(prefix, path, b, [`${prefix}-seg-gold`, 'first_name'])).toEqual([]);

    // Back to A while the export goes back to its first version.
    await writeExport(path, exportVersion(prefix, 300, 0));
    const backToA = await sync(path, a, reconcile);
    expect(backToA.status).toBe('succeeded');
    expect(backToA.usersSent).toBeGreaterThan(0);
    expect(await differences(prefix, path, a, [`${prefix}-seg-silver`, 'given_name'])).toEqual([]);

    await writeExport(path, exportVersion(prefix, 300, 2));
    await sync(path, a);
    expect(await differences(prefix, path, a, [`${prefix}-seg-silver`, 'given_name'])).toEqual([]);
  });

  it('a dropped segment is held like a mass removal, and a dropped attribute stays in Braze unless asked', async () => {
    const prefix = 'DR';
    const path = 'CustomerInsights_dropped/BrazeFeed';
    const a = configA(prefix);
    const onlyChurn: TestConfig = { ...a, segments: [a.segments[1]], attributes: { LoyaltyPoints: 'ci_points' } };
    await writeExport(path, exportVersion(prefix, 200, 0));
    await sync(path, a);
    const goldMembers = [...(await brazeProfiles(prefix)).values()].filter((p) => p[`${prefix}-seg-gold`] === true);
    expect(goldMembers.length).toBeGreaterThan(50);

    const held = await sync(path, onlyChurn);
    expect(held.status).toBe('held');
    const gold = held.segments.find((s) => s.brazeSegmentApiId === `${prefix}-seg-gold`)!;
    expect(gold).toMatchObject({ removed: 0, removalsHeld: goldMembers.length });
    expect(gold.heldReason).toMatch(/segment Gold is no longer in the export config/);
    expect(held.stateChange).toMatchObject({ attributesDropped: ['first_name'], attributesRemoved: [] });
    const afterHold = [...(await brazeProfiles(prefix)).values()];
    expect(afterHold.filter((p) => p[`${prefix}-seg-gold`] === true)).toHaveLength(goldMembers.length);
    expect(afterHold.filter((p) => typeof p.first_name === 'string').length).toBeGreaterThan(100);

    const removed = await sync(path, onlyChurn, { allowMassRemoval: true });
    expect(removed.status).toBe('succeeded');
    expect(removed.membershipsRemoved).toBe(goldMembers.length);
    expect(await differences(prefix, path, onlyChurn, [`${prefix}-seg-gold`])).toEqual([]);
    // Left in Braze: nobody asked to remove first_name.
    const left = [...(await brazeProfiles(prefix)).values()];
    expect(left.filter((p) => typeof p.first_name === 'string').length).toBeGreaterThan(100);
    // The segment is gone from the state: the next run on the same export has nothing to do.
    expect(await sync(path, onlyChurn)).toMatchObject({ alreadySynced: true });
  });

  it('another CI_EXPORT_PATH starts a fresh state: check and the run say so, and nothing of the old export is removed', async () => {
    const prefix = 'SW';
    const [oldPath, newPath] = ['CustomerInsights_old/BrazeFeed', 'CustomerInsights_new/BrazeFeed'];
    const a = configA(prefix);
    const everyone = exportVersion(prefix, 300, 0);
    const half = (keep: (index: number) => boolean) =>
      new Map([...everyone].filter((_, index) => keep(index)).map(([id, user]) => [id, user]));
    await writeExport(
      oldPath,
      half((i) => i < 200),
    );
    await sync(oldPath, a);
    const oldMembers = [...(await brazeProfiles(prefix)).values()].filter(
      (p) => p[`${prefix}-seg-gold`] === true || p[`${prefix}-seg-churn`] === true,
    ).length;

    await writeExport(
      newPath,
      half((i) => i >= 100),
    );
    const before = await checkConfiguration(environment(newPath, a));
    expect(before.findings.filter((f) => f.area === 'state').map((f) => f.message)).toEqual([
      expect.stringMatching(/^starts fresh: no snapshot for this export, Braze workspace and identity config/),
    ]);
    const fresh = await sync(newPath, a);
    expect(fresh).toMatchObject({ status: 'succeeded', membershipsRemoved: 0, removalObjectsSent: 0 });
    expect(fresh.stateChange?.fresh).toBe(true);
    expect(logger.text()).toContain('starting fresh');
    // Users only in the old export keep their memberships.
    const profiles = await brazeProfiles(prefix);
    const stillMembers = [...profiles.values()].filter(
      (p) => p[`${prefix}-seg-gold`] === true || p[`${prefix}-seg-churn`] === true,
    ).length;
    expect(stillMembers).toBeGreaterThanOrEqual(oldMembers);

    const after = await checkConfiguration(environment(newPath, a));
    expect(after.findings.filter((f) => f.area === 'state').map((f) => f.message)).toEqual([
      expect.stringMatching(new RegExp(`^snapshot [0-9a-f]+ of run ${fresh.runId} \\(\\d+ users`)),
    ]);
  });

  it('a full resync resends every membership and removes every one the export no longer implies', async () => {
    const prefix = 'FR';
    const path = 'CustomerInsights_resync/BrazeFeed';
    const a = configA(prefix);
    const [v0, v1] = [exportVersion(prefix, 200, 0), exportVersion(prefix, 200, 1)];
    await writeExport(path, v0);
    await sync(path, a);
    await writeExport(path, v1);
    const resync = await sync(path, a, { fullResync: true });
    const memberships = [...v1.values()].reduce(
      (count, user) => count + a.segments.filter((segment) => user.tables.has(segment.table)).length,
      0,
    );
    expect(resync).toMatchObject({ membershipsAdded: memberships, membershipsRemoved: leavers(a, v0, v1) });
    expect(await differences(prefix, path, a)).toEqual([]);
  });

  it('a changed onLeave gives every user known before it the new leave value where not a member, and back', async () => {
    const prefix = 'OL';
    const path = 'CustomerInsights_onleave/BrazeFeed';
    const a = configA(prefix);
    const leaveFalse: TestConfig = { ...a, membership: { value: true, onLeave: 'false' } };
    const v0 = exportVersion(prefix, 200, 0);
    // The users the snapshot knows before the change: those in a table of the config.
    const known = new Set(
      [...v0].filter(([, user]) => user.tables.has('Gold') || user.tables.has('Churn')).map(([id]) => id),
    );
    await writeExport(path, v0);
    await sync(path, a);
    await writeExport(path, exportVersion(prefix, 200, 1));
    expect(await sync(path, leaveFalse)).toMatchObject({ status: 'succeeded', stateChange: { onLeaveChanged: true } });
    const exported = await readExportBack(path);
    const profiles = await brazeProfiles(prefix);
    const wrong: string[] = [];
    for (const [id, attributes] of profiles) {
      for (const segment of a.segments) {
        const member = exported.members.get(segment.table)!.has(id);
        // A user new in this run who is in no other segment never was a member: nothing to leave.
        const expected = member ? true : known.has(id) ? false : undefined;
        if (attributes[segment.brazeSegmentApiId] !== expected) wrong.push(`${id} ${segment.table}`);
      }
    }
    expect(profiles.size).toBeGreaterThan(100);
    expect(wrong).toEqual([]);

    expect(await sync(path, a)).toMatchObject({ status: 'succeeded', stateChange: { onLeaveChanged: true } });
    expect(await differences(prefix, path, a)).toEqual([]);
  });

  it('a snapshot saved under the key used before state keys is taken over once, not started afresh', async () => {
    const prefix = 'LG';
    const path = 'CustomerInsights_legacy/BrazeFeed';
    const a = configA(prefix);
    const v0 = exportVersion(prefix, 200, 0);
    await writeExport(path, v0);
    await sync(path, a);
    // As an older version left it: the pointer under the legacy key (its data blobs stay where they are).
    const settings = loadSettings(environment(path, a));
    const config = validateExportConfig(a);
    const own = stack.stateContainer.getBlockBlobClient(
      `snapshots/${stateKey(stateScope(settings, config))}/current.json`,
    );
    const pointer = await own.downloadToBuffer();
    const legacy = `snapshots/${legacyStateKey(config, settings.brazeRestEndpoint)}/current.json`;
    await stack.stateContainer.getBlockBlobClient(legacy).upload(pointer, pointer.length);
    await own.delete();

    await writeExport(path, v0);
    const requests = stack.sandbox.stats().requests;
    const adopted = await sync(path, a);
    expect(adopted).toMatchObject({ alreadySynced: false, objectsSent: 0, stateChange: { fresh: false } });
    expect(stack.sandbox.stats().requests).toBe(requests);
    expect(await own.exists()).toBe(true);
    const v1 = exportVersion(prefix, 200, 1);
    await writeExport(path, v1);
    expect(await sync(path, a)).toMatchObject({ membershipsRemoved: leavers(a, v0, v1) });
    expect(await differences(prefix, path, a)).toEqual([]);
  });

  it('23.2: a --segments run covers only its segments; the full run after it sends the others', async () => {
    const prefix = 'SG';
    const path = 'CustomerInsights_segments/BrazeFeed';
    const a = configA(prefix);
    await writeExport(path, exportVersion(prefix, 300, 0));
    const goldOnly = await sync(path, a, { segments: ['Gold'] });
    expect(goldOnly.alreadySynced).toBe(false);
    expect(await sync(path, a, { segments: ['Gold'] })).toMatchObject({ alreadySynced: true });

    const full = await sync(path, a);
    expect(full.alreadySynced).toBe(false);
    expect(full.segments.find((s) => s.table === 'Churn')!.added).toBeGreaterThan(50);
    expect(await differences(prefix, path, a)).toEqual([]);
    expect(await sync(path, a)).toMatchObject({ alreadySynced: true });
    expect(await sync(path, a, { segments: ['Churn'] })).toMatchObject({ alreadySynced: true });
  });

  describe('23.7: a takeover after the snapshot pointer switch completes the run summary, never replaces it', () => {
    /** The state container as seen by a worker that dies when it touches `blob` once `armed()` says so. */
    function dyingAt(blob: (name: string) => boolean): ContainerClient {
      const container = stack.stateContainer;
      return new Proxy(container, {
        get(target, property) {
          if (property === 'getBlockBlobClient' || property === 'getBlobClient') {
            return (name: string) => {
              if (blob(name)) throw new Error(`simulated crash at ${name}`);
              return target[property](name);
            };
          }
          const value = Reflect.get(target, property, target) as unknown;
          return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
        },
      });
    }

    async function summaryBlob(runId: string): Promise<RunSummary | null> {
      const client = stack.stateContainer.getBlobClient(`runs/${runId}/summary.json`);
      if (!(await client.exists())) return null;
      return JSON.parse((await client.downloadToBuffer()).toString('utf8')) as RunSummary;
    }

    it('dies right after the switch (no summary yet): the takeover writes the run summary as it was', async () => {
      const prefix = 'TK';
      const path = 'CustomerInsights_takeover/BrazeFeed';
      const a = configA(prefix);
      await writeExport(path, exportVersion(prefix, 200, 0));
      const runId = newRunId(Date.now());
      const chargedBefore = stack.sandbox.ledger().total;
      await expect(
        step(path, a, {}, { runId, stateContainer: dyingAt((name) => name === `runs/${runId}/summary.json`) }),
      ).rejects.toThrow('simulated crash');
      expect(await summaryBlob(runId)).toBeNull();
      const sentBeforeCrash = stack.sandbox.ledger().total - chargedBefore;
      expect(sentBeforeCrash).toBeGreaterThan(0);

      const requests = stack.sandbox.stats().requests;
      const takeover = await step(path, a, {}, { runId });
      expect(takeover.kind).toBe('completed');
      const summary = (takeover as { summary: RunSummary }).summary;
      expect(summary).toMatchObject({ runId, status: 'succeeded', alreadySynced: false });
      expect(summary.attributesSent).toBe(sentBeforeCrash);
      expect(await summaryBlob(runId)).toEqual(summary);
      expect(stack.sandbox.stats().requests).toBe(requests);
      expect(await loadCheckpoint(stack.stateContainer, runId)).toBeNull();
      expect(await differences(prefix, path, a)).toEqual([]);
    });

    it('dies after writing the summary, before dropping its checkpoint: the takeover leaves the summary as it is', async () => {
      const prefix = 'TS';
      const path = 'CustomerInsights_takeover2/BrazeFeed';
      const a = configA(prefix);
      await writeExport(path, exportVersion(prefix, 200, 0));
      const runId = newRunId(Date.now());
      let summaryWritten = false;
      const container = dyingAt((name) => {
        if (name === `runs/${runId}/summary.json`) summaryWritten = true;
        return summaryWritten && name === `runs/${runId}/checkpoint.json`;
      });
      await expect(step(path, a, {}, { runId, stateContainer: container })).rejects.toThrow('simulated crash');
      const written = (await summaryBlob(runId))!;
      expect(written).toMatchObject({ runId, status: 'succeeded', alreadySynced: false });
      expect(written.objectsSent).toBeGreaterThan(0);

      const takeover = await step(path, a, {}, { runId });
      expect(takeover).toMatchObject({ kind: 'completed', summary: written });
      expect(await summaryBlob(runId)).toEqual(written);
      expect(await loadCheckpoint(stack.stateContainer, runId)).toBeNull();
    });
  });
});
