import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ColumnTyping } from '../source/bareColumns';
import { ConfigError } from './errors';
import { readDocument, toJsonSchema, type ObjectSpec } from './shape';

export type WhenExternalIdMissing = 'email' | 'alias' | 'skip';
/** The type names `columnTypes` accepts: CDM data type names, as model.json writes them (shared/source/dataTypes.ts). */
export const COLUMN_TYPE_NAMES = ['string', 'int64', 'double', 'decimal', 'boolean', 'dateTime'] as const;
export type ColumnTypeName = (typeof COLUMN_TYPE_NAMES)[number];
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
  /**
   * CI column -> type, for exports without model.json or manifest (whose CSV files carry no types). Present only
   * when the config sets some: a config without it hashes as it did before the key existed.
   */
  columnTypes?: Record<string, ColumnTypeName>;
}

/**
 * The export config's shape (design §5), described once: the validator reads with it, `export.config.schema.json`
 * is generated from it and docs/configuration.md's key table is tested against it.
 */
export const EXPORT_CONFIG_SHAPE: ObjectSpec = {
  kind: 'object',
  doc: 'ci-braze-export export config: which CI tables are which Braze segments, and which columns go where.',
  required: true,
  fields: {
    $schema: { kind: 'string', doc: 'The JSON Schema of this file, for editors; ignored by the app.' },
    identity: {
      kind: 'object',
      doc: 'How a CI profile is identified in Braze.',
      required: true,
      fields: {
        externalId: { kind: 'string', doc: 'CI column holding the Braze external_id.', required: true },
        email: { kind: 'string', doc: 'CI column with the email; sent as Braze email.', default: null },
        whenExternalIdMissing: {
          kind: 'enum',
          doc: 'email: identify by email; alias: a user_alias with label ci_customer_id; skip: counted, not sent.',
          values: ['email', 'alias', 'skip'],
          default: 'email',
        },
        customerId: { kind: 'string', doc: 'CI column with the unified profile id.', default: 'CustomerId' },
        previousCustomerId: {
          kind: 'string',
          doc: 'CI column listing the ids a merged profile had before (a;b).',
          default: 'PreviousCustomerId',
        },
      },
    },
    segments: {
      kind: 'list',
      doc: 'CI tables (segments) and the Braze segment each one is.',
      items: {
        kind: 'object',
        doc: 'One CI segment table.',
        required: true,
        fields: {
          table: { kind: 'string', doc: 'CI table (entity) name in the export.', required: true },
          brazeSegmentApiId: {
            kind: 'string',
            doc: "The Braze segment API identifier: the membership attribute's key.",
            required: true,
            brazeKey: true,
          },
        },
      },
    },
    attributes: {
      kind: 'map',
      doc: 'CI column -> Braze attribute (first_name, dob, country, ... or a custom name).',
      values: { kind: 'string', doc: 'The Braze attribute the column is written to.', required: true, brazeKey: true },
    },
    membership: {
      kind: 'object',
      doc: "What a segment's membership attribute holds.",
      fields: {
        value: { kind: 'scalar', doc: 'The value written for members.', default: true },
        onLeave: {
          kind: 'enum',
          doc: 'remove sends null (removes the attribute); false writes false.',
          values: ['remove', 'false'],
          default: 'remove',
        },
      },
    },
    updateExistingOnly: {
      kind: 'boolean',
      doc: 'true sends _update_existing_only: true, so no profile is ever created.',
      default: false,
    },
    columnTypes: {
      kind: 'map',
      doc:
        'CI column -> type, for exports without model.json or manifest: Braze fixes an attribute type on its first ' +
        'write, so mapped columns with numbers or booleans need one. Ignored when the export has metadata.',
      values: {
        kind: 'enum',
        doc: 'The CDM type the column is read as.',
        values: COLUMN_TYPE_NAMES,
      },
    },
  },
};

/** The content of the shipped `export.config.schema.json`. */
export function exportConfigJsonSchema(): Record<string, unknown> {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'ci-braze-export export config',
    ...toJsonSchema(EXPORT_CONFIG_SHAPE),
  };
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

