/**
 * What `ci-braze-export local` starts: Azurite (blob and queue) and the Braze sandbox on loopback, a generated CI
 * export that matches the export config, and a `local.settings.json` pointing at them, so `check`, `plan` and `run`
 * work with no file edited. Ports are those of the sample settings when free (Azurite's 10000/10001, the
 * sandbox's 4040), else free ones, written into `local.settings.json`.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import { ConfigError } from '../../shared/config/errors';
import { parseExportConfig, type ExportConfig } from '../../shared/config/exportConfig';
import { DEFAULTS } from '../../shared/config/settings';
import { startBrazeSandbox, SANDBOX_DEFAULT_API_KEY, type BrazeSandbox } from '../braze-sandbox/server';
import { containerSink, writeExport, type GeneratorOptions } from '../generate-export/generator';
import { AZURITE_ACCOUNT, AZURITE_KEY, isPortFree, startAzuriteService, stopAzuriteServices } from './azurite';

export const SAMPLE_SETTINGS_FILE = 'local.settings.sample.json';
export const SETTINGS_FILE = 'local.settings.json';
/** The ports `UseDevelopmentStorage=true` and the sample's `BRAZE_REST_ENDPOINT` name. */
export const PREFERRED_PORTS = { blob: 10000, queue: 10001, braze: 4040 } as const;

export interface DevStackOptions {
  /** Where `local.settings.json` is written and relative paths (EXPORT_CONFIG) are resolved: the working folder. */
  folder: string;
  profiles: number;
  seed: number;
}

export interface DevStack {
  settingsFile: string;
  /** The settings written, as `Values`. */
  values: Record<string, string>;
  exportConfig: ExportConfig;
  /** Blob folder of the generated export, e.g. `HighValueSegment/2025/03/10/0200` under CI_EXPORT_PATH. */
  runFolder: string;
  rows: Record<string, number>;
  ports: { blob: number; queue: number; braze: number };
  sandbox: BrazeSandbox;
  stop(): Promise<void>;
}

