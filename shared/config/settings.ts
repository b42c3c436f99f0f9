import { parseConcurrencySetting, type ConcurrencySetting } from '../braze/concurrency';
import { ConfigError } from './errors';

/**
 * Every app setting the code reads, in one place. The Bicep test checks `infra/` against this list, and
 * `docs/configuration.md` documents it, so setting names cannot drift between code, infrastructure and docs.
 *
 * `requiredInAzure`: the deployed app cannot run without it (Bicep must set it).
 * `inAzure`: who sets it in Azure: `template` (infra/app/api.bicep, on every deployment), `tunable` (the
 * `additionalAppSettings` parameter, see docs/deployment.md), or `localOnly` (never set in Azure).
 */
interface SettingSpec {
  requiredInAzure: boolean;
  inAzure: 'template' | 'tunable' | 'localOnly';
  doc: string;
}

export const SETTINGS = {
  CI_EXPORT_STORAGE: {
    requiredInAzure: false,
    inAzure: 'localOnly',
    doc: 'Connection string of the CI export account (local, tests).',
  },
  CI_EXPORT_STORAGE__blobServiceUri: {
    requiredInAzure: true,
    inAzure: 'template',
    doc: 'Blob URI of the CI export account (identity).',
  },
  CI_EXPORT_STORAGE__clientId: {
    requiredInAzure: true,
    inAzure: 'template',
    doc: 'Client id of the user-assigned identity.',
  },
  CI_EXPORT_CONTAINER: { requiredInAzure: true, inAzure: 'template', doc: 'Container Customer Insights exports to.' },
  CI_EXPORT_PATH: {
    requiredInAzure: true,
    inAzure: 'template',
    doc: 'Folder in that container holding the export model.json.',
  },
  STATE_STORAGE: {
    requiredInAzure: false,
    inAzure: 'localOnly',
    doc: 'Connection string for run state; defaults to AzureWebJobsStorage.',
  },
  STATE_STORAGE__blobServiceUri: {
    requiredInAzure: true,
    inAzure: 'template',
    doc: 'Blob URI of the state account (identity).',
  },
  STATE_STORAGE__queueServiceUri: {
    requiredInAzure: true,
    inAzure: 'template',
    doc: 'Queue URI of the state account (identity).',
  },
  STATE_STORAGE__clientId: {
    requiredInAzure: true,
    inAzure: 'template',
    doc: 'Client id of the user-assigned identity.',
  },
  BRAZE_REST_ENDPOINT: {
    requiredInAzure: true,
    inAzure: 'template',
    doc: 'Braze REST host, e.g. rest.iad-03.braze.com.',
  },
  BRAZE_API_KEY: {
    requiredInAzure: true,
    inAzure: 'template',
    doc: 'Braze REST API key (a Key Vault reference in Azure).',
  },
  EXPORT_CONFIG: {
    requiredInAzure: true,
    inAzure: 'template',
    doc: 'Path to the export config file, or the JSON itself.',
  },
  EXPORT_SCHEDULE: { requiredInAzure: true, inAzure: 'template', doc: 'NCRONTAB schedule of the timer.' },
  BRAZE_ALLOW_INSECURE_LOOPBACK: {
    requiredInAzure: false,
    inAzure: 'localOnly',
    doc: 'true allows http://127.0.0.1 / localhost (tests only).',
  },
  BRAZE_BATCH_SIZE: {
    requiredInAzure: false,
    inAzure: 'tunable',
    doc: 'Objects per /users/track request, 1..75 (default 75).',
  },
  BRAZE_CONCURRENCY: {
    requiredInAzure: false,
    inAzure: 'tunable',
    doc: 'Ceiling of requests in flight, adapted to latency and budget (default 256), or fixed:N.',
  },
  BRAZE_REQUESTS_PER_SECOND: {
    requiredInAzure: false,
    inAzure: 'tunable',
    doc: 'Request budget per second (default 500).',
  },
  BRAZE_MAX_ATTEMPTS: {
    requiredInAzure: false,
    inAzure: 'tunable',
    doc: 'Attempts per request before a row is failed (default 8).',
  },
  BRAZE_MAX_RETRY_TIME_MS: {
    requiredInAzure: false,
    inAzure: 'tunable',
    doc: 'Total retry time per request (default 600000).',
  },
  BRAZE_REQUEST_TIMEOUT_MS: {
    requiredInAzure: false,
    inAzure: 'tunable',
    doc: 'Timeout of one request (default 30000).',
  },
  RUN_TIME_BUDGET_SECONDS: {
    requiredInAzure: false,
    inAzure: 'tunable',
    doc: 'Work per worker invocation before continuing (default 480).',
  },
  RUN_MAX_RETRY_TIME_SECONDS: {
    requiredInAzure: false,
    inAzure: 'tunable',
    doc: 'Fail fast when Braze is down: retry this long at most, then stop the run as interrupted (default: unset).',
  },
  // Required in Azure although the code has a default: the queue trigger binding reads %RUN_QUEUE_NAME%.
  RUN_QUEUE_NAME: {
    requiredInAzure: true,
    inAzure: 'template',
    doc: 'Storage queue of run messages (default export-runs).',
  },
  STATE_CONTAINER: {
    requiredInAzure: false,
    inAzure: 'template',
    doc: 'Container for snapshots, run records, reports (default ci-braze-state).',
  },
  SEGMENT_SHRINK_GUARD_PERCENT: {
    requiredInAzure: false,
    inAzure: 'tunable',
    doc: 'Hold removals when a segment shrinks more (default 50).',
  },
  SOURCE_MAX_CELL_BYTES: {
    requiredInAzure: false,
    inAzure: 'tunable',
    doc: 'A CSV value larger than this rejects its row; the file is read on (default 1048576).',
  },
  SOURCE_SETTLE_SECONDS: {
    requiredInAzure: false,
    inAzure: 'tunable',
    doc: 'Listing mode: a run folder is read once unchanged for this long (default 300).',
  },
} as const satisfies Record<string, SettingSpec>;