/** The config as the shape reads it (undefined where a value was unusable); semantic checks follow. */
interface ReadConfig {
  identity?: Partial<ExportConfig['identity']>;
  segments?: Array<Partial<SegmentConfig> | undefined>;
  attributes?: Record<string, string | undefined>;
  membership?: { value?: MembershipValue; onLeave?: ExportConfig['membership']['onLeave'] };
  updateExistingOnly?: boolean;
  columnTypes?: Record<string, ColumnTypeName | undefined>;
}

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
  const read = (readDocument(raw, EXPORT_CONFIG_SHAPE, problems) ?? {}) as ReadConfig;

  const identity = read.identity ?? {};
  if (identity.whenExternalIdMissing === 'email' && identity.email === null) {
    problems.push('identity.whenExternalIdMissing is "email" but identity.email names no column');
  }

  const segments: SegmentConfig[] = [];
  (read.segments ?? []).forEach((segment, index) => {
    const path = `segments[${index}]`;
    const { table, brazeSegmentApiId: apiId } = segment ?? {};
    if (table && segments.some((s) => s.table === table)) problems.push(`${path}.table: "${table}" is listed twice`);
    if (apiId && segments.some((s) => s.brazeSegmentApiId === apiId)) {
      problems.push(`${path}.brazeSegmentApiId: "${apiId}" is listed twice`);
    }
    if (table && apiId) segments.push({ table, brazeSegmentApiId: apiId });
  });

  const attributes: ExportConfig['attributes'] = [];
  for (const [column, brazeAttribute] of Object.entries(read.attributes ?? {})) {
    if (!brazeAttribute) continue;
    const path = `attributes.${column}`;
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

  if (read.membership?.value === false) problems.push('membership.value: false would make members look like leavers');

  const columnTypes = readColumnTypes(read.columnTypes ?? {}, identity, attributes, problems);

  if (problems.length > 0) throw new ConfigError(sourceName, problems);
  // No problem: the shape filled every default, so every key holds a valid value.
  return {
    identity: identity as ExportConfig['identity'],
    segments,
    attributes,
    membership: read.membership as ExportConfig['membership'],
    updateExistingOnly: read.updateExistingOnly as boolean,
    ...(columnTypes ? { columnTypes } : {}),
  };
}

/** `columnTypes`, or undefined when empty; a type for a column the config never reads is a mistake worth naming. */
function readColumnTypes(
  read: Record<string, ColumnTypeName | undefined>,
  identity: Partial<ExportConfig['identity']>,
  attributes: ExportConfig['attributes'],
  problems: string[],
): Record<string, ColumnTypeName> | undefined {
  const readColumns = [
    identity.externalId,
    identity.email,
    identity.customerId,
    identity.previousCustomerId,
    ...attributes.map((a) => a.column),
  ].flatMap((column) => (column ? [column.toLowerCase()] : []));
  const types: Record<string, ColumnTypeName> = {};
  for (const [column, type] of Object.entries(read)) {
    if (!type) continue;
    if (!readColumns.includes(column.toLowerCase())) {
      problems.push(`columnTypes.${column}: not a column the config reads (identity or attributes)`);
    }
    if (Object.keys(types).some((typed) => typed.toLowerCase() === column.toLowerCase())) {
      problems.push(`columnTypes.${column}: the column is listed twice (names are matched ignoring case)`);
    }
    types[column] = type;
  }
  return Object.keys(types).length > 0 ? types : undefined;
}

/** What the reader needs of the config to type the columns of an export without metadata (see `discoverExport`). */
export function columnTypingOf(config: ExportConfig): ColumnTyping {
  return {
    types: config.columnTypes ?? {},
    tables: config.segments.map((s) => s.table),
    attributeColumns: config.attributes.map((a) => ({ column: a.column, configKey: `attributes.${a.column}` })),
  };
}

/**
 * Hash of what the config means: equal for configs that differ only in the order of `attributes` or `segments`, in
 * whitespace or in JSON formatting, or in the case of column names (matched ignoring case, see profileMapper.ts). It
 * tells whether an export was synced with the same config ("already synced"); what keys the snapshot is `stateKey`
 * (shared/state/stateKey.ts), which a mapping change does not touch.
 */
export function exportConfigHash(config: ExportConfig): string {
  const { identity } = config;
  const lower = (column: string) => column.toLowerCase();
  const canonical = {
    ...config,
    identity: {
      ...identity,
      externalId: lower(identity.externalId),
      email: identity.email === null ? null : lower(identity.email),
      customerId: lower(identity.customerId),
      previousCustomerId: lower(identity.previousCustomerId),
    },
    segments: [...config.segments].sort((a, b) => compareText(a.brazeSegmentApiId, b.brazeSegmentApiId)),
    attributes: config.attributes
      .map((a) => ({ ...a, column: lower(a.column) }))
      .sort((a, b) => compareText(a.brazeAttribute, b.brazeAttribute)),
    columnTypes:
      config.columnTypes && Object.fromEntries(Object.entries(config.columnTypes).map(([c, t]) => [lower(c), t])),
  };
  return createHash('sha256').update(canonicalJson(canonical)).digest('hex').slice(0, 16);
}

/** JSON with object keys in code-point order at every level: the same value always gives the same text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, entry]) => entry !== undefined)
      .sort(([a], [b]) => compareText(a, b));
    return `{${entries.map(([key, entry]) => `${JSON.stringify(key)}:${canonicalJson(entry)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
