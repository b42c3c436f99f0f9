import type { ContainerClient } from '@azure/storage-blob';
import { newRunId } from '../../shared/run/records';
import type { RunSummary } from '../../shared/run/types';
import { MemoryLogger } from '../../shared/telemetry/logger';
import type { BrazeSandbox } from '../../tools/braze-sandbox/server';
import { startLocalStack, type LocalStack } from '../helpers/localStack';
import { EXPORT_PATH, rawConfig, writeExport, type Row } from './exportFixture';

/** A member whose row cannot be used must keep the membership Braze has: bad data is never a leaver. */
describe('rows that cannot be sent never remove a membership', () => {
  let stack: LocalStack;
  let sandbox: BrazeSandbox;
  let exportContainer: ContainerClient;
  const members: Row[] = Array.from({ length: 6 }, (_, i) => [`c${i}`, `BZ-${i}`, '', `Name${i}`, `${i}`, '']);

  beforeAll(async () => {
    stack = await startLocalStack();
    ({ sandbox, exportContainer } = stack);
  });
  afterAll(async () => stack?.stop());

  async function sync(): Promise<RunSummary> {
    const executor = stack.executor({ exportPath: EXPORT_PATH, exportConfig: rawConfig });
    const request = { dryRun: false, fullResync: false, allowMassRemoval: false, trigger: 'cli' as const };
    const outcome = await executor({
      runId: newRunId(Date.now()),
      request,
      deadline: Date.now() + 60_000,
      logger: new MemoryLogger(),
    });
    if (outcome.kind !== 'completed') throw new Error('expected the run to complete');
    return outcome.summary;
  }
  const gold = (i: number) => sandbox.findProfile({ external_id: `BZ-${i}` })?.attributes['seg-gold'];

  it('keeps a member whose row holds a value Braze would refuse, and sends nothing for them', async () => {
    await writeExport(exportContainer, '10/0200', { Gold: members, Churn: [] });
    expect((await sync()).membershipsAdded).toBe(6);

    const tooLong: Row = ['c2', 'BZ-2', '', 'x'.repeat(300), '2', ''];
    await writeExport(exportContainer, '11/0200', {
      Gold: [...members.slice(0, 2), tooLong, ...members.slice(3)],
      Churn: [],
    });
    const summary = await sync();
    expect(summary).toMatchObject({ status: 'succeeded', membershipsRemoved: 0, rejected: 1, objectsSent: 0 });
    expect(summary.rejectedReasons).toEqual({ 'value longer than 255 characters': 1 });
    expect(gold(2)).toBe(true);
    expect(sandbox.findProfile({ external_id: 'BZ-2' })?.attributes.first_name).toBe('Name2');
  });

  it('holds the removals of a segment with an unreadable row, naming the blob and line', async () => {
    const lines: Array<Row | string> = [
      ...members.slice(0, 4),
      '"c4","BZ-4","","Name4","4","","extra cell"',
      members[5],
    ];
    await writeExport(exportContainer, '12/0200', { Gold: lines, Churn: [] });
    const summary = await sync();
    expect(summary.status).toBe('held');
    expect(summary.sourceRowsRejected).toBe(1);
    expect(summary.segments[0].heldReason).toMatch(
      /1 row\(s\) of segment Gold could not be read \(first: .*Gold_1\.csv line 5\)/,
    );
    expect(summary.membershipsRemoved).toBe(0);
    expect(gold(4)).toBe(true);
  });

  it('once the row is fixed, later runs remove real leavers again', async () => {
    await writeExport(exportContainer, '13/0200', { Gold: members.slice(0, 5), Churn: [] });
    const summary = await sync();
    expect(summary).toMatchObject({ status: 'succeeded', membershipsRemoved: 1 });
    expect(gold(5)).toBeUndefined();
    expect(gold(4)).toBe(true);
  });
});
