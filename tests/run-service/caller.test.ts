import { readFileSync } from 'node:fs';
import path from 'node:path';
import { HttpRequest, InvocationContext, type HttpResponseInit } from '@azure/functions';
import { validateExportConfig } from '../../shared/config/exportConfig';
import { renderRunReport } from '../../shared/report/runReport';
import { callerForLogs, cliCaller } from '../../shared/run/caller';
import { getActiveRunId } from '../../shared/run/lock';
import { getRun, listRuns } from '../../shared/run/records';
import { scheduledExport } from '../../functions/scheduledExport/handler';
import { startExport } from '../../functions/startExport/handler';
import { startMassRemovalRun } from '../../functions/startMassRemovalRun/handler';
import { formatRecord } from '../../tools/cli/report';
import { Azurite, startAzurite } from '../../tools/local/azurite';
import { freshAppDependencies, queuedMessageCount, testSummary } from './support';

/** Every run records who or what started it; only the master key may let mass removals through. */
const exportConfig = validateExportConfig({
  identity: { externalId: 'BrazeCustomerId', email: 'PrimaryEmail' },
  segments: [{ table: 'HighValueSegment', brazeSegmentApiId: '3bbc4555-8fa0-4c9b-a5c0-4505edf3e064' }],
});
const FUNCTIONS = path.join(__dirname, '..', '..', 'functions');

function context(functionName: string) {
  const lines: string[] = [];
  const invocation = new InvocationContext({
    invocationId: 'invocation-1',
    functionName,
    logHandler: (level, ...args) => lines.push(`${level} ${args.join(' ')}`),
  });
  return { invocation, lines };
}

const post = (url: string, body: string) => new HttpRequest({ method: 'POST', url, body: { string: body } });
const jsonOf = (response: HttpResponseInit) => response.jsonBody as Record<string, string>;

describe('run callers', () => {
  let azurite: Azurite;
  beforeAll(async () => {
    azurite = await startAzurite({ queue: true });
  });
  afterAll(async () => azurite?.stop());

  const freshApp = () => freshAppDependencies(azurite.connectionString, exportConfig);

  it('POST /api/exports/runs records http:function-key as the caller, and logs it', async () => {
    const app = await freshApp();
    const { invocation, lines } = context('startExport');
    const response = await startExport(post('https://app.example.net/api/exports/runs?code=k', '{}'), invocation, app);
    expect(response.status).toBe(202);
    const record = await getRun(app.stateContainer, jsonOf(response).runId);
    expect(record?.request).toMatchObject({ trigger: 'http', caller: 'http:function-key', allowMassRemoval: false });
    expect(lines.join('\n')).toMatch(/run started over HTTP .*"caller":"http:function-key"/);
  });

  it('refuses allowMassRemoval with a function key (403) and starts nothing', async () => {
    const app = await freshApp();
    const response = await startExport(
      post('https://app.example.net/api/exports/runs', '{"allowMassRemoval": true}'),
      context('startExport').invocation,
      app,
    );
    expect(response.status).toBe(403);
    expect(jsonOf(response).error).toMatch(
      /allowMassRemoval needs the master key: use POST \/api\/exports\/mass-removal-runs/,
    );
    expect(await listRuns(app.stateContainer, 10)).toEqual([]);
    expect(await getActiveRunId(app.stateContainer)).toBeNull();
    expect(await queuedMessageCount({ ...app, logger: { log() {} } })).toBe(0);
  });

  it('POST /api/exports/mass-removal-runs (master key) starts a mass-removal run recorded as http:master-key', async () => {
    const app = await freshApp();
    const response = await startMassRemovalRun(
      post('https://app.example.net/api/exports/mass-removal-runs?code=master', '{"dryRun": true}'),
      context('startMassRemovalRun').invocation,
      app,
    );
    expect(response.status).toBe(202);
    const { runId, statusUrl } = jsonOf(response);
    expect(statusUrl).toBe(`https://app.example.net/api/exports/runs/${runId}`);
    const record = await getRun(app.stateContainer, runId);
    expect(record?.request).toMatchObject({ caller: 'http:master-key', allowMassRemoval: true, dryRun: true });

    const contradictory = await startMassRemovalRun(
      post('https://app.example.net/api/exports/mass-removal-runs', '{"allowMassRemoval": false}'),
      context('startMassRemovalRun').invocation,
      await freshApp(),
    );
    expect(contradictory.status).toBe(400);
  });

  it('registers the mass-removal endpoint at authLevel admin (master key) and the others at function level', () => {
    const registration = (name: string) => readFileSync(path.join(FUNCTIONS, name, 'index.ts'), 'utf8');
    expect(registration('startMassRemovalRun')).toMatch(/authLevel: 'admin'/);
    expect(registration('startMassRemovalRun')).toMatch(/route: 'exports\/mass-removal-runs'/);
    expect(registration('startExport')).toMatch(/authLevel: 'function'/);
  });

  it('the timer records timer:scheduledExport', async () => {
    const app = await freshApp();
    const timer = {
      isPastDue: false,
      schedule: { adjustForDST: true },
      scheduleStatus: { last: '', next: '', lastUpdated: '' },
    };
    await scheduledExport(timer, context('scheduledExport').invocation, app);
    const [record] = await listRuns(app.stateContainer, 1);
    expect(record.request).toMatchObject({ trigger: 'timer', caller: 'timer:scheduledExport' });
  });

  it('status and the report show the caller; logs hash a person (the CLI user) but keep key levels readable', () => {
    const caller = cliCaller('jdoe');
    expect(caller).toBe('cli:jdoe');
    expect(callerForLogs(caller)).toMatch(/^cli:#[0-9a-f]{12}$/);
    expect(callerForLogs('http:master-key')).toBe('http:master-key');

    const queued = {
      runId: '20261204T120000Z-1a2b3c4d',
      status: 'queued' as const,
      request: { dryRun: false, fullResync: false, allowMassRemoval: false, trigger: 'cli' as const, caller },
      createdAt: '2026-12-04T12:00:00.000Z',
      updatedAt: '2026-12-04T12:00:00.000Z',
      invocations: 0,
    };
    expect(formatRecord(queued)).toContain('(cli by cli:jdoe, created');
    const summary = testSummary(queued.runId, { caller });
    expect(formatRecord({ ...queued, status: 'succeeded', summary })).toMatch(/\n {2}started by +cli:jdoe\n/);
    expect(renderRunReport(summary, [])).toContain('started by <code>cli:jdoe</code>');
  });
});
