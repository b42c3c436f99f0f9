import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import { checkConfiguration, formatFindings, type CheckResult } from '../../tools/cli/check';
import { startBrazeSandbox, type BrazeSandbox } from '../../tools/braze-sandbox/server';
import { startAzurite, type Azurite } from '../../tools/local/azurite';

const EXPORT_PATH = 'CustomerInsights_0c1d/BrazeFeed';
const SEGMENT_ID = '3bbc4555-8fa0-4c9b-a5c0-4505edf3e064';
const GOOD_KEY = 'good-key-5d1e9a';
const EU_KEY = 'eu-key-77f0c2';
const TRACK_ONLY_KEY = 'track-only-key-0b3a';
const config = {
  identity: { externalId: 'BrazeCustomerId', email: 'PrimaryEmail', whenExternalIdMissing: 'email' },
  segments: [{ table: 'HighValueSegment', brazeSegmentApiId: SEGMENT_ID }],
  attributes: { FirstName: 'first_name', LifetimeValue: 'ci_lifetime_value' },
};
const model = {
  name: 'BrazeFeed',
  version: '1.0',
  entities: [
    {
      $type: 'LocalEntity',
      name: 'HighValueSegment',
      attributes: ['CustomerId', 'BrazeCustomerId', 'PrimaryEmail', 'FirstName', 'LifetimeValue'].map((name) => ({
        name,
        dataType: name === 'LifetimeValue' ? 'decimal' : 'string',
      })),
      partitions: [{ name: 'part1', location: 'HighValueSegment/2026/11/28/0200/HighValueSegment_1.csv' }],
    },
    {
      $type: 'LocalEntity',
      name: 'ChurnRisk',
      attributes: [{ name: 'CustomerId', dataType: 'string' }],
      partitions: [{ name: 'part1', location: 'ChurnRisk/2026/11/28/0200/ChurnRisk_1.csv' }],
    },
  ],
};

