import { userInfo } from 'node:os';
import { BlobServiceClient } from '@azure/storage-blob';
import type { BrazeSandbox } from '../../tools/braze-sandbox/server';
import {
  containerSink,
  sampleExportConfig,
  writeExport,
  type GeneratorOptions,
} from '../../tools/generate-export/generator';
import type { Azurite } from '../../tools/local/azurite';
import { runCli, type CliOutcome } from '../helpers/cli';
import { startExportStack, type ExportStack } from '../helpers/localStack';

const EXPORT_PATH = 'CustomerInsights_cli/BrazeFeed';
const options = { profiles: 600, seed: 7 };
const config = sampleExportConfig(options) as { segments: GeneratorOptions['segments']; attributes: object };

describe('ci-braze-export CLI (compiled, as a child process)', () => {
  let stack: ExportStack;
  let azurite: Azurite;
  let sandbox: BrazeSandbox;
  let env: Record<string, string>;

  beforeAll(async () => {
    stack = await startExportStack({
      exportPath: EXPORT_PATH,
      generator: { ...options, segments: config.segments, run: 0 },
      exportConfig: config,
    });
    ({ azurite, sandbox, env } = stack);
  });
  afterAll(() => stack?.stop());

  const cliOutcome = (args: string[], extraEnv: Record<string, string> = {}) =>
    runCli(args, { ...process.env, ...env, ...extraEnv });
  /** The CLI's output when it exits 0; otherwise the test fails with its exit code and stderr. */
  const cli = async (args: string[]): Promise<CliOutcome> => {
    const outcome = await cliOutcome(args);
    if (outcome.code !== 0)
      throw new Error(`ci-braze-export ${args.join(' ')} exited ${outcome.code}:\n${outcome.stderr}`);
    return outcome;
  };

  it('run --json delivers the export and ends with the summary as one JSON line', async () => {
    const { stdout, stderr } = await cli(['run', '--json']);
    const summary = JSON.parse(stdout.trim().split('\n').at(-1)!);
    expect(summary).toMatchObject({ status: 'succeeded', rejected: 0, membershipsRemoved: 0, unchanged: 0 });
    for (const key of [
      'runId',
      'profilesRead',
      'usersSent',
      'attributesSent',
      'membershipsAdded',
      'requests',
      'retries',
      'throttled',
      'durationMs',
    ]) {
      expect(summary).toHaveProperty(key);
    }
    expect(summary.usersSent).toBe(sandbox.profiles().length);
    expect(summary.attributesSent).toBe(sandbox.ledger().total);
    expect(stdout).toContain('rows read');
    // Not a terminal: the run's log lines go to stderr, without the key or any email.
    expect(stderr).toContain('run started');
    expect(stderr).not.toContain(sandbox.apiKey);
    expect(stderr).not.toMatch(/@[a-z0-9-]+\.[a-z]{2,}/i);
  });

  it('plan prints the change plan and sends nothing', async () => {
    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('ci-exports');
    await writeExport(containerSink(container), EXPORT_PATH, { ...options, segments: config.segments, run: 1 });
    const requestsBefore = sandbox.requests().length;
    const ledgerBefore = sandbox.ledger().total;
    const { stdout } = await cli(['plan', '--json']);
    expect(sandbox.requests().length).toBe(requestsBefore);
    expect(sandbox.ledger().total).toBe(ledgerBefore);
    expect(stdout).toContain('change plan (nothing was sent)');
    const summary = JSON.parse(stdout.trim().split('\n').at(-1)!);
    expect(summary).toMatchObject({ dryRun: true, status: 'succeeded' });
    expect(summary.attributesSent).toBeGreaterThan(0);
  });

  it('status and runs show the recorded runs, newest first', async () => {
    const { stdout: runs } = await cli(['runs', '--json']);
    const records = JSON.parse(runs).runs;
    expect(records.map((r: { request: { dryRun: boolean } }) => r.request.dryRun)).toEqual([true, false]);
    const { stdout: status } = await cli(['status', records[1].runId]);
    expect(status).toContain(`run ${records[1].runId}: succeeded`);
    // Every CLI run records its caller, the OS user; status shows it from the run's summary.
    const caller = `cli:${userInfo().username}`;
    expect(records.map((r: { request: { caller?: string } }) => r.request.caller)).toEqual([caller, caller]);
    expect(status).toContain(`started by          ${caller}`);
  });

  it('check reports a misconfigured column and a non-Braze host at once, and exits non-zero', async () => {
    const broken = {
      ...config,
      attributes: { ...config.attributes, FavouriteColour: 'ci_colour' },
    };
    const outcome = await cliOutcome(['check'], {
      EXPORT_CONFIG: JSON.stringify(broken),
      BRAZE_REST_ENDPOINT: 'rest.iad-01.braze.com.evil.example',
    });
    expect(outcome.code).toBe(1);
    expect(outcome.stdout).toContain('FavouriteColour');
    expect(outcome.stdout).toContain('BRAZE_REST_ENDPOINT');
  });

  it('refuses bad usage with exit code 2', async () => {
    const outcome = await cliOutcome(['run', '--bogus']);
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toContain('run does not take --bogus');
  });
});
