import type { PlannedObject } from '../state/diff';
import { hashId } from '../telemetry/logger';
import type { RunSummary } from './types';

const SAMPLE_SIZE = 20;

/**
 * What a dry run would send: counts per segment and per attribute, and a few sample changes. Samples name users
 * by hashed id and say what changes ("set", "cleared"), never the values.
 */
export class ChangePlan {
  private readonly attributeChanges = new Map<string, { set: number; cleared: number }>();
  private readonly samples: Array<{ user: string; changes: Record<string, 'set' | 'cleared'> }> = [];

  constructor(
    private readonly attributeNames: readonly string[],
    private readonly segmentIds: readonly string[],
  ) {
    for (const name of attributeNames) this.attributeChanges.set(name, { set: 0, cleared: 0 });
  }

  record(planned: PlannedObject, userKey: string): void {
    const changes: Record<string, 'set' | 'cleared'> = {};
    for (const name of this.attributeNames) {
      if (!(name in planned.object)) continue;
      const cleared = planned.object[name] === null;
      const counts = this.attributeChanges.get(name)!;
      if (cleared) counts.cleared++;
      else counts.set++;
      changes[name] = cleared ? 'cleared' : 'set';
    }
    if (planned.membershipsAdded) changes[this.segmentIds[planned.segment]] = 'set';
    for (const segment of planned.removedSegments) changes[this.segmentIds[segment]] = 'cleared';
    if (this.samples.length < SAMPLE_SIZE) this.samples.push({ user: hashId(userKey), changes });
  }

  toJSON(summary: RunSummary) {
    return {
      runId: summary.runId,
      dryRun: true,
      objects: summary.objectsSent,
      users: summary.usersSent,
      attributesToSend: summary.attributesSent,
      attributesFullResend: summary.attributesFullResend,
      identity: { identify: summary.identified, rename: summary.renamed, merge: summary.merged },
      segments: summary.segments,
      stateChange: summary.stateChange,
      attributes: Object.fromEntries(this.attributeChanges),
      samples: this.samples,
    };
  }
}
