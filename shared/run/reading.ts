import { createProfileMapper, emptyRawRowFacts } from '../mapping/profileMapper';
import { readPartitionBatches } from '../source/readPartition';
import type { ExportDescriptor, SourceRecord } from '../source/types';
import type { DeltaPlanner, PlannedRow } from '../state/diff';
import { NO_RAW_FINGERPRINT } from '../state/snapshot';
import { indexLastTables } from './lastTables';
import { sendRemovals } from './removals';
import type { Sender } from './sending';
import type { SegmentReading, StepContext } from './stepContext';
import { UserMerge } from './userMerge';

/** What the shrink guard learns from reading: rows that could not be read, partitions found partly written. */
export interface ReadProblems {
  /** Rows of each segment that could not be read at all (first one named in the held reason). */
  readonly unreadableRows: ReadonlyArray<{ count: number; blob: string; line: number } | undefined>;
  /** Per segment, the first partition found partly written (0 bytes, or written after the metadata). */
  readonly incompletePartitions: ReadonlyArray<{ blobName: string; reason: string } | undefined>;
}

/** Reads the selected segments row by row: map -> plan -> send (design §3), numbering rows as it goes. */
export class SegmentReader implements ReadProblems {
  readonly unreadableRows: Array<{ count: number; blob: string; line: number }> = [];
  readonly incompletePartitions: Array<{ blobName: string; reason: string }> = [];
  /** A full sync's one object per user, while its rows are read (null otherwise); `readOrder`: segment -> table. */
  private merge: UserMerge | null = null;
  private readonly readOrder = new Map<number, number>();

  constructor(
    private readonly ctx: StepContext,
    private readonly planner: DeltaPlanner,
    private readonly sender: Sender,
  ) {}

  /** Streams every selected segment's partitions through map -> diff -> delivery. False when the budget ran out. */
  async readSegments(
    descriptor: ExportDescriptor,
    selected: ReadonlySet<number>,
    segmentMembers: number[],
  ): Promise<boolean> {
    const { deps, resume, progress, logger } = this.ctx;
    const { exportConfig, exportContainer } = deps;
    const { readProgress } = progress;
    const facts = emptyRawRowFacts();
    if (!progress.comparedWithPreviousState && selected.size > 1)
      this.merge = await this.mergeUsers(descriptor, selected);
    for (const segment of selected) {
      readProgress.partitions += descriptor.entities.get(exportConfig.segments[segment].table)!.partitions.length;
    }
    for (const segment of selected) {
      const entity = descriptor.entities.get(exportConfig.segments[segment].table)!;
      const mapper = createProfileMapper(exportConfig, entity);
      const reading: SegmentReading = { segment, mapper, members: segmentMembers };
      for (const partition of entity.partitions) {
        const batches = readPartitionBatches(exportContainer, entity, partition, {
          columns: mapper.columnsRead,
          // Most rows of a delta are unchanged: left as bytes, they are told apart without being decoded.
          rawRows: true,
          maxCellSizeInBytes: deps.settings.sourceMaxCellBytes,
          onIncompletePartition: (problem) => (this.incompletePartitions[segment] ??= problem),
          onWarning: (message) => logger.log('warn', message, { blob: partition.blobName }),
          onBytesRead: (bytesRead, totalBytes) => (readProgress.current = bytesRead / totalBytes),
        });
        // Rows are handled synchronously within a batch; the loop awaits only when delivery asks it to wait.
        for await (const batch of batches) {
          for (const record of batch) {
            if (record.kind !== 'raw') {
              if (resume.nextSeq >= resume.resumeFrom && progress.mustStop(resume.nextSeq, resume.resumeFrom)) {
                return false;
              }
              const wait = this.readRecord(record, reading, NO_RAW_FINGERPRINT);
              if (wait) await wait;
              continue;
            }
            const { rows } = record;
            for (let row = 0; row < rows.rowCount; row++) {
              if (resume.nextSeq >= resume.resumeFrom && progress.mustStop(resume.nextSeq, resume.resumeFrom)) {
                return false;
              }
              let wait: Promise<void> | undefined;
              if (!mapper.readRaw(rows, row, facts)) {
                wait = this.readRecord(record.decode(row), reading, NO_RAW_FINGERPRINT);
              } else {
                const rowPlan = this.planner.planRaw(facts, segment);
                if (rowPlan === null) wait = this.readRecord(record.decode(row), reading, facts.fingerprint);
                else {
                  const seq = resume.nextSeq++;
                  progress.counters.profilesRead++;
                  progress.counters.attributesFullResend += 1 + facts.valuesPresent;
                  wait = this.follow(seq, rowPlan, reading, record.blobName, rows.lineOf(row));
                }
              }
              if (wait) await wait;
            }
          }
        }
        readProgress.done++;
        readProgress.current = 0;
      }
    }
    return true;
  }

