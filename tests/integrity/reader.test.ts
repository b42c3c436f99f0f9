import type { ContainerClient } from '@azure/storage-blob';
import { readRejectedRows } from '../../shared/run/artifacts';
import { newRunId } from '../../shared/run/records';
import type { RunSummary } from '../../shared/run/types';
import { MemoryLogger } from '../../shared/telemetry/logger';
import type { BrazeSandbox } from '../../tools/braze-sandbox/server';
import { startLocalStack, type LocalStack } from '../helpers/localStack';
import { EXPORT_PATH, rawConfig, writeExport, type Row } from '../run/exportFixture';

const TEN_MIB = 10 * 1024 * 1024;

/**
 * Hostile and untidy CSV through the whole pipeline (Azurite, the Braze sandbox): what reaches Braze is checked user
 * by user against the test's own expectation, never against the product's.
 */
describe('the reader against hostile and untidy CSV', () => {
  let stack: LocalStack;
  let sandbox: BrazeSandbox;
  let exportContainer: ContainerClient;

  beforeAll(async () => {
    stack = await startLocalStack();
    ({ sandbox, exportContainer } = stack);
  }, 120_000);
  afterAll(async () => stack?.stop());

  async function sync(exportPath: string, exportConfig: unknown): Promise<RunSummary> {
    const executor = stack.executor({ exportPath, exportConfig });
    const request = { dryRun: false, fullResync: false, allowMassRemoval: false, trigger: 'cli' as const };
    const outcome = await executor({
      runId: newRunId(Date.now()),
      request,
      deadline: Date.now() + 300_000,
      logger: new MemoryLogger(),
    });
    if (outcome.kind !== 'completed') throw new Error('expected the run to complete');
    return outcome.summary;
  }

  describe('a 10 MiB quoted value full of line breaks', () => {
    const members: Row[] = Array.from({ length: 6 }, (_, i) => [`c${i}`, `BZ-${i}`, '', `Name${i}`, `${i}`, '']);
    const gold = (id: string) => sandbox.findProfile({ external_id: id })?.attributes['seg-gold'];
    const firstName = (id: string) => sandbox.findProfile({ external_id: id })?.attributes.first_name;

    it('rejects that row naming blob, line and column, delivers the rows after it and removes no member', async () => {
      await writeExport(exportContainer, '10/0200', { Gold: members, Churn: [] });
      expect((await sync(EXPORT_PATH, rawConfig)).membershipsAdded).toBe(6);

      // Line 3 starts a FirstName value of 10 MiB, one line break every 8 bytes; c3..c5 and a new c6 follow it.
      const huge = `"c2","BZ-2","","${'xxxxxxx\n'.repeat(TEN_MIB / 8)}","2",""`;
      const newcomer: Row = ['c6', 'BZ-6', '', 'Name6', '6', ''];
      await writeExport(exportContainer, '11/0200', {
        Gold: [
          ...members.slice(0, 2),
          huge,
          ...members.slice(3).map((row) => [...row.slice(0, 3), `New${row[0]}`, ...row.slice(4)] as Row),
          newcomer,
        ],
        Churn: [],
      });
      const summary = await sync(EXPORT_PATH, rawConfig);

      const reason = 'a value larger than 1048576 bytes (SOURCE_MAX_CELL_BYTES)';
      expect(summary).toMatchObject({ status: 'held', sourceRowsRejected: 1, membershipsRemoved: 0 });
      expect(summary.rejectedReasons).toEqual({ [reason]: 1 });
      expect(summary.segments[0].heldReason).toMatch(
        /1 row\(s\) of segment Gold could not be read \(first: .*Gold_1\.csv line 3\)/,
      );
      const rejected = await readRejectedRows(stack.stateContainer, summary.runId);
      expect(rejected).toHaveLength(1);
      expect(rejected[0]).toMatchObject({ blob: expect.stringMatching(/Gold_1\.csv$/), line: 3, column: 'FirstName' });

      // Independent check, user by user: the rows after the huge value arrived, nobody lost the segment.
      for (let i = 0; i <= 6; i++)
        expect({ id: `BZ-${i}`, gold: gold(`BZ-${i}`) }).toEqual({ id: `BZ-${i}`, gold: true });
      expect(['BZ-0', 'BZ-1', 'BZ-2', 'BZ-3', 'BZ-4', 'BZ-5', 'BZ-6'].map(firstName)).toEqual([
        'Name0',
        'Name1',
        'Name2', // the rejected row sent nothing
        'Newc3',
        'Newc4',
        'Newc5',
        'Name6',
      ]);
    }, 300_000);
  });

  describe('line endings', () => {
    const path = 'CustomerInsights_line_endings/BrazeFeed';
    const config = {
      identity: { externalId: 'BrazeCustomerId', whenExternalIdMissing: 'skip' },
      segments: [{ table: 'Points', brazeSegmentApiId: 'seg-points' }],
      attributes: { FirstName: 'first_name', LoyaltyPoints: 'ci_points' },
    };

    async function writePoints(csv: string) {
      const location = 'Points/2025/03/10/0200/Points_1.csv';
      await exportContainer.getBlockBlobClient(`${path}/${location}`).upload(csv, Buffer.byteLength(csv));
      const columns = ['CustomerId', 'BrazeCustomerId', 'FirstName', 'LoyaltyPoints'];
      const model = JSON.stringify({
        name: 'BrazeFeed',
        version: '1.0',
        entities: [
          {
            $type: 'LocalEntity',
            name: 'Points',
            attributes: columns.map((name) => ({ name, dataType: name === 'LoyaltyPoints' ? 'int64' : 'string' })),
            partitions: [{ name: 'Points_1', location }],
          },
        ],
      });
      await exportContainer.getBlockBlobClient(`${path}/model.json`).upload(model, Buffer.byteLength(model));
    }

    it('keeps every CR out of the values when a file mixes LF and CRLF, and reads a numeric last column', async () => {
      // LF first (which fixed the row end for the whole file before), then CRLF, then a lone CR, quoted and not.
      await writePoints(
        'p1,LE-1,Ann,10\n' + 'p2,LE-2,Bob,20\r\n' + 'p3,LE-3,"Cy",30\r\n' + 'p4,LE-4,Dee,"40"\r' + 'p5,LE-5,Eve,50\r\n',
      );
      const summary = await sync(path, config);
      expect(summary).toMatchObject({ status: 'succeeded', rejected: 0, sourceRowsRejected: 0, profilesRead: 5 });

      const seen = ['LE-1', 'LE-2', 'LE-3', 'LE-4', 'LE-5'].map((id) => {
        const attributes = sandbox.findProfile({ external_id: id })?.attributes ?? {};
        return [id, attributes.first_name, attributes.ci_points, attributes['seg-points']];
      });
      expect(seen).toEqual([
        ['LE-1', 'Ann', 10, true],
        ['LE-2', 'Bob', 20, true],
        ['LE-3', 'Cy', 30, true],
        ['LE-4', 'Dee', 40, true],
        ['LE-5', 'Eve', 50, true],
      ]);
    }, 120_000);
  });
});
