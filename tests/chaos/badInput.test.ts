import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ContainerClient } from '@azure/storage-blob';
import { ConfigError } from '../../shared/config/errors';
import { loadExportConfig } from '../../shared/config/exportConfig';
import { readRejectedRows, type RejectedRow } from '../../shared/run/artifacts';
import { startBrazeSandbox, type BrazeSandbox } from '../../tools/braze-sandbox/server';
import { startAzurite, type Azurite } from '../../tools/local/azurite';
import { describeLeaks, findLeaks, withExtra } from '../security/leakScanner';
import { evidenceText, freshContainer, newEvidence, rowsAccountedFor, runPipeline, type RunTarget } from './harness';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'bad');
const EXPORT_PATH = 'CustomerInsights_bad/BrazeFeed';
const PARTITION = `${EXPORT_PATH}/Gold/Gold_1.csv`;
const rawConfig = {
  identity: { externalId: 'BrazeCustomerId', email: 'PrimaryEmail', whenExternalIdMissing: 'alias' },
  segments: [{ table: 'Gold', brazeSegmentApiId: 'seg-gold' }],
  attributes: { FirstName: 'first_name', LoyaltyPoints: 'ci_points' },
};
const BASELINE_IDS = ['BZ-1', 'BZ-2', 'BZ-3', 'BZ-4', 'BZ-5', 'BZ-6'];
const fixture = (name: string) => readFileSync(path.join(FIXTURES, name));

/**
 * Bad input (design §9): each case first syncs a good export of six members, then runs on a broken one. Each ends
 * with a clear error or per-row rejections naming blob, line and reason; nothing wrong is sent; no mass removal.
 */
