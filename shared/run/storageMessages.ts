import type { Settings, StorageLocation } from '../config/settings';
import { AppError, CONNECTION_ERROR_CODES, isTransientStorageError, storageStatus } from '../errors';
import type { RunExecutor } from './types';

/**
 * Operator-facing rewrites of storage SDK errors: which setting, account and container, what failed and what to
 * check, instead of `The specified container does not exist. RequestId:…`. Never includes a key or a SAS
 * signature; the raw request id is kept (for Azure support) at the end of the message, which the run record stores.
 * Whether an error is retried is decided elsewhere (storageErrors.ts); this module only words it.
 */

/** One storage account and container the app uses, named by the settings that configure them. */
export interface StorageTarget {
  /** `CI_EXPORT_STORAGE` or `STATE_STORAGE`. */
  setting: string;
  containerSetting: string;
  location: StorageLocation;
  container: string;
  /** What the app needs there, said in the message on a 403. */
  role: string;
}

export function storageTargets(settings: Settings): { export: StorageTarget; state: StorageTarget } {
  return {
    export: {
      setting: 'CI_EXPORT_STORAGE',
      containerSetting: 'CI_EXPORT_CONTAINER',
      location: settings.ciExportStorage,
      container: settings.ciExportContainer,
      role: 'Storage Blob Data Reader',
    },
    state: {
      setting: 'STATE_STORAGE',
      containerSetting: 'STATE_CONTAINER',
      location: settings.stateStorage,
      container: settings.stateContainer,
      role: 'Storage Blob Data Contributor and Storage Queue Data Contributor',
    },
  };
}

/**
 * A storage error reworded for the operator; the SDK error stays as `cause`, its status is copied, and it is
 * retryable when the SDK error is transient (shared/errors.ts).
 */
export class StorageFailure extends AppError {
  readonly code = 'STORAGE_FAILURE';
  readonly statusCode?: number;
  readonly retryable: boolean;
  constructor(
    message: string,
    readonly requestId: string | undefined,
    cause: unknown,
  ) {
    super(message, { cause });
    this.statusCode = storageStatus(cause);
    this.retryable = isTransientStorageError(cause);
  }
}

/** True for errors of the storage SDK or of reaching a storage endpoint (not for our own errors). */
export function isStorageError(error: unknown): boolean {
  if (error instanceof AppError) return false;
  const e = error as { name?: unknown; code?: unknown } | null;
  return e?.name === 'RestError' || (typeof e?.code === 'string' && CONNECTION_ERROR_CODES.has(e.code));
}

/** The target an SDK error's request went to (by container in its URL), or the first target when unknown. */
export function targetOf(error: unknown, targets: readonly StorageTarget[]): StorageTarget {
  const url = requestUrl(error);
  if (url) {
    const segments = url.pathname.split('/').filter(Boolean);
    // Azurite and other path-style endpoints put the account first.
    const container = /^\d+\.\d+\.\d+\.\d+$|^localhost$/.test(url.hostname) ? segments[1] : segments[0];
    const match = targets.find((t) => t.container === container && endpointOf(t.location)?.host === url.host);
    if (match) return match;
    const byContainer = targets.find((t) => t.container === container);
    if (byContainer) return byContainer;
    const byHost = targets.find((t) => endpointOf(t.location)?.host === url.host);
    if (byHost) return byHost;
  }
  return targets[0];
}

/**
 * `what` says what was being done, e.g. "reading the CI export". Returns the reworded message and the request id.
 */
