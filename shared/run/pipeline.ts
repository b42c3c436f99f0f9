import type { ContainerClient } from '@azure/storage-blob';
import { BrazeDelivery, resolveBrazeEndpoint } from '../braze';
import { IdentityDelivery } from '../braze/identity';
import type { RowResult } from '../braze/types';
import { ConfigError } from '../config/errors';
import { exportConfigHash, type ExportConfig } from '../config/exportConfig';
import type { Settings } from '../config/settings';
import { createProfileMapper, emptyRawRowFacts, missingColumns, type ProfileMapper } from '../mapping/profileMapper';
import { discoverExport } from '../source';
import { readPartitionBatches } from '../source/readPartition';
import type { ExportDescriptor, SourceRecord } from '../source/types';
import {
  DeltaPlanner,
  roomForNewUsers,
  snapshotAttributeNames,
  type PlannedChange,
  type PlannedObject,
  type PlannedRow,
} from '../state/diff';
import { clearRawFingerprints, planMappingChange, remapSnapshot, type MappingChange } from '../state/mappingChange';
import { NO_RAW_FINGERPRINT, Snapshot } from '../state/snapshot';
import { legacyStateKey, stateKey, stateScope } from '../state/stateKey';
import {
  deleteSnapshotData,
  loadSnapshot,
  loadSnapshotMeta,
  switchSnapshot,
  uploadSnapshotData,
  type SnapshotChanges,
  type SnapshotMeta,
  type StagedSnapshot,
} from '../state/snapshotStore';
import { hashId, type Logger } from '../telemetry/logger';
import {
  deleteCheckpoint,
  loadCheckpoint,
  runBlobName,
  saveCheckpoint,
  writeRunResults,
  type Checkpoint,
  type RejectedRow,
} from './artifacts';
import { runContext } from '../report/runContext';
import { writeRunReport } from '../report/runReport';
import { callerForLogs } from './caller';
import { checkpointPacing, DurableProgress, type ProgressState } from './durableProgress';
import {
  assumeMembers,
  bindExportVersion,
  deleteMembershipKeys,
  readMembershipKeys,
  recordMembershipKeys,
  sentMembershipsBlobName,
  type SentMembership,
} from './exportPin';
import { emptyCounters, ResumeLaterError, runOutcome } from './outcome';
import { withStorageRetry } from './storageErrors';
import { ChangePlan } from './plan';
import { readJson } from './records';
import { IdentityStage } from './identityStage';
import { indexLastTables } from './lastTables';
import { UserMerge, type MergedObject } from './userMerge';
import type { PhaseTimes, RunExecutor, RunProgress, RunRequest, RunSummary, TimelineSample } from './types';

export interface PipelineDependencies {
  settings: Settings;
  exportConfig: ExportConfig;
  exportContainer: ContainerClient;
  stateContainer: ContainerClient;
  clock?: () => number;
  /** How often progress is reported (log line, run record, timeline sample). Default 2,000. */
  progressIntervalInMs?: number;
}

/** A run that stopped because its lease was lost: the queue retries it and it resumes from the checkpoint. */
export class RunInterruptedError extends Error {
  override readonly name = 'RunInterruptedError';
  readonly retryable = true;
}

/** The run pipeline (design §3): discover, read, map, diff, deliver, commit. Resumable from its checkpoint. */
export function createRunExecutor(dependencies: PipelineDependencies): RunExecutor {
  return async (input) => {
    try {
      return await new RunStep(dependencies, input).execute();
    } catch (error) {
      throw failFast(error, maxRetryTimeSeconds(dependencies.settings, input.request));
    }
  };
}

/** The run's bound on retrying Braze: the request's, else RUN_MAX_RETRY_TIME_SECONDS; undefined when neither. */
function maxRetryTimeSeconds(settings: Settings, request: RunRequest): number | undefined {
  return request.maxRetryTimeSeconds ?? settings.runMaxRetryTimeSeconds;
}

/** Under a max retry time, a retryable failure is not left to the queue: the run stops, resumable later. */
function failFast(error: unknown, maxRetrySeconds: number | undefined): unknown {
  if (maxRetrySeconds === undefined || (error as { retryable?: unknown } | null)?.retryable !== true) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new ResumeLaterError(`${message} (max retry time ${maxRetrySeconds} s spent; start the run again to resume)`);
}

type RunInput = Parameters<RunExecutor>[0];

/** How often (in rows, a power of two) `mustStop` reads the clock. */
const CLOCK_EVERY_ROWS = 64;

/** The segment being read, its mapper, and the member counts its rows add to. */
interface SegmentReading {
  segment: number;
  mapper: ProfileMapper;
  members: number[];
}

/**
 * What the run keeps of a sent object until Braze answers: what it changes, and where its row was. Not the object:
 * its values (and the chunk text they are sliced from) would stay alive through the whole delivery window.
 */
interface PendingObject extends PlannedChange {
  /** The memberships the object sets: several when it merges a user's rows (`UserMerge`). */
  addedSegments?: readonly number[];
  blob?: string;
  line?: number;
}

/** The next snapshot's data, written while the removals are sent. */
interface Staging {
  upload: Promise<StagedSnapshot>;
  /** `counters.rejected` when the upload began: a rejection since then changed the snapshot under it. */
  rejectionsBefore: number;
}

