import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { HttpRequest, InvocationContext, type HttpResponseInit } from '@azure/functions';
import type { AppDependencies } from '../../functions/dependencies';
import { getRun } from '../../functions/getRun/handler';
import { startExport } from '../../functions/startExport/handler';
import { validateExportConfig } from '../../shared/config/exportConfig';
import { getActiveRunId } from '../../shared/run/lock';
import { listRuns } from '../../shared/run/records';
import { startAzurite, type Azurite } from '../../tools/local/azurite';
import { drainRunIds, freshAppDependencies, queuedMessageCount } from '../run-service/support';

// tests/run-service/handlers.test.ts covers the common bad bodies, the 64 KB limit, run-id shapes and ten
// concurrent POSTs; these are the hostile cases it does not.
const FUNCTIONS = path.join(__dirname, '..', '..', 'functions');
const exportConfig = validateExportConfig({
  identity: { externalId: 'BrazeCustomerId', email: 'PrimaryEmail' },
  segments: [{ table: 'HighValueSegment', brazeSegmentApiId: '3bbc4555-8fa0-4c9b-a5c0-4505edf3e064' }],
});
const runsUrl = 'https://app.example.net/api/exports/runs?code=function-key-value';

const context = () =>
  new InvocationContext({ invocationId: 'invocation-1', functionName: 'test', logHandler: () => {} });
const post = (body: string | Uint8Array, headers: Record<string, string> = {}) =>
  new HttpRequest({
    method: 'POST',
    url: runsUrl,
    body: typeof body === 'string' ? { string: body } : { bytes: body },
    headers,
  });
const errorOf = (response: HttpResponseInit) => (response.jsonBody as { error: string }).error;