describe('check: configuration, export metadata and Braze, all at once', () => {
  let azurite: Azurite;
  let sandbox: BrazeSandbox;
  let goodEnv: Record<string, string>;

  beforeAll(async () => {
    azurite = await startAzurite({ queue: true });
    sandbox = await startBrazeSandbox({
      rateLimit: null,
      apiKeys: [
        { key: GOOD_KEY },
        { key: EU_KEY, cluster: 'rest.fra-01.braze.eu' },
        { key: TRACK_ONLY_KEY, permissions: ['users.track'] },
      ],
      segments: [{ id: SEGMENT_ID, name: 'High value customers' }],
    });
    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('ci-exports');
    await container.create();
    // The state container and run queue a first run creates: present, so check tests writing there.
    await BlobServiceClient.fromConnectionString(azurite.connectionString)
      .getContainerClient('ci-braze-state')
      .create();
    await QueueServiceClient.fromConnectionString(azurite.connectionString).getQueueClient('export-runs').create();
    const upload = (name: string, text: string) =>
      container.getBlockBlobClient(`${EXPORT_PATH}/${name}`).upload(text, Buffer.byteLength(text));
    // As CI writes an export: the partitions, then model.json (a partition written later reads as partial).
    await upload(model.entities[0].partitions[0].location, 'c1,BZ-1,ann@example.com,Ann,12.5\r\n');
    await upload(model.entities[1].partitions[0].location, 'c1\r\n');
    await upload('model.json', JSON.stringify(model));
    goodEnv = {
      CI_EXPORT_STORAGE: azurite.connectionString,
      CI_EXPORT_CONTAINER: 'ci-exports',
      CI_EXPORT_PATH: EXPORT_PATH,
      STATE_STORAGE: azurite.connectionString,
      BRAZE_REST_ENDPOINT: sandbox.url,
      BRAZE_API_KEY: GOOD_KEY,
      BRAZE_ALLOW_INSECURE_LOOPBACK: 'true',
      EXPORT_CONFIG: JSON.stringify(config),
      EXPORT_SCHEDULE: '0 30 3 * * *',
    };
  });
  afterAll(async () => {
    await sandbox?.close();
    await azurite?.stop();
  });

  const errors = (result: CheckResult) => result.findings.filter((f) => f.level === 'error');
  const everything = (result: CheckResult) => JSON.stringify(result) + formatFindings(result.findings);

  it('reports a good setup as ready: the export matches the config and Braze accepts the key', async () => {
    const result = await checkConfiguration(goodEnv);
    expect(errors(result)).toEqual([]);
    expect(result.ok).toBe(true);
    const messages = result.findings.map((f) => `${f.level} ${f.area}: ${f.message}`);
    expect(messages).toContainEqual(expect.stringMatching(/^ok export: model\.json found .*2 table\(s\), 2 partition/));
    expect(messages).toContainEqual(
      expect.stringMatching(/^ok export: table HighValueSegment: 5 columns, 1 partition.*all 5 configured columns/),
    );
    expect(messages).toContainEqual('ok export: not configured, ignored: ChurnRisk');
    expect(messages).toContainEqual(`ok braze: BRAZE_API_KEY is accepted by 127.0.0.1:${sandbox.port}`);
    expect(messages).toContainEqual('ok braze: segment HighValueSegment: Braze segment "High value customers" exists');
    expect(messages).toContainEqual(
      expect.stringMatching(
        /^ok state storage: container ci-braze-state in "devstoreaccount1" at .*: reachable and writable$/,
      ),
    );
    expect(messages).toContainEqual('ok state storage: queue export-runs (RUN_QUEUE_NAME) exists');
    expect(messages).toContainEqual(
      expect.stringMatching(/^ok schedule: EXPORT_SCHEDULE "0 30 3 \* \* \*": next runs /),
    );
    expect(formatFindings(result.findings)).toMatch(/\nready: no errors, 1 warning$/);
    // The key check reads segments only: nothing reached /users/track.
    expect(sandbox.requests().filter((r) => r.path === '/users/track')).toEqual([]);
  });

  it('reports a misconfigured column, a non-Braze host and a bad setting in one go, without sending the key', async () => {
    sandbox.reset('requests');
    const result = await checkConfiguration(
      {
        ...goodEnv,
        BRAZE_REST_ENDPOINT: 'https://api.example.com',
        BRAZE_BATCH_SIZE: '500',
        EXPORT_CONFIG: JSON.stringify({ ...config, attributes: { FirstNme: 'first_name' } }),
      },
      { brazeTransport: () => Promise.reject(new Error('must not be called')) },
    );
    expect(result.ok).toBe(false);
    expect(errors(result)).toEqual([
      { level: 'error', area: 'settings', message: expect.stringMatching(/^BRAZE_BATCH_SIZE must be .*1 to 75/) },
      {
        level: 'error',
        area: 'export',
        message: expect.stringMatching(
          /^table HighValueSegment has no column "FirstNme" \(named by attributes\.FirstNme .*did you mean "FirstName"/,
        ),
      },
      { level: 'error', area: 'braze', message: expect.stringMatching(/"api\.example\.com" is not a Braze REST host/) },
    ]);
    expect(result.findings).toContainEqual(expect.objectContaining({ level: 'warning', area: 'braze' }));
    expect(everything(result)).not.toContain(GOOD_KEY);
  });

  it('reports a misconfigured column and a key Braze refuses together, naming the likely causes', async () => {
    const result = await checkConfiguration({
      ...goodEnv,
      BRAZE_API_KEY: 'not-a-known-key-93c1',
      EXPORT_CONFIG: JSON.stringify({ ...config, identity: { ...config.identity, email: 'Email' } }),
    });
    expect(result.ok).toBe(false);
    expect(errors(result).map((f) => `${f.area}: ${f.message}`)).toEqual([
      expect.stringMatching(/^export: table HighValueSegment has no column "Email" \(named by identity\.email/),
      expect.stringMatching(/^braze: .* refused BRAZE_API_KEY \(401\).*wrong or revoked.*another cluster/),
    ]);
    expect(everything(result)).not.toContain('not-a-known-key-93c1');
  });

  it('reports a key of another cluster as refused', async () => {
    const result = await checkConfiguration({ ...goodEnv, BRAZE_API_KEY: EU_KEY });
    expect(errors(result)).toEqual([
      expect.objectContaining({ area: 'braze', message: expect.stringContaining('(401)') }),
    ]);
    expect(everything(result)).not.toContain(EU_KEY);
  });

  it('accepts a least-privilege key (users.track only) with a warning that segments were not checked', async () => {
    const result = await checkConfiguration({ ...goodEnv, BRAZE_API_KEY: TRACK_ONLY_KEY });
    expect(result.ok).toBe(true);
    expect(result.findings).toContainEqual({
      level: 'warning',
      area: 'braze',
      message: expect.stringMatching(/may not list segments \(403\).*Access Denied/),
    });
  });

  it('names an unknown table and the tables the export has', async () => {
    const result = await checkConfiguration(goodEnv, {
      exportConfigSource: JSON.stringify({ ...config, segments: [{ table: 'Gold', brazeSegmentApiId: 'seg-gold' }] }),
    });
    expect(errors(result)).toEqual([
      expect.objectContaining({
        area: 'export',
        message: expect.stringMatching(/segments\[0\]\.table: table "Gold" is not in .*model\.json; tables found: /),
      }),
    ]);
    expect(result.findings).toContainEqual(
      expect.objectContaining({ level: 'warning', message: expect.stringMatching(/"seg-gold" .* is not a segment/) }),
    );
  });

  it('reports a missing container with its setting', async () => {
    const result = await checkConfiguration({ ...goodEnv, CI_EXPORT_CONTAINER: 'no-such-container' });
    expect(errors(result)).toEqual([
      expect.objectContaining({
        area: 'export',
        message: 'container "no-such-container" (CI_EXPORT_CONTAINER) does not exist in the CI export storage account',
      }),
    ]);
  });

  it('lists every missing setting and skips the checks that depend on them instead of stopping', async () => {
    const result = await checkConfiguration({ EXPORT_CONFIG: JSON.stringify(config) });
    expect(result.ok).toBe(false);
    const settingErrors = errors(result)
      .filter((f) => f.area === 'settings')
      .map((f) => f.message.split(' ')[0]);
    expect(settingErrors).toEqual(
      expect.arrayContaining([
        'CI_EXPORT_STORAGE',
        'CI_EXPORT_CONTAINER',
        'STATE_STORAGE',
        'BRAZE_REST_ENDPOINT',
        'BRAZE_API_KEY',
      ]),
    );
    expect(result.findings).toContainEqual(expect.objectContaining({ area: 'export config', level: 'ok' }));
    expect(result.findings).toContainEqual(
      expect.objectContaining({ area: 'export', level: 'warning', message: expect.stringContaining('not checked') }),
    );
    expect(result.findings).toContainEqual(
      expect.objectContaining({ area: 'braze', level: 'warning', message: expect.stringContaining('not checked') }),
    );
    expect(result.findings).toContainEqual(
      expect.objectContaining({
        area: 'state storage',
        level: 'warning',
        message: expect.stringContaining('not checked'),
      }),
    );
    expect(result.findings).toContainEqual(
      expect.objectContaining({
        area: 'schedule',
        level: 'warning',
        message: expect.stringContaining('EXPORT_SCHEDULE is not set'),
      }),
    );
    expect(formatFindings(result.findings)).toMatch(/\nnot ready: \d+ errors, 4 warnings; fix the errors/);
  });
});
