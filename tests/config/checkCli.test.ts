import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { BlobServiceClient } from '@azure/storage-blob';
import { startBrazeSandbox, type BrazeSandbox } from '../../tools/braze-sandbox/server';
import { containerSink, sampleExportConfig, writeExport } from '../../tools/generate-export/generator';
import { startAzurite, type Azurite } from '../../tools/local/azurite';
import { localEnvironment } from '../../tools/local/environment';

const run = promisify(execFile);
const CLI = path.join(__dirname, '..', '..', 'dist', 'tools', 'cli', 'main.js');
const EXPORT_PATH = 'CustomerInsights_typo/BrazeFeed';
const options = { profiles: 50, seed: 11 };
const config = sampleExportConfig(options) as { identity: Record<string, unknown>; segments: [] };

describe('ci-braze-export check with a typo in a nested key of the export config (compiled CLI)', () => {
  let azurite: Azurite;
  let sandbox: BrazeSandbox;
  let env: Record<string, string>;
  let folder: string;

  beforeAll(async () => {
    folder = mkdtempSync(path.join(tmpdir(), 'ci-braze-typo-'));
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
    rmSync(folder, { recursive: true, force: true });
  });

  /** `check --config <file>`, as an operator checks an edited config: exit code and output. */
  async function check(exportConfig: unknown, settings: Record<string, string> = {}) {
    const file = path.join(folder, `config-${Date.now()}.json`);
    writeFileSync(file, JSON.stringify(exportConfig, null, 2));
    return run(process.execPath, [CLI, 'check', '--config', file], {
      env: { ...process.env, ...env, ...settings },
    }).then(
      ({ stdout }) => ({ code: 0, stdout }),
      (failure: { code: number; stdout: string }) => ({ code: failure.code, stdout: failure.stdout }),
    );
  }

  it('the config as written is ready, so the typo alone is what check refuses', async () => {
    const { code, stdout } = await check(config);
    expect(stdout).toContain('ready: no errors');
    expect(code).toBe(0);
  });

  it('exits non-zero, naming the nested key and the near miss', async () => {
    const { whenExternalIdMissing, ...identity } = config.identity;
    const { code, stdout } = await check({
      ...config,
      identity: { ...identity, whenExternalIDMissing: whenExternalIdMissing },
      membership: { value: true, onleave: 'remove' },
    });
    expect(code).toBe(1);
    expect(stdout).toContain(
      'ERROR identity.whenExternalIDMissing: unknown key; did you mean identity.whenExternalIdMissing?',
    );
    expect(stdout).toContain('ERROR membership.onleave: unknown key; did you mean membership.onLeave?');
    expect(stdout).toContain('not ready: 2 errors');
  });

  it('warns about an app setting one letter off, naming the setting it looks like, and stays ready', async () => {
    const { code, stdout } = await check(config, { BRAZE_CONCURENCY: '64', braze_batch_size: '50' });
    expect(stdout).toContain('warn  BRAZE_CONCURENCY is not a setting of this app; did you mean BRAZE_CONCURRENCY?');
    expect(stdout).toContain('warn  braze_batch_size is not a setting of this app; did you mean BRAZE_BATCH_SIZE?');
    expect(stdout).toContain('ready: no errors');
    expect(code).toBe(0);
  });
});