export type SettingName = keyof typeof SETTINGS;
export type Environment = Readonly<Record<string, string | undefined>>;

/** A storage account reached either by connection string (local) or by URI + managed identity (Azure). */
export type StorageLocation =
  | { kind: 'connectionString'; connectionString: string }
  | { kind: 'identity'; blobServiceUri: string; queueServiceUri?: string; clientId?: string };

export interface Settings {
  ciExportStorage: StorageLocation;
  ciExportContainer: string;
  ciExportPath: string;
  stateStorage: StorageLocation;
  stateContainer: string;
  runQueueName: string;
  brazeRestEndpoint: string;
  brazeApiKey: string;
  brazeAllowInsecureLoopback: boolean;
  exportConfigSource: string;
  brazeBatchSize: number;
  /** Ceiling (adaptive) or fixed count of requests in flight. */
  brazeConcurrency: ConcurrencySetting;
  brazeRequestsPerSecond: number;
  brazeMaxAttempts: number;
  brazeMaxRetryTimeInMs: number;
  brazeRequestTimeoutInMs: number;
  runTimeBudgetInMs: number;
  /** When set, Braze is retried this long at most before the run stops as `interrupted` (resumable). */
  runMaxRetryTimeSeconds?: number;
  segmentShrinkGuardPercent: number;
  sourceMaxCellBytes: number;
  sourceSettleTimeInMs: number;
}

export const DEFAULTS = {
  stateContainer: 'ci-braze-state',
  runQueueName: 'export-runs',
  brazeBatchSize: 75,
  brazeConcurrencyCeiling: 256,
  brazeRequestsPerSecond: 500,
  brazeMaxAttempts: 8,
  brazeMaxRetryTimeInMs: 600_000,
  brazeRequestTimeoutInMs: 30_000,
  runTimeBudgetSeconds: 480,
  segmentShrinkGuardPercent: 50,
  sourceMaxCellBytes: 1024 * 1024,
  sourceSettleSeconds: 300,
} as const;

/** Requests in flight are at most this many, adaptive or fixed. */
export const MAX_CONCURRENCY = 256;

/**
 * Reads and validates all settings at once, so a misconfigured app reports every problem in one message.
 * Secrets are never echoed: errors name the setting, not its value.
 */