/** One worker invocation of a run: from its checkpoint (or the start) to completion or the deadline. */
class RunStep {
  private readonly clock: () => number;
  private readonly logger: Logger;
  private readonly counters = emptyCounters();
  private readonly rejected: RejectedRow[] = [];
  private readonly skippedReasons: Record<string, number> = {};
  private readonly rejectedReasons: Record<string, number> = {};
  private readonly pending = new Map<number, PendingObject>();
  private readonly brazeRejected = new Map<number, string>();
  /** Users with at least one accepted object (bit per slot of the new snapshot). */
  private usersSentFlags = new Uint8Array(1024);
  private nextSeq = 0;
  /** The first row this step may have to send; the rows before it are replayed from the checkpoint. */
  private resumeFrom = 0;
  /** From the checkpoint: rows below this were settled, except `resendOnResume`. */
  private replayBelow = 0;
  private resendOnResume: ReadonlySet<number> = new Set();
  private delivery: BrazeDelivery | null = null;
  /** Identity changes and the rows that wait for them (see `IdentityStage`). */
  private readonly identity = new IdentityStage<SegmentReading>();
  /** A full sync's one object per user, while its rows are read (null otherwise); `readOrder`: segment -> table. */
  private merge: UserMerge | null = null;
  private readOrder = new Map<number, number>();
  private planner!: DeltaPlanner;
  /** Version of the snapshot the planner took over (`LoadedSnapshot.version`): what the next one can patch. */
  private loadedVersion: string | null = null;
  private plan: ChangePlan | null = null;
  private checkpoint!: Checkpoint;
  /**
   * Memberships this step sent, as (next-snapshot slot, segment) pairs, and the blob they go to when the step ends
   * without committing (see `recordSentMemberships`). Slots, not keys: a key string per object cost a 1M full sync
   * about 2 s of CPU (12 %) when written at every checkpoint.
   */
  private sentMemberships = new Int32Array(1024);
  private sentMembershipValues = 0;
  private membershipKeysBlob = '';
  /** Members per segment the shrink guard compares with, when not the planner's previous ones (issue 23.1). */
  private guardMembers: number[] | null = null;
  /** Partitions of the selected segments, those read, and the byte share of the one being read: progress. */
  private readProgress = { partitions: 0, done: 0, current: 0 };
  /** A snapshot of an earlier sync exists and is compared with (not a first sync, not a full resync). */
  private comparedWithPreviousState = false;
  /** The export config's hash (exportConfigHash), shown in the report's context. */
  private configHash = '';
  private durable: DurableProgress | null = null;
  private lastProgressAt = 0;
  private readonly phaseMs: PhaseTimes = { starting: 0, reading: 0, removals: 0, committing: 0 };
  /** The phase under way (progress reports `starting` as `reading`), timed since `phaseSinceMs`. */
  private phase: keyof PhaseTimes = 'starting';
  private phaseSinceMs: number;
  /** Per segment of the run's layout (`MappingChange.segmentIds`). */
  private segmentAdded: number[] = [];
  private segmentRemoved: number[] = [];
  private segmentHeld: number[] = [];
  /** How the snapshot maps onto the config (set once the snapshot's meta is read). */
  private layout!: MappingChange;
  private readonly timeline: TimelineSample[] = [];
  /** Rows of each segment that could not be read at all (first one named in the held reason). */
  private readonly unreadableRows: Array<{ count: number; blob: string; line: number }> = [];
  /** Per segment, the first partition found partly written (0 bytes, or written after the metadata): removals held. */
  private readonly incompletePartitions: Array<{ blobName: string; reason: string }> = [];
  private readonly stepStartedAtMs: number;

  constructor(
    private readonly deps: PipelineDependencies,
    private readonly input: RunInput,
  ) {
    this.clock = deps.clock ?? Date.now;
    this.logger = input.logger;
    this.stepStartedAtMs = this.clock();
    this.phaseSinceMs = this.stepStartedAtMs;
  }

  async execute() {
    try {
      return await this.executeStep();
    } catch (error) {
      // A step that stops without committing leaves what it sent on record, for a restart on a newer export.
      await this.recordSentMemberships().catch(() => undefined);
      throw error;
    }
  }

  /**
   * Appends the memberships this step sent to the run's record (`recordMembershipKeys`), read only when a later step
   * must start over on a newer export. Written when a step ends without committing (pause, interrupt, failure); a
   * step killed outright leaves none (docs/reliability.md).
   */
  private async recordSentMemberships(): Promise<void> {
    if (this.sentMembershipValues === 0 || this.input.request.dryRun) return;
    const pairs = this.sentMemberships.subarray(0, this.sentMembershipValues);
    const sent: SentMembership[] = [];
    for (let at = 0; at < pairs.length; at += 2) {
      sent.push([this.planner.next.keyOf(pairs[at]), this.layout.segmentIds[pairs[at + 1]]]);
    }
    this.sentMembershipValues = 0;
    await recordMembershipKeys(this.deps.stateContainer, this.membershipKeysBlob, sent);
  }

  /** A typed array, not an array of numbers: a million pairs stay off the garbage collector's heap. */
  private noteSentMembership(slot: number, segment: number): void {
    if (this.sentMembershipValues + 2 > this.sentMemberships.length) {
      const grown = new Int32Array(this.sentMemberships.length * 2);
      grown.set(this.sentMemberships);
      this.sentMemberships = grown;
    }
    this.sentMemberships[this.sentMembershipValues++] = slot;
    this.sentMemberships[this.sentMembershipValues++] = segment;
  }

