import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { validateExportConfig } from '../../shared/config/exportConfig';
import { loadSettings } from '../../shared/config/settings';
import { createRunExecutor } from '../../shared/run/pipeline';
import type { RunExecutor } from '../../shared/run/types';
import { startBrazeSandbox, type BrazeSandbox, type SandboxOptions } from '../../tools/braze-sandbox/server';
import { containerSink, writeExport, type GeneratorOptions } from '../../tools/generate-export/generator';
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

/** Azurite (blob and queue), the Braze sandbox and a generated export: what the tests of the CLI and the worker use. */
export interface ExportStack {
  azurite: Azurite;
  sandbox: BrazeSandbox;
  exportContainer: ContainerClient;
  /** The app settings of this stack (localEnvironment), to give a child process or createApp. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startExportStack(options: {
  sandbox?: SandboxOptions;
  exportContainer?: string;
  exportPath: string;
  /** The export written before the tests (writeExport's options: profiles, seed, segments, run). */
  generator: GeneratorOptions;
  exportConfig: unknown;
  /** Settings added to (or overriding) the local environment. */
  settings?: Record<string, string>;
}): Promise<ExportStack> {
  const containerName = options.exportContainer ?? 'ci-exports';
  const azurite = await startAzurite({ queue: true });
  const sandbox = await startBrazeSandbox(options.sandbox ?? { rateLimit: null }).catch(async (error: unknown) => {
    await azurite.stop();
    throw error;
  });
  const exportContainer = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(
    containerName,
  );
  await exportContainer.create();
  await writeExport(containerSink(exportContainer), options.exportPath, options.generator);
  const env = localEnvironment({
    storageConnectionString: azurite.connectionString,
    brazeUrl: sandbox.url,
    brazeApiKey: sandbox.apiKey,
    exportContainer: containerName,
    exportPath: options.exportPath,
    exportConfig: options.exportConfig,
    extra: options.settings,
  });
  return {
    azurite,
    sandbox,
    exportContainer,
    env,
    async stop() {
      await sandbox.close();
      await azurite.stop();
    },
  };
}