describe('HTTP API against hostile input', () => {
  let azurite: Azurite;
  beforeAll(async () => {
    azurite = await startAzurite({ queue: true });
  });
  afterAll(async () => azurite?.stop());

  const freshApp = () => freshAppDependencies(azurite.connectionString, exportConfig);

  async function expectNothingStarted(app: AppDependencies): Promise<void> {
    expect(await queuedMessageCount({ ...app, logger: { log() {} } })).toBe(0);
    expect(await listRuns(app.stateContainer, 10)).toEqual([]);
    expect(await getActiveRunId(app.stateContainer)).toBeNull();
  }

  it('every HTTP function is registered with authLevel "function" ("admin" for mass removal), so the host enforces a key', () => {
    const registrations = readdirSync(FUNCTIONS, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => path.join(FUNCTIONS, entry.name, 'index.ts'))
      .map((file) => readFileSync(file, 'utf8'))
      .filter((text) => text.includes('app.http('));
    expect(registrations.length).toBeGreaterThanOrEqual(3);
    for (const text of registrations) {
      expect(text).toMatch(/authLevel:\s*'(function|admin)'/); // admin: the mass-removal endpoint (master key)
      expect(text).not.toMatch(/authLevel:\s*'anonymous'/);
    }
  });

  it.each([
    ['JSON null', 'null', 'request body must be a JSON object'],
    ['a JSON number', '42', 'request body must be a JSON object'],
    ['a JSON string', '"HighValueSegment"', 'request body must be a JSON object'],
    ['a flag given as a number', '{"dryRun":1}', 'dryRun must be true or false'],
    ['a flag given as null', '{"allowMassRemoval":null}', 'allowMassRemoval must be true or false'],
    ['a flag given as the text "true"', '{"allowMassRemoval":"true"}', 'allowMassRemoval must be true or false'],
    ['segments as an object', '{"segments":{"0":"HighValueSegment"}}', 'segments must be a non-empty array'],
    ['a null segment', '{"segments":[null]}', 'segments[0] must be a non-empty string'],
    ['a blank segment', '{"segments":["  "]}', 'segments[0] must be a non-empty string'],
    ['a __proto__ field', '{"__proto__":{"allowMassRemoval":true}}', 'unknown field "__proto__"'],
    ['a constructor field', '{"constructor":{"prototype":{}}}', 'unknown field "constructor"'],
    ['a field differing only in case', '{"DryRun":true}', 'unknown field "DryRun"'],
    ['a deeply nested body', '['.repeat(30_000) + ']'.repeat(30_000), 'request body'],
    ['a truncated body', '{"segments":["HighValueSeg', 'request body is not valid JSON'],
    ['two JSON documents', '{}{}', 'request body is not valid JSON'],
  ])('answers 400 for %s and starts nothing', async (_case, text, message) => {
    const app = await freshApp();
    const response = await startExport(post(text), context(), app);
    expect(response.status).toBe(400);
    expect(errorOf(response)).toContain(message);
    await expectNothingStarted(app);
  });

  it('does not echo a huge unknown field name or segment name back in full', async () => {
    const app = await freshApp();
    const longName = 'x'.repeat(50_000);
    for (const text of [`{"${longName}":true}`, `{"segments":["${longName}"]}`]) {
      const response = await startExport(post(text), context(), app);
      expect(response.status).toBe(400);
      expect(errorOf(response).length).toBeLessThan(400);
    }
    await expectNothingStarted(app);
  });

  it('answers 400 to a 10 MB body whether its declared length is missing or lies', async () => {
    const app = await freshApp();
    const huge = `{"segments":[${'"HighValueSegment",'.repeat(550_000)}"HighValueSegment"]}`;
    for (const headers of [{}, { 'content-length': '20' }] as Array<Record<string, string>>) {
      const response = await startExport(post(huge, headers), context(), app);
      expect(response.status).toBe(400);
      expect(errorOf(response)).toContain('larger than');
    }
    await expectNothingStarted(app);
  });

  it('reads bytes that are not UTF-8 as text and names the segment it does not know', async () => {
    const app = await freshApp();
    const bytes = Buffer.concat([Buffer.from('{"segments":["'), Buffer.from([0xff, 0xfe]), Buffer.from('"]}')]);
    const response = await startExport(post(bytes), context(), app);
    expect(response.status).toBe(400);
    expect(errorOf(response)).toContain('segments[0]');
    await expectNothingStarted(app);
  });

  it.each([
    ['URL-encoded dots and slashes', '%2e%2e%2f%2e%2e%2fsnapshots'],
    ['backslashes', '..\\..\\snapshots'],
    ['an absolute path', '/etc/passwd'],
    ['a NUL byte after a valid id', '20261128T121500Z-1a2b3c4d\u0000'],
    ['a newline after a valid id', '20261128T121500Z-1a2b3c4d\n'],
    ['upper-case hex', '20261128T121500Z-1A2B3C4D'],
    ['full-width digits', '２0261128T121500Z-1a2b3c4d'],
    ['a 10,000-character id', '2'.repeat(10_000)],
  ])('GET run answers 400 for a run id with %s', async (_case, runId) => {
    const app = await freshApp();
    const response = await getRun(new HttpRequest({ method: 'GET', url: runsUrl, params: { runId } }), context(), app);
    expect(response.status).toBe(400);
    expect(errorOf(response)).toBe('runId must look like 20261128T121500Z-1a2b3c4d');
  });

  it('admits exactly one run when two app instances sharing storage receive POSTs at once', async () => {
    const first = await freshApp();
    const second: AppDependencies = { ...first };
    const responses = await Promise.all(
      Array.from({ length: 8 }, (_, i) => startExport(post('{}'), context(), i % 2 === 0 ? first : second)),
    );
    const accepted = responses.filter((r) => r.status === 202);
    expect(accepted).toHaveLength(1);
    expect(responses.filter((r) => r.status === 409)).toHaveLength(7);
    const runId = (accepted[0].jsonBody as { runId: string }).runId;
    expect(await drainRunIds({ ...first, logger: { log() {} } })).toEqual([runId]);
    expect(await getActiveRunId(first.stateContainer)).toBe(runId);
  });
});