  private async executeStep() {
    const { settings, exportConfig, exportContainer, stateContainer } = this.deps;
    const { runId } = this.input;
    const startedAtMs = this.clock();

    const selected = selectSegments(exportConfig, this.input.request);
    const key = stateKey(stateScope(settings, exportConfig));
    const configHash = exportConfigHash(exportConfig);
    this.configHash = configHash;
    // Three independent reads, at once: each is a round trip to storage.
    const [discovered, saved, own] = await Promise.all([
      discoverExport(exportContainer, settings.ciExportPath, {
        logger: this.logger,
        settleTimeInMs: settings.sourceSettleTimeInMs,
        now: this.clock,
      }),
      loadCheckpoint(stateContainer, runId),
      loadSnapshotMeta(stateContainer, key),
    ]);
    // A state with no snapshot yet takes over the one saved under the key used before state keys, once.
    const snapshotKey = own ? key : legacyStateKey(exportConfig, settings.brazeRestEndpoint);
    const meta = own ?? (await loadSnapshotMeta(stateContainer, snapshotKey));
    // A run finishes against the export version it started with (issue 23.1).
    const bound = await bindExportVersion(stateContainer, exportContainer, runId, discovered, this.logger);
    const descriptor = bound.descriptor;
    // What earlier steps sent came from rows that can no longer be read: send everything of the newest export.
    const sentBefore = saved !== null && (saved.settledBelow > 0 || saved.unsettled.length > 0);
    const request =
      bound.kind === 'gone' && sentBefore ? { ...this.input.request, fullResync: true } : this.input.request;
    // ...and every user it sent a membership for leaves the segments the newest export does not put them in.
    this.membershipKeysBlob = sentMembershipsBlobName(key, runId);
    const lostMembershipKeys =
      bound.kind === 'gone' && sentBefore && !request.dryRun
        ? await readMembershipKeys(stateContainer, this.membershipKeysBlob)
        : [];
    checkConfigAgainstExport(exportConfig, descriptor, selected, settings.ciExportPath);
    if (meta?.runId === runId && !request.dryRun) {
      // A takeover after this run's own commit: its summary is final, completed here, never replaced.
      const committed = await this.completeCommittedRun(saved);
      if (committed) return committed;
    }
    const layout = planMappingChange(meta, exportConfig, { removeUnmapped: request.removeUnmapped === true });
    this.layout = layout;
    const { change } = layout;
    if (request.segments?.length && (change.membershipValueChanged || change.onLeaveChanged)) {
      throw new ConfigError('run request', [
        'segments: membership.value or membership.onLeave changed since the last run; run all segments once, so ' +
          'that every segment gets the new value',
      ]);
    }
    this.comparedWithPreviousState = meta !== null && !request.fullResync;
    // Segments dropped from the config are covered by runs of every segment: their members leave.
    const covered = new Set(selected);
    if (!request.segments?.length) for (const segment of layout.droppedSegments) covered.add(segment);
    const segmentIds = layout.segmentIds;
    const attributeNames = layout.attributeNames;
    this.segmentAdded = new Array<number>(segmentIds.length).fill(0);
    this.segmentRemoved = new Array<number>(segmentIds.length).fill(0);
    this.segmentHeld = new Array<number>(segmentIds.length).fill(0);

    const runHash = `${key}:${configHash}`;
    const resumable =
      saved?.version === 2 && saved.exportFingerprint === descriptor.fingerprint && saved.configHash === runHash;
    this.checkpoint = {
      version: 2,
      runId,
      exportFingerprint: descriptor.fingerprint,
      configHash: runHash,
      settledBelow: resumable ? saved.settledBelow : 0,
      unsettled: resumable ? saved.unsettled : [],
      brazeRejected: resumable ? saved.brazeRejected : [],
      delivery: resumable ? saved.delivery : { requests: 0, retries: 0, throttled: 0 },
      startedAt: resumable ? saved.startedAt : new Date(startedAtMs).toISOString(),
      workedMs: resumable ? (saved.workedMs ?? 0) : 0,
      savedAt: new Date(startedAtMs).toISOString(),
    };
    this.replayBelow = this.checkpoint.settledBelow;
    this.resendOnResume = new Set(this.checkpoint.unsettled);
    this.resumeFrom = this.checkpoint.unsettled[0] ?? this.checkpoint.settledBelow;
    for (const [seq, reason] of this.checkpoint.brazeRejected) this.brazeRejected.set(seq, reason);

    this.logger.log('info', 'run started', {
      runId,
      stateKey: key,
      configHash,
      exportMetadata: descriptor.metadataBlob,
      exportFingerprint: descriptor.fingerprint,
      segments: [...selected].map((s) => exportConfig.segments[s].table).join(','),
      dryRun: request.dryRun,
      fullResync: request.fullResync,
      resumeFrom: this.resumeFrom,
      caller: callerForLogs(request.caller),
    });

    if (
      meta &&
      !request.fullResync &&
      !request.allowMassRemoval &&
      layout.droppedSegments.length === 0 &&
      layout.clearedAttributes.length === 0 &&
      isAlreadySynced(
        meta,
        descriptor.fingerprint,
        configHash,
        [...selected].map((s) => segmentIds[s]),
      )
    ) {
      const summary = this.summarize(runId, request, descriptor, [], true);
      await writeRunResults(stateContainer, summary, [], null);
      await writeRunReport(stateContainer, summary, [], { exportContainer, exportConfig });
      this.logger.log('info', 'run finished: export already synced, nothing to send', { runId });
      return { kind: 'completed' as const, summary };
    }
    this.logStateChange(key, layout);

    // Loaded with room for new users: the planner changes it into the next snapshot in place.
    const extraUsers = meta ? roomForNewUsers(meta.users) : 0;
    const loaded = meta ? await loadSnapshot(stateContainer, snapshotKey, { extraUsers }) : null;
    let previous = loaded?.snapshot ?? null;
    if (loaded && !layout.sameLayout) previous = remapSnapshot(loaded.snapshot, layout, extraUsers);
    else if (loaded && !layout.rawFingerprintsValid) clearRawFingerprints(loaded.snapshot);
    // A snapshot whose layout or raw fingerprints changed is saved whole: a patch would carry the old ones.
    this.loadedVersion = layout.sameLayout && layout.rawFingerprintsValid ? (loaded?.version ?? null) : null;
    if (lostMembershipKeys.length > 0) {
      previous ??= Snapshot.create({ segmentCount: segmentIds.length, attributeCount: attributeNames.length });
      // The shrink guard compares with what Braze held before this run, not with what it assumes here.
      this.guardMembers = previous.segmentMemberCounts();
      assumeMembers(previous, lostMembershipKeys, segmentIds, covered);
      // Assumed memberships differ from the stored snapshot where a patch would not look: save it whole.
      this.loadedVersion = null;
    }
    this.planner = new DeltaPlanner(exportConfig, attributeNames, segmentIds, covered, previous, request.fullResync, {
      resendMemberships: change.membershipValueChanged,
      resendLeaves: change.onLeaveChanged,
      clearedAttributes: layout.clearedAttributes,
    });
    if (request.dryRun) this.plan = new ChangePlan(attributeNames, segmentIds);
    else {
      this.delivery = new BrazeDelivery({
        endpoint: resolveBrazeEndpoint(settings.brazeRestEndpoint, {
          allowInsecureLoopback: settings.brazeAllowInsecureLoopback,
        }),
        apiKey: settings.brazeApiKey,
        batchSize: settings.brazeBatchSize,
        concurrency: settings.brazeConcurrency,
        requestsPerSecond: settings.brazeRequestsPerSecond,
        maxAttempts: settings.brazeMaxAttempts,
        maxRetryTimeInMs: Math.min(
          settings.brazeMaxRetryTimeInMs,
          (maxRetryTimeSeconds(settings, request) ?? Infinity) * 1000,
        ),
        requestTimeoutInMs: settings.brazeRequestTimeoutInMs,
        onResults: (results) => this.onResults(results),
        onFailure: (error) => this.durable?.abort(error),
        logger: this.logger,
      });
      this.identity.connect(
        new IdentityDelivery({
          endpoint: resolveBrazeEndpoint(settings.brazeRestEndpoint, {
            allowInsecureLoopback: settings.brazeAllowInsecureLoopback,
          }),
          apiKey: settings.brazeApiKey,
          maxAttempts: settings.brazeMaxAttempts,
          requestTimeoutInMs: settings.brazeRequestTimeoutInMs,
        }),
        (error) => this.durable?.abort(error),
      );
      this.durable = new DurableProgress(
        (state) => this.saveCheckpoint(state),
        () => this.progressState(),
        () => checkpointPacing(this.delivery!.concurrencyLimit, settings.brazeBatchSize),
      );
    }

    const segmentMembers = new Array<number>(segmentIds.length).fill(0);
    this.enterPhase('reading');
    if (!this.comparedWithPreviousState && selected.size > 1) this.merge = await this.mergeUsers(descriptor, selected);
    const finishedReading = await this.readSegments(descriptor, selected, segmentMembers);
    if (!finishedReading) return this.pause();
    // Objects no later row released (a user's last row mapped to nothing): after the rows, in a replayable order.
    if (this.merge) {
      this.logger.log('info', 'one object per user: rows read', {
        peakHeldUsers: this.merge.peakHeldUsers,
        heldAtEnd: this.merge.heldUsers,
        heldTextBytes: this.merge.heldBytes,
        rssMb: Math.round(process.memoryUsage().rss / 2 ** 20),
      });
      if (!(await this.sendEach(this.merge.drain()))) return this.pause();
      this.merge = null;
    }
    // CI merges and splits, decided now that every row was read; then every identity change is answered.
    this.planner.finishReading();
    for (const row of this.identity.takeDeferred()) {
      const seq = this.nextSeq++;
      const wait = this.follow(seq, this.planner.planDeferred(row.row, row.segment), row.reading, row.blob, row.line);
      if (wait) await wait;
    }
    await this.identity.settle();

    this.enterPhase('removals');
    const held = this.segmentsToHold(covered, segmentMembers, request);
    const { heldMembers, removals } = this.planner.planRemovals(new Set(held.keys()));
    heldMembers.forEach((count, segment) => {
      this.counters.membershipsRemovalHeld += count;
      this.segmentHeld[segment] += count;
    });
    // The next snapshot is settled: written while the removals go out (again at the end if Braze rejects an object).
    const staging = request.dryRun ? null : this.stageSnapshot(key);
    const finishedRemovals = await this.sendEach(removals);
    if (!finishedRemovals) {
      await this.dropStaged(staging);
      return this.pause();
    }

    await this.settleDeliveries();
    this.enterPhase('committing');
    const previousMembers = this.planner.previousMemberCounts();
    const membersAfter = segmentIds.map((_, s) => (covered.has(s) ? segmentMembers[s] : previousMembers[s]));
    const segments = segmentIds.map((brazeSegmentApiId, index) => ({
      table: layout.segmentTables[index] || brazeSegmentApiId,
      brazeSegmentApiId,
      members: membersAfter[index],
      added: this.segmentAdded[index],
      removed: this.segmentRemoved[index],
      removalsHeld: this.segmentHeld[index],
      heldReason: held.get(index),
    }));
    const next = this.planner.next;
    let staged = staging && (await staging.upload);
    if (staging && staged && staging.rejectionsBefore !== this.counters.rejected) {
      // Braze rejected objects since the upload began: their users went back to their previous state.
      await deleteSnapshotData(stateContainer, staged);
      staged = await withStorageRetry(`the snapshot of ${key}`, () =>
        uploadSnapshotData(stateContainer, key, next, { changes: this.snapshotChanges() }),
      );
    }
    const summary = this.summarize(runId, request, descriptor, segments, false);
    if (staged) {
      // The summary is final before the pointer switch: a takeover after it completes this one (completeCommittedRun).
      // Every object is answered: should the switch fail, a retry resends nothing.
      await this.saveCheckpoint(this.progressState(), { summary, rejected: this.rejected });
      const selectedIds = [...selected].map((s) => segmentIds[s]);
      await switchSnapshot(stateContainer, key, staged, {
        configHash: key,
        exportFingerprint: descriptor.fingerprint,
        runId,
        committedAt: new Date(this.clock()).toISOString(),
        segmentIds,
        attributeNames: snapshotAttributeNames(attributeNames),
        users: next.size,
        // What Braze holds: held and rejected removals keep their members (a dropped segment is gone once at 0).
        segmentMembers: next.segmentMemberCounts(),
        pendingRejected: this.counters.rejected + this.counters.membershipsRemovalHeld,
        mapping: layout.mapping,
        exportConfigHash: configHash,
        syncedSegments: syncedSegmentsAfter(meta, descriptor.fingerprint, configHash, segmentIds, selectedIds),
      });
    }
    await Promise.all([
      writeRunResults(stateContainer, summary, this.rejected, this.plan?.toJSON(summary) ?? null),
      writeRunReport(stateContainer, summary, this.rejected, {
        exportContainer: this.deps.exportContainer,
        exportConfig: this.deps.exportConfig,
      }),
    ]);
    // Only once the results are written: a step that dies before resumes from the checkpoint.
    await deleteCheckpoint(stateContainer, runId);
    await deleteMembershipKeys(stateContainer, this.membershipKeysBlob);
    this.logger.log('info', 'run step finished', { runId, status: summary.status, durationMs: summary.durationMs });
    return { kind: 'completed' as const, summary };
  }

