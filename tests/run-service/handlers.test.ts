import { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { BlobServiceClient } from '@azure/storage-blob';
import { validateExportConfig } from '../../shared/config/exportConfig';
import { createRun, getRun } from '../../shared/run/records';
import { encodeRunMessage } from '../../shared/run/queue';
import type { RunExecutor, RunRecord } from '../../shared/run/types';
import { Azurite, startAzurite } from '../../tools/local/azurite';
import { getRun as getRunHandler } from '../../functions/getRun/handler';
import { listRuns as listRunsHandler } from '../../functions/listRuns/handler';
import { runPoison } from '../../functions/runPoison/handler';
import { runWorker } from '../../functions/runWorker/handler';
import { scheduledExport } from '../../functions/scheduledExport/handler';
import { MAX_BODY_BYTES, startExport } from '../../functions/startExport/handler';
import { drainRunIds, freshAppDependencies, httpRequest, queuedMessageCount, testSummary } from './support';

const exportConfig = validateExportConfig({
  identity: { externalId: 'BrazeCustomerId', email: 'PrimaryEmail' },
  segments: [
    { table: 'HighValueSegment', brazeSegmentApiId: '3bbc4555-8fa0-4c9b-a5c0-4505edf3e064' },
    { table: 'ChurnRisk', brazeSegmentApiId: 'a1b2c3d4-0000-4000-8000-000000000001' },
  ],
});
const runsUrl = 'https://app.example.net/api/exports/runs?code=function-key-value';

function testContext(functionName: string) {
  const lines: string[] = [];
  const context = new InvocationContext({
    invocationId: 'invocation-1',
    functionName,
    logHandler: (level, ...args) => lines.push(`${level} ${args.join(' ')}`),
  });
  return { context, lines };
}

function post(body?: string, headers: Record<string, string> = {}): HttpRequest {
  return new HttpRequest({
    method: 'POST',
    url: runsUrl,
    body: body === undefined ? undefined : { string: body },
    headers,
  });
}

function body(response: HttpResponseInit): Record<string, unknown> {
  return response.jsonBody as Record<string, unknown>;
}

describe('function handlers', () => {
  let azurite: Azurite;
  beforeAll(async () => {
    azurite = await startAzurite({ queue: true });
  });
  afterAll(async () => azurite.stop());

  const freshApp = (executor?: RunExecutor) => freshAppDependencies(azurite.connectionString, exportConfig, executor);

  describe('startExport', () => {
    it('answers 202 with the status URL, records the run as queued and queues it', async () => {
      const app = await freshApp();
      const { context, lines } = testContext('startExport');
      const response = await startExport(
        post('{"segments":["3bbc4555-8fa0-4c9b-a5c0-4505edf3e064"],"dryRun":true}'),
        context,
        app,
      );

      expect(response.status).toBe(202);
      const { runId, status, statusUrl } = body(response) as { runId: string; status: string; statusUrl: string };
      expect(status).toBe('queued');
      expect(statusUrl).toBe(`https://app.example.net/api/exports/runs/${runId}`);
      expect((response.headers as Record<string, string>).Location).toBe(statusUrl);
      expect(await getRun(app.stateContainer, runId)).toMatchObject({
        status: 'queued',
        request: { segments: ['HighValueSegment'], dryRun: true, fullResync: false, trigger: 'http' },
      });
      expect(await drainRunIds({ ...app, logger: { log() {} } })).toEqual([runId]);
      expect(lines.join('\n')).toContain('run queued');
      expect(lines.join('\n')).not.toContain('function-key-value');
    });

    it('starts a run of every segment for an empty body', async () => {
      const app = await freshApp();
      const response = await startExport(post(), testContext('startExport').context, app);
      expect(response.status).toBe(202);
      const record = await getRun(app.stateContainer, body(response).runId as string);
      expect(record?.request).toEqual({ ...httpRequest, caller: 'http:function-key', segments: undefined });
      expect(record?.request.segments).toBeUndefined();
    });

    it('records maxRetryTimeSeconds, the HTTP way to fail fast while Braze is down', async () => {
      const app = await freshApp();
      const response = await startExport(post('{"maxRetryTimeSeconds":60}'), testContext('startExport').context, app);
      expect(response.status).toBe(202);
      const record = await getRun(app.stateContainer, body(response).runId as string);
      expect(record?.request).toMatchObject({ maxRetryTimeSeconds: 60, trigger: 'http' });
    });

    it('answers 409 with the active run id while a run is active', async () => {
      const app = await freshApp();
      const first = await startExport(post('{}'), testContext('startExport').context, app);
      const second = await startExport(post('{"fullResync":true}'), testContext('startExport').context, app);
      expect(second.status).toBe(409);
      expect(body(second)).toEqual({ error: 'another run is in progress', activeRunId: body(first).runId });
    });

    it.each([
      ['malformed JSON', '{"dryRun": tru', 'request body is not valid JSON'],
      ['a body that is not an object', '["HighValueSegment"]', 'request body must be a JSON object'],
      ['an unknown field', '{"dryrun":true}', 'unknown field "dryrun": expected only segments, dryRun, fullResync'],
      ['a flag of the wrong type', '{"fullResync":"yes"}', 'fullResync must be true or false'],
      ['a max retry time below 1 s', '{"maxRetryTimeSeconds":0}', 'maxRetryTimeSeconds must be a whole number'],
      ['segments not an array', '{"segments":"HighValueSegment"}', 'segments must be a non-empty array'],
      ['an empty segment list', '{"segments":[]}', 'segments must be a non-empty array'],
      ['a segment of the wrong type', '{"segments":["ChurnRisk",7]}', 'segments[1] must be a non-empty string'],
      ['an unknown segment', '{"segments":["ChurnRisk","Nope"]}', 'segments[1]: "Nope" is not a configured segment'],
      ['a body over 64 KB', JSON.stringify({ segments: Array(MAX_BODY_BYTES / 8).fill('ChurnRisk') }), '64 KB'],
    ])('answers 400 for %s, naming the problem, and starts nothing', async (_case, text, message) => {
      const app = await freshApp();
      const response = await startExport(post(text), testContext('startExport').context, app);
      expect(response.status).toBe(400);
      expect(body(response).error).toContain(message === '64 KB' ? `larger than ${MAX_BODY_BYTES} bytes` : message);
      expect(await queuedMessageCount({ ...app, logger: { log() {} } })).toBe(0);
      expect((await listRunsHandler(get(), testContext('listRuns').context, app)).jsonBody).toEqual({ runs: [] });
    });

    it('rejects a body whose declared length is over the limit without reading it', async () => {
      const app = await freshApp();
      const request = post('{}', { 'content-length': String(MAX_BODY_BYTES + 1) });
      const response = await startExport(request, testContext('startExport').context, app);
      expect(response.status).toBe(400);
      expect(request.bodyUsed).toBe(false);
    });

    it('admits exactly one of ten concurrent POSTs', async () => {
      const app = await freshApp();
      const responses = await Promise.all(
        Array.from({ length: 10 }, () => startExport(post('{}'), testContext('startExport').context, app)),
      );
      const accepted = responses.filter((r) => r.status === 202);
      expect(accepted).toHaveLength(1);
      const conflicts = responses.filter((r) => r.status === 409);
      expect(conflicts).toHaveLength(9);
      for (const conflict of conflicts) expect(body(conflict).activeRunId).toBe(body(accepted[0]).runId);
      expect(await drainRunIds({ ...app, logger: { log() {} } })).toEqual([body(accepted[0]).runId]);
    });
  });

  function get(params: Record<string, string> = {}, query: Record<string, string> = {}): HttpRequest {
    return new HttpRequest({ method: 'GET', url: runsUrl, params, query });
  }

  describe('getRun and listRuns', () => {
    it('returns a run record, 404 for an unknown run and 400 for ids that are not run ids', async () => {
      const app = await freshApp();
      const record = await createRun(app.stateContainer, { request: httpRequest });
      const found = await getRunHandler(get({ runId: record.runId }), testContext('getRun').context, app);
      expect(found.status).toBe(200);
      expect(found.jsonBody).toEqual(record);

      const missing = await getRunHandler(
        get({ runId: '20261128T121500Z-00000000' }),
        testContext('getRun').context,
        app,
      );
      expect(missing.status).toBe(404);
      for (const runId of ['../x', '..%2F..%2Frecord', `${record.runId}/../x`, '', `${record.runId} `]) {
        const response = await getRunHandler(get({ runId }), testContext('getRun').context, app);
        expect(response.status).toBe(400);
        expect(body(response).error).toContain('runId must look like');
      }
    });

    it('lists runs newest first, 20 by default, up to the limit', async () => {
      const app = await freshApp();
      let now = Date.parse('2026-11-28T12:00:00Z');
      const clock = () => (now += 1000);
      const created: RunRecord[] = [];
      for (let i = 0; i < 22; i++) created.push(await createRun(app.stateContainer, { request: httpRequest, clock }));
      const newestFirst = created.map((r) => r.runId).reverse();

      const all = await listRunsHandler(get(), testContext('listRuns').context, app);
      expect((body(all).runs as RunRecord[]).map((r) => r.runId)).toEqual(newestFirst.slice(0, 20));
      const three = await listRunsHandler(get({}, { limit: '3' }), testContext('listRuns').context, app);
      expect((body(three).runs as RunRecord[]).map((r) => r.runId)).toEqual(newestFirst.slice(0, 3));
      for (const limit of ['0', '101', 'ten', '5.5', '-1']) {
        const response = await listRunsHandler(get({}, { limit }), testContext('listRuns').context, app);
        expect(response.status).toBe(400);
        expect(body(response).error).toBe('limit must be a whole number from 1 to 100');
      }
    });
  });

  it('answers 500 naming only the invocation when storage refuses, and logs the status without secrets', async () => {
    const app = await freshApp();
    const wrongKey = Buffer.from('not-the-account-key').toString('base64');
    const refused = azurite.connectionString.replace(/AccountKey=[^;]+/, `AccountKey=${wrongKey}`);
    const { context, lines } = testContext('listRuns');
    const stateContainer = BlobServiceClient.fromConnectionString(refused).getContainerClient('anything');

    const response = await listRunsHandler(get(), context, { ...app, stateContainer });
    expect(response.status).toBe(500);
    expect(body(response)).toEqual({ error: 'internal error; see the function logs for invocation invocation-1' });
    expect(lines.join('\n')).toContain('"status":403');
    expect(lines.join('\n')).not.toContain(wrongKey);
  });

  describe('scheduledExport, runWorker and runPoison', () => {
    const timer = {
      isPastDue: false,
      schedule: { adjustForDST: true },
      scheduleStatus: { last: '', next: '', lastUpdated: '' },
    };

    it('starts a timer run that the worker executes, and skips the timer while a run is active', async () => {
      let executions = 0;
      const app = await freshApp(async ({ runId, request }) => {
        executions++;
        return { kind: 'completed', summary: testSummary(runId, { dryRun: request.dryRun }) };
      });
      await scheduledExport(timer, testContext('scheduledExport').context, app);
      const { receivedMessageItems } = await app.queue.receiveMessages();
      expect(receivedMessageItems).toHaveLength(1);

      const skipped = testContext('scheduledExport');
      await scheduledExport(timer, skipped.context, app);
      expect(skipped.lines.join('\n')).toContain('scheduled export skipped: a run is already active');
      expect(await queuedMessageCount({ ...app, logger: { log() {} } })).toBe(1);

      // The host hands the trigger the decoded JSON object.
      const message = JSON.parse(Buffer.from(receivedMessageItems[0].messageText, 'base64').toString('utf8'));
      const result = await runWorker(message, testContext('runWorker').context, app);
      expect(result).toMatchObject({
        kind: 'completed',
        record: { status: 'succeeded', request: { trigger: 'timer' } },
      });
      expect(executions).toBe(1);
    });

    it('rethrows a retryable failure so the host retries the message', async () => {
      const app = await freshApp(async () => {
        throw Object.assign(new Error('storage timed out'), { code: 'ETIMEDOUT' });
      });
      const run = await createRun(app.stateContainer, { request: httpRequest });
      await expect(runWorker({ runId: run.runId }, testContext('runWorker').context, app)).rejects.toThrow(
        'storage timed out',
      );
      expect((await getRun(app.stateContainer, run.runId))?.status).toBe('running');
    });

    it('marks the run of a poisoned message failed', async () => {
      const app = await freshApp();
      const started = await startExport(post('{}'), testContext('startExport').context, app);
      const runId = body(started).runId as string;
      const record = await runPoison(encodeRunMessage({ runId }), testContext('runPoison').context, app);
      expect(record).toMatchObject({ status: 'failed', error: expect.stringContaining('poison queue') });
      expect((await startExport(post('{}'), testContext('startExport').context, app)).status).toBe(202);
    });
  });
});
