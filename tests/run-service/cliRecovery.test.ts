import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BlobServiceClient, ContainerClient } from '@azure/storage-blob';
import { runBlobName } from '../../shared/run/artifacts';
import { checkpointPacing } from '../../shared/run/durableProgress';
import { inspectRunLease } from '../../shared/run/lock';
import { EXIT_CODES } from '../../shared/run/outcome';
import { getRun, listRuns } from '../../shared/run/records';
import type { RunSummary } from '../../shared/run/types';
import type { BrazeSandbox } from '../../tools/braze-sandbox/server';
import { compareWithSandbox, expectedState, type ExpectedState } from '../../tools/demo/expected';
import { ALIAS_LABEL } from '../../shared/mapping/profileMapper';
import {
  containerSink,
  GeneratorOptions,
  profilesAtRun,
  sampleExportConfig,
  writeExport,
} from '../../tools/generate-export/generator';
import { discoverExport } from '../../shared/source';
import type { Azurite } from '../../tools/local/azurite';
import { buildIfMissing, startCli as startCliProcess } from '../helpers/cli';
import { startExportStack, type ExportStack } from '../helpers/localStack';

const EXPORT_CONTAINER = 'ci-exports';
const EXPORT_PATH = 'CustomerInsights_recovery/BrazeFeed';
const BATCH_SIZE = 75;
const CONCURRENCY = 4;
/** Requests Braze has answered when the test stops the CLI: well inside a run of about 800 requests. */
const STOP_AFTER_REQUESTS = 120;

/**
 * `ci-braze-export run` as a child process, interrupted (SIGINT), killed (SIGKILL), cut off from Braze and from state
 * storage: the next `run` always finishes the same run without anyone's help, Braze ends exactly as the export
 * implies (checked per user in the sandbox), and objects sent twice stay within the checkpoint bound.
 */
