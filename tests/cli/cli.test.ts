import { execFile } from 'node:child_process';
import { userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { BlobServiceClient } from '@azure/storage-blob';
import { startBrazeSandbox, type BrazeSandbox } from '../../tools/braze-sandbox/server';
import {
  containerSink,
  sampleExportConfig,
  writeExport,
  type GeneratorOptions,
} from '../../tools/generate-export/generator';
import { startAzurite, type Azurite } from '../../tools/local/azurite';
import { localEnvironment } from '../../tools/local/environment';

const run = promisify(execFile);
const CLI = path.join(__dirname, '..', '..', 'dist', 'tools', 'cli', 'main.js');
const EXPORT_PATH = 'CustomerInsights_cli/BrazeFeed';
const options = { profiles: 600, seed: 7 };
const config = sampleExportConfig(options) as { segments: GeneratorOptions['segments']; attributes: object };

describe('ci-braze-export CLI (compiled, as a child process)', () => {
  let azurite: Azurite;
  let sandbox: BrazeSandbox;
  let env: Record<string, string>;

  beforeAll(async () => {
    azurite = await startAzurite({ queue: true });
    sandbox = await startBrazeSandbox({ rateLimit: null });
    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('ci-exports');
    await container.create();
    await writeExport(containerSink(container), EXPORT_PATH, { ...options, segments: config.segments, run: 0 });
    env = localEnvironment({
      storageConnectionString: azurite.connectionString,
      brazeUrl: sandbox.url,
      brazeApiKey: sandbox.apiKey,
      exportContainer: 'ci-exports',
      exportPath: EXPORT_PATH,
      exportConfig: config,
    });
  });
  afterAll(async () => {
    await sandbox?.close();
    await azurite?.stop();
  });

  const cli = (args: string[], extraEnv: Record<string, string> = {}) =>
    run(process.execPath, [CLI, ...args], { env: { ...process.env, ...env, ...extraEnv } });

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
    const error = await cli(['check'], {
      EXPORT_CONFIG: JSON.stringify(broken),
      BRAZE_REST_ENDPOINT: 'rest.iad-01.braze.com.evil.example',
    }).then(
      () => null,
      (failure: { code: number; stdout: string }) => failure,
    );
    expect(error?.code).toBe(1);
    expect(error?.stdout).toContain('FavouriteColour');
    expect(error?.stdout).toContain('BRAZE_REST_ENDPOINT');
  });

  it('refuses bad usage with exit code 2', async () => {
    const error = await cli(['run', '--bogus']).then(
      () => null,
      (failure: { code: number; stderr: string }) => failure,
    );
    expect(error?.code).toBe(2);
    expect(error?.stderr).toContain('run does not take --bogus');
  });
});
