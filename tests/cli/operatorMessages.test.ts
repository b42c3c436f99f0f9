import { BlobServiceClient } from '@azure/storage-blob';
import { text } from '../../shared/report/runReport';
import {
  containerSink,
  sampleExportConfig,
  writeExport,
  type GeneratorOptions,
} from '../../tools/generate-export/generator';
import { AZURITE_ACCOUNT, freePort, type Azurite } from '../../tools/local/azurite';
import { runCli } from '../helpers/cli';
import { startExportStack, type ExportStack } from '../helpers/localStack';

const EXPORT_PATH = 'CustomerInsights_ops/BrazeFeed';
const options = { profiles: 200, seed: 11 };
const config = sampleExportConfig(options) as { segments: GeneratorOptions['segments']; attributes: object };

describe('operator messages of the CLI (Azurite and the Braze sandbox)', () => {
  let stack: ExportStack;
  let azurite: Azurite;
  let env: Record<string, string>;
  let unreachableStorage: string;

  beforeAll(async () => {
    stack = await startExportStack({
      exportPath: EXPORT_PATH,
      generator: { ...options, segments: config.segments, run: 0 },
      exportConfig: config,
      settings: { EXPORT_SCHEDULE: '0 30 3 * * *' },
    });
    ({ azurite, env } = stack);
    // A port nothing listens on: connecting to it is refused.
    const port = await freePort();
    unreachableStorage = azurite.connectionString
      .replace(/BlobEndpoint=[^;]+/, `BlobEndpoint=http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`)
      .replace(/QueueEndpoint=[^;]+/, `QueueEndpoint=http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`);
  });
  afterAll(() => stack?.stop());

  const cli = (args: string[], extraEnv: Record<string, string> = {}) =>
    runCli(args, { ...process.env, ...env, ...extraEnv });

  describe('check', () => {
    it.each([
      ['every day at 3', 'it needs six fields (second minute hour day month day-of-week), found 4'],
      ['0 61 3 * * *', 'minute field "61" is out of range 0-59'],
      ['0 0 3 31 2 *', 'matches no date in the next five years'],
      ['03:30:00', 'is a TimeSpan'],
    ])('refuses EXPORT_SCHEDULE %j', async (schedule, message) => {
      const outcome = await cli(['check'], { EXPORT_SCHEDULE: schedule });
      expect(outcome.code).toBe(1);
      expect(outcome.stdout).toMatch(/^schedule\n {2}ERROR EXPORT_SCHEDULE/m);
      expect(outcome.stdout).toContain(message);
      expect(outcome.stdout).toContain('not ready: 1 error');
    });

    it('prints the next three run times of a valid schedule', async () => {
      const outcome = await cli(['check'], { EXPORT_SCHEDULE: '0 15 */6 * * Mon-Fri' });
      expect(outcome.code).toBe(0);
      const times = /next runs (.+)$/m.exec(outcome.stdout)![1].split(', ');
      expect(times).toHaveLength(3);
      for (const time of times) {
        const at = new Date(time.replace(' UTC', 'Z').replace(' ', 'T'));
        expect(at.getTime()).toBeGreaterThan(Date.now() - 60_000);
        expect([at.getUTCMinutes(), at.getUTCHours() % 6, at.getUTCSeconds()]).toEqual([15, 0, 0]);
        expect([1, 2, 3, 4, 5]).toContain(at.getUTCDay());
      }
    });

    it('reports an unreachable state storage account, naming STATE_STORAGE', async () => {
      const outcome = await cli(['check'], { STATE_STORAGE: unreachableStorage });
      expect(outcome.code).toBe(1);
      expect(outcome.stdout).toMatch(
        /^state storage\n {2}ERROR reaching the state storage: cannot reach storage account "devstoreaccount1" at 127\.0\.0\.1:\d+ \(STATE_STORAGE\) \(ECONNREFUSED\); check STATE_STORAGE/m,
      );
      expect(outcome.stdout).not.toContain('AccountKey');
    });

    it('refuses a listing-only export (no model.json) whose numeric columns have no type in the config', async () => {
      const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(
        'ci-exports',
      );
      await writeExport(containerSink(container), 'CustomerInsights_bare/Feed', {
        ...options,
        segments: config.segments,
        metadata: 'listing',
      });
      const outcome = await cli(['check'], { CI_EXPORT_PATH: 'CustomerInsights_bare/Feed' });
      expect(outcome.code).toBe(1);
      expect(outcome.stdout).toContain(
        'ERROR table HighValueSegment: column LifetimeValue (attributes.LifetimeValue) has no type',
      );
    });

    it('warns about a column named in another case, and stays ready', async () => {
      const wrongCase = { ...config, identity: { externalId: 'brazecustomerid', email: 'PrimaryEmail' } };
      const outcome = await cli(['check'], { EXPORT_CONFIG: JSON.stringify(wrongCase) });
      expect(outcome.code).toBe(0);
      expect(outcome.stdout).toContain(
        'warn  table HighValueSegment: identity.externalId names "brazecustomerid", the column is "BrazeCustomerId"',
      );
    });
  });

  describe('run: storage errors name the setting, account and container, and keep the request id', () => {
    it.each([
      [
        'a missing export container',
        { CI_EXPORT_CONTAINER: 'no-such-container' },
        /the run stopped: container "no-such-container" \(CI_EXPORT_CONTAINER\) does not exist in storage account "devstoreaccount1" at 127\.0\.0\.1:\d+ \(CI_EXPORT_STORAGE\); check the container name \[storage request id [0-9a-f-]{36}\]/,
      ],
      [
        'an invalid export container name',
        { CI_EXPORT_CONTAINER: 'Exports_2026' },
        /the run stopped: "Exports_2026" \(CI_EXPORT_CONTAINER\) is not a valid container name: 3 to 63 lower-case letters, digits and single hyphens.* \[storage request id [0-9a-f-]{36}\]/,
      ],
    ])('%s', async (_name, settings, message) => {
      const outcome = await cli(['run'], settings);
      expect(outcome.code).toBe(1);
      expect(outcome.stdout).toMatch(message);
      expect(outcome.stdout).not.toMatch(/RequestId:|The specified/);
      const runId = /^run (\S+): failed/m.exec(outcome.stdout)![1];
      const record = JSON.parse((await cli(['status', runId, '--json'])).stdout);
      expect(record.error).toMatch(message);
    });

    it('a wrong account key of the export storage', async () => {
      const wrongKey = azurite.connectionString.replace(
        /AccountKey=[^;]+/,
        `AccountKey=${Buffer.from('x'.repeat(64)).toString('base64')}`,
      );
      const outcome = await cli(['run'], { CI_EXPORT_STORAGE: wrongKey });
      expect(outcome.code).toBe(1);
      expect(outcome.stdout).toMatch(
        /storage account "devstoreaccount1" at 127\.0\.0\.1:\d+ \(CI_EXPORT_STORAGE\) refused access to container "ci-exports" \(CI_EXPORT_CONTAINER\) \(403 AuthorizationFailure\): in Azure the app's identity needs Storage Blob Data Reader on it; with a connection string, check its account key or SAS/,
      );
      expect(outcome.stdout + outcome.stderr).not.toContain('eHh4');
    });

    it('an unreachable state storage account', async () => {
      const outcome = await cli(['run'], { STATE_STORAGE: unreachableStorage });
      expect(outcome.code).toBe(1);
      expect(outcome.stderr).toMatch(
        /^preparing the run state storage: cannot reach storage account "devstoreaccount1" at 127\.0\.0\.1:\d+ \(STATE_STORAGE\) \(ECONNREFUSED\); check STATE_STORAGE: locally, is Azurite running/m,
      );
    });

    it('an invalid state container name', async () => {
      const outcome = await cli(['run'], { STATE_CONTAINER: 'State_Runs' });
      expect(outcome.code).toBe(1);
      expect(outcome.stderr).toMatch(/"State_Runs" \(STATE_CONTAINER\) is not a valid container name/);
    });

    it('report of a run that failed shows its error (every run that started writes a report)', async () => {
      const { stdout } = await cli(['runs', '--failed', '--json']);
      const failed = JSON.parse(stdout).runs[0] as { runId: string; error: string };
      const outcome = await cli(['report', failed.runId]);
      expect(outcome.code).toBe(0);
      expect(outcome.stdout).toContain(failed.runId);
      expect(outcome.stdout).toContain(text(failed.error));
    });

    it('runs --failed lists the failed runs only, each with its error', async () => {
      await cli(['run', '--json']);
      const all = JSON.parse((await cli(['runs', '--json'])).stdout).runs as Array<{ status: string }>;
      expect(all.map((r) => r.status)).toContain('succeeded');
      const { stdout } = await cli(['runs', '--failed']);
      const [header, ...rest] = stdout.trim().split('\n');
      expect(header).toMatch(/^started \(UTC\)/);
      const rows = rest.filter((line) => /^\d{4}-/.test(line));
      expect(rows.length).toBe(all.filter((r) => r.status === 'failed').length);
      expect(rows.every((row) => /\sfailed\s/.test(row))).toBe(true);
      expect(stdout).toContain('does not exist in storage account');
    });
  });
});