describe('bad input: clear errors or per-row rejections, nothing wrong sent, no mass removal', () => {
  let azurite: Azurite;
  let sandbox: BrazeSandbox;
  let exportContainer: ContainerClient;
  const evidence = newEvidence();

  beforeAll(async () => {
    azurite = await startAzurite();
    sandbox = await startBrazeSandbox({ rateLimit: null });
  });
  afterAll(async () => {
    await sandbox?.close();
    await azurite?.stop();
  });

  async function upload(blobName: string, content: Buffer | string): Promise<void> {
    await exportContainer.getBlockBlobClient(blobName).upload(content, Buffer.byteLength(content));
  }

  /** A new export as CI writes it: the partition, then model.json (a partition written later is read as partial). */
  async function replacePartition(content: Buffer): Promise<void> {
    await upload(PARTITION, content);
    await upload(`${EXPORT_PATH}/model.json`, fixture('model.json'));
  }

  /** A fresh export container, state and Braze, with the six baseline members synced. */
  async function baselineSynced(): Promise<RunTarget> {
    sandbox.reset('all');
    exportContainer = await freshContainer(azurite.connectionString, 'bad-export');
    const target: RunTarget = {
      connectionString: azurite.connectionString,
      exportContainer,
      stateContainer: await freshContainer(azurite.connectionString, 'bad-state'),
      exportContainerName: exportContainer.containerName,
      exportPath: EXPORT_PATH,
      rawConfig,
      sandbox,
      evidence,
    };
    await replacePartition(fixture('baseline.csv'));
    const run = await runPipeline(target);
    if (run.kind !== 'completed') throw run.error;
    expect(run.summary.objectsSent).toBe(6);
    return target;
  }

  function expectBaselineMembersKept(): void {
    for (const id of BASELINE_IDS) expect(sandbox.findProfile({ external_id: id })?.attributes['seg-gold']).toBe(true);
  }

  async function rejectedRows(target: RunTarget, runId: string): Promise<RejectedRow[]> {
    return readRejectedRows(target.stateContainer, runId);
  }

  describe('broken files fail the run with a message naming the blob (and line), before anything is sent', () => {
    it.each([
      [
        'a CSV truncated inside a quoted value',
        'truncated-in-quote.csv',
        null,
        `${PARTITION} line 5: a quoted value is never closed`,
      ],
      ['an unbalanced quote', 'unbalanced-quote.csv', null, `${PARTITION} line 3: a quoted value is never closed`],
      [
        'model.json that is not JSON',
        null,
        'model-not-json.txt',
        `${EXPORT_PATH}/model.json: model.json is not valid JSON`,
      ],
      [
        'model.json without entities',
        null,
        'model-no-entities.json',
        `${EXPORT_PATH}/model.json: model.json has no "entities" array`,
      ],
      [
        'model.json that lacks the configured table',
        null,
        'model-missing-table.json',
        `segments[0].table: "Gold" is not in ${EXPORT_PATH}/model.json; tables found: Silver`,
      ],
      ['a partition location outside the container', null, 'model-outside-container.json', 'escapes the container'],
      [
        'a partition in another storage account',
        null,
        'model-other-account.json',
        'is outside the configured container',
      ],
      [
        'a partition blob that does not exist',
        null,
        'model-missing-partition.json',
        `${EXPORT_PATH}/Gold/Gold_2.csv: partition listed in ${EXPORT_PATH}/model.json does not exist`,
      ],
    ])('%s', async (_case, csv, model, message) => {
      const target = await baselineSynced();
      const requestsBefore = sandbox.requests().length;
      if (csv) await upload(PARTITION, fixture(csv));
      if (model) await upload(`${EXPORT_PATH}/model.json`, fixture(model));
      const run = await runPipeline(target);
      expect(run.kind).toBe('failed');
      if (run.kind !== 'failed') return;
      expect((run.error as Error).message).toContain(message);
      expect(sandbox.requests().length).toBe(requestsBefore);
      expectBaselineMembersKept();
    });
  });

  describe('bad rows are rejected one by one, naming blob, line and reason; the rest is delivered', () => {
    it.each([
      [
        'a truncated last row',
        'truncated-row.csv',
        // The file ends inside that row: it may be cut short.
        [
          {
            line: 7,
            stage: 'source',
            reason: 'the file ends inside this row (no line break after it): it may be cut short',
          },
        ],
      ],
      [
        'rows with the wrong number of cells',
        'wrong-column-count.csv',
        [
          { line: 7, stage: 'source', reason: 'expected 5 cells, found 6' },
          { line: 8, stage: 'source', reason: 'expected 5 cells, found 4' },
        ],
      ],
      [
        'a row with bytes that are not UTF-8',
        'invalid-utf8.csv',
        [{ line: 7, stage: 'source', column: 'FirstName', reason: 'bytes that are not valid UTF-8' }],
      ],
      [
        'an external id over 987 bytes',
        'long-external-id.csv',
        [{ line: 7, stage: 'mapping', column: 'BrazeCustomerId', reason: 'external id longer than 987 bytes' }],
      ],
      [
        'a string over 255 characters',
        'long-string.csv',
        [{ line: 7, stage: 'mapping', column: 'FirstName', reason: 'value longer than 255 characters' }],
      ],
    ])('%s', async (_case, csv, expectedRejections) => {
      const target = await baselineSynced();
      const requestsBefore = sandbox.requests().length;
      await replacePartition(fixture(csv));
      const run = await runPipeline(target);
      if (run.kind !== 'completed') throw run.error;
      const { summary } = run;
      // An unreadable row names no user: the segment's removals are held so that no member is lost to it.
      const unreadable = expectedRejections.some((r) => r.stage === 'source');
      expect(summary.status).toBe(unreadable ? 'held' : 'succeeded');
      if (unreadable) expect(summary.segments[0].heldReason).toContain('could not be read');
      expect(rowsAccountedFor(summary)).toBe(summary.profilesRead);
      expect(summary.rejected).toBe(expectedRejections.length);
      const rows = await rejectedRows(target, summary.runId);
      expect(rows).toEqual(expectedRejections.map((r) => expect.objectContaining({ ...r, blob: PARTITION })));
      expectBaselineMembersKept();
      // Only the new rows' objects went out: a rejected row's values never reach Braze (Braze's own rejections aside).
      const brazeRejections = expectedRejections.filter((r) => r.stage === 'braze').length;
      const sent = sandbox
        .requests()
        .slice(requestsBefore)
        .reduce((n, r) => n + r.objectCount, 0);
      expect(sent).toBe(summary.objectsSent + brazeRejections);
      expect(sandbox.findProfile({ external_id: 'BZ-7' }) === undefined).toBe(
        expectedRejections.some((r) => r.line === 7),
      );
    });

    it('invalid emails are source rejections naming blob, line and column; the people are delivered without them', async () => {
      const target = await baselineSynced();
      await replacePartition(fixture('invalid-emails.csv'));
      const run = await runPipeline(target);
      if (run.kind !== 'completed') throw run.error;
      const { summary } = run;
      expect(summary.status).toBe('succeeded');
      expect(summary.rejected).toBe(0);
      expect(summary.emailsRejected).toBe(2);
      expect(rowsAccountedFor(summary)).toBe(summary.profilesRead);
      const rows = await rejectedRows(target, summary.runId);
      expect(rows.map((r) => [r.line, r.stage, r.column, r.blob])).toEqual([
        [7, 'source', 'PrimaryEmail', PARTITION],
        [8, 'source', 'PrimaryEmail', PARTITION],
      ]);
      expectBaselineMembersKept();
      // Braze never saw the bad emails, so refused nothing; the people are members, without an email.
      expect(sandbox.requests().every((r) => r.status === 201)).toBe(true);
      for (const id of ['BZ-7', 'BZ-8']) {
        expect(sandbox.findProfile({ external_id: id })).toMatchObject({ attributes: { 'seg-gold': true } });
        expect(sandbox.findProfile({ external_id: id })?.email).toBeUndefined();
      }
    });

    it('a 10 MB value in one field is rejected for its row, and the rows after it are delivered', async () => {
      const target = await baselineSynced();
      const huge = `c7,BZ-7,gus@example.com,"${'z'.repeat(10 * 1024 * 1024)}",70\r\nc8,BZ-8,hal@example.com,Hal,80\r\n`;
      await replacePartition(Buffer.concat([fixture('baseline.csv'), Buffer.from(huge)]));
      const run = await runPipeline(target);
      if (run.kind !== 'completed') throw run.error;
      // Over SOURCE_MAX_CELL_BYTES: the reader rejects the row (unreadable, so the segment's removals are held).
      expect(run.summary).toMatchObject({ status: 'held', rejected: 1, objectsSent: 1, unchanged: 6 });
      expect(await rejectedRows(target, run.summary.runId)).toEqual([
        expect.objectContaining({
          blob: PARTITION,
          line: 7,
          column: 'FirstName',
          stage: 'source',
          reason: 'a value larger than 1048576 bytes (SOURCE_MAX_CELL_BYTES)',
        }),
      ]);
      expect(sandbox.findProfile({ external_id: 'BZ-7' })).toBeUndefined();
      expect(sandbox.findProfile({ external_id: 'BZ-8' })?.attributes['seg-gold']).toBe(true);
    });
  });

  it('an emptied segment holds its removals back (the shrink guard) and says why', async () => {
    const target = await baselineSynced();
    const requestsBefore = sandbox.requests().length;
    await replacePartition(fixture('empty-segment.csv'));
    const run = await runPipeline(target);
    if (run.kind !== 'completed') throw run.error;
    expect(run.summary).toMatchObject({ status: 'held', membershipsRemovalHeld: 6, membershipsRemoved: 0 });
    expect(run.summary.segments[0].heldReason).toContain('segment Gold shrank by 100.0 %');
    expect(sandbox.requests().length).toBe(requestsBefore);
    expectBaselineMembersKept();
  });

  it('a "$"-prefixed Braze attribute name in the export config is refused, naming the key', () => {
    const file = path.join(FIXTURES, 'config-dollar-attribute.json');
    expect(() => loadExportConfig(file)).toThrow(ConfigError);
    expect(() => loadExportConfig(file)).toThrow('attributes.FirstName: Braze attribute names must not start with "$"');
  });

  it('no log line or error of these runs holds an email, a name or a raw id from the fixtures', () => {
    const text = evidenceText(evidence);
    const ids = [...BASELINE_IDS, 'BZ-7', 'BZ-8', 'BZ-9', ...['c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7', 'c8', 'c9']];
    const data = withExtra(
      { secrets: [sandbox.apiKey], ids: new Set(), fullNames: new Set(), nameWords: new Set() },
      { ids, names: ['Cara', 'Finn'] },
    );
    expect(describeLeaks(text, findLeaks(text, data))).toEqual([]);
  });
});
