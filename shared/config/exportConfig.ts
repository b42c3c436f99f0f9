import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from './errors';

export type WhenExternalIdMissing = 'email' | 'alias' | 'skip';
export type MembershipValue = string | number | boolean;

export interface SegmentConfig {
  /** CI table (entity) name in the export's metadata. */
  table: string;
  /** Braze segment API identifier: the membership attribute's key. */
  brazeSegmentApiId: string;
}

/** The validated export config (design §5). Optional keys are filled with their defaults. */
export interface ExportConfig {
  identity: {
    externalId: string;
    email: string | null;
    whenExternalIdMissing: WhenExternalIdMissing;
    /** CI column with the unified profile id (alias name when identified by alias). */
    customerId: string;
    /** CI column listing the ids a merged profile had before (`a;b`). */
    previousCustomerId: string;
  };
  segments: SegmentConfig[];
  /** CI column -> Braze attribute, in config order. */
  attributes: Array<{ column: string; brazeAttribute: string }>;
  membership: { value: MembershipValue; onLeave: 'remove' | 'false' };
  updateExistingOnly: boolean;
}

/** Keys Braze reserves on an attributes object; mapping a column onto one would corrupt identity or flags. */
const RESERVED_BRAZE_KEYS = new Set([
  'external_id',
  'user_alias',
  'braze_id',
  'email',
  'phone',
  '_update_existing_only',
  '_merge_objects',
  'push_token_import',
]);
const MAX_BRAZE_KEY_LENGTH = 255;

/** `EXPORT_CONFIG` holds either the JSON itself or a path to a file with it. */
export function loadExportConfig(source: string): ExportConfig {
  const trimmed = source.trim();
  if (trimmed.startsWith('{')) return parseExportConfig(trimmed, 'EXPORT_CONFIG');
  let text: string;
  try {
    text = readFileSync(trimmed, 'utf8');
  } catch (error) {
    throw new ConfigError(`export config ${trimmed}`, [`cannot read the file: ${(error as Error).message}`]);
  }
  return parseExportConfig(text, `export config ${trimmed}`);
}

export function parseExportConfig(text: string, sourceName: string): ExportConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(sourceName, [`not valid JSON: ${(error as Error).message}`]);
  }
  return validateExportConfig(raw, sourceName);
}

export function validateExportConfig(raw: unknown, sourceName = 'export config'): ExportConfig {
  const problems: string[] = [];
  const root = objectAt(raw, '(root)', problems) ?? {};
  const known = new Set(['identity', 'segments', 'attributes', 'membership', 'updateExistingOnly', '$schema']);
  for (const key of Object.keys(root)) if (!known.has(key)) problems.push(`${key}: unknown key`);

  const identityRaw = objectAt(root.identity, 'identity', problems) ?? {};
  const identity: ExportConfig['identity'] = {
    externalId: stringAt(identityRaw.externalId, 'identity.externalId', problems, { required: true }) ?? '',
    email: stringAt(identityRaw.email, 'identity.email', problems) ?? null,
    whenExternalIdMissing: oneOf(
      identityRaw.whenExternalIdMissing,
      'identity.whenExternalIdMissing',
      ['email', 'alias', 'skip'] as const,
      'email',
      problems,
    ),
    customerId: stringAt(identityRaw.customerId, 'identity.customerId', problems) ?? 'CustomerId',
    previousCustomerId:
      stringAt(identityRaw.previousCustomerId, 'identity.previousCustomerId', problems) ?? 'PreviousCustomerId',
  };
  if (identity.whenExternalIdMissing === 'email' && identity.email === null) {
    problems.push('identity.whenExternalIdMissing is "email" but identity.email names no column');
  }

  const segments: SegmentConfig[] = [];
  if (!Array.isArray(root.segments) || root.segments.length === 0) {
    problems.push('segments: expected a non-empty array of { "table", "brazeSegmentApiId" }');
  } else {
    root.segments.forEach((entry: unknown, index: number) => {
      const path = `segments[${index}]`;
      const segment = objectAt(entry, path, problems);
      if (!segment) return;
      const table = stringAt(segment.table, `${path}.table`, problems, { required: true });
      const apiId = stringAt(segment.brazeSegmentApiId, `${path}.brazeSegmentApiId`, problems, { required: true });
      if (apiId) checkBrazeKey(apiId, `${path}.brazeSegmentApiId`, problems);
      if (table && segments.some((s) => s.table === table)) problems.push(`${path}.table: "${table}" is listed twice`);
      if (apiId && segments.some((s) => s.brazeSegmentApiId === apiId)) {
        problems.push(`${path}.brazeSegmentApiId: "${apiId}" is listed twice`);
      }
      if (table && apiId) segments.push({ table, brazeSegmentApiId: apiId });
    });
  }

  const attributes: ExportConfig['attributes'] = [];
  const attributesRaw = root.attributes === undefined ? {} : objectAt(root.attributes, 'attributes', problems);
  for (const [column, target] of Object.entries(attributesRaw ?? {})) {
    const path = `attributes.${column}`;
    const brazeAttribute = stringAt(target, path, problems, { required: true });
    if (!brazeAttribute) continue;
    checkBrazeKey(brazeAttribute, path, problems);
    if (RESERVED_BRAZE_KEYS.has(brazeAttribute)) {
      problems.push(`${path}: "${brazeAttribute}" is a Braze identifier or flag and cannot be a mapped attribute`);
    }
    if (attributes.some((a) => a.brazeAttribute === brazeAttribute)) {
      problems.push(`${path}: Braze attribute "${brazeAttribute}" is the target of two columns`);
    }
    if (segments.some((s) => s.brazeSegmentApiId === brazeAttribute)) {
      problems.push(`${path}: "${brazeAttribute}" is also a segment's membership attribute`);
    }
    attributes.push({ column, brazeAttribute });
  }

  const membershipRaw = root.membership === undefined ? {} : (objectAt(root.membership, 'membership', problems) ?? {});
  let value: MembershipValue = true;
  if (membershipRaw.value !== undefined) {
    const type = typeof membershipRaw.value;
    if (type === 'string' || type === 'number' || type === 'boolean') value = membershipRaw.value as MembershipValue;
    else problems.push('membership.value: expected a string, number or boolean');
    if (membershipRaw.value === false) problems.push('membership.value: false would make members look like leavers');
  }
  const onLeave = oneOf(membershipRaw.onLeave, 'membership.onLeave', ['remove', 'false'] as const, 'remove', problems);
  if (onLeave === 'false' && value === false) problems.push('membership: value and onLeave cannot both be false');

  let updateExistingOnly = false;
  if (root.updateExistingOnly !== undefined) {
    if (typeof root.updateExistingOnly === 'boolean') updateExistingOnly = root.updateExistingOnly;
    else problems.push('updateExistingOnly: expected true or false');
  }

  if (problems.length > 0) throw new ConfigError(sourceName, problems);
  return { identity, segments, attributes, membership: { value, onLeave }, updateExistingOnly };
}

