import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { loadCheckpoint } from '../../shared/run/artifacts';
import { checkpointPacing } from '../../shared/run/durableProgress';
import { getActiveRunId } from '../../shared/run/lock';
import { App, createApp } from '../../shared/run/app';
import { getRun } from '../../shared/run/records';
import { startRun } from '../../shared/run/service';
import { MemoryLogger } from '../../shared/telemetry/logger';
import type { BrazeSandbox } from '../../tools/braze-sandbox/server';
import { compareWithSandbox, expectedState } from '../../tools/demo/expected';
import { GeneratorOptions, sampleExportConfig } from '../../tools/generate-export/generator';
import { buildIfMissing } from '../helpers/cli';
import { startExportStack, type ExportStack } from '../helpers/localStack';

const WORKER = path.join(__dirname, '..', '..', 'dist', 'tools', 'worker', 'main.js');
const PROFILES = 200_000;
const EXPORT_CONTAINER = 'ci-exports';
const EXPORT_PATH = 'CustomerInsights_0c1d2e3f/BrazeFeed';
const BATCH_SIZE = 75;
const CONCURRENCY = 8;
const LEASE_SECONDS = 15;

/**
 * A worker process killed with SIGKILL mid-run (no cleanup, lease still held, message still on the queue) and a
 * new worker started: the run resumes from its checkpoint, Braze ends exactly as the export implies, and the
 * only data sent twice is what a checkpoint had not recorded yet (at most `checkpointPacing(...).limit`).
 */
