import { parseConcurrencySetting, type ConcurrencySetting } from '../braze/concurrency';
import { ConfigError } from './errors';
import { SETTINGS, type SettingName, type SettingSpec } from './settingsSchema';

export { DEFAULTS, MAX_CONCURRENCY, misspeltSettings, SETTINGS, type SettingName } from './settingsSchema';

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

type Spec<N extends SettingName> = (typeof SETTINGS)[N];
type NameOf<Kind> = { [N in SettingName]: Spec<N>['kind'] extends Kind ? N : never }[SettingName];
type IntegerName = NameOf<'integer'>;
type DefaultedIntegerName = { [N in IntegerName]: Spec<N> extends { default: number } ? N : never }[IntegerName];

/**
 * Reads and validates all settings at once, as `SETTINGS` describes them, so a misconfigured app reports every
 * problem in one message. Secrets are never echoed: errors name the setting; only numbers and flags quote the value.
 */
export function loadSettings(env: Environment): Settings {
  const problems: string[] = [];
  const raw = (name: string): string => (env[name] ?? '').trim();
  for (const name of Object.keys(SETTINGS)) {
    if (isKeyVaultReference(raw(name))) problems.push(unresolvedKeyVaultReference(name));
  }
  const text = (name: NameOf<'text'>): string => {
    const spec: SettingSpec & { kind: 'text' } = SETTINGS[name];
    const value = raw(name);
    if (!value && spec.required) problems.push(`${name} is not set: ${spec.doc}`);
    return value || (spec.default ?? '');
  };
  function integer(name: DefaultedIntegerName): number;
  function integer(name: IntegerName): number | undefined;
  function integer(name: IntegerName): number | undefined {
    const spec: SettingSpec & { kind: 'integer' } = SETTINGS[name];
    const value = raw(name);
    if (!value) return spec.default;
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < spec.min || parsed > spec.max) {
      problems.push(`${name} must be a whole number from ${spec.min} to ${spec.max}, got "${value}"`);
      return spec.default;
    }
    return parsed;
  }
  const flag = (name: NameOf<'flag'>): boolean => {
    const value = raw(name).toLowerCase();
    if (value === '') return SETTINGS[name].default;
    if (value === 'false' || value === '0') return false;
    if (value === 'true' || value === '1') return true;
    problems.push(`${name} must be true or false, got "${raw(name)}"`);
    return SETTINGS[name].default;
  };
  const concurrency = (name: NameOf<'concurrency'>): ConcurrencySetting => {
    const { max, default: ceiling } = SETTINGS[name];
    const fallback: ConcurrencySetting = { mode: 'adaptive', ceiling };
    const value = raw(name);
    if (!value) return fallback;
    const parsed = parseConcurrencySetting(value, max);
    if (!parsed)
      problems.push(`${name} must be a whole number from 1 to ${max} (the ceiling) or fixed:N, got "${value}"`);
    return parsed ?? fallback;
  };

  const ciExportStorage = storageLocation(env, 'CI_EXPORT_STORAGE', problems);
  const stateFallback = SETTINGS.STATE_STORAGE.fallback;
  const stateStorage =
    storageLocation(env, 'STATE_STORAGE', null) ?? storageLocation(env, stateFallback, null) ?? missingState();
  function missingState(): StorageLocation {
    problems.push(`STATE_STORAGE is not set, and neither is ${stateFallback}: run state needs a storage account`);
    return { kind: 'connectionString', connectionString: '' };
  }

  const runMaxRetryTimeSeconds = integer('RUN_MAX_RETRY_TIME_SECONDS');
  const settings: Settings = {
    ciExportStorage: ciExportStorage ?? { kind: 'connectionString', connectionString: '' },
    ciExportContainer: text('CI_EXPORT_CONTAINER'),
    ciExportPath: text('CI_EXPORT_PATH').replace(/^\/+|\/+$/g, ''),
    stateStorage,
    stateContainer: text('STATE_CONTAINER'),
    runQueueName: text('RUN_QUEUE_NAME'),
    brazeRestEndpoint: text('BRAZE_REST_ENDPOINT'),
    brazeApiKey: text('BRAZE_API_KEY'),
    brazeAllowInsecureLoopback: flag('BRAZE_ALLOW_INSECURE_LOOPBACK'),
    exportConfigSource: text('EXPORT_CONFIG'),
    brazeBatchSize: integer('BRAZE_BATCH_SIZE'),
    brazeConcurrency: concurrency('BRAZE_CONCURRENCY'),
    brazeRequestsPerSecond: integer('BRAZE_REQUESTS_PER_SECOND'),
    brazeMaxAttempts: integer('BRAZE_MAX_ATTEMPTS'),
    brazeMaxRetryTimeInMs: integer('BRAZE_MAX_RETRY_TIME_MS'),
    brazeRequestTimeoutInMs: integer('BRAZE_REQUEST_TIMEOUT_MS'),
    runTimeBudgetInMs: integer('RUN_TIME_BUDGET_SECONDS') * 1000,
    runMaxRetryTimeSeconds,
    segmentShrinkGuardPercent: integer('SEGMENT_SHRINK_GUARD_PERCENT'),
    sourceMaxCellBytes: integer('SOURCE_MAX_CELL_BYTES'),
    sourceSettleTimeInMs: integer('SOURCE_SETTLE_SECONDS') * 1000,
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

function unresolvedKeyVaultReference(name: string): string {
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
