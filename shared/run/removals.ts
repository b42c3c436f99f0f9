import type { PlannedObject } from '../state/diff';
import type { MappingChange } from '../state/mappingChange';
import type { ReadProblems } from './reading';
import type { Sender } from './sending';
import type { StepContext } from './stepContext';
import type { RunRequest } from './types';

/** What the shrink guard compares: members per segment before this run and after reading it. */
export interface GuardCounts {
  /** Members per segment in Braze before this run (the planner's previous ones, or those of issue 23.1). */
  before: readonly number[];
  /** Members per segment found by reading. */
  after: readonly number[];
}

/**
 * The safety guard (design §7): a segment that shrank by more than the configured share keeps its members
 * unless the run allows mass removal. A segment with no rows at all is the extreme case of this.
 */
export function segmentsToHold(
  ctx: StepContext,
  layout: MappingChange,
  problems: ReadProblems,
  selected: ReadonlySet<number>,
  counts: GuardCounts,
  request: RunRequest,
): Map<number, string> {
  const held = new Map<number, string>();
  const guard = ctx.deps.settings.segmentShrinkGuardPercent;
  const hold = (segment: number, table: string, reason: string) => {
    held.set(segment, reason);
    ctx.logger.log('warn', reason, { segment: table });
  };
  for (const segment of selected) {
    const before = counts.before[segment];
    const members = counts.after[segment];
    if (before === 0 || request.allowMassRemoval) continue;
    const table = layout.segmentTables[segment] || layout.segmentIds[segment];
    if (layout.droppedSegments.includes(segment)) {
      hold(
        segment,
        table,
        `segment ${table} is no longer in the export config: removing its membership attribute from its ${before} ` +
          `member(s) is held back; start the run with allowMassRemoval (CLI --allow-mass-removal) to remove it`,
      );
      continue;
    }
    const unreadable = problems.unreadableRows[segment];
    if (unreadable) {
      hold(
        segment,
        table,
        `${unreadable.count} row(s) of segment ${table} could not be read (first: ${unreadable.blob} line ` +
          `${unreadable.line}): removals held back, so that no member loses the segment because their row is ` +
          `unreadable; fix the export, or start the run with allowMassRemoval (CLI --allow-mass-removal)`,
      );
      continue;
    }
    const shrinkPercent = ((before - members) / before) * 100;
    if (shrinkPercent > guard) {
      hold(
        segment,
        table,
        `segment ${table} shrank by ${shrinkPercent.toFixed(1)} % (${before} -> ${members} members), ` +
          `more than SEGMENT_SHRINK_GUARD_PERCENT=${guard}: removals held back; start the run with ` +
          `allowMassRemoval (CLI --allow-mass-removal) if the shrink is real`,
      );
      continue;
    }
    const incomplete = problems.incompletePartitions[segment];
    if (incomplete) {
      const configTable = ctx.deps.exportConfig.segments[segment].table;
      hold(
        segment,
        configTable,
        `${incomplete.blobName} of segment ${configTable}: ${incomplete.reason}; removals held back, so that no ` +
          `member leaves because of a partly written export; start the run with allowMassRemoval (CLI ` +
          `--allow-mass-removal) if the export is complete as it is`,
      );
    }
  }
  return held;
}

/** Sends the removals (or any objects planned after the rows), numbered in order. False when the budget ran out. */
export async function sendRemovals(
  ctx: StepContext,
  sender: Sender,
  removals: Iterable<PlannedObject>,
): Promise<boolean> {
  const { resume, progress } = ctx;
  for (const removal of removals) {
    if (resume.nextSeq >= resume.resumeFrom && progress.mustStop(resume.nextSeq, resume.resumeFrom)) return false;
    const wait = sender.send(resume.nextSeq++, removal);
    if (wait) await wait;
  }
  return true;
}