  /**
   * The snapshot pointer names this run: it committed, and the step that did died before its results were written
   * (or before its checkpoint was deleted). Writes the summary the run fixed before the switch, as it was. Null when
   * there is none to complete (a checkpoint from before final summaries were kept).
   */
  private async completeCommittedRun(saved: Checkpoint | null) {
    const { stateContainer } = this.deps;
    const { runId } = this.input;
    const final = saved?.final;
    let summary: RunSummary | undefined;
    if (final) {
      summary = final.summary;
      await Promise.all([
        writeRunResults(stateContainer, summary, final.rejected, null),
        writeRunReport(stateContainer, summary, final.rejected),
      ]);
    } else {
      summary = (await readJson<RunSummary>(stateContainer, runBlobName(runId, 'summary.json')))?.value;
      if (!summary || summary.runId !== runId || summary.status === 'failed') return null;
    }
    await deleteCheckpoint(stateContainer, runId);
    this.logger.log('info', 'run step finished: the run had committed; its summary is completed as it was', { runId });
    return { kind: 'completed' as const, summary };
  }

  /** Says what the run starts from: a fresh state, or the snapshot with what changed in the mapping. */
  private logStateChange(key: string, layout: MappingChange): void {
    const { change } = layout;
    if (change.fresh) {
      this.logger.log('info', 'no snapshot for this export, Braze workspace and identity config: starting fresh', {
        stateKey: key,
      });
      return;
    }
    if (layout.sameLayout && !change.membershipValueChanged && !change.onLeaveChanged) return;
    const leftInBraze = change.attributesDropped.filter((name) => !change.attributesRemoved.includes(name));
    this.logger.log('info', 'export config mapping changed since the last run: reconciling', {
      segmentsAdded: change.segmentsAdded.join(','),
      segmentsDropped: change.segmentsDropped.join(','),
      attributesAdded: change.attributesAdded.join(','),
      attributesRemoved: change.attributesRemoved.join(','),
      attributesLeftInBraze: leftInBraze.join(','),
      membershipValueChanged: change.membershipValueChanged,
      onLeaveChanged: change.onLeaveChanged,
    });
  }