describe('CLI runs cannot wedge: interrupt, kill, outages, exit codes', () => {
  let stack: ExportStack;
  let azurite: Azurite;
  let sandbox: BrazeSandbox;
  let env: Record<string, string>;
  const children: ChildProcess[] = [];
  const options: GeneratorOptions = { profiles: 60_000, seed: 1818, churnPercent: 5 };
  const config = sampleExportConfig(options) as { segments: GeneratorOptions['segments'] };
  const withSegments: GeneratorOptions = { ...options, segments: config.segments };
  let scenario = 0;

  beforeAll(async () => {
    buildIfMissing();
    stack = await startExportStack({
      // Answers take a little while, so that a run lasts long enough to be stopped in the middle.
      sandbox: { rateLimit: null, logBodies: false, ledgerPerUser: false, latencyMs: 10 },
      exportContainer: EXPORT_CONTAINER,
      exportPath: EXPORT_PATH,
      generator: withSegments,
      exportConfig: config,
      settings: { BRAZE_BATCH_SIZE: String(BATCH_SIZE), BRAZE_CONCURRENCY: String(CONCURRENCY) },
    });
    ({ azurite, sandbox, env } = stack);
  }, 120_000);
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await stack?.stop();
  });

  /** A fresh state container and run queue (and an empty Braze): each scenario starts from nothing. */
  function freshScenario(extra: Record<string, string> = {}): Record<string, string> {
    scenario++;
    sandbox.reset('all');
    return {
      ...env,
      STATE_CONTAINER: `state-recovery-${scenario}`,
      RUN_QUEUE_NAME: `runs-recovery-${scenario}`,
      ...extra,
    };
  }

  // Only PATH from the test's environment: the CLI sees the settings the test gives it and nothing else.
  function startCli(args: string[], cliEnv: Record<string, string>) {
    const run = startCliProcess(args, { PATH: process.env.PATH ?? '', ...cliEnv });
    children.push(run.child);
    return run;
  }

  async function cli(args: string[], cliEnv: Record<string, string>) {
    const run = startCli(args, cliEnv);
    const code = await run.exited;
    return { code, stdout: run.stdout(), stderr: run.stderr() };
  }

  const lastJson = (stdout: string) => JSON.parse(stdout.trim().split('\n').at(-1)!) as RunSummary;

  /** Objects Braze accepted, from the sandbox's request log. */
  const objectsAccepted = () =>
    sandbox
      .requests()
      .filter((r) => r.path === '/users/track' && r.status === 201)
      .reduce((sum, r) => sum + r.objectCount, 0);

  async function waitForRequests(run: ReturnType<typeof startCli>, count: number): Promise<void> {
    let exited = false;
    void run.exited.then(() => (exited = true));
    for (let polls = 0; sandbox.stats().requests < count; polls++) {
      if (exited) throw new Error(`the CLI ended before it was stopped:\n${run.stderr()}`);
      if (polls > 60_000) throw new Error(`the CLI stopped sending:\n${run.stderr()}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  function stateOf(cliEnv: Record<string, string>): ContainerClient {
    return BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(cliEnv.STATE_CONTAINER);
  }

  /** Braze holds exactly what the export implies, for every user. */
  function expectBrazeExact(): void {
    const expected = expectedState(withSegments, 0);
    const comparison = compareWithSandbox(sandbox, expected);
    expect(comparison.differences).toEqual([]);
    expect(comparison.matchingUsers).toBe(expected.users.length);
  }

  /** Objects Braze got more than once: bounded by what no checkpoint had recorded when the run stopped. */
  function expectResendsBounded(summary: RunSummary, label: string): void {
    const resent = objectsAccepted() - summary.objectsSent;
    console.log(`${label}: ${resent} objects sent twice (bound ${checkpointPacing(CONCURRENCY, BATCH_SIZE).limit})`);
    expect(resent).toBeGreaterThanOrEqual(0);
    expect(resent).toBeLessThanOrEqual(checkpointPacing(CONCURRENCY, BATCH_SIZE).limit);
  }

  it('Ctrl-C (SIGINT) interrupts the run (exit 5, lease released); the next run resumes it, Braze exact, working time only', async () => {
    const cliEnv = freshScenario();
    const first = startCli(['run', '--json'], cliEnv);
    await waitForRequests(first, STOP_AFTER_REQUESTS);
    first.child.kill('SIGINT');
    expect(await first.exited).toBe(EXIT_CODES.interrupted);
    expect(first.stderr()).toContain('stopping: waiting for the answers in flight');
    const [interrupted] = await listRuns(stateOf(cliEnv), 1);
    expect(interrupted).toMatchObject({ status: 'interrupted', outcome: 'interrupted' });
    expect(interrupted.progress!.objectsSent).toBeGreaterThan(0);
    expect(await inspectRunLease(stateOf(cliEnv))).toEqual({ held: false });
    const partial = JSON.parse(
      (
        await stateOf(cliEnv).getBlobClient(runBlobName(interrupted.runId, 'summary.json')).downloadToBuffer()
      ).toString(),
    ) as RunSummary;
    expect(partial).toMatchObject({ status: 'interrupted', error: 'interrupted by the operator' });

    // Time between the two invocations is not working time.
    const gapInMs = 2000;
    await new Promise((resolve) => setTimeout(resolve, gapInMs));
    const second = await cli(['run', '--json'], cliEnv);
    expect(second.code).toBe(EXIT_CODES.succeeded);
    expect(second.stderr).toContain(`resuming interrupted run ${interrupted.runId}`);
    const summary = lastJson(second.stdout);
    expect(summary).toMatchObject({ runId: interrupted.runId, status: 'succeeded', outcome: 'succeeded' });
    expect(Date.parse(summary.finishedAt) - Date.parse(summary.startedAt) - summary.durationMs).toBeGreaterThanOrEqual(
      gapInMs,
    );
    expect(await getRun(stateOf(cliEnv), interrupted.runId)).toMatchObject({
      invocations: 2,
      progress: { phase: 'finished', rowsRead: summary.profilesRead, objectsSent: summary.objectsSent },
    });
    expectBrazeExact();
    expectResendsBounded(summary, 'SIGINT');
  }, 300_000);

  it('kill -9 mid-run: the next run breaks the dead process lease at once, resumes the run, Braze exact', async () => {
    const cliEnv = freshScenario();
    const first = startCli(['run'], cliEnv);
    await waitForRequests(first, STOP_AFTER_REQUESTS);
    first.child.kill('SIGKILL');
    await first.exited;
    const [killed] = await listRuns(stateOf(cliEnv), 1);
    expect(killed.status).toBe('running');
    expect(await inspectRunLease(stateOf(cliEnv))).toMatchObject({ held: true, holder: { pid: first.child.pid } });

    const second = await cli(['run', '--json'], cliEnv);
    expect(second.code).toBe(EXIT_CODES.succeeded);
    expect(second.stderr).toContain(
      `run ${killed.runId}: the process that held its lease (pid ${first.child.pid}) is gone`,
    );
    const summary = lastJson(second.stdout);
    expect(summary).toMatchObject({ runId: killed.runId, status: 'succeeded' });
    expectBrazeExact();
    expectResendsBounded(summary, 'SIGKILL');
  }, 300_000);

  it('--max-retry-time fails fast while Braze is down (exit 5, resumable); the next run finishes once Braze is back', async () => {
    const cliEnv = freshScenario();
    sandbox.setFaults([{ match: { probability: 1 }, action: { status: 503 } }]);
    const down = await cli(['run', '--json', '--max-retry-time', '2'], cliEnv);
    expect(down.code).toBe(EXIT_CODES.interrupted);
    const record = lastJson(down.stdout) as unknown as { runId: string; status: string; error: string };
    expect(record.status).toBe('interrupted');
    expect(record.error).toContain('max retry time 2 s spent');

    sandbox.setFaults([]);
    const back = await cli(['run', '--json'], cliEnv);
    expect(back.code).toBe(EXIT_CODES.succeeded);
    expect(lastJson(back.stdout)).toMatchObject({ runId: record.runId, status: 'succeeded' });
    expectBrazeExact();
  }, 300_000);

  describe('state storage failing on checkpoint and snapshot writes (a proxy in front of Azurite)', () => {
    let proxy: http.Server;
    let proxyEnv: Record<string, string>;
    /** Decides per request: a status to answer instead of Azurite, or undefined to forward it. */
    let inject: (method: string, url: string) => number | undefined = () => undefined;
    const injected = { checkpoint: 0, snapshot: 0 };

    beforeAll(async () => {
      proxy = http.createServer((request, response) => {
        const status = inject(request.method ?? 'GET', request.url ?? '');
        if (status !== undefined) {
          request.resume();
          const body = `<?xml version="1.0" encoding="utf-8"?><Error><Code>ServerBusy</Code><Message>injected</Message></Error>`;
          response.writeHead(status, { 'content-type': 'application/xml', 'x-ms-error-code': 'ServerBusy' });
          response.end(body);
          return;
        }
        const upstream = http.request(
          {
            host: '127.0.0.1',
            port: azurite.blobPort,
            method: request.method,
            path: request.url,
            headers: request.headers,
          },
          (answer) => {
            response.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(response);
          },
        );
        upstream.on('error', () => response.destroy());
        request.pipe(upstream);
      });
      await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
      const port = (proxy.address() as AddressInfo).port;
      proxyEnv = {
        STATE_STORAGE: azurite.connectionString.replace(
          /BlobEndpoint=http:\/\/127\.0\.0\.1:\d+\//,
          `BlobEndpoint=http://127.0.0.1:${port}/`,
        ),
      };
    });
    afterAll(async () => {
      await new Promise((resolve) => proxy?.close(resolve));
    });

    it('503s (and 502, 429, 408) on checkpoint and snapshot writes are retried: the run completes exactly', async () => {
      const cliEnv = freshScenario(proxyEnv);
      const statuses = [503, 502, 429, 408];
      const seen = new Set<string>();
      let checkpointWrites = 0;
      inject = (method, url) => {
        if (method !== 'PUT') return undefined;
        if (url.includes('/checkpoint.json')) {
          // Every other checkpoint write fails once.
          if (checkpointWrites++ % 2 === 0) return statuses[injected.checkpoint++ % statuses.length];
          return undefined;
        }
        if (url.includes('/snapshots/') && !seen.has(url)) {
          // The first try of every snapshot block, block list and pointer write fails.
          seen.add(url);
          injected.snapshot++;
          return 503;
        }
        return undefined;
      };
      const result = await cli(['run', '--json'], cliEnv);
      inject = () => undefined;
      expect(result.code).toBe(EXIT_CODES.succeeded);
      console.log(
        `storage faults injected: ${injected.checkpoint} checkpoint writes, ${injected.snapshot} snapshot writes`,
      );
      expect(injected.checkpoint).toBeGreaterThanOrEqual(4);
      expect(injected.snapshot).toBeGreaterThanOrEqual(2);
      expect(lastJson(result.stdout)).toMatchObject({ status: 'succeeded', rejected: 0 });
      expectBrazeExact();
    }, 300_000);

    it('checkpoint writes failing for good stop the run as interrupted (exit 5); the next run resumes it exactly', async () => {
      const cliEnv = freshScenario(proxyEnv);
      let failing = false;
      inject = (method, url) => (failing && method === 'PUT' && url.includes('/checkpoint.json') ? 502 : undefined);
      const first = startCli(['run', '--json'], cliEnv);
      await waitForRequests(first, STOP_AFTER_REQUESTS);
      failing = true;
      expect(await first.exited).toBe(EXIT_CODES.interrupted);
      failing = false;
      const stopped = lastJson(first.stdout()) as unknown as { runId: string; status: string; error: string };
      expect(stopped.status).toBe('interrupted');
      expect(stopped.error).toMatch(/state storage unavailable while writing runs\/.*\/checkpoint\.json \(HTTP 502\)/);

      const second = await cli(['run', '--json'], cliEnv);
      expect(second.code).toBe(EXIT_CODES.succeeded);
      const summary = lastJson(second.stdout);
      expect(summary).toMatchObject({ runId: stopped.runId, status: 'succeeded' });
      expectBrazeExact();
      expectResendsBounded(summary, 'checkpoint writes failing');
    }, 300_000);
  });

  describe('a run is bound to one export version (issue 23.1)', () => {
    const exportContainer = () =>
      BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(EXPORT_CONTAINER);
    const fingerprintOf = async (exportPath: string) =>
      (await discoverExport(exportContainer(), exportPath)).fingerprint;
    function expectBrazeEquals(run: number, expected = expectedState(withSegments, run)): void {
      const comparison = compareWithSandbox(sandbox, expected);
      expect(comparison.differences).toEqual([]);
      expect(comparison.matchingUsers).toBe(expected.users.length);
    }

    /**
     * What Braze should hold after export run `run` when the run before it reached Braze only in part: a merged
     * alias-identified user keeps the alias of the profile they merged from only when that profile reached Braze, and
     * has their own otherwise (the generator's model assumes every earlier run was synced whole).
     */
    function expectedAfterPartialSync(run: number): ExpectedState {
      const expected = expectedState(withSegments, run);
      const members = [...profilesAtRun(withSegments, run)].filter((profile) => profile.segments.length > 0);
      const aliasReachedBraze = (alias_name: string) =>
        sandbox.findProfile({ alias: { alias_name, alias_label: ALIAS_LABEL } }) !== undefined;
      const users = expected.users.map((user, index) => {
        const own = members[index].customerId;
        if (!('alias_name' in user.identity) || user.identity.alias_name === own) return user;
        return aliasReachedBraze(user.identity.alias_name) ? user : { ...user, identity: { alias_name: own } };
      });
      return { ...expected, users };
    }

    /** Starts a run of export run 0 at `exportPath` and interrupts it with Ctrl-C mid-way. */
    async function interruptedFirstRun(exportPath: string) {
      const cliEnv = freshScenario({ CI_EXPORT_PATH: exportPath });
      const written = await writeExport(containerSink(exportContainer()), exportPath, { ...withSegments, run: 0 });
      const first = startCli(['run', '--json'], cliEnv);
      await waitForRequests(first, STOP_AFTER_REQUESTS);
      first.child.kill('SIGINT');
      expect(await first.exited).toBe(EXIT_CODES.interrupted);
      const stopped = lastJson(first.stdout());
      return { cliEnv, written, runId: stopped.runId };
    }

    it('CI writes the next export while a run is unfinished: the run finishes against the version it started with, then the next run syncs the new one; Braze exact after each', async () => {
      const exportPath = 'CustomerInsights_version/BrazeFeed';
      const { cliEnv, runId } = await interruptedFirstRun(exportPath);
      const startedWith = await fingerprintOf(exportPath);
      await writeExport(containerSink(exportContainer()), exportPath, { ...withSegments, run: 1 });
      const newest = await fingerprintOf(exportPath);
      expect(newest).not.toBe(startedWith);

      const resumed = await cli(['run', '--json'], cliEnv);
      expect(resumed.code).toBe(EXIT_CODES.succeeded);
      expect(resumed.stderr).toContain('finishing against the version it started with');
      expect(lastJson(resumed.stdout)).toMatchObject({ runId, status: 'succeeded', exportFingerprint: startedWith });
      expectBrazeEquals(0);

      const next = await cli(['run', '--json'], cliEnv);
      expect(next.code).toBe(EXIT_CODES.succeeded);
      expect(lastJson(next.stdout)).toMatchObject({
        status: 'succeeded',
        exportFingerprint: newest,
        alreadySynced: false,
      });
      expectBrazeEquals(1);
    }, 300_000);

    it('the version it started with is gone: the run starts over on the newest export as a full resync, takes back the memberships the lost version added, and Braze equals the newest export', async () => {
      const exportPath = 'CustomerInsights_version_gone/BrazeFeed';
      const { cliEnv, written, runId } = await interruptedFirstRun(exportPath);
      await writeExport(containerSink(exportContainer()), exportPath, { ...withSegments, run: 1 });
      for (const blob of written.blobs.filter((name) => name.endsWith('.csv'))) {
        await exportContainer().getBlobClient(blob).delete();
      }
      const resumed = await cli(['run', '--json'], cliEnv);
      expect(resumed.code).toBe(EXIT_CODES.succeeded);
      expect(resumed.stderr).toContain('the export version the run started with is gone');
      const summary = lastJson(resumed.stdout) as unknown as RunSummary;
      expect(summary).toMatchObject({
        runId,
        status: 'succeeded',
        fullResync: true,
        exportFingerprint: await fingerprintOf(exportPath),
      });
      // The leave values sent for users the lost step made members: the price of exactness, in data points.
      console.log(
        `version gone: ${summary.membershipsRemoved} leave values in ${summary.removalObjectsSent} removal objects, ` +
          `${summary.attributesSent} data points in all`,
      );
      expect(summary.membershipsRemoved).toBeGreaterThan(0);
      expectBrazeEquals(1, expectedAfterPartialSync(1));
    }, 300_000);
  });
});
