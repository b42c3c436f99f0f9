import { emptyCounters } from '../../shared/run/outcome';
import { randomBytes } from 'node:crypto';
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import type { AppDependencies } from '../../functions/dependencies';
import type { ExportConfig } from '../../shared/config/exportConfig';
import { parseRunMessage } from '../../shared/run/queue';
import type { RunServiceDeps } from '../../shared/run/service';
import type { RunExecutor, RunRequest, RunSummary } from '../../shared/run/types';
import { MemoryLogger } from '../../shared/telemetry/logger';

/** A fresh state container and run queue per test, so tests on one Azurite cannot see each other's runs. */
export async function freshServiceDeps(
  connectionString: string,
  clock?: () => number,
): Promise<RunServiceDeps & { logger: MemoryLogger }> {
  const suffix = randomBytes(4).toString('hex');
  const stateContainer = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(`state-${suffix}`);
  await stateContainer.create();
  const queue = QueueServiceClient.fromConnectionString(connectionString).getQueueClient(`runs-${suffix}`);
  await queue.create();
  return { stateContainer, queue, clock, logger: new MemoryLogger() };
}

/**
 * What the HTTP functions get from the host, on a fresh state container and queue. The executor completes at once
 * unless one is given.
 */
export async function freshAppDependencies(
  connectionString: string,
  exportConfig: ExportConfig,
  executor?: RunExecutor,
): Promise<AppDependencies> {
  const { stateContainer, queue } = await freshServiceDeps(connectionString);
  return {
    stateContainer,
    queue,
    exportConfig,
    settings: { runTimeBudgetInMs: 60_000 },
    executor: executor ?? (async ({ runId }) => ({ kind: 'completed', summary: testSummary(runId) })),
  };
}

export const httpRequest: RunRequest = { dryRun: false, fullResync: false, allowMassRemoval: false, trigger: 'http' };

/** Run ids of the visible messages, removing them from the queue. */
export async function drainRunIds(deps: RunServiceDeps): Promise<string[]> {
  const runIds: string[] = [];
  for (;;) {
    const { receivedMessageItems } = await deps.queue.receiveMessages({ numberOfMessages: 32 });
    if (receivedMessageItems.length === 0) return runIds;
    for (const item of receivedMessageItems) {
      runIds.push(parseRunMessage(item.messageText)?.runId ?? 'invalid');
      await deps.queue.deleteMessage(item.messageId, item.popReceipt);
    }
  }
}

/** Visible and delayed messages together. */
export async function queuedMessageCount(deps: RunServiceDeps): Promise<number> {
  return (await deps.queue.getProperties()).approximateMessagesCount ?? 0;
}

export function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Polls until `condition` holds; fails after `attempts` polls (a hang guard, not a speed assertion). */
export async function waitUntil(condition: () => Promise<boolean>, attempts = 500): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('condition not reached');
}

export function testSummary(runId: string, overrides: Partial<RunSummary> = {}): RunSummary {
  return {
    runId,
    status: 'succeeded',
    dryRun: false,
    fullResync: false,
    exportFingerprint: 'fp',
    exportMetadataBlob: 'export/model.json',
    alreadySynced: false,
    segments: [],
    skippedReasons: {},
    rejectedReasons: {},
    timeline: [],
    phaseMs: { starting: 200, reading: 50_000, removals: 9_000, committing: 800 },
    startedAt: '2026-11-28T12:00:00.000Z',
    finishedAt: '2026-11-28T12:01:00.000Z',
    durationMs: 60_000,
    ...emptyCounters(),
    profilesRead: 10,
    usersSent: 10,
    objectsSent: 10,
    attributesSent: 30,
    attributesFullResend: 30,
    membershipsAdded: 10,
    requests: 1,
    ...overrides,
  };
}