export async function startDevStack(options: DevStackOptions): Promise<DevStack> {
  const { file: baseFile, document } = baseSettings(options.folder);
  const base = document.Values;
  const exportConfig = readExportConfig(options.folder, base.EXPORT_CONFIG);
  const container = base.CI_EXPORT_CONTAINER || 'customer-insights';
  const exportPath = (base.CI_EXPORT_PATH ?? '').replace(/^\/+|\/+$/g, '');
  const apiKey =
    base.BRAZE_API_KEY && !base.BRAZE_API_KEY.startsWith('@') ? base.BRAZE_API_KEY : SANDBOX_DEFAULT_API_KEY;

  const blob = await startAzuriteService('blob', undefined, await portOrFree(PREFERRED_PORTS.blob));
  const queue = await startAzuriteService('queue', undefined, await portOrFree(PREFERRED_PORTS.queue)).catch(
    async (error: unknown) => {
      await stopAzuriteServices([blob.child]);
      throw error;
    },
  );
  const stopAzurite = () => stopAzuriteServices([blob.child, queue.child]);
  let sandbox: BrazeSandbox;
  try {
    sandbox = await startBrazeSandbox({
      port: await portOrFree(PREFERRED_PORTS.braze),
      apiKeys: [{ key: apiKey }],
      rateLimit: null,
      segments: exportConfig.segments.map((s) => ({ id: s.brazeSegmentApiId, name: s.table })),
    });
  } catch (error) {
    await stopAzurite();
    throw error;
  }
  const stop = async () => {
    await sandbox.close();
    await stopAzurite();
  };
  try {
    const storage =
      blob.port === PREFERRED_PORTS.blob && queue.port === PREFERRED_PORTS.queue
        ? 'UseDevelopmentStorage=true'
        : connectionString(blob.port, queue.port);
    const service = BlobServiceClient.fromConnectionString(storage);
    const exportContainer = service.getContainerClient(container);
    await exportContainer.createIfNotExists();
    // What the first run would create, made now so `check` can test writing there.
    await service.getContainerClient(base.STATE_CONTAINER || DEFAULTS.stateContainer).createIfNotExists();
    await QueueServiceClient.fromConnectionString(storage)
      .getQueueClient(base.RUN_QUEUE_NAME || DEFAULTS.runQueueName)
      .createIfNotExists();
    const written = await writeExport(containerSink(exportContainer), exportPath, {
      profiles: options.profiles,
      seed: options.seed,
      run: 0,
      // Without a share, each segment gets the generator's default share for its position.
      segments: exportConfig.segments.map((s) => ({
        table: s.table,
        brazeSegmentApiId: s.brazeSegmentApiId,
      })) as GeneratorOptions['segments'],
    });
    const values: Record<string, string> = {
      ...base,
      AzureWebJobsStorage: storage,
      CI_EXPORT_STORAGE: storage,
      CI_EXPORT_CONTAINER: container,
      CI_EXPORT_PATH: exportPath,
      STATE_STORAGE: storage,
      BRAZE_REST_ENDPOINT: sandbox.url,
      BRAZE_API_KEY: apiKey,
      BRAZE_ALLOW_INSECURE_LOOPBACK: 'true',
    };
    const settingsFile = path.join(options.folder, SETTINGS_FILE);
    if (baseFile !== settingsFile || JSON.stringify(values) !== JSON.stringify(base)) {
      writeFileSync(settingsFile, JSON.stringify({ ...document, Values: values }, null, 2) + '\n');
    }
    return {
      settingsFile,
      values,
      exportConfig,
      runFolder: written.runFolder,
      rows: written.rows,
      ports: { blob: blob.port, queue: queue.port, braze: sandbox.port },
      sandbox,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

interface SettingsDocument {
  Values: Record<string, string>;
  [key: string]: unknown;
}

/**
 * `local.settings.json` when present (it must point at this machine: `local` never rewrites settings of a real
 * deployment), else the repository's sample.
 */
function baseSettings(folder: string): { file: string; document: SettingsDocument } {
  const own = path.join(folder, SETTINGS_FILE);
  const file = existsSync(own)
    ? own
    : path.join(existsSync(path.join(folder, SAMPLE_SETTINGS_FILE)) ? folder : packageRoot(), SAMPLE_SETTINGS_FILE);
  let document: SettingsDocument;
  try {
    document = JSON.parse(readFileSync(file, 'utf8')) as SettingsDocument;
  } catch (error) {
    throw new ConfigError(file, [`cannot read it as JSON: ${error instanceof Error ? error.message : error}`]);
  }
  if (document === null || typeof document.Values !== 'object' || document.Values === null) {
    throw new ConfigError(file, ['it has no "Values" object']);
  }
  const remote = Object.entries(document.Values)
    .filter(([name, value]) => value && pointsAway(name, value))
    .map(([name]) => name);
  if (remote.length > 0) {
    throw new ConfigError(file, [
      `${remote.join(', ')} point(s) at a real deployment; \`local\` only rewrites local settings: move ` +
        `${SETTINGS_FILE} away, or run \`local\` in another folder`,
    ]);
  }
  return { file, document };
}

const LOOPBACK = /^(https?:\/\/)?(127\.0\.0\.1|localhost)(:\d+)?(\/|$)/;

/** A Braze host or storage account that is not on this machine (Azurite, the sandbox). */
function pointsAway(name: string, value: string): boolean {
  if (name === 'BRAZE_REST_ENDPOINT') return !LOOPBACK.test(value);
  if (name.endsWith('__blobServiceUri') || name.endsWith('__queueServiceUri')) return true;
  if (['AzureWebJobsStorage', 'CI_EXPORT_STORAGE', 'STATE_STORAGE'].includes(name)) {
    return value !== 'UseDevelopmentStorage=true' && !/BlobEndpoint=http:\/\/127\.0\.0\.1:/.test(value);
  }
  return false;
}

function readExportConfig(folder: string, source: string | undefined): ExportConfig {
  const value = (source ?? '').trim() || 'export.config.sample.json';
  if (value.startsWith('{')) return parseExportConfig(value, 'EXPORT_CONFIG');
  const file = path.resolve(folder, value);
  if (!existsSync(file)) {
    throw new ConfigError('EXPORT_CONFIG', [
      `${value} does not exist in ${folder}: run \`local\` in the repository's folder`,
    ]);
  }
  return parseExportConfig(readFileSync(file, 'utf8'), `export config ${value}`);
}

async function portOrFree(preferred: number): Promise<number | undefined> {
  return (await isPortFree(preferred)) ? preferred : undefined;
}

function connectionString(blobPort: number, queuePort: number): string {
  return [
    'DefaultEndpointsProtocol=http',
    `AccountName=${AZURITE_ACCOUNT}`,
    `AccountKey=${AZURITE_KEY}`,
    `BlobEndpoint=http://127.0.0.1:${blobPort}/${AZURITE_ACCOUNT}`,
    `QueueEndpoint=http://127.0.0.1:${queuePort}/${AZURITE_ACCOUNT}`,
    '',
  ].join(';');
}

/** The repository's root (where package.json is), from the source tree or from dist/. */
function packageRoot(): string {
  let folder = __dirname;
  while (!existsSync(path.join(folder, 'package.json'))) {
    const parent = path.dirname(folder);
    if (parent === folder) throw new Error('cannot find the package root');
    folder = parent;
  }
  return folder;
}