export function loadSettings(env: Environment): Settings {
  const problems: string[] = [];
  const text = (name: SettingName): string => (env[name] ?? '').trim();
  for (const name of Object.keys(SETTINGS) as SettingName[]) {
    if (isKeyVaultReference(text(name))) problems.push(unresolvedKeyVaultReference(name));
  }
  const required = (name: SettingName): string => {
    const value = text(name);
    if (!value) problems.push(`${name} is not set: ${SETTINGS[name].doc}`);
    return value;
  };
  const integer = (name: SettingName, fallback: number, min: number, max: number): number => {
    const raw = text(name);
    if (!raw) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
      return fallback;
    }
    return value;
  };
  const flag = (name: SettingName): boolean => {
    const raw = text(name).toLowerCase();
    if (raw === '' || raw === 'false' || raw === '0') return false;
    if (raw === 'true' || raw === '1') return true;
    problems.push(`${name} must be true or false, got "${text(name)}"`);
    return false;
  };

  const concurrency = (): ConcurrencySetting => {
    const fallback: ConcurrencySetting = { mode: 'adaptive', ceiling: DEFAULTS.brazeConcurrencyCeiling };
    const raw = text('BRAZE_CONCURRENCY');
    if (!raw) return fallback;
    const parsed = parseConcurrencySetting(raw, MAX_CONCURRENCY);
    if (!parsed) {
      problems.push(
        `BRAZE_CONCURRENCY must be a whole number from 1 to ${MAX_CONCURRENCY} (the ceiling) or fixed:N, got "${raw}"`,
      );
    }
    return parsed ?? fallback;
  };

  const ciExportStorage = storageLocation(env, 'CI_EXPORT_STORAGE', problems);
  const stateStorage =
    storageLocation(env, 'STATE_STORAGE', null) ?? storageLocation(env, 'AzureWebJobsStorage', null) ?? missingState();
  function missingState(): StorageLocation {
    problems.push('STATE_STORAGE is not set, and neither is AzureWebJobsStorage: run state needs a storage account');
    return { kind: 'connectionString', connectionString: '' };
  }

  const settings: Settings = {
    ciExportStorage: ciExportStorage ?? { kind: 'connectionString', connectionString: '' },
    ciExportContainer: required('CI_EXPORT_CONTAINER'),
    ciExportPath: text('CI_EXPORT_PATH').replace(/^\/+|\/+$/g, ''),
    stateStorage,
    stateContainer: text('STATE_CONTAINER') || DEFAULTS.stateContainer,
    runQueueName: text('RUN_QUEUE_NAME') || DEFAULTS.runQueueName,
    brazeRestEndpoint: required('BRAZE_REST_ENDPOINT'),
    brazeApiKey: required('BRAZE_API_KEY'),
    brazeAllowInsecureLoopback: flag('BRAZE_ALLOW_INSECURE_LOOPBACK'),
    exportConfigSource: required('EXPORT_CONFIG'),
    brazeBatchSize: integer('BRAZE_BATCH_SIZE', DEFAULTS.brazeBatchSize, 1, 75),
    brazeConcurrency: concurrency(),
    brazeRequestsPerSecond: integer('BRAZE_REQUESTS_PER_SECOND', DEFAULTS.brazeRequestsPerSecond, 1, 100_000),
    brazeMaxAttempts: integer('BRAZE_MAX_ATTEMPTS', DEFAULTS.brazeMaxAttempts, 1, 100),
    brazeMaxRetryTimeInMs: integer('BRAZE_MAX_RETRY_TIME_MS', DEFAULTS.brazeMaxRetryTimeInMs, 0, 86_400_000),
    brazeRequestTimeoutInMs: integer('BRAZE_REQUEST_TIMEOUT_MS', DEFAULTS.brazeRequestTimeoutInMs, 100, 600_000),
    runTimeBudgetInMs: integer('RUN_TIME_BUDGET_SECONDS', DEFAULTS.runTimeBudgetSeconds, 1, 86_400) * 1000,
    runMaxRetryTimeSeconds: text('RUN_MAX_RETRY_TIME_SECONDS')
      ? integer('RUN_MAX_RETRY_TIME_SECONDS', 0, 1, 86_400)
      : undefined,
    segmentShrinkGuardPercent: integer('SEGMENT_SHRINK_GUARD_PERCENT', DEFAULTS.segmentShrinkGuardPercent, 0, 100),
    // Up to the reader's 16 MiB row limit, beyond which a row is a broken file rather than data.
    sourceMaxCellBytes: integer('SOURCE_MAX_CELL_BYTES', DEFAULTS.sourceMaxCellBytes, 1024, 16 * 1024 * 1024),
    sourceSettleTimeInMs: integer('SOURCE_SETTLE_SECONDS', DEFAULTS.sourceSettleSeconds, 0, 86_400) * 1000,
  };
  if (problems.length > 0) throw new ConfigError('settings', problems);
  return settings;
}

/**
 * The platform replaces `@Microsoft.KeyVault(...)` with the secret's value; when it cannot (missing secret,
 * missing role, network), the app sees the reference text itself. Used as a key it fails every Braze request with
 * a 401 that says nothing about the cause, so it is refused here, naming what to check.
 */
function isKeyVaultReference(value: string): boolean {
  return /^@Microsoft\.KeyVault\(/i.test(value);
}

function unresolvedKeyVaultReference(name: SettingName): string {
  return (
    `${name} holds a Key Vault reference that did not resolve (the app sees the reference text, not the secret). ` +
    "Check that the secret exists in the vault, that the app's managed identity has the Key Vault Secrets User " +
    'role on the vault and the identity is the keyVaultReferenceIdentity, that the vault is reachable from the app; ' +
    'then restart the function app so the reference is resolved again'
  );
}

/**
 * `<prefix>` as a connection string, or `<prefix>__blobServiceUri` (+ `__queueServiceUri`, `__clientId`) for
 * managed identity, the convention Azure Functions uses for identity-based connections.
 */
function storageLocation(env: Environment, prefix: string, problems: string[] | null): StorageLocation | null {
  const connectionString = (env[prefix] ?? '').trim();
  if (connectionString) return { kind: 'connectionString', connectionString };
  const blobServiceUri = (env[`${prefix}__blobServiceUri`] ?? '').trim();
  if (blobServiceUri) {
    const queueServiceUri = (env[`${prefix}__queueServiceUri`] ?? '').trim() || undefined;
    const clientId = (env[`${prefix}__clientId`] ?? '').trim() || undefined;
    return { kind: 'identity', blobServiceUri, queueServiceUri, clientId };
  }
  problems?.push(`${prefix} is not set (nor ${prefix}__blobServiceUri): the storage account is unknown`);
  return null;
}