  /** Streams every selected segment's partitions through map -> diff -> delivery. False when the budget ran out. */
  private async readSegments(
    descriptor: ExportDescriptor,
    selected: ReadonlySet<number>,
    segmentMembers: number[],
  ): Promise<boolean> {
    const { exportConfig, exportContainer } = this.deps;
    const facts = emptyRawRowFacts();
    for (const segment of selected) {
      this.readProgress.partitions += descriptor.entities.get(exportConfig.segments[segment].table)!.partitions.length;
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
          maxCellSizeInBytes: this.deps.settings.sourceMaxCellBytes,
          onIncompletePartition: (problem) => (this.incompletePartitions[segment] ??= problem),
          onWarning: (message) => this.logger.log('warn', message, { blob: partition.blobName }),
          onBytesRead: (bytesRead, totalBytes) => (this.readProgress.current = bytesRead / totalBytes),
        });
        // Rows are handled synchronously within a batch; the loop awaits only when delivery asks it to wait.
        for await (const batch of batches) {
          for (const record of batch) {
            if (record.kind !== 'raw') {
              if (this.nextSeq >= this.resumeFrom && this.mustStop()) return false;
              const wait = this.readRecord(record, reading, NO_RAW_FINGERPRINT);
              if (wait) await wait;
              continue;
            }
            const { rows } = record;
            for (let row = 0; row < rows.rowCount; row++) {
              if (this.nextSeq >= this.resumeFrom && this.mustStop()) return false;
              let wait: Promise<void> | undefined;
              if (!mapper.readRaw(rows, row, facts)) {
                wait = this.readRecord(record.decode(row), reading, NO_RAW_FINGERPRINT);
              } else {
                const rowPlan = this.planner.planRaw(facts, segment);
                if (rowPlan === null) wait = this.readRecord(record.decode(row), reading, facts.fingerprint);
                else {
                  const seq = this.nextSeq++;
                  this.counters.profilesRead++;
                  this.counters.attributesFullResend += 1 + facts.valuesPresent;
                  wait = this.follow(seq, rowPlan, reading, record.blobName, rows.lineOf(row));
                }
              }
              if (wait) await wait;
            }
          }
        }
        this.readProgress.done++;
        this.readProgress.current = 0;
      }
    }
    return true;
  }

  /** One row of the reader: mapped, planned and followed; a promise when the caller must wait before the next. */
  private readRecord(record: SourceRecord, reading: SegmentReading, rawFingerprint: number): Promise<void> | undefined {
    const { segment, mapper } = reading;
    const seq = this.nextSeq++;
    this.counters.profilesRead++;
    if (record.kind === 'rejected') {
      this.counters.sourceRowsRejected++;
      // Whose row this was is unknown: the segment's removals are held (segmentsToHold).
      this.unreadableRows[segment] ??= { count: 0, blob: record.blobName, line: record.line };
      this.unreadableRows[segment].count++;
      this.reject(seq, 'source', record.reason, { blob: record.blobName, line: record.line, column: record.column });
      return;
    }
    const outcome = mapper.map(record.values);
    if (outcome.kind === 'skipped') {
      this.counters.skipped++;
      this.skippedReasons[outcome.reason] = (this.skippedReasons[outcome.reason] ?? 0) + 1;
      return;
    }
    if (outcome.kind === 'rejected') {
      const where = { blob: record.blobName, line: record.line, column: outcome.column };
      this.reject(seq, 'mapping', outcome.reason, where);
      if (outcome.key !== undefined && this.planner.keepPrevious(outcome.key, segment)) reading.members[segment]++;
      return;
    }
    this.counters.attributesFullResend += 1 + countValues(outcome.row.values);
    const { emailProblem, emailColumn } = outcome.row;
    if (emailProblem !== undefined) {
      // Delivered without the email; decoded again next run (no raw fingerprint), so reported again until fixed.
      this.counters.emailsRejected++;
      this.rejected.push({
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
      this.identity.defer({ row: outcome.row, segment, reading, blob: record.blobName, line: record.line });
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
      this.counters.duplicateRows++;
      return;
    }
    reading.members[reading.segment]++;
    if (rowPlan.kind === 'unchanged') {
      this.counters.unchanged++;
      return;
    }
    if (!this.merge) return this.send(seq, rowPlan.planned, blob, line);
    const merged = this.merge.take(rowPlan.planned, this.readOrder.get(reading.segment)!);
    return merged ? this.send(seq, merged, blob, line) : undefined;
  }

  /**
   * A full sync of several tables sends one object per user (issue 19): a pre-pass over the later tables' ids tells
   * each user's last table, where their merged object goes (see `UserMerge`).
   */
  private async mergeUsers(descriptor: ExportDescriptor, selected: ReadonlySet<number>): Promise<UserMerge> {
    const { exportConfig, exportContainer, settings } = this.deps;
    const tables = [...selected].map((segment, table) => {
      this.readOrder.set(segment, table);
      const entity = descriptor.entities.get(exportConfig.segments[segment].table)!;
      return {
        entity,
        mapper: createProfileMapper(exportConfig, entity),
        maxCellSizeInBytes: settings.sourceMaxCellBytes,
      };
    });
    const startedAtMs = this.clock();
    const lastTables = await indexLastTables(exportContainer, tables);
    this.logger.log('info', 'one object per user: later tables indexed', {
      users: lastTables.size,
      indexBytes: lastTables.byteLength,
      ms: this.clock() - startedAtMs,
    });
    return new UserMerge((slot) => lastTables.lastTable(this.planner.next.keyHashOf(slot)));
  }

  /**
   * The safety guard (design §7): a segment that shrank by more than the configured share keeps its members
   * unless the run allows mass removal. A segment with no rows at all is the extreme case of this.
   */
  private segmentsToHold(selected: ReadonlySet<number>, members: number[], request: RunRequest): Map<number, string> {
    const held = new Map<number, string>();
    const guard = this.deps.settings.segmentShrinkGuardPercent;
    const previousMembers = this.guardMembers ?? this.planner.previousMemberCounts();
    for (const segment of selected) {
      const before = previousMembers[segment];
      if (before === 0 || request.allowMassRemoval) continue;
      const table = this.layout.segmentTables[segment] || this.layout.segmentIds[segment];
      if (this.layout.droppedSegments.includes(segment)) {
        const reason =
          `segment ${table} is no longer in the export config: removing its membership attribute from its ${before} ` +
          `member(s) is held back; start the run with allowMassRemoval (CLI --allow-mass-removal) to remove it`;
        held.set(segment, reason);
        this.logger.log('warn', reason, { segment: table });
        continue;
      }
      const unreadable = this.unreadableRows[segment];
      if (unreadable) {
        const reason =
          `${unreadable.count} row(s) of segment ${table} could not be read (first: ${unreadable.blob} line ` +
          `${unreadable.line}): removals held back, so that no member loses the segment because their row is ` +
          `unreadable; fix the export, or start the run with allowMassRemoval (CLI --allow-mass-removal)`;
        held.set(segment, reason);
        this.logger.log('warn', reason, { segment: table });
        continue;
      }
      const shrinkPercent = ((before - members[segment]) / before) * 100;
      if (shrinkPercent > guard) {
        const reason =
          `segment ${table} shrank by ${shrinkPercent.toFixed(1)} % (${before} -> ${members[segment]} members), ` +
          `more than SEGMENT_SHRINK_GUARD_PERCENT=${guard}: removals held back; start the run with ` +
          `allowMassRemoval (CLI --allow-mass-removal) if the shrink is real`;
        held.set(segment, reason);
        this.logger.log('warn', reason, { segment: table });
        continue;
      }
      const incomplete = this.incompletePartitions[segment];
      if (incomplete) {
        const table = this.deps.exportConfig.segments[segment].table;
        const reason =
          `${incomplete.blobName} of segment ${table}: ${incomplete.reason}; removals held back, so that no member ` +
          `leaves because of a partly written export; start the run with allowMassRemoval (CLI --allow-mass-removal) ` +
          `if the export is complete as it is`;
        held.set(segment, reason);
        this.logger.log('warn', reason, { segment: table });
      }
    }
    return held;
  }

  /** Starts writing the next snapshot's data; `rejectionsBefore` tells at the commit whether it went stale. */
  private stageSnapshot(key: string): Staging {
    const upload = withStorageRetry(`the snapshot of ${key}`, () =>
      uploadSnapshotData(this.deps.stateContainer, key, this.planner.next, { changes: this.snapshotChanges() }),
    );
    // Awaited at the commit; should the run stop before, its failure must not be an unhandled rejection.
    upload.catch(() => undefined);
    return { upload, rejectionsBefore: this.counters.rejected };
  }

  /** What this run changed in the loaded snapshot: the save can then be a patch of it. None on a first run. */
  private snapshotChanges(): SnapshotChanges | undefined {
    if (this.loadedVersion === null || this.planner.needsWholeSave) return undefined;
    return {
      loadedVersion: this.loadedVersion,
      loadedUsers: this.planner.previousUsers,
      changedSlots: this.planner.changedSlots(),
    };
  }

  /** A step that pauses before the commit leaves no staged data behind (the next step stages its own). */
  private async dropStaged(staging: Staging | null): Promise<void> {
    const staged = await staging?.upload.catch(() => null);
    if (staged) await deleteSnapshotData(this.deps.stateContainer, staged);
  }

  /** Sends objects planned after the rows, each with the next sequence number. False when the budget ran out. */
  private async sendEach(objects: Iterable<PlannedObject>): Promise<boolean> {
    for (const object of objects) {
      if (this.nextSeq >= this.resumeFrom && this.mustStop()) return false;
      const wait = this.send(this.nextSeq++, object);
      if (wait) await wait;
    }
    return true;
  }

  /**
   * Sends one planned object, or (below the checkpoint) replays the verdict Braze gave it before. Returns a promise
   * only when the caller must wait (delivery or checkpoint backpressure): an await per row costs a microtask each.
   */
  private send(
    seq: number,
    planned: PlannedObject | MergedObject,
    blob?: string,
    line?: number,
  ): Promise<void> | undefined {
    const merged = 'rows' in planned ? planned : undefined;
    const addedSegments = merged?.addedSegments;
    // Counted for every object given, replayed ones too: a resumed step's counters are rebuilt from the replay.
    if (merged) this.counters.rowsMerged! += merged.rows - 1;
    const pending: PendingObject = {
      slot: planned.slot,
      segment: planned.segment,
      addedSegments,
      attributesChanged: planned.attributesChanged,
      membershipsAdded: planned.membershipsAdded,
      removedSegments: planned.removedSegments,
      identity: planned.identity,
      blob,
      line,
    };
    if (seq < this.replayBelow && !this.resendOnResume.has(seq)) {
      const reason = this.brazeRejected.get(seq);
      if (reason === undefined) this.accept(pending);
      else this.rejectObject(seq, pending, reason);
      return;
    }
    if (this.plan) {
      this.plan.record(planned, this.planner.next.keyOf(planned.slot));
      this.accept(pending);
      return;
    }
    this.pending.set(seq, pending);
    if (addedSegments) for (const segment of addedSegments) this.noteSentMembership(planned.slot, segment);
    else if (planned.membershipsAdded > 0) this.noteSentMembership(planned.slot, planned.segment);
    // Identity calls first: the object goes once Braze made them (and is refused with them otherwise).
    const identityDone = this.identity.before(planned);
    if (identityDone) {
      void identityDone.then((refusal) => {
        if (refusal === null) return this.push(seq, planned.object);
        this.pending.delete(seq);
        this.brazeRejected.set(seq, refusal);
        this.rejectObject(seq, pending, refusal);
      });
      return;
    }
    return this.push(seq, planned.object);
  }

  private push(seq: number, object: Record<string, unknown>): Promise<void> | undefined {
    const pushed = this.delivery!.push({ ref: seq, object });
    return pushed ? pushed.then(() => this.recordSent(seq)) : this.recordSent(seq);
  }

  private recordSent(seq: number): Promise<void> | undefined {
    this.durable!.recordSent(seq);
    return this.durable!.full ? this.durable!.waitForRoom() : undefined;
  }

  /**
   * What a checkpoint written now records: every row read is settled except the objects awaiting Braze's answer,
   * and (when resumed) the rows the checkpoint we started from left unsettled, further on than this step has read.
   */
  private progressState(): ProgressState {
    const unsettled = [...this.pending.keys()];
    for (const seq of this.resendOnResume) if (seq >= this.nextSeq) unsettled.push(seq);
    return { settledBelow: Math.max(this.nextSeq, this.replayBelow), unsettled };
  }

  private onResults(results: RowResult[]): void {
    for (const result of results) {
      const pending = this.pending.get(result.ref);
      if (!pending) continue;
      this.pending.delete(result.ref);
      if (result.status === 'accepted') this.accept(pending);
      else {
        this.brazeRejected.set(result.ref, result.reason);
        this.rejectObject(result.ref, pending, result.reason);
      }
    }
    this.durable?.answered(results.length);
  }

  private accept(planned: PendingObject): void {
    const c = this.counters;
    c.objectsSent++;
    const removed = planned.removedSegments.length;
    c.attributesSent += planned.attributesChanged + planned.membershipsAdded + removed;
    c.membershipsAdded += planned.membershipsAdded;
    c.membershipsRemoved += removed;
    if (removed > 0) c.removalObjectsSent++;
    for (const change of planned.identity ?? []) {
      if (change.kind === 'identify') c.identified++;
      else if (change.kind === 'rename') c.renamed++;
      else c.merged++;
    }
    if (planned.addedSegments) for (const segment of planned.addedSegments) this.segmentAdded[segment]++;
    else if (planned.membershipsAdded) this.segmentAdded[planned.segment]++;
    for (const segment of planned.removedSegments) this.segmentRemoved[segment]++;
    if (planned.slot >= this.usersSentFlags.length) {
      const grown = new Uint8Array(Math.max(planned.slot + 1, this.usersSentFlags.length * 2));
      grown.set(this.usersSentFlags);
      this.usersSentFlags = grown;
    }
    if (this.usersSentFlags[planned.slot] === 0) {
      this.usersSentFlags[planned.slot] = 1;
      c.usersSent++;
    }
  }

  private rejectObject(seq: number, pending: PendingObject, reason: string): void {
    this.planner.reject(pending);
    for (const change of pending.identity ?? []) this.planner.rejectIdentity(change);
    const idHash = hashId(this.planner.next.keyOf(pending.slot));
    this.reject(seq, 'braze', reason, { blob: pending.blob, line: pending.line, idHash });
  }

  private reject(seq: number, stage: RejectedRow['stage'], reason: string, where: Partial<RejectedRow>): void {
    this.counters.rejected++;
    this.rejectedReasons[reason] = (this.rejectedReasons[reason] ?? 0) + 1;
    this.rejected.push({ seq, stage, reason, ...where });
  }

  /**
   * True when the step must stop sending: the budget is spent or the run lock was lost. Synchronous, since it runs
   * for every row; saves a checkpoint in the background every few seconds on the way.
   */
  private mustStop(): boolean {
    if (this.input.signal?.aborted) return true;
    // The clock is read for a step's first rows and then every CLOCK_EVERY_ROWS rows: reading it per row costs
    // more than a delta's unchanged row, and a budget in seconds needs no finer grain.
    if ((this.nextSeq & (CLOCK_EVERY_ROWS - 1)) !== 0 && this.nextSeq > this.resumeFrom + 1) return false;
    const now = this.clock();
    // At least one row per step, so even a tiny budget makes progress.
    if (now >= this.input.deadline && this.nextSeq > this.resumeFrom) return true;
    if (now - this.lastProgressAt >= (this.deps.progressIntervalInMs ?? 2000)) {
      this.lastProgressAt = now;
      this.reportProgress();
    }
    return false;
  }

  /** Starts timing `phase` (and reports it as the run's phase). */
  private enterPhase(phase: keyof PhaseTimes): void {
    const now = this.clock();
    this.phaseMs[this.phase] += now - this.phaseSinceMs;
    this.phase = phase;
    this.phaseSinceMs = now;
  }

  private async pause() {
    await this.settleDeliveries();
    await this.recordSentMemberships();
    if (!this.input.request.dryRun) await this.saveCheckpoint(this.progressState());
    if (this.input.signal?.aborted) {
      // The run record keeps how far an interrupted step got: its last progress report may be seconds old.
      this.reportProgress();
      throw new RunInterruptedError('the run lock was lost; the run will resume from its checkpoint');
    }
    const progress = this.progress();
    this.logger.log('info', 'run paused: time budget spent, continuing in a new invocation', {
      runId: this.input.runId,
      rowsRead: progress.rowsRead,
      resumeFrom: this.nextSeq,
    });
    return { kind: 'paused' as const, progress };
  }

  private async settleDeliveries(): Promise<void> {
    // Objects that wait for identity changes are handed to the delivery first.
    await this.identity.settle();
    this.identity.close();
    if (this.delivery) {
      const stats = await this.delivery.flush();
      this.counters.requests = this.checkpoint.delivery.requests + stats.requests;
      this.counters.retries = this.checkpoint.delivery.retries + stats.retries;
      this.counters.throttled = this.checkpoint.delivery.throttled + stats.throttled;
    }
    await this.durable?.idle();
  }

  private async saveCheckpoint(state: ProgressState, final?: Checkpoint['final']): Promise<void> {
    const stats = this.delivery?.stats;
    await saveCheckpoint(this.deps.stateContainer, {
      ...this.checkpoint,
      settledBelow: state.settledBelow,
      unsettled: [...state.unsettled],
      // Every verdict held is of a settled row: an object is rejected when its answer comes.
      brazeRejected: [...this.brazeRejected],
      delivery: {
        requests: this.checkpoint.delivery.requests + (stats?.requests ?? 0),
        retries: this.checkpoint.delivery.retries + (stats?.retries ?? 0),
        throttled: this.checkpoint.delivery.throttled + (stats?.throttled ?? 0),
      },
      workedMs: this.workedMs(),
      savedAt: new Date(this.clock()).toISOString(),
      final,
    });
  }

  /** Working time of the run so far: its earlier steps' (from the checkpoint) and this one's. */
  private workedMs(): number {
    return (this.checkpoint.workedMs ?? 0) + this.clock() - this.stepStartedAtMs;
  }

  private progress(): RunProgress {
    return {
      phase: this.phase === 'starting' ? 'reading' : this.phase,
      rowsRead: this.counters.profilesRead,
      objectsSent: this.counters.objectsSent,
      ...(this.readProgress.partitions > 0 && {
        readFraction: Math.min(1, (this.readProgress.done + this.readProgress.current) / this.readProgress.partitions),
      }),
      updatedAt: new Date(this.clock()).toISOString(),
    };
  }

  private sampleTimeline(): void {
    const stats = this.delivery?.stats;
    this.timeline.push({
      atMs: this.clock() - this.stepStartedAtMs,
      rowsRead: this.counters.profilesRead,
      objectsSent: this.counters.objectsSent,
      requests: stats?.requests ?? 0,
      throttled: stats?.throttled ?? 0,
      retries: stats?.retries ?? 0,
    });
  }

  private reportProgress(): void {
    const progress = this.progress();
    const stats = this.delivery?.stats;
    this.sampleTimeline();
    this.logger.log('info', 'run progress', {
      runId: this.input.runId,
      phase: progress.phase,
      rowsRead: progress.rowsRead,
      objectsSent: progress.objectsSent,
      requests: stats?.requests ?? 0,
      throttled: stats?.throttled ?? 0,
      retries: stats?.retries ?? 0,
      concurrencyLimit: stats?.concurrencyLimit ?? 0,
      inFlight: stats?.inFlight ?? 0,
      queuedBatches: stats?.queuedBatches ?? 0,
      unrecorded: this.durable?.unrecordedCount ?? 0,
    });
    this.input.onProgress?.(progress);
  }

  private summarize(
    runId: string,
    request: RunRequest,
    descriptor: ExportDescriptor,
    segments: RunSummary['segments'],
    alreadySynced: boolean,
  ): RunSummary {
    const finishedAtMs = this.clock();
    this.sampleTimeline();
    const status = segments.some((s) => s.heldReason) ? 'held' : 'succeeded';
    return {
      runId,
      status,
      outcome: runOutcome(status, this.counters),
      caller: request.caller,
      dryRun: request.dryRun,
      fullResync: request.fullResync,
      exportFingerprint: descriptor.fingerprint,
      exportMetadataBlob: descriptor.metadataBlob,
      alreadySynced,
      stateChange: this.layout?.change,
      ...this.counters,
      segments,
      skippedReasons: this.skippedReasons,
      rejectedReasons: this.rejectedReasons,
      timeline: this.timeline,
      phaseMs: {
        ...this.phaseMs,
        [this.phase]: this.phaseMs[this.phase] + finishedAtMs - this.phaseSinceMs,
      },
      startedAt: this.checkpoint.startedAt,
      finishedAt: new Date(finishedAtMs).toISOString(),
      durationMs: (this.checkpoint.workedMs ?? 0) + finishedAtMs - this.stepStartedAtMs,
      context: runContext(request, descriptor, this.configHash, this.comparedWithPreviousState),
    };
  }
}

function countValues(values: readonly unknown[]): number {
  let count = 0;
  for (const value of values) if (value !== null) count++;
  return count;
}

/**
 * "Already synced": the snapshot was committed from this export version with the same config, its segments include
 * every segment asked for, and nothing is pending (rejected rows, held removals).
 */
function isAlreadySynced(meta: SnapshotMeta, exportFingerprint: string, configHash: string, segmentIds: string[]) {
  return (
    meta.exportFingerprint === exportFingerprint &&
    meta.exportConfigHash === configHash &&
    meta.pendingRejected === 0 &&
    segmentIds.every((id) => meta.syncedSegments?.includes(id))
  );
}

/** The segments synced with this export version and config once this run commits: its own, plus earlier ones. */
function syncedSegmentsAfter(
  meta: SnapshotMeta | null,
  exportFingerprint: string,
  configHash: string,
  segmentIds: readonly string[],
  selectedIds: readonly string[],
): string[] {
  const synced = new Set(selectedIds);
  if (meta?.exportFingerprint === exportFingerprint && meta.exportConfigHash === configHash) {
    for (const id of meta.syncedSegments ?? []) if (segmentIds.includes(id)) synced.add(id);
  }
  return [...synced];
}

/** Segment indexes a run covers: all, or those named by table or Braze segment id. */
export function selectSegments(config: ExportConfig, request: RunRequest): Set<number> {
  if (!request.segments || request.segments.length === 0) return new Set(config.segments.map((_, i) => i));
  const selected = new Set<number>();
  const unknown: string[] = [];
  for (const name of request.segments) {
    const index = config.segments.findIndex((s) => s.table === name || s.brazeSegmentApiId === name);
    if (index < 0) unknown.push(name);
    else selected.add(index);
  }
  if (unknown.length > 0) {
    throw new ConfigError('run request', [
      `segments: unknown segment(s) ${unknown.map((n) => `"${n}"`).join(', ')}; configured: ` +
        config.segments.map((s) => s.table).join(', '),
    ]);
  }
  return selected;
}

/** Unknown tables and columns are reported against the export before anything is sent (design §5). */
function checkConfigAgainstExport(
  config: ExportConfig,
  descriptor: ExportDescriptor,
  selected: ReadonlySet<number>,
  exportPath: string,
): void {
  const problems: string[] = [];
  for (const index of selected) {
    const table = config.segments[index].table;
    const entity = descriptor.entities.get(table);
    if (!entity) {
      problems.push(
        `segments[${index}].table: "${table}" is not in ${descriptor.metadataBlob}; tables found: ` +
          ([...descriptor.entities.keys()].join(', ') || 'none'),
      );
      continue;
    }
    for (const column of missingColumns(config, entity)) {
      problems.push(`table ${table} in ${descriptor.metadataBlob} has no column "${column}" named by the config`);
    }
  }
  if (problems.length > 0) throw new ConfigError(`export config against the export in ${exportPath}`, problems);
}