export function describeStorageFailure(
  error: unknown,
  target: StorageTarget,
  what: string,
): { message: string; requestId?: string } {
  const status = storageStatus(error);
  const code = errorCode(error);
  const account = accountOf(target.location);
  const container = `container "${target.container}" (${target.containerSetting})`;
  const where = `storage account ${account} (${target.setting})`;
  const requestId = requestIdOf(error);
  let message: string;
  if (code && CONNECTION_ERROR_CODES.has(code)) {
    const endpoint = endpointOf(target.location);
    const local = endpoint !== null && /^(127\.0\.0\.1|localhost)$/.test(endpoint.hostname);
    message =
      `${what}: cannot reach ${where}${local || !endpoint ? '' : ` at ${endpoint.host}`} (${code}); check ` +
      `${target.setting}` +
      (local
        ? ': locally, is Azurite running (`npm run local`) on that port?'
        : ': the account name, and that the app can reach it (network rules, private endpoints)');
  } else if (code === 'ContainerNotFound' || (status === 404 && code !== 'BlobNotFound')) {
    message = `${what}: ${container} does not exist in ${where}; check the container name`;
  } else if (code === 'BlobNotFound') {
    message = `${what}: a blob is missing in ${container} of ${where}; it may have been deleted while the run read it`;
  } else if (code === 'InvalidResourceName' || code === 'OutOfRangeInput') {
    message =
      `${what}: "${target.container}" (${target.containerSetting}) is not a valid container name: 3 to 63 ` +
      `lower-case letters, digits and single hyphens, starting with a letter or digit`;
  } else if (status === 403 || status === 401) {
    message =
      `${what}: ${where} refused access to ${container} (${status}${code ? ` ${code}` : ''}): in Azure the app's ` +
      `identity needs ${target.role} on it; with a connection string, check its account key or SAS`;
  } else if (status === 409 && code === 'LeaseAlreadyPresent') {
    message = `${what}: a blob in ${container} of ${where} is leased by another run`;
  } else {
    message =
      `${what}: a request to ${container} of ${where} failed` +
      `${status ? ` (${status}${code ? ` ${code}` : ''})` : code ? ` (${code})` : ''}; check ${target.setting} and ` +
      `${target.containerSetting}`;
  }
  return { message: requestId ? `${message} [storage request id ${requestId}]` : message, requestId };
}

/** Wraps an SDK error in a StorageFailure with the operator message; other errors are returned as they are. */
export function rewordStorageError(error: unknown, targets: readonly StorageTarget[], what: string): unknown {
  if (!isStorageError(error)) return error;
  const described = describeStorageFailure(error, targetOf(error, targets), what);
  return new StorageFailure(described.message, described.requestId, error);
}

/** Account name (and endpoint for a local one), from the location; never the key. */
export function accountOf(location: StorageLocation): string {
  const endpoint = endpointOf(location);
  if (location.kind === 'identity') return `"${endpoint?.hostname.split('.')[0] ?? location.blobServiceUri}"`;
  const name = /(?:^|;)\s*AccountName=([^;]+)/i.exec(location.connectionString)?.[1];
  const local = endpoint && /^(127\.0\.0\.1|localhost)$/.test(endpoint.hostname);
  const shown = name ?? (/UseDevelopmentStorage=true/i.test(location.connectionString) ? 'devstoreaccount1' : '?');
  return `"${shown}"${local ? ` at ${endpoint.host}` : ''}`;
}

function endpointOf(location: StorageLocation): URL | null {
  try {
    if (location.kind === 'identity') return new URL(location.blobServiceUri);
    const cs = location.connectionString;
    if (/UseDevelopmentStorage=true/i.test(cs)) return new URL('http://127.0.0.1:10000/devstoreaccount1');
    const blob = /(?:^|;)\s*BlobEndpoint=([^;]+)/i.exec(cs)?.[1];
    if (blob) return new URL(blob);
    const name = /(?:^|;)\s*AccountName=([^;]+)/i.exec(cs)?.[1];
    const suffix = /(?:^|;)\s*EndpointSuffix=([^;]+)/i.exec(cs)?.[1] ?? 'core.windows.net';
    return name ? new URL(`https://${name}.blob.${suffix}`) : null;
  } catch {
    return null;
  }
}

function requestUrl(error: unknown): URL | null {
  const url = (error as { request?: { url?: unknown } } | null)?.request?.url;
  if (typeof url !== 'string') return null;
  try {
    return new URL(url);
  } catch {
    return null;
  }
}

function errorCode(error: unknown): string | undefined {
  const e = error as { code?: unknown; details?: { errorCode?: unknown } } | null;
  if (typeof e?.details?.errorCode === 'string') return e.details.errorCode;
  return typeof e?.code === 'string' ? e.code : undefined;
}

function requestIdOf(error: unknown): string | undefined {
  const e = error as {
    details?: { requestId?: unknown };
    response?: { headers?: { get?: (name: string) => string | undefined } };
  } | null;
  const fromDetails = e?.details?.requestId;
  if (typeof fromDetails === 'string') return fromDetails;
  const fromHeaders = e?.response?.headers?.get?.('x-ms-request-id');
  return typeof fromHeaders === 'string' ? fromHeaders : undefined;
}

/** The run executor with storage errors reworded before they reach the run record. */
export function withStorageMessages(executor: RunExecutor, settings: Settings): RunExecutor {
  const { export: exportTarget, state } = storageTargets(settings);
  return async (input) => {
    try {
      return await executor(input);
    } catch (error) {
      throw rewordStorageError(error, [exportTarget, state], 'the run stopped');
    }
  };
}
