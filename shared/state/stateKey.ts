import { createHash } from 'node:crypto';
import { canonicalJson, type ExportConfig } from '../config/exportConfig';
import type { Settings, StorageLocation } from '../config/settings';

/**
 * What one snapshot is the state of: one export (storage account, container, folder), one Braze workspace (REST
 * endpoint and API key) and one identity config (which column makes a user's key). The snapshot holds the last state
 * Braze accepted for exactly that; anything else starts a separate state, never diffed against this one. The rest of
 * the export config (segments, attributes, membership values) is not part of it: a change there is reconciled
 * against the snapshot (mappingChange.ts).
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
    identity: config.identity,
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
