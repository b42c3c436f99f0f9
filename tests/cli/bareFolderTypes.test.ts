import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { validateExportConfig } from '../../shared/config/exportConfig';
import { loadSettings } from '../../shared/config/settings';
import { earlierStateKeys, stateKey, stateScope } from '../../shared/state/stateKey';
import { startBrazeSandbox, type BrazeSandbox } from '../../tools/braze-sandbox/server';
import type { SandboxProfile } from '../../tools/braze-sandbox/types';
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

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}
type Config = { segments: GeneratorOptions['segments']; identity: object; attributes: Record<string, string> };

const configOf = (options: GeneratorOptions) => sampleExportConfig(options) as Config;
const TYPES = { LifetimeValue: 'decimal', LoyaltyPoints: 'int64', EmailOptIn: 'boolean' };

describe('bare run folders and column-name case through the CLI (Azurite and the Braze sandbox)', () => {
  let azurite: Azurite;
  let sandbox: BrazeSandbox;
  let container: ContainerClient;
  let env: Record<string, string>;

  beforeAll(async () => {
    azurite = await startAzurite({ queue: true });
    sandbox = await startBrazeSandbox({ rateLimit: null });
    container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('ci-exports');
    await container.create();
    env = localEnvironment({
      storageConnectionString: azurite.connectionString,
      brazeUrl: sandbox.url,
      brazeApiKey: sandbox.apiKey,
      exportContainer: 'ci-exports',
      exportPath: 'unset',
      exportConfig: {},
      // Files just written are complete: no settle time for bare run folders.
      extra: { EXPORT_SCHEDULE: '0 30 3 * * *', SOURCE_SETTLE_SECONDS: '0' },
    });
  });
  afterAll(async () => {
    await sandbox?.close();
    await azurite?.stop();
  });

  const cli = (args: string[], exportPath: string, config: object): Promise<Outcome> =>
    run(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...env, CI_EXPORT_PATH: exportPath, EXPORT_CONFIG: JSON.stringify(config) },
    }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (failure: Outcome) => failure,
    );
  const summaryOf = (outcome: Outcome) => JSON.parse(outcome.stdout.trim().split('\n').at(-1)!);
  const profiles = async () =>
    ((await (await fetch(`${sandbox.url}/_sim/profiles`)).json()) as { profiles: SandboxProfile[] }).profiles;
  const requestCount = async () =>
    ((await (await fetch(`${sandbox.url}/_sim/stats`)).json()) as { requests: number }).requests;

  it('a bare folder with columnTypes sends numbers and booleans as JSON numbers and booleans', async () => {
    const options: GeneratorOptions = { profiles: 300, seed: 21 };
    const config = { ...configOf(options), columnTypes: TYPES };
    const exportPath = 'CustomerInsights_typed/Feed';
    await writeExport(containerSink(container), exportPath, { ...options, metadata: 'listing' });

    const check = await cli(['check'], exportPath, config);
    expect(check.stdout).not.toContain('ERROR');
    expect(check.code).toBe(0);
    expect(check.stdout).toContain('LifetimeValue as decimal, LoyaltyPoints as int64, EmailOptIn as boolean');

    const outcome = await cli(['run', '--json'], exportPath, config);
    expect(outcome.code).toBe(0);
    expect(summaryOf(outcome)).toMatchObject({ status: 'succeeded' });
    expect(summaryOf(outcome).usersSent).toBeGreaterThan(100);
    // Piped, the progress prints plain lines; the run ran to its end, so the last one says so at 100 %.
    expect(outcome.stderr).toMatch(/^finished \(100 %\) · [\d,]+ rows read · [\d,]+ objects sent$/m);

    const sent = (await profiles()).map((p) => p.attributes);
    const valuesOf = (name: string) => sent.map((a) => a[name]).filter((v) => v !== undefined && v !== null);
    expect(valuesOf('ci_lifetime_value').length).toBeGreaterThan(100);
    expect(valuesOf('ci_lifetime_value').every((v) => typeof v === 'number')).toBe(true);
    expect(valuesOf('ci_lifetime_value').some((v) => !Number.isInteger(v))).toBe(true);
    expect(valuesOf('ci_loyalty_points').length).toBeGreaterThan(100);
    expect(valuesOf('ci_loyalty_points').every((v) => Number.isInteger(v))).toBe(true);
    expect(valuesOf('ci_email_opt_in').length).toBeGreaterThan(100);
    expect(valuesOf('ci_email_opt_in').every((v) => typeof v === 'boolean')).toBe(true);
    expect(new Set(valuesOf('ci_email_opt_in')).size).toBe(2);
    // Untyped text columns stay text.
    expect(valuesOf('home_city').every((v) => typeof v === 'string')).toBe(true);
  });

  it('a bare folder without types for numeric and boolean columns is refused by check and run, naming table, column and key', async () => {
    const options: GeneratorOptions = { profiles: 200, seed: 22 };
    // One type given: only the two others are refused.
    const config = { ...configOf(options), columnTypes: { loyaltypoints: 'int64' } };
    const exportPath = 'CustomerInsights_untyped/Feed';
    await writeExport(containerSink(container), exportPath, { ...options, metadata: 'listing' });
    const expected = [
      /table HighValueSegment: column LifetimeValue \(attributes\.LifetimeValue\) has no type, and its values at the start of CustomerInsights_untyped\/Feed\/HighValueSegment\/[\d/]+\/[^ ]+\.csv look like decimal numbers; .*add "columnTypes": \{ "LifetimeValue": "decimal" \} to the export config \(or "string" to send text\)/,
      /table HighValueSegment: column EmailOptIn \(attributes\.EmailOptIn\) has no type, .* look like booleans; .*add "columnTypes": \{ "EmailOptIn": "boolean" \}/,
    ];

    const check = await cli(['check'], exportPath, config);
    expect(check.code).toBe(1);
    for (const message of expected) expect(check.stdout).toMatch(new RegExp(`ERROR ${message.source}`));
    expect(check.stdout).not.toContain('column LoyaltyPoints (attributes.LoyaltyPoints) has no type');
    // The rest of the export is still checked.
    expect(check.stdout).toContain('all 11 configured columns found');

    const before = await requestCount();
    const outcome = await cli(['run', '--json'], exportPath, config);
    expect(outcome.code).not.toBe(0);
    for (const message of expected) expect(outcome.stdout + outcome.stderr).toMatch(message);
    expect(await requestCount()).toBe(before);
  });

  it('a column named in the wrong case, once fixed, resends nothing', async () => {
    const options: GeneratorOptions = { profiles: 300, seed: 23 };
    const right = configOf(options);
    const wrong = {
      ...right,
      identity: { ...right.identity, externalId: 'brazecustomerid' },
      attributes: { ...right.attributes, LifetimeValue: undefined, lifetimevalue: 'ci_lifetime_value' },
    };
    const exportPath = 'CustomerInsights_case/Feed';
    await writeExport(containerSink(container), exportPath, { ...options, run: 0 });

    // With model.json the export's own types win: columnTypes is pointed out as unused.
    const typed = await cli(['check'], exportPath, { ...right, columnTypes: { LifetimeValue: 'string' } });
    expect(typed.stdout).toContain(
      'warn  columnTypes (LifetimeValue) is not used: the export has model.json, whose types win',
    );

    const first = await cli(['run', '--json'], exportPath, wrong);
    expect(first.code).toBe(0);
    expect(summaryOf(first).objectsSent).toBeGreaterThan(100);

    // The same export: already synced with what the config means.
    const fixed = await cli(['run', '--json'], exportPath, right);
    expect(fixed.code).toBe(0);
    expect(summaryOf(fixed)).toMatchObject({ alreadySynced: true, objectsSent: 0 });

    // The same data written again (new ETags): read and diffed against the state the wrong-case run left.
    await writeExport(containerSink(container), exportPath, { ...options, run: 0 });
    const before = await requestCount();
    const again = await cli(['run', '--json'], exportPath, right);
    expect(again.code).toBe(0);
    expect(summaryOf(again)).toMatchObject({ alreadySynced: false, objectsSent: 0, stateChange: { fresh: false } });
    expect(await requestCount()).toBe(before);
  });

  it('an upgrade takes over the snapshot saved under the key from before column names were lower-cased', async () => {
    const options: GeneratorOptions = { profiles: 300, seed: 24 };
    const config = configOf(options);
    const exportPath = 'CustomerInsights_upgrade/Feed';
    await writeExport(containerSink(container), exportPath, { ...options, run: 0 });
    expect((await cli(['run', '--json'], exportPath, config)).code).toBe(0);
    // As the previous version left it: the pointer under the key it computed from the names as written.
    const settings = loadSettings({ ...env, CI_EXPORT_PATH: exportPath, EXPORT_CONFIG: JSON.stringify(config) });
    const validated = validateExportConfig(config);
    const state = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(
      settings.stateContainer,
    );
    const own = state.getBlockBlobClient(`snapshots/${stateKey(stateScope(settings, validated))}/current.json`);
    const [previousKey] = earlierStateKeys(settings, validated);
    const pointer = await own.downloadToBuffer();
    await state.getBlockBlobClient(`snapshots/${previousKey}/current.json`).upload(pointer, pointer.length);
    await own.delete();

    const check = await cli(['check'], exportPath, config);
    expect(check.stdout).toContain(`ok    snapshot ${previousKey} of run`);
    expect(check.stdout).not.toContain('starts fresh');

    await writeExport(containerSink(container), exportPath, { ...options, run: 0 });
    const before = await requestCount();
    const adopted = await cli(['run', '--json'], exportPath, config);
    expect(adopted.code).toBe(0);
    expect(summaryOf(adopted)).toMatchObject({ objectsSent: 0, stateChange: { fresh: false } });
    expect(await requestCount()).toBe(before);
    expect(await own.exists()).toBe(true);
  });
});
