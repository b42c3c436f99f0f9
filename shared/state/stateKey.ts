import { createHash } from 'node:crypto';
import type { ContainerClient } from '@azure/storage-blob';
import { canonicalJson, type ExportConfig } from '../config/exportConfig';
import type { Settings, StorageLocation } from '../config/settings';
import { loadSnapshotMeta, type SnapshotMeta } from './snapshotStore';

/**
 * What one snapshot is the state of: one export (storage account, container, folder), one Braze workspace (REST
 * endpoint and API key) and one identity config (which column makes a user's key). The snapshot holds the last state
 * Braze accepted for exactly that; anything else starts a separate state, never diffed against this one. The rest of
 * the export config (segments, attributes, membership values) is not part of it: a change there is reconciled
 * against the snapshot (mappingChange.ts). Column names are matched ignoring case (profileMapper.ts), so they are
 * lower-cased here: fixing a column name's case in the config keeps the state.
 */
export interface StateScope {
  /** `<account>/<container>/<folder>`, lower-case account, folder without leading or trailing slashes. */
  exportLocation: string;
  /** The Braze REST host (with port for a loopback sandbox), lower case. */
  brazeEndpoint: string;
  /** A Braze REST API key belongs to one workspace: a hash of it tells workspaces apart without storing the key. */
  brazeWorkspace: string;
  identity: ExportConfig['identity'];
}

export function stateScope(settings: Settings, config: ExportConfig): StateScope {
  const { identity } = config;
  return scopeWith(settings, {
    ...identity,
    externalId: identity.externalId.toLowerCase(),
    email: identity.email?.toLowerCase() ?? null,
    customerId: identity.customerId.toLowerCase(),
    previousCustomerId: identity.previousCustomerId.toLowerCase(),
  });
}

function scopeWith(settings: Settings, identity: ExportConfig['identity']): StateScope {
  return {
    exportLocation: [
      storageAccountOf(settings.ciExportStorage),
      settings.ciExportContainer,
      normalizeFolder(settings.ciExportPath),
    ].join('/'),
    brazeEndpoint: settings.brazeRestEndpoint
      .trim()
      .toLowerCase()
      .replace(/^https?:\/\//, '')
      .replace(/\/+$/, ''),
    brazeWorkspace: createHash('sha256')
      .update(`ci-braze-export/braze-workspace\0${settings.brazeApiKey}`)
      .digest('hex')
      .slice(0, 16),
    identity,
  };
}

/**
 * The snapshot's key (its folder under `snapshots/`): a hash of the scope's canonical JSON, so reordering keys,
 * whitespace or JSON formatting of the config never changes it.
 */
export function stateKey(scope: StateScope): string {
  return createHash('sha256').update(canonicalJson(scope)).digest('hex').slice(0, 24);
}

/**
 * The key snapshots had before the state key: a hash of the whole config's JSON (key order included) and the Braze
 * endpoint. A state with no snapshot of its own takes over the one under this key once, instead of starting fresh.
 */
export function legacyStateKey(config: ExportConfig, brazeEndpoint: string): string {
  return createHash('sha256').update(JSON.stringify({ config, brazeEndpoint })).digest('hex').slice(0, 16);
}

/**
 * Keys earlier versions saved this state under, newest first: the state key from before column names were lower-cased,
 * then the legacy key. A state with no snapshot of its own takes over the first of them that has one, once.
 */
export function earlierStateKeys(settings: Settings, config: ExportConfig): string[] {
  return [stateKey(scopeWith(settings, config.identity)), legacyStateKey(config, settings.brazeRestEndpoint)];
}

/** The first of `keys` with a committed snapshot, and its meta. */
export async function findEarlierSnapshot(
  stateContainer: ContainerClient,
  keys: readonly string[],
): Promise<{ key: string; meta: SnapshotMeta } | null> {
  for (const key of keys) {
    const meta = await loadSnapshotMeta(stateContainer, key);
    if (meta) return { key, meta };
  }
  return null;
}

/** `a//b/` and `/a/b` name the folder `a/b`. */
function normalizeFolder(path: string): string {
  return path
    .split('/')
    .filter((part) => part !== '')
    .join('/');
}

/** The account a location names: its blob service URL (identity), or the connection string's endpoint or name. */
function storageAccountOf(location: StorageLocation): string {
  if (location.kind === 'identity') return location.blobServiceUri.toLowerCase().replace(/\/+$/, '');
  const fields = new Map<string, string>();
  for (const part of location.connectionString.split(';')) {
    const at = part.indexOf('=');
    if (at > 0) fields.set(part.slice(0, at).trim().toLowerCase(), part.slice(at + 1).trim());
  }
  if (fields.get('usedevelopmentstorage') === 'true') return 'devstoreaccount1';
  const endpoint = fields.get('blobendpoint');
  if (endpoint) return endpoint.toLowerCase().replace(/\/+$/, '');
  return (fields.get('accountname') ?? '').toLowerCase();
}