/**
 * Hash of what the config means: equal for configs that differ only in the order of `attributes` or `segments`, in
 * whitespace or in JSON formatting. It tells whether an export was synced with the same config ("already synced");
 * what keys the snapshot is `stateKey` (shared/state/stateKey.ts), which a mapping change does not touch.
 */
export function exportConfigHash(config: ExportConfig): string {
  const canonical = {
    ...config,
    segments: [...config.segments].sort((a, b) => compareText(a.brazeSegmentApiId, b.brazeSegmentApiId)),
    attributes: [...config.attributes].sort((a, b) => compareText(a.brazeAttribute, b.brazeAttribute)),
  };
  return createHash('sha256').update(canonicalJson(canonical)).digest('hex').slice(0, 16);
}

/** JSON with object keys in code-point order at every level: the same value always gives the same text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as JsonObject)
      .filter(([, entry]) => entry !== undefined)
      .sort(([a], [b]) => compareText(a, b));
    return `{${entries.map(([key, entry]) => `${JSON.stringify(key)}:${canonicalJson(entry)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

type JsonObject = Record<string, unknown>;

function objectAt(value: unknown, path: string, problems: string[]): JsonObject | null {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as JsonObject;
  problems.push(`${path}: expected an object`);
  return null;
}

function stringAt(value: unknown, path: string, problems: string[], options: { required?: boolean } = {}) {
  if (value === undefined || value === null) {
    if (options.required) problems.push(`${path}: required, expected a non-empty string`);
    return undefined;
  }
  if (typeof value !== 'string' || value.trim() === '') {
    problems.push(`${path}: expected a non-empty string`);
    return undefined;
  }
  return value.trim();
}

function oneOf<T extends string>(
  value: unknown,
  path: string,
  allowed: readonly T[],
  fallback: T,
  problems: string[],
): T {
  if (value === undefined) return fallback;
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  problems.push(`${path}: expected one of ${allowed.map((a) => `"${a}"`).join(', ')}`);
  return fallback;
}

function checkBrazeKey(key: string, path: string, problems: string[]): void {
  if (key.startsWith('$')) problems.push(`${path}: Braze attribute names must not start with "$"`);
  if (key.length > MAX_BRAZE_KEY_LENGTH) problems.push(`${path}: longer than ${MAX_BRAZE_KEY_LENGTH} characters`);
}
