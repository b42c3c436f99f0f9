import type { ContainerClient } from '@azure/storage-blob';
import type { QueueClient } from '@azure/storage-queue';
import type { Logger } from '../telemetry/logger';
import { deploymentIdOf } from './queue';

export interface RunServiceDeps {
  stateContainer: ContainerClient;
  queue: QueueClient;
  clock?: () => number;
  logger: Logger;
}

/** The message that queues a run for this deployment. */
export function ownMessage(deps: RunServiceDeps, runId: string) {
  return { runId, deployment: deploymentIdOf(deps.stateContainer) };
}