describe('run worker crash and restart', () => {
  let stack: ExportStack;
  let sandbox: BrazeSandbox;
  let env: Record<string, string>;
  const children: ChildProcess[] = [];
  const options: GeneratorOptions = { profiles: PROFILES, seed: 424242, churnPercent: 5 };
  const config = sampleExportConfig(options) as { segments: GeneratorOptions['segments'] };
  const withSegments: GeneratorOptions = { ...options, segments: config.segments };

  beforeAll(async () => {
    buildIfMissing(WORKER);
    stack = await startExportStack({
      sandbox: { rateLimit: null, logBodies: false, ledgerPerUser: false },
      exportContainer: EXPORT_CONTAINER,
      exportPath: EXPORT_PATH,
      generator: withSegments,
      exportConfig: config,
      settings: {
        BRAZE_BATCH_SIZE: String(BATCH_SIZE),
        BRAZE_CONCURRENCY: String(CONCURRENCY),
        RUN_TIME_BUDGET_SECONDS: '600',
      },
    });
    ({ sandbox, env } = stack);
    // Writing 200,000 profiles to Azurite takes minutes on a busy machine.
  }, 600_000);
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await stack?.stop();
  });

  function startWorker(
    stateContainer: string,
    args: string[],
  ): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
    const child = spawn(process.execPath, [WORKER, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env, STATE_CONTAINER: stateContainer },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    return { child, output: () => output, exited };
  }

  /** Objects Braze accepted, from the sandbox's request log. */
  const objectsAccepted = () =>
    sandbox
      .requests()
      .filter((r) => r.path === '/users/track' && r.status === 201)
      .reduce((sum, r) => sum + r.objectCount, 0);

  async function startRunIn(stateContainer: string): Promise<{ app: App; runId: string }> {
    const runApp = await createApp({ ...env, STATE_CONTAINER: stateContainer });
    const started = await startRun(runApp.serviceDeps(new MemoryLogger()), {
      dryRun: false,
      fullResync: false,
      allowMassRemoval: false,
      trigger: 'cli',
    });
    if (started.kind !== 'started') throw new Error('run not started');
    return { app: runApp, runId: started.record.runId };
  }

  /** Waits for a worker to exit; a worker still running after `hangGuardInMs` is killed and its output shown. */
  async function finished(worker: ReturnType<typeof startWorker>, hangGuardInMs = 150_000): Promise<void> {
    const guard = setTimeout(() => worker.child.kill('SIGKILL'), hangGuardInMs);
    const code = await worker.exited;
    clearTimeout(guard);
    if (code !== 0) throw new Error(`worker exited with ${code ?? 'a signal'}:\n${worker.output()}`);
  }

  /** What a clean run sends (same sync, no crash, into an empty Braze and empty state), measured once. */
  let clean: { requests: number; objects: number } | undefined;
  async function cleanRun(workerArgs: string[]): Promise<{ requests: number; objects: number }> {
    if (clean) return clean;
    const run = await startRunIn('state-clean');
    await finished(startWorker('state-clean', ['--once', ...workerArgs]));
    expect(await getRun(run.app.stateContainer, run.runId)).toMatchObject({ status: 'succeeded', invocations: 1 });
    clean = { requests: sandbox.stats().requests, objects: objectsAccepted() };
    sandbox.reset('all');
    return clean;
  }

  it.each([
    ['answers come at once', []],
    // Late answers leave unanswered objects far below the newest ones: the checkpoint must list them for the resume.
    ['3 % of answers are 0.5 s late', [{ match: { probability: 0.03 }, action: { latencyMs: 500 } }]],
  ] as const)(
    'resumes after SIGKILL at a random point (%s), leaves Braze exactly as the export implies, resends only what no checkpoint recorded',
    async (_case, faults) => {
      const expected = expectedState(withSegments, 0);
      const workerArgs = ['--visibility-timeout-seconds', '2', '--lease-duration-seconds', String(LEASE_SECONDS)];
      const reference = await cleanRun(workerArgs);
      sandbox.reset('all');
      sandbox.setFaults([...faults]);

      const fraction = Number(process.env.CRASH_AT_FRACTION ?? 0.1 + Math.random() * 0.8);
      const killAfterRequests = Math.max(1, Math.floor(reference.requests * fraction));
      console.log(
        `crash test (${_case}): killing the worker after ${killAfterRequests} of ${reference.requests} requests`,
      );
      const stateContainer = `state-crashed-${faults.length}`;
      const crashed = await startRunIn(stateContainer);
      const first = startWorker(stateContainer, workerArgs);
      let firstExit: number | null | undefined;
      void first.exited.then((code) => (firstExit = code));
      // Hang guard only: a worker that stops sending is reported with its output instead of blocking the suite.
      for (let polls = 0; sandbox.stats().requests < killAfterRequests && firstExit === undefined; polls++) {
        if (polls > 30_000) throw new Error(`the worker stopped sending before the kill:\n${first.output()}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      if (firstExit !== undefined) throw new Error(`worker exited before the kill (${firstExit}):\n${first.output()}`);
      first.child.kill('SIGKILL');
      await first.exited;
      expect((await getRun(crashed.app.stateContainer, crashed.runId))?.status).toBe('running');
      // What the dead worker left: rows settled up to a point, but for the objects still waiting for an answer.
      const checkpoint = (await loadCheckpoint(crashed.app.stateContainer, crashed.runId))!;
      expect(checkpoint.settledBelow).toBeGreaterThan(0);
      expect(
        checkpoint.unsettled.every((seq, i, all) => seq < checkpoint.settledBelow && (i === 0 || all[i - 1] < seq)),
      ).toBe(true);

      // The restarted worker finds the dead worker's lease, waits it out, and resumes from the checkpoint.
      await finished(startWorker(stateContainer, ['--once', ...workerArgs]));
      sandbox.setFaults([]);
      const record = await getRun(crashed.app.stateContainer, crashed.runId);
      expect(record).toMatchObject({ status: 'succeeded' });
      expect(record!.invocations).toBeGreaterThanOrEqual(2);
      expect(await getActiveRunId(crashed.app.stateContainer)).toBeNull();

      const comparison = compareWithSandbox(sandbox, expected);
      expect(comparison.differences).toEqual([]);
      expect(comparison.matchingUsers).toBe(expected.users.length);

      const resentObjects = objectsAccepted() - reference.objects;
      console.log(`crash test (${_case}): ${resentObjects} objects sent again after the restart`);
      expect(resentObjects).toBeGreaterThanOrEqual(0);
      expect(resentObjects).toBeLessThanOrEqual(checkpointPacing(CONCURRENCY, BATCH_SIZE).limit);
    },
    300_000,
  );
});
