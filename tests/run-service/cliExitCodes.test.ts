import { BlobServiceClient } from '@azure/storage-blob';
import { QueueClient } from '@azure/storage-queue';
import { runBlobName } from '../../shared/run/artifacts';
import { withRunLease } from '../../shared/run/lock';
import { EXIT_CODES } from '../../shared/run/outcome';
import { startRun } from '../../shared/run/service';
import type { RunSummary } from '../../shared/run/types';
import { silentLogger } from '../../shared/telemetry/logger';
import type { BrazeSandbox } from '../../tools/braze-sandbox/server';
import {
  containerSink,
  GeneratorOptions,
  sampleExportConfig,
  writeExport,
} from '../../tools/generate-export/generator';
import type { Azurite } from '../../tools/local/azurite';
import { buildIfMissing, runCli } from '../helpers/cli';
import { startExportStack, type ExportStack } from '../helpers/localStack';

const EXPORT_PATH = 'CustomerInsights_exitcodes/BrazeFeed';

/** Every exit code of `ci-braze-export run`, each caused for real, through the compiled CLI as a child process. */
describe('CLI exit codes', () => {
  let stack: ExportStack;
  let azurite: Azurite;
  let sandbox: BrazeSandbox;
  let env: Record<string, string>;
  const options: GeneratorOptions = { profiles: 2_000, seed: 2323, churnPercent: 20 };
  const config = sampleExportConfig(options) as { segments: GeneratorOptions['segments'] };
  const withSegments: GeneratorOptions = { ...options, segments: config.segments };
  const exportContainer = () => stack.exportContainer;

  beforeAll(async () => {
    buildIfMissing();
    stack = await startExportStack({
      exportPath: EXPORT_PATH,
      generator: { ...withSegments, run: 0 },
      exportConfig: config,
      settings: { STATE_CONTAINER: 'state-exit-codes', RUN_QUEUE_NAME: 'runs-exit-codes' },
    });
    ({ azurite, sandbox, env } = stack);
  }, 120_000);
  afterAll(() => stack?.stop());

  // Only PATH from the test's environment: the CLI sees the settings the test gives it and nothing else.
  const cli = (args: string[], extraEnv: Record<string, string> = {}) =>
    runCli(args, { PATH: process.env.PATH ?? '', ...env, ...extraEnv });
  const lastJson = (stdout: string) => JSON.parse(stdout.trim().split('\n').at(-1)!) as RunSummary;

  it('2 for invalid usage or configuration: nothing starts', async () => {
    expect((await cli(['run', '--no-such-flag'])).code).toBe(EXIT_CODES.invalidUsage);
    expect((await cli(['run', '--max-retry-time', 'soon'])).code).toBe(EXIT_CODES.invalidUsage);
    const badConfig = await cli(['run'], { EXPORT_CONFIG: '{"segments": []}' });
    expect(badConfig.code).toBe(EXIT_CODES.invalidUsage);
    expect(sandbox.requests()).toHaveLength(0);
  });

  it('0 for a run that succeeded', async () => {
    const result = await cli(['run', '--json']);
    expect(result.code).toBe(EXIT_CODES.succeeded);
    expect(lastJson(result.stdout)).toMatchObject({ status: 'succeeded', outcome: 'succeeded', rejected: 0 });
  });

  it('4 for a run that succeeded with rejected rows', async () => {
    await writeExport(containerSink(exportContainer()), EXPORT_PATH, { ...withSegments, run: 1 });
    sandbox.setFaults([{ match: { nth: 1 }, action: { rejectIndexes: [0, 1] } }]);
    const result = await cli(['run', '--json']);
    sandbox.setFaults([]);
    expect(result.code).toBe(EXIT_CODES.succeededWithRejections);
    expect(lastJson(result.stdout)).toMatchObject({
      status: 'succeeded',
      outcome: 'succeededWithRejections',
      rejected: 2,
    });
  });

  it('3 for a run whose removals the shrink guard held back', async () => {
    await writeExport(containerSink(exportContainer()), EXPORT_PATH, { ...withSegments, run: 2 });
    // Any shrink trips a guard of 0 %: the churn of the next export makes a segment lose members.
    const result = await cli(['run', '--json'], { SEGMENT_SHRINK_GUARD_PERCENT: '0' });
    expect(result.code).toBe(EXIT_CODES.held);
    expect(lastJson(result.stdout)).toMatchObject({ status: 'held', outcome: 'held' });
  });

  it('1 for a failed run, which still writes its summary and report with the error', async () => {
    const result = await cli(['run', '--json'], {
      BRAZE_API_KEY: 'not-the-sandbox-key',
      STATE_CONTAINER: 'state-exit-failed',
      RUN_QUEUE_NAME: 'runs-exit-failed',
    });
    expect(result.code).toBe(EXIT_CODES.failed);
    const summary = lastJson(result.stdout);
    expect(summary).toMatchObject({ status: 'failed', outcome: 'failed' });
    expect(summary.error).toMatch(/401/);
    const state = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(
      'state-exit-failed',
    );
    const report = (await state.getBlobClient(runBlobName(summary.runId, 'report.html')).downloadToBuffer()).toString();
    expect(report).toContain('how far it got');
    expect(report).not.toContain('not-the-sandbox-key');
  });

  it('6 when another run is active and its worker alive (after waiting out a lease)', async () => {
    const stateName = 'state-exit-busy';
    const state = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(stateName);
    await state.create();
    const queue = new QueueClient(azurite.connectionString, 'runs-exit-busy');
    await queue.create();
    const active = await startRun(
      { stateContainer: state, queue, logger: silentLogger },
      { dryRun: false, fullResync: false, allowMassRemoval: false, trigger: 'http' },
    );
    expect(active.kind).toBe('started');
    // This test process holds the run lease (alive, renewing) while the CLI tries to start a run.
    const result = await withRunLease(state, { logger: silentLogger, leaseDurationInSeconds: 15 }, () =>
      cli(['run'], { STATE_CONTAINER: stateName, RUN_QUEUE_NAME: 'runs-exit-busy' }),
    );
    expect(result.acquired && result.value.code).toBe(EXIT_CODES.busy);
    expect(result.acquired && result.value.stderr).toContain('another run is active and its worker is alive');
  }, 180_000);
});
