import type { ContainerClient } from '@azure/storage-blob';
import { loadCheckpoint, saveCheckpoint } from '../../shared/run/artifacts';
import { newRunId } from '../../shared/run/records';
import type { RunRequest, RunStepOutcome, RunSummary } from '../../shared/run/types';
import { MemoryLogger } from '../../shared/telemetry/logger';
import type { BrazeSandbox } from '../../tools/braze-sandbox/server';
import { startLocalStack, type LocalStack } from '../helpers/localStack';
import { EXPORT_PATH, rawConfig, writeExport, type Row } from './exportFixture';

describe('run pipeline against Azurite and the Braze sandbox', () => {
  let stack: LocalStack;
  let sandbox: BrazeSandbox;
  let exportContainer: ContainerClient;
  let stateContainer: ContainerClient;
  let logger: MemoryLogger;

  beforeAll(async () => {
    // A key per workspace: a Braze workspace has a state of its own (see ownSnapshot).
    const workspaces = ['slow', 'resume', 'rejected-removal'].map((name) => ({ key: workspaceKey(name) }));
    stack = await startLocalStack({ rateLimit: null, apiKeys: [{ key: 'pipeline-test-key' }, ...workspaces] });
    ({ sandbox, exportContainer, stateContainer } = stack);
  });
  afterAll(async () => stack?.stop());

  async function run(
    request: Partial<RunRequest> = {},
    env: Record<string, string> = {},
    step?: { runId: string; deadline: number },
    exportConfig: typeof rawConfig = rawConfig,
  ): Promise<RunStepOutcome> {
    const executor = stack.executor({
      exportPath: EXPORT_PATH,
      exportConfig,
      settings: { BRAZE_BATCH_SIZE: '2', ...env },
    });
    logger = new MemoryLogger();
    return executor({
      runId: step?.runId ?? newRunId(Date.now()),
      request: { dryRun: false, fullResync: false, allowMassRemoval: false, trigger: 'cli', ...request },
      deadline: step?.deadline ?? Date.now() + 60_000,
      logger,
    });
  }

  async function runToEnd(request: Partial<RunRequest> = {}, env: Record<string, string> = {}): Promise<RunSummary> {
    const outcome = await run(request, env);
    if (outcome.kind !== 'completed') throw new Error('expected the run to complete');
    return outcome.summary;
  }

  /**
   * The fixture's config with its own segment ids, for a run in a Braze workspace of its own (`workspaceKey`): a
   * snapshot of its own, untouched by the other tests' runs.
   */
  const ownSnapshot = (name: string): typeof rawConfig => ({
    ...rawConfig,
    segments: rawConfig.segments.map((segment) => ({
      ...segment,
      brazeSegmentApiId: `${segment.brazeSegmentApiId}-${name}`,
    })),
  });
  const profile = (externalId: string) => sandbox.findProfile({ external_id: externalId });
  const alias = (name: string) => sandbox.findProfile({ alias: { alias_name: name, alias_label: 'ci_customer_id' } });

  it('first run delivers every profile with email, fields and one membership attribute per segment', async () => {
    await writeExport(exportContainer, '10/0200', {
      Gold: [
        ['c1', 'BZ-1', 'ann@example.com', 'Ann', '10', ''],
        ['c2', 'BZ-2', 'bob@example.com', 'Bob', '20', ''],
        ['c3', '', 'liam@example.com', 'Liam "Red"', '', ''],
      ],
      Churn: [
        ['c2', 'BZ-2', 'bob@example.com', 'Bob', '20', ''],
        ['c2', 'BZ-2', 'bob@example.com', 'Bob', '20', ''],
      ],
    });
    const summary = await runToEnd();
    expect(profile('BZ-1')).toMatchObject({ email: 'ann@example.com' });
    expect(profile('BZ-1')?.attributes).toMatchObject({ first_name: 'Ann', ci_points: 10, 'seg-gold': true });
    expect(profile('BZ-2')?.attributes).toMatchObject({ 'seg-gold': true, 'seg-churn': true });
    expect(alias('c3')?.attributes).toMatchObject({ first_name: 'Liam "Red"', 'seg-gold': true });
    expect(alias('c3')?.attributes).not.toHaveProperty('ci_points');
    expect(summary).toMatchObject({
      status: 'succeeded',
      profilesRead: 5,
      duplicateRows: 1,
      usersSent: 3,
      // One object per user: Bob's Gold row goes within his Churn row's object (issue 19).
      objectsSent: 3,
      rowsMerged: 1,
      membershipsAdded: 4,
      rejected: 0,
    });
    // rows add up: every row is sent (alone or merged), unchanged, skipped, rejected or a duplicate
    const { objectsSent, rowsMerged, unchanged, skipped, rejected, duplicateRows } = summary;
    expect(objectsSent + rowsMerged! + unchanged + skipped + rejected + duplicateRows).toBe(5);
    expect(sandbox.requests().every((r) => r.objectCount <= 2)).toBe(true);
    expect(summary.attributesSent).toBe(sandbox.ledger().total);
    // The phases account for the whole step (a single step: its duration is the run's).
    const phases = Object.values(summary.phaseMs);
    expect(phases.every((ms) => ms >= 0)).toBe(true);
    expect(Math.abs(phases.reduce((sum, ms) => sum + ms, 0) - summary.durationMs)).toBeLessThanOrEqual(5);
  });

  it('an unchanged export sends nothing and ends at once', async () => {
    const before = sandbox.requests().length;
    const summary = await runToEnd();
    expect(summary.alreadySynced).toBe(true);
    expect(summary.phaseMs).toMatchObject({ reading: 0, removals: 0, committing: 0 });
    expect(sandbox.requests().length).toBe(before);
  });

  it('a new CI run sends only what changed, removes leavers, and keeps merged aliases', async () => {
    const ledgerBefore = sandbox.ledger().total;
    const requestsBefore = sandbox.requests().length;
    await writeExport(exportContainer, '11/0200', {
      Gold: [
        ['c1', 'BZ-1', 'ann@example.com', 'Ann', '11', ''],
        ['c9', '', 'liam@example.com', 'Liam "Red"', '', 'c3'],
      ],
      Churn: [
        ['c2', 'BZ-2', 'bob@example.com', 'Bob', '20', ''],
        ['c1', 'BZ-1', 'ann@example.com', 'Ann', '11', ''],
      ],
    });
    const summary = await runToEnd();
    expect(profile('BZ-1')?.attributes).toMatchObject({ ci_points: 11, 'seg-gold': true, 'seg-churn': true });
    expect(profile('BZ-2')?.attributes).not.toHaveProperty('seg-gold');
    expect(profile('BZ-2')?.attributes).toMatchObject({ 'seg-churn': true, first_name: 'Bob' });
    expect(alias('c9')).toBeUndefined();
    expect(alias('c3')?.attributes).toMatchObject({ 'seg-gold': true });
    // changed: BZ-1 ci_points + seg-churn, BZ-2 seg-gold removed
    expect(summary).toMatchObject({ attributesSent: 3, membershipsAdded: 1, membershipsRemoved: 1, unchanged: 2 });
    expect(sandbox.ledger().total - ledgerBefore).toBe(3);
    const requests = sandbox.requests().slice(requestsBefore);
    expect(requests.reduce((n, r) => n + r.objectCount, 0)).toBe(3);
  });

  it('holds back removals of a segment that shrank more than the guard allows, unless overridden', async () => {
    await writeExport(exportContainer, '12/0200', {
      Gold: [['c1', 'BZ-1', 'ann@example.com', 'Ann', '11', '']],
      Churn: [],
    });
    const held = await runToEnd();
    expect(held.status).toBe('held');
    expect(held.segments.find((s) => s.table === 'Churn')).toMatchObject({
      removalsHeld: 2,
      heldReason: expect.stringContaining('segment Churn shrank by 100.0 %'),
    });
    expect(profile('BZ-2')?.attributes).toMatchObject({ 'seg-churn': true });
    expect(logger.text()).toContain('removals held back');

    const forced = await runToEnd({ allowMassRemoval: true });
    expect(forced.status).toBe('succeeded');
    expect(profile('BZ-2')?.attributes).not.toHaveProperty('seg-churn');
    expect(profile('BZ-1')?.attributes).not.toHaveProperty('seg-churn');
  });

  it('a dry run computes the plan and sends nothing', async () => {
    await writeExport(exportContainer, '13/0200', {
      Gold: [['c1', 'BZ-1', 'ann@example.com', 'Annie', '11', '']],
      Churn: [],
    });
    const before = sandbox.requests().length;
    const summary = await runToEnd({ dryRun: true });
    expect(sandbox.requests().length).toBe(before);
    expect(summary).toMatchObject({ dryRun: true, attributesSent: 1 });
    const plan = JSON.parse(
      (await stateContainer.getBlobClient(`runs/${summary.runId}/plan.json`).downloadToBuffer()).toString(),
    );
    expect(plan.attributes.first_name).toEqual({ set: 1, cleared: 0 });
    expect(JSON.stringify(plan)).not.toContain('BZ-1');
  });

  it('completes across several continuations under a tiny time budget, sending each object once', async () => {
    const rows: Row[] = Array.from({ length: 7 }, (_, i) => [
      `k${i}`,
      `BZ-K${i}`,
      `k${i}@example.com`,
      `K${i}`,
      `${i}`,
      '',
    ]);
    await writeExport(exportContainer, '14/0200', { Gold: rows, Churn: rows.slice(0, 3) });
    const requestsBefore = sandbox.requests().length;
    const runId = newRunId(Date.now());
    let steps = 0;
    let summary: RunSummary | null = null;
    const dataBlobs = async () => {
      const names: string[] = [];
      for await (const blob of stateContainer.listBlobsFlat({ prefix: 'snapshots/' })) {
        if (blob.name.includes('/data-')) names.push(blob.name);
      }
      return names.sort();
    };
    const committed = await dataBlobs();
    let pausedAmongRemovals = 0;
    while (!summary) {
      steps++;
      // A deadline in the past: every step sends one row, checkpoints, and pauses.
      const outcome = await run({}, {}, { runId, deadline: 0 });
      if (outcome.kind === 'completed') summary = outcome.summary;
      else if (outcome.progress.phase === 'removals') {
        // The step had begun writing the next snapshot: it leaves none of it behind, also once an upload it left
        // running would have landed.
        pausedAmongRemovals++;
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect(await dataBlobs()).toEqual(committed);
      }
    }
    expect(pausedAmongRemovals).toBeGreaterThan(0);
    expect(steps).toBeGreaterThan(5);
    expect(summary).toMatchObject({ status: 'succeeded', profilesRead: 10, rejected: 0 });
    for (let i = 0; i < 7; i++) {
      expect(profile(`BZ-K${i}`)?.attributes).toMatchObject({ first_name: `K${i}`, 'seg-gold': true });
      expect(profile(`BZ-K${i}`)?.attributes['seg-churn']).toBe(i < 3 ? true : undefined);
    }
    const objects = sandbox
      .requests()
      .slice(requestsBefore)
      .reduce((n, r) => n + r.objectCount, 0);
    expect(objects).toBe(summary.objectsSent);
  });

  it('keeps sending while one answer is slow: only the slow batch waits, not the checkpoint window', async () => {
    const rows: Row[] = Array.from({ length: 200 }, (_, i) => [`s${i}`, `BZ-S${i}`, '', `S${i}`, `${i}`, '']);
    await writeExport(exportContainer, '16/0200', { Gold: rows, Churn: [] });
    const requestsBefore = sandbox.requests().length;
    // The second request is answered 2 s late; a fixed concurrency of 2 lets (2 + 1) x 2 objects go unrecorded at once.
    sandbox.setFaults([{ match: { nth: 2 }, action: { latencyMs: 2_000 } }]);
    try {
      const outcome = await run(
        {},
        { BRAZE_CONCURRENCY: 'fixed:2', BRAZE_API_KEY: workspaceKey('slow') },
        undefined,
        ownSnapshot('slow'),
      );
      expect(outcome).toMatchObject({
        kind: 'completed',
        summary: { status: 'succeeded', objectsSent: 200, rejected: 0 },
      });
    } finally {
      sandbox.setFaults([]);
    }
    const requests = sandbox.requests().slice(requestsBefore);
    const slow = requests.find((r) => r.fault !== undefined)!;
    const startedWhileSlow = requests.filter(
      (r) => r !== slow && r.startedAt > slow.startedAt && r.startedAt < slow.finishedAt,
    );
    // Waiting for the slow answer before recording later ones would allow about 2 more requests in that time.
    expect(startedWhileSlow.length).toBeGreaterThan(20);
    expect(requests.reduce((n, r) => n + r.objectCount, 0)).toBe(200);
  });

  it('a resumed step sends again only what its checkpoint left unanswered, and what comes after', async () => {
    const rows: Row[] = Array.from({ length: 10 }, (_, i) => [`r${i}`, `BZ-R${i}`, '', `R${i}`, `${i}`, '']);
    await writeExport(exportContainer, '17/0200', { Gold: rows, Churn: [] });
    const runId = newRunId(Date.now());
    // A first step that pauses at once leaves a checkpoint with this export's fingerprint and config.
    const config = ownSnapshot('resume');
    const workspace = { BRAZE_API_KEY: workspaceKey('resume') };
    expect((await run({}, workspace, { runId, deadline: 0 }, config)).kind).toBe('paused');
    const checkpoint = (await loadCheckpoint(stateContainer, runId))!;
    // As if rows 0-7 had been sent and rows 3 and 5 were still waiting for Braze when the worker died.
    await saveCheckpoint(stateContainer, { ...checkpoint, settledBelow: 8, unsettled: [3, 5] });
    const requestsBefore = sandbox.requests().length;
    const outcome = await run({}, workspace, { runId, deadline: Date.now() + 60_000 }, config);
    expect(outcome).toMatchObject({ kind: 'completed', summary: { status: 'succeeded', objectsSent: 10 } });
    const sent = sandbox
      .requests()
      .slice(requestsBefore)
      .reduce((n, r) => n + r.objectCount, 0);
    expect(sent).toBe(4);
    for (const i of [3, 5, 8, 9]) expect(profile(`BZ-R${i}`)?.attributes).toMatchObject({ first_name: `R${i}` });
    for (const i of [2, 4, 6, 7]) expect(profile(`BZ-R${i}`)).toBeUndefined();
  });

  it('commits the membership of a removal Braze rejected, although the snapshot was being written meanwhile', async () => {
    const config = ownSnapshot('rejected-removal');
    const workspace = { BRAZE_API_KEY: workspaceKey('rejected-removal') };
    const members: Row[] = [1, 2, 3].map((i) => [`v${i}`, `BZ-V${i}`, '', `V${i}`, `${i}`, '']);
    await writeExport(exportContainer, '18/0200', { Gold: members, Churn: [] });
    expect((await run({}, workspace, undefined, config)).kind).toBe('completed');

    // V2 leaves Gold: the run's one object is that removal, and Braze rejects it.
    await writeExport(exportContainer, '19/0200', { Gold: [members[0], members[2]], Churn: [] });
    sandbox.setFaults([{ match: { nth: 1 }, action: { rejectIndexes: [0] } }]);
    try {
      const rejected = await run({}, workspace, undefined, config);
      expect(rejected).toMatchObject({ kind: 'completed', summary: { rejected: 1, membershipsRemoved: 0 } });
    } finally {
      sandbox.setFaults([]);
    }
    expect(profile('BZ-V2')?.attributes).toMatchObject({ 'seg-gold-rejected-removal': true });

    // The committed snapshot still holds V2 in Gold, so the next run sends the removal again.
    const retried = await run({}, workspace, undefined, config);
    expect(retried).toMatchObject({ kind: 'completed', summary: { rejected: 0, membershipsRemoved: 1 } });
    expect(profile('BZ-V2')?.attributes).not.toHaveProperty('seg-gold-rejected-removal');
  });

  it('stops with a clear message, instead of waiting forever, when Braze refuses the key mid-run', async () => {
    const rows: Row[] = Array.from({ length: 60 }, (_, i) => [`w${i}`, `BZ-W${i}`, '', `W${i}`, `${i}`, '']);
    await writeExport(exportContainer, '15/0200', { Gold: rows, Churn: rows });
    // More objects than may be in flight unacknowledged, so the sender is waiting when delivery stops.
    await expect(runToEnd({}, { BRAZE_API_KEY: 'not-the-key' })).rejects.toThrow(/401/);
  });

  it('logs of all runs contain neither the API key nor any email', () => {
    const text = logger.text();
    expect(text).not.toContain(sandbox.apiKey);
    expect(text).not.toMatch(/@example\.com/);
  });
});

function workspaceKey(name: string): string {
  return `workspace-key-${name}`;
}
