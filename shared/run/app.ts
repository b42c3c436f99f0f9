import type { ContainerClient } from '@azure/storage-blob';
import type { QueueClient } from '@azure/storage-queue';
import { loadExportConfig, type ExportConfig } from '../config/exportConfig';
import { loadSettings, type Environment, type Settings } from '../config/settings';
import type { Logger } from '../telemetry/logger';
import { createRunExecutor } from './pipeline';
import type { RunServiceDeps } from './service';
import { createContainerClient, createQueueClient } from './storage';
import { rewordStorageError, storageTargets, withStorageMessages } from './storageMessages';
import type { RunExecutor } from './types';

/**
 * The composition root shared by the Functions app, the CLI and the demo: settings and export config validated
 * once, storage clients, and the run pipeline. Everything else receives these as parameters.
 */
export interface App {
  settings: Settings;
  exportConfig: ExportConfig;
  exportContainer: ContainerClient;
  stateContainer: ContainerClient;
  queue: QueueClient;
  executor: RunExecutor;
  serviceDeps(logger: Logger): RunServiceDeps;
}

export async function createApp(env: Environment, overrides: { exportConfigSource?: string } = {}): Promise<App> {
  const settings = loadSettings(env);
  const exportConfig = loadExportConfig(overrides.exportConfigSource ?? settings.exportConfigSource);
  const exportContainer = createContainerClient(settings.ciExportStorage, settings.ciExportContainer);
  const stateContainer = createContainerClient(settings.stateStorage, settings.stateContainer);
  const queue = createQueueClient(settings.stateStorage, settings.runQueueName);
  const { state } = storageTargets(settings);
  await Promise.all([stateContainer.createIfNotExists(), queue.createIfNotExists()]).catch((error: unknown) => {
    throw rewordStorageError(error, [state], 'preparing the run state storage');
  });
  const executor = withStorageMessages(
    createRunExecutor({ settings, exportConfig, exportContainer, stateContainer }),
    settings,
  );
  return {
    settings,
    exportConfig,
    exportContainer,
    stateContainer,
    queue,
    executor,
    serviceDeps: (logger) => ({ stateContainer, queue, logger }),
  };
}
