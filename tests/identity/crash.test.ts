import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { createApp } from '../../shared/run/app';
import { getRun } from '../../shared/run/records';
import { startRun } from '../../shared/run/service';
import { MemoryLogger } from '../../shared/telemetry/logger';
import { BrazeSandbox, startBrazeSandbox } from '../../tools/braze-sandbox/server';
import { Azurite, startAzurite } from '../../tools/local/azurite';
import { EXPORT_PATH, rawConfig, writeExport, type Row } from '../run/exportFixture';

const ROOT = path.join(__dirname, '..', '..');
const WORKER = path.join(ROOT, 'dist', 'tools', 'worker', 'main.js');
const PEOPLE = 6_000;
const EXPORT_CONTAINER = 'ci-exports';
const WORKER_ARGS = ['--visibility-timeout-seconds', '2', '--lease-duration-seconds', '15'];
const IDENTITY_PATHS = new Set(['/users/identify', '/users/external_ids/rename', '/users/merge']);

/** Person i in run 1 and run 2: a third identified, some renamed, some losing their id; Churn changes for a fifth. */
function person(i: number, run: 1 | 2): { row: Row; churn: boolean; externalId: string } {
  let externalId = i % 3 === 0 ? '' : `E${i}`;
  if (run === 2) {
    if (i % 3 === 0) externalId = `E${i}`;
    else if (i % 10 === 1) externalId = `E${i}b`;
    else if (i % 7 === 0) externalId = '';
  }
  const churn = (i % 2 === 0) !== (run === 2 && i % 5 === 0);
  return { row: [`c${i}`, externalId, `p${i}@example.com`, `P${i}`, String(i), ''], churn, externalId };
}

function exportOf(run: 1 | 2): Record<string, Row[]> {
  const people = Array.from({ length: PEOPLE }, (_, i) => person(i, run));
  return { Gold: people.map((p) => p.row), Churn: people.filter((p) => p.churn).map((p) => p.row) };
}

/**
 * The kill -9 test of issue 17: a worker killed in the middle of a run that identifies and renames thousands of
 * people; the restarted worker resumes, and Braze ends with one profile per person, exactly as the export implies.
 */
describe('identity changes survive a worker killed with SIGKILL', () => {
  let azurite: Azurite;
  let sandbox: BrazeSandbox;
  let exportContainer: ContainerClient;
  let env: Record<string, string>;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    // The worker runs the built code: build it from this checkout.
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
    azurite = await startAzurite({ queue: true });
    sandbox = await startBrazeSandbox({ rateLimit: null, ledgerPerUser: false });
    exportContainer = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(
      EXPORT_CONTAINER,
    );
    await exportContainer.create();
    env = {
      CI_EXPORT_STORAGE: azurite.connectionString,
      CI_EXPORT_CONTAINER: EXPORT_CONTAINER,
      CI_EXPORT_PATH: EXPORT_PATH,
      STATE_STORAGE: azurite.connectionString,
      STATE_CONTAINER: 'identity-crash-state',
      BRAZE_REST_ENDPOINT: sandbox.url,
      BRAZE_API_KEY: sandbox.apiKey,
      BRAZE_ALLOW_INSECURE_LOOPBACK: 'true',
      EXPORT_CONFIG: JSON.stringify({
        ...rawConfig,
        identity: { ...rawConfig.identity, whenExternalIdMissing: 'email' },
      }),
      BRAZE_CONCURRENCY: '4',
      RUN_TIME_BUDGET_SECONDS: '600',
    };
  }, 300_000);
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await sandbox?.close();
    await azurite?.stop();
  });

  function startWorker(args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
    const child = spawn(process.execPath, [WORKER, ...args, ...WORKER_ARGS], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    return { child, output: () => output, exited };
  }

  async function startRunNow(): Promise<{ runId: string; stateContainer: ContainerClient }> {
    const app = await createApp(env);
    const started = await startRun(app.serviceDeps(new MemoryLogger()), {
      dryRun: false,
      fullResync: false,
      allowMassRemoval: false,
      trigger: 'cli',
    });
    if (started.kind !== 'started') throw new Error('run not started');
    return { runId: started.record.runId, stateContainer: app.stateContainer };
  }

  async function finished(worker: ReturnType<typeof startWorker>): Promise<void> {
    const guard = setTimeout(() => worker.child.kill('SIGKILL'), 150_000);
    const code = await worker.exited;
    clearTimeout(guard);
    if (code !== 0) throw new Error(`worker exited with ${code ?? 'a signal'}:\n${worker.output()}`);
  }

  const identityRequests = () => sandbox.requests().filter((r) => IDENTITY_PATHS.has(r.path)).length;

  it('resumes the identity changes after the kill: one profile per person, with exactly their memberships', async () => {
    await writeExport(exportContainer, '01/0000', exportOf(1));
    const first = await startRunNow();
    await finished(startWorker(['--once']));
    expect(await getRun(first.stateContainer, first.runId)).toMatchObject({ status: 'succeeded' });
    expect(sandbox.profiles()).toHaveLength(PEOPLE);

    await writeExport(exportContainer, '02/0000', exportOf(2));
    const crashed = await startRunNow();
    const worker = startWorker([]);
    let exit: number | null | undefined;
    void worker.exited.then((code) => (exit = code));
    const killAfter = identityRequests() + 10 + Math.floor(Math.random() * 20);
    for (let polls = 0; identityRequests() < killAfter && exit === undefined; polls++) {
      if (polls > 30_000) throw new Error(`the worker stopped before the kill:\n${worker.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    if (exit !== undefined) throw new Error(`worker exited before the kill (${exit}):\n${worker.output()}`);
    worker.child.kill('SIGKILL');
    await worker.exited;
    console.log(`identity crash test: killed after ${identityRequests()} identity requests`);
    expect((await getRun(crashed.stateContainer, crashed.runId))?.status).toBe('running');

    await finished(startWorker(['--once']));
    const record = await getRun(crashed.stateContainer, crashed.runId);
    expect(record).toMatchObject({ status: 'succeeded' });
    expect(record!.invocations).toBeGreaterThanOrEqual(2);

    // Every person: one profile, found by the identity the export gives (or kept), with exactly their memberships.
    const wrong: string[] = [];
    for (let i = 0; i < PEOPLE; i++) {
      const { churn, externalId } = person(i, 2);
      const kept = externalId || person(i, 1).externalId;
      const profile = kept
        ? sandbox.findProfile({ external_id: kept })
        : sandbox.findProfile({ email: `p${i}@example.com` });
      const want = { email: `p${i}@example.com`, gold: true, churn };
      const got = {
        email: profile?.email,
        gold: profile?.attributes['seg-gold'] === true,
        churn: profile?.attributes['seg-churn'] === true,
      };
      if (JSON.stringify(want) !== JSON.stringify(got)) wrong.push(`person ${i}: ${JSON.stringify(got)}`);
      if (kept && profile?.external_id !== kept) wrong.push(`person ${i}: external id ${profile?.external_id}`);
    }
    expect(wrong.slice(0, 10)).toEqual([]);
    expect(sandbox.profiles()).toHaveLength(PEOPLE);
    expect(sandbox.sharedEmails()).toEqual([]);
  }, 600_000);
});
