import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { ConfigError } from '../../shared/config/errors';
import type { BrazeSandbox } from '../../tools/braze-sandbox/server';
import { startAzurite, type Azurite } from '../../tools/local/azurite';
import { freshContainer, newEvidence, runPipeline, type RunTarget } from '../chaos/harness';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'bad');
const EXPORT_PATH = 'CustomerInsights_ep/BrazeFeed';
const API_KEY = 'endpoint-test-key-4f1e9a';
const rawConfig = {
  identity: { externalId: 'BrazeCustomerId', email: 'PrimaryEmail', whenExternalIdMissing: 'alias' },
  segments: [{ table: 'Gold', brazeSegmentApiId: 'seg-gold' }],
  attributes: { FirstName: 'first_name', LoyaltyPoints: 'ci_points' },
};

/**
 * End to end: a run whose BRAZE_REST_ENDPOINT is not a Braze REST host over HTTPS is refused before any request,
 * so the API key goes nowhere. A local server that counts connections must see none.
 */
describe('Braze endpoint safety, end to end', () => {
  let azurite: Azurite;
  let listener: Server;
  let port = 0;
  let connections = 0;
  let target: RunTarget;

  beforeAll(async () => {
    azurite = await startAzurite();
    listener = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const address = listener.address();
    port = typeof address === 'object' && address ? address.port : 0;
    const exportContainer = await freshContainer(azurite.connectionString, 'ep-export');
    for (const [blob, file] of [
      // As CI writes: the partition, then model.json (a partition written later reads as partial).
      ['Gold/Gold_1.csv', 'baseline.csv'],
      ['model.json', 'model.json'],
    ]) {
      const content = readFileSync(path.join(FIXTURES, file));
      await exportContainer.getBlockBlobClient(`${EXPORT_PATH}/${blob}`).upload(content, content.length);
    }
    target = {
      connectionString: azurite.connectionString,
      exportContainer,
      stateContainer: await freshContainer(azurite.connectionString, 'ep-state'),
      exportContainerName: exportContainer.containerName,
      exportPath: EXPORT_PATH,
      rawConfig,
      // Only url and apiKey are read: the run must never get as far as Braze.
      sandbox: { url: '', apiKey: API_KEY } as BrazeSandbox,
      evidence: newEvidence(),
    };
  });
  afterAll(async () => {
    await new Promise((resolve) => listener?.close(resolve));
    await azurite?.stop();
  });

  const cases: Array<[string, () => string, string, string]> = [
    [
      'plain http to loopback without the test flag',
      () => `http://127.0.0.1:${port}`,
      'false',
      'BRAZE_ALLOW_INSECURE_LOOPBACK',
    ],
    [
      'https to loopback without the test flag',
      () => `https://localhost:${port}`,
      'false',
      'BRAZE_ALLOW_INSECURE_LOOPBACK',
    ],
    [
      'an IPv6 loopback literal without the test flag',
      () => `http://[::1]:${port}`,
      'false',
      'BRAZE_ALLOW_INSECURE_LOOPBACK',
    ],
    [
      'a Braze host in user information',
      () => `https://rest.iad-01.braze.com@127.0.0.1:${port}`,
      'true',
      'user information',
    ],
    [
      'user information with a password',
      () => `http://rest.iad-01.braze.com:x@127.0.0.1:${port}/`,
      'true',
      'user information',
    ],
    [
      'a Braze host in the fragment',
      () => `http://127.0.0.1:${port}/#@rest.iad-01.braze.com`,
      'true',
      'path, query or fragment',
    ],
    [
      'a Braze host in the path',
      () => `http://127.0.0.1:${port}/rest.iad-01.braze.com`,
      'true',
      'path, query or fragment',
    ],
    ['a Braze REST host over http', () => 'http://rest.iad-01.braze.com', 'false', 'must use https'],
    [
      'a host that only starts like Braze',
      () => 'https://rest.iad-01.braze.com.127.0.0.1.nip.io',
      'false',
      'is not a Braze REST host',
    ],
    ['a host that only ends like Braze', () => 'https://evilbraze.com', 'false', 'is not a Braze REST host'],
    ['an IPv4 literal', () => 'https://192.0.2.10', 'false', 'not an IP address'],
    ['an IPv4-mapped IPv6 literal', () => `https://[::ffff:127.0.0.1]`, 'false', 'not an IP address'],
    ['a decimal IP', () => 'https://2130706433', 'false', 'is not a Braze REST host'],
    [
      'a Braze host with another port',
      () => `https://rest.iad-01.braze.com:${port}`,
      'false',
      'must not contain a port',
    ],
    ['another scheme', () => `ftp://rest.iad-01.braze.com`, 'false', 'must use https, not ftp'],
  ];

  it.each(cases)('refuses %s before any request is made', async (_case, endpoint, allowLoopback, reason) => {
    const run = await runPipeline(target, {
      BRAZE_REST_ENDPOINT: endpoint(),
      BRAZE_ALLOW_INSECURE_LOOPBACK: allowLoopback,
    });
    expect(run.kind).toBe('failed');
    if (run.kind !== 'failed') return;
    expect(run.error).toBeInstanceOf(ConfigError);
    const message = (run.error as Error).message;
    expect(message).toContain('BRAZE_REST_ENDPOINT');
    expect(message).toContain(reason);
    expect(message).not.toContain(API_KEY);
    expect(connections).toBe(0);
  });

  it('the counting server does see a run that is allowed to reach it (the check above can fail)', async () => {
    const run = await runPipeline(target, {
      BRAZE_REST_ENDPOINT: `http://127.0.0.1:${port}`,
      BRAZE_ALLOW_INSECURE_LOOPBACK: 'true',
      BRAZE_MAX_ATTEMPTS: '1',
    });
    expect(run.kind).toBe('failed');
    expect(connections).toBeGreaterThan(0);
  });
});
