import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { validateExportConfig } from '../../shared/config/exportConfig';
import { loadSettings } from '../../shared/config/settings';
import { createRunExecutor } from '../../shared/run/pipeline';
import type { RunExecutor } from '../../shared/run/types';
import { startBrazeSandbox, type BrazeSandbox, type SandboxOptions } from '../../tools/braze-sandbox/server';
import { startAzurite, type Azurite } from '../../tools/local/azurite';
import { localEnvironment } from '../../tools/local/environment';

/** Azurite, the Braze sandbox and the two containers a run uses: what pipeline-level tests start in beforeAll. */
export interface LocalStack {
  azurite: Azurite;
  sandbox: BrazeSandbox;
  exportContainer: ContainerClient;
  stateContainer: ContainerClient;
  /** The run pipeline against this stack, with `settings` added to (or overriding) the local environment. */
  executor(options: {
    exportPath: string;
    exportConfig: unknown;
    settings?: Record<string, string>;
    progressIntervalInMs?: number;
  }): RunExecutor;
  stop(): Promise<void>;
}

export async function startLocalStack(sandboxOptions: SandboxOptions = { rateLimit: null }): Promise<LocalStack> {
  const azurite = await startAzurite();
  const sandbox = await startBrazeSandbox(sandboxOptions);
  const service = BlobServiceClient.fromConnectionString(azurite.connectionString);
  const exportContainer = service.getContainerClient('ci-exports');
  const stateContainer = service.getContainerClient('ci-braze-state');
  await Promise.all([exportContainer.create(), stateContainer.create()]);
  return {
    azurite,
    sandbox,
    exportContainer,
    stateContainer,
    executor({ exportPath, exportConfig, settings = {}, progressIntervalInMs }) {
      const env = localEnvironment({
        storageConnectionString: azurite.connectionString,
        brazeUrl: sandbox.url,
        brazeApiKey: sandbox.apiKey,
        exportContainer: 'ci-exports',
        exportPath,
        exportConfig,
        extra: settings,
      });
      return createRunExecutor({
        settings: loadSettings(env),
        exportConfig: validateExportConfig(exportConfig),
        exportContainer,
        stateContainer,
        progressIntervalInMs,
      });
    },
    async stop() {
      await sandbox.close();
      await azurite.stop();
    },
  };
}