  /**
   * A full sync of several tables sends one object per user (issue 19): a pre-pass over the later tables' ids tells
   * each user's last table, where their merged object goes (see `UserMerge`).
   */
  private async mergeUsers(descriptor: ExportDescriptor, selected: ReadonlySet<number>): Promise<UserMerge> {
    const { deps, clock, logger } = this.ctx;
    const tables = [...selected].map((segment, table) => {
      this.readOrder.set(segment, table);
      const entity = descriptor.entities.get(deps.exportConfig.segments[segment].table)!;
      const mapper = createProfileMapper(deps.exportConfig, entity);
      return { entity, mapper, maxCellSizeInBytes: deps.settings.sourceMaxCellBytes };
    });
    const startedAtMs = clock();
    const lastTables = await indexLastTables(deps.exportContainer, tables);
    logger.log('info', 'one object per user: later tables indexed', {
      users: lastTables.size,
      indexBytes: lastTables.byteLength,
      ms: clock() - startedAtMs,
    });
    return new UserMerge((slot) => lastTables.lastTable(this.planner.next.keyHashOf(slot)));
  }

  /**
   * Sends what the merge still holds once every row is read (a user whose last row mapped to nothing), numbered
   * after the rows in a replayable order. False when the budget ran out.
   */
  async sendHeld(): Promise<boolean> {
    const { merge } = this;
    if (!merge) return true;
    this.ctx.logger.log('info', 'one object per user: rows read', {
      peakHeldUsers: merge.peakHeldUsers,
      heldAtEnd: merge.heldUsers,
      heldTextBytes: merge.heldBytes,
      rssMb: Math.round(process.memoryUsage().rss / 2 ** 20),
    });
    if (!(await sendRemovals(this.ctx, this.sender, merge.drain()))) return false;
    this.merge = null;
    return true;
  }

  /** CI merges and splits, decided once every row was read; then every identity change is answered. */
  async finishReading(): Promise<void> {
    this.planner.finishReading();
    for (const row of this.sender.identity.takeDeferred()) {
      const seq = this.ctx.resume.nextSeq++;
      const wait = this.follow(seq, this.planner.planDeferred(row.row, row.segment), row.reading, row.blob, row.line);
      if (wait) await wait;
    }
    await this.sender.identity.settle();
  }

  /** One row of the reader: mapped, planned and followed; a promise when the caller must wait before the next. */
  private readRecord(record: SourceRecord, reading: SegmentReading, rawFingerprint: number): Promise<void> | undefined {
    const { progress } = this.ctx;
    const { segment, mapper } = reading;
    const seq = this.ctx.resume.nextSeq++;
    progress.counters.profilesRead++;
    if (record.kind === 'rejected') {
      progress.counters.sourceRowsRejected++;
      // Whose row this was is unknown: the segment's removals are held (segmentsToHold).
      this.unreadableRows[segment] ??= { count: 0, blob: record.blobName, line: record.line };
      this.unreadableRows[segment].count++;
      progress.reject(seq, 'source', record.reason, {
        blob: record.blobName,
        line: record.line,
        column: record.column,
      });
      return;
    }
    const outcome = mapper.map(record.values);
    if (outcome.kind === 'skipped') {
      progress.skip(outcome.reason);
      return;
    }
    if (outcome.kind === 'rejected') {
      const where = { blob: record.blobName, line: record.line, column: outcome.column };
      progress.reject(seq, 'mapping', outcome.reason, where);
      if (outcome.key !== undefined && this.planner.keepPrevious(outcome.key, segment)) reading.members[segment]++;
      return;
    }
    progress.counters.attributesFullResend += 1 + countValues(outcome.row.values);
    const { emailProblem, emailColumn } = outcome.row;
    if (emailProblem !== undefined) {
      // Delivered without the email; decoded again next run (no raw fingerprint), so reported again until fixed.
      progress.counters.emailsRejected++;
      progress.rejected.push({
        seq,
        stage: 'source',
        reason: emailProblem,
        blob: record.blobName,
        line: record.line,
        column: emailColumn,
      });
      rawFingerprint = NO_RAW_FINGERPRINT;
    }
    const rowPlan = this.planner.planRow(outcome.row, segment, rawFingerprint);
    if (rowPlan.kind === 'deferred') {
      this.sender.identity.defer({ row: outcome.row, segment, reading, blob: record.blobName, line: record.line });
      return;
    }
    return this.follow(seq, rowPlan, reading, record.blobName, record.line);
  }

  /** Counts a planned row and sends what it plans. */
  private follow(
    seq: number,
    rowPlan: PlannedRow,
    reading: SegmentReading,
    blob: string,
    line: number,
  ): Promise<void> | undefined {
    if (rowPlan.kind === 'duplicate') {
      this.ctx.progress.counters.duplicateRows++;
      return;
    }
    reading.members[reading.segment]++;
    if (rowPlan.kind === 'unchanged') {
      this.ctx.progress.counters.unchanged++;
      return;
    }
    if (!this.merge) return this.sender.send(seq, rowPlan.planned, blob, line);
    const merged = this.merge.take(rowPlan.planned, this.readOrder.get(reading.segment)!);
    return merged ? this.sender.send(seq, merged, blob, line) : undefined;
  }
}

function countValues(values: readonly unknown[]): number {
  let count = 0;
  for (const value of values) if (value !== null) count++;
  return count;
}
