import type { ContainerClient } from '@azure/storage-blob';
import type { ExportConfig } from '../config/exportConfig';
import type { Settings } from '../config/settings';
import type { ProfileMapper } from '../mapping/profileMapper';
import type { PlannedChange } from '../state/diff';
import type { Logger } from '../telemetry/logger';
import type { ResumeState } from './resumeState';
import type { StepProgress } from './stepProgress';
import type { RunExecutor } from './types';

export interface PipelineDependencies {
  settings: Settings;
  exportConfig: ExportConfig;
  exportContainer: ContainerClient;
  stateContainer: ContainerClient;
  clock?: () => number;
  /** How often progress is reported (log line, run record, timeline sample). Default 2,000. */
  progressIntervalInMs?: number;
}

export type RunInput = Parameters<RunExecutor>[0];

/** What every part of a run step shares: its inputs, its counters and progress, and where it resumes from. */
export interface StepContext {
  readonly deps: PipelineDependencies;
  readonly input: RunInput;
  readonly clock: () => number;
  readonly logger: Logger;
  readonly progress: StepProgress;
  readonly resume: ResumeState;
}

/** The segment being read, its mapper, and the member counts its rows add to. */
export interface SegmentReading {
  segment: number;
  mapper: ProfileMapper;
  members: number[];
}

/**
 * What the run keeps of a sent object until Braze answers: what it changes, and where its row was. Not the object:
 * its values (and the chunk text they are sliced from) would stay alive through the whole delivery window.
 */
export interface PendingObject extends PlannedChange {
  /** The memberships the object sets: several when it merges a user's rows (`UserMerge`). */
  addedSegments?: readonly number[];
  blob?: string;
  line?: number;
}
