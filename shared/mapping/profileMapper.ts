import type { ExportConfig } from '../config/exportConfig';
import { readsAsText } from '../source/dataTypes';
import type { RawRowBlock } from '../source/rawRows';
import type { CellValue, EntityDescriptor } from '../source/types';
import { ByteRangeHash, hashString } from '../state/fingerprint';
import { emailProblem } from './email';
import { hashRawKey } from '../state/snapshot';

/** Attribute value as sent to Braze. */
export type BrazeValue = string | number | boolean | null;

/** `alias_label` of profiles identified by their CI CustomerId (design §5). */
export const ALIAS_LABEL = 'ci_customer_id';
/** Braze rejects external ids over 987 bytes (spec §3.2); checked locally so the row is reported, not sent. */
export const MAX_EXTERNAL_ID_BYTES = 987;
/** Braze stores custom attribute strings up to 255 characters (spec §3.5). */
export const MAX_STRING_LENGTH = 255;

/**
 * Identity of a Braze user as a compact key: `e:<external_id>`, `m:<email>` or `a:<CI customer id>` (alias).
 * The key is what the snapshot stores, so a removal can be sent to a user who is no longer in the export.
 */
export type IdentityKey = string;

export interface MappedRow {
  key: IdentityKey;
  /** Values of the mapped Braze attributes, in `ProfileMapper.attributeNames` order. */
  values: BrazeValue[];
  /** Ids this CI profile had before a merge, or the id it split from (PreviousCustomerId). */
  previousCustomerIds: string[];
  /** The CI CustomerId: whose Braze identity the snapshot remembers across identifier changes. Absent when empty. */
  customerId?: string;
  /**
   * Why the row's email cannot go to Braze, when it cannot: the row is delivered under its other identifier without
   * the email (which Braze keeps as it was), and reported as a source rejection of the email column.
   */
  emailProblem?: string;
  /** The email column's name, for that report. */
  emailColumn?: string;
}

export type MapOutcome =
  | { kind: 'mapped'; row: MappedRow }
  /** Deliberately not sent (config says so, or no identifier): counted with the reason. */
  | { kind: 'skipped'; reason: string }
  /** The row's data cannot go to Braze as it is: reported with the column and reason; `key` when the user is known. */
  | { kind: 'rejected'; column: string; reason: string; key?: IdentityKey };

/**
 * Bump when a change to the reader's or the mapper's conversions could map the same cells to other values: raw
 * fingerprints of earlier runs then no longer match, and every row is decoded once more.
 */
const RAW_MAPPING_VERSION = 1;
const RAW_SEED = 0x5bd1e995;
/** Bytes up to here are spaces or control characters, which `trim` would remove from an id. */
const SPACE = 0x20;
const FIRST_NON_ASCII = 0x80;
const QUOTE = 0x22;
/** The first characters of identity keys ("e:", "m:", "a:"), as `RawRowFacts.keyPrefix`. */
export const EXTERNAL_ID_KEY = 0x65;
export const EMAIL_KEY = 0x6d;
export const ALIAS_KEY = 0x61;

/** What `ProfileMapper.readRaw` tells of a row left as bytes. */
export interface RawRowFacts {
  /** The chunk holding the row, and where the bytes of the user's id are in it. */
  bytes: Uint8Array;
  idStart: number;
  idEnd: number;
  /** The kind of the user's key (`EXTERNAL_ID_KEY`, `EMAIL_KEY`, `ALIAS_KEY`): the key is that, ":", the id. */
  keyPrefix: number;
  /** `hashKey` of the user's key. */
  keyHash: number;
  /** Fingerprint of every other cell the mapper reads: equal fingerprints, equal mapped values. */
  fingerprint: number;
  /** Mapped attribute values that are not null (the cells that are not empty). */
  valuesPresent: number;
}

export function emptyRawRowFacts(): RawRowFacts {
  return { bytes: new Uint8Array(0), idStart: 0, idEnd: 0, keyPrefix: 0, keyHash: 0, fingerprint: 0, valuesPresent: 0 };
}

export interface ProfileMapper {
  /** Braze attribute names, in value order: `email` first when an email column is configured. */
  readonly attributeNames: readonly string[];
  /** Indexes of the entity's columns `map` reads: the reader converts only these. */
  readonly columnsRead: readonly number[];
  map(values: readonly CellValue[]): MapOutcome;
  /**
   * For a row left as bytes: fills `facts` and returns true when the row's user can be found from its bytes (an id of
   * ASCII characters with nothing to trim, read as text; no merge to resolve). False: the row must be decoded and
   * mapped.
   */
  readRaw(rows: RawRowBlock, row: number, facts: RawRowFacts): boolean;
}

/** Attribute names a config maps, in the order the snapshot and `MappedRow.values` use. */
export function mappedAttributeNames(config: ExportConfig): string[] {
  return [...(config.identity.email ? ['email'] : []), ...config.attributes.map((a) => a.brazeAttribute)];
}

/**
 * Problems of a config against one entity's columns (missing columns). Resolution is case-insensitive because CI
 * column names are user-defined and people type them by hand into the config.
 */
export function missingColumns(config: ExportConfig, entity: EntityDescriptor): string[] {
  const wanted = [
    config.identity.externalId,
    config.identity.customerId,
    ...(config.identity.email ? [config.identity.email] : []),
    ...config.attributes.map((a) => a.column),
  ];
  return wanted.filter((column) => columnIndex(entity, column) < 0);
}

function columnIndex(entity: EntityDescriptor, name: string): number {
  const exact = entity.columns.findIndex((c) => c.name === name);
  if (exact >= 0) return exact;
  const lower = name.toLowerCase();
  return entity.columns.findIndex((c) => c.name.toLowerCase() === lower);
}

type Converter = (cell: CellValue) => BrazeValue | RejectReason;
class RejectReason {
  constructor(readonly reason: string) {}
}

/** Shared by every row without previous ids (nearly all): one allocation less per row. Never mutated. */
const NO_PREVIOUS_IDS: string[] = [];

/** Builds the mapper of one entity: column positions and per-attribute converters are resolved once. */
export function createProfileMapper(config: ExportConfig, entity: EntityDescriptor): ProfileMapper {
  const missing = missingColumns(config, entity);
  if (missing.length > 0) throw new Error(`table ${entity.name} lacks column(s) ${missing.join(', ')}`);

  const externalIdAt = columnIndex(entity, config.identity.externalId);
  const customerIdAt = columnIndex(entity, config.identity.customerId);
  const emailAt = config.identity.email ? columnIndex(entity, config.identity.email) : -1;
  const previousAt = columnIndex(entity, config.identity.previousCustomerId);
  const fallback = config.identity.whenExternalIdMissing;

  const sources = [
    ...(config.identity.email ? [{ column: config.identity.email, brazeAttribute: 'email' }] : []),
    ...config.attributes,
  ].map(({ column, brazeAttribute }, index) => {
    const at = columnIndex(entity, column);
    // The email (first when configured) is trimmed and checked by `map` itself.
    const convert =
      index === 0 && emailAt >= 0
        ? (cell: CellValue) => textOf(cell)
        : converterFor(brazeAttribute, entity.columns[at].dataType);
    return { column: entity.columns[at].name, at, convert };
  });
  const emailColumn = emailAt >= 0 ? entity.columns[emailAt].name : undefined;
  const attributeNames = mappedAttributeNames(config);
  const columnsRead = [externalIdAt, customerIdAt, emailAt, previousAt, ...sources.map((s) => s.at)];

  // The raw fingerprint covers every cell the mapper reads but the external id (which is the key), in the config's
  // order, and is seeded with their types and attributes: the same cells map to the same values in any table.
  const identityCells = [customerIdAt, previousAt].filter((at) => at >= 0);
  const rawCells = [...identityCells, ...sources.map((s) => s.at)];
  /** Where the attribute cells (whose non-empty values `valuesPresent` counts) start in `rawCells`. */
  const firstAttributeCell = identityCells.length;
  const rawSeed = hashString(
    JSON.stringify({
      version: RAW_MAPPING_VERSION,
      cells: rawCells.map((at) => entity.columns[at].dataType),
      attributes: attributeNames,
    }),
    RAW_SEED,
  );
  const rawHash = new ByteRangeHash();
  const externalIdIsText = readsAsText(entity.columns[externalIdAt].dataType);
  // Where a user without external id finds their key in the bytes: a column whose cells are their own value (text),
  // or a GUID, whose lower-case form (the only one a stored key holds) is its own value too.
  const fallbackKey =
    fallback === 'email' && emailAt >= 0 && readsAsText(entity.columns[emailAt].dataType)
      ? { at: emailAt, prefix: EMAIL_KEY }
      : fallback === 'alias' &&
          (readsAsText(entity.columns[customerIdAt].dataType) || entity.columns[customerIdAt].dataType === 'guid')
        ? { at: customerIdAt, prefix: ALIAS_KEY }
        : null;

  return {
    attributeNames,
    columnsRead: [...new Set(columnsRead.filter((at) => at >= 0))].sort((a, b) => a - b),
    map(cells) {
      const externalId = textOf(cells[externalIdAt]);
      const email = emailAt >= 0 ? textOf(cells[emailAt]) : null;
      const badEmail = email === null ? null : emailProblem(email);
      let key: IdentityKey;
      if (externalId !== null) {
        // A UTF-16 code unit is at most 3 UTF-8 bytes: only long ids need their bytes counted.
        if (externalId.length * 3 > MAX_EXTERNAL_ID_BYTES && Buffer.byteLength(externalId) > MAX_EXTERNAL_ID_BYTES) {
          return {
            kind: 'rejected',
            column: entity.columns[externalIdAt].name,
            reason: `external id longer than ${MAX_EXTERNAL_ID_BYTES} bytes`,
          };
        }
        key = `e:${externalId}`;
      } else if (fallback === 'skip') {
        return { kind: 'skipped', reason: 'no external id (whenExternalIdMissing: skip)' };
      } else if (fallback === 'email') {
        if (email === null) return { kind: 'skipped', reason: 'no external id and no email' };
        // No other identifier to deliver the person under.
        if (badEmail !== null) return { kind: 'rejected', column: emailColumn!, reason: badEmail };
        key = `m:${email}`;
      } else {
        const customerId = textOf(cells[customerIdAt]) ?? undefined;
        if (customerId === null) return { kind: 'skipped', reason: 'no external id and no customer id' };
        key = `a:${customerId}`;
      }

      // Identity first: a row rejected for a value still names its user, whose membership must then be kept.
      const values: BrazeValue[] = new Array(sources.length);
      // An invalid email is left out (null here; the planner keeps what Braze has, see `MappedRow.emailProblem`).
      for (let i = badEmail === null ? 0 : 1; i < sources.length; i++) {
        const source = sources[i];
        const converted = source.convert(cells[source.at]);
        if (converted instanceof RejectReason) {
          return { kind: 'rejected', column: source.column, reason: converted.reason, key };
        }
        values[i] = converted;
      }
      if (badEmail !== null) values[0] = null;

      // CI merges of any kind of profile join them (the planner folds the previous ones into this one).
      const previous = previousAt >= 0 ? textOf(cells[previousAt]) : null;
      const previousCustomerIds = previous
        ? previous
            .split(';')
            .map((id) => id.trim())
            .filter(Boolean)
        : NO_PREVIOUS_IDS;
      const customerId = textOf(cells[customerIdAt]) ?? undefined;
      if (badEmail === null) return { kind: 'mapped', row: { key, values, previousCustomerIds, customerId } };
      return {
        kind: 'mapped',
        row: { key, values, previousCustomerIds, customerId, emailProblem: badEmail, emailColumn },
      };
    },
    readRaw(rows, row, facts) {
      const bytes = rows.bytes;
      const starts = rows.cellStarts;
      const base = rows.rowBase(row);
      let start = starts[base + externalIdAt];
      let end = starts[base + externalIdAt + 1] - 1;
      if (bytes[start] === QUOTE) {
        start++;
        end--;
      }
      let prefix = EXTERNAL_ID_KEY;
      if (end > start) {
        // Converted (a number, a GUID) or too long (rejected): decode.
        if (!externalIdIsText || end - start > MAX_EXTERNAL_ID_BYTES) return false;
      } else {
        if (!fallbackKey) return false;
        // A merged profile (previous customer ids) is resolved by `planRow`.
        if (fallbackKey.prefix === ALIAS_KEY && previousAt >= 0) {
          if (rows.valueEnd(row, previousAt) > rows.valueStart(row, previousAt)) return false;
        }
        prefix = fallbackKey.prefix;
        start = rows.valueStart(row, fallbackKey.at);
        end = rows.valueEnd(row, fallbackKey.at);
        if (end === start) return false;
      }
      // Something `trim` would change, or bytes that are not one character each: decode.
      if (bytes[start] <= SPACE || bytes[end - 1] <= SPACE) return false;
      for (let at = start; at < end; at++) if (bytes[at] >= FIRST_NON_ASCII) return false;
      facts.bytes = bytes;
      facts.idStart = start;
      facts.idEnd = end;
      facts.keyPrefix = prefix;
      facts.keyHash = hashRawKey(prefix, bytes, start, end);
      rawHash.start(rawSeed);
      let present = 0;
      for (let i = 0; i < rawCells.length; i++) {
        const at = base + rawCells[i];
        let valueStart = starts[at];
        let valueEnd = starts[at + 1] - 1;
        if (bytes[valueStart] === QUOTE) {
          valueStart++;
          valueEnd--;
        }
        rawHash.add(bytes, valueStart, valueEnd);
        if (i >= firstAttributeCell && valueEnd > valueStart) present++;
      }
      facts.fingerprint = rawHash.finish();
      facts.valuesPresent = present;
      return true;
    },
  };
}

function textOf(cell: CellValue): string | null {
  if (cell === null) return null;
  const text = String(cell).trim();
  return text === '' ? null : text;
}

/** Converts a typed CDM cell to the value Braze expects for that attribute (design §5). */
function converterFor(brazeAttribute: string, dataType: string): Converter {
  if (brazeAttribute === 'dob') {
    return (cell) => {
      if (cell === null) return null;
      const text = String(cell);
      return /^\d{4}-\d{2}-\d{2}/.test(text) ? text.slice(0, 10) : new RejectReason('dob is not a date');
    };
  }
  if (dataType === 'decimal' || dataType === 'double') {
    // The reader keeps decimals a double cannot hold exactly as text; Braze takes numbers.
    return (cell) => (typeof cell === 'string' ? Number(cell) : cell);
  }
  return (cell) =>
    typeof cell === 'string' && cell.length > MAX_STRING_LENGTH
      ? new RejectReason(`value longer than ${MAX_STRING_LENGTH} characters`)
      : cell;
}

/** The Braze identifier fields of a user object, from its identity key. */
export function identifierFields(key: IdentityKey, updateExistingOnly: boolean): Record<string, unknown> {
  const value = key.slice(2);
  switch (key[0]) {
    case 'e':
      return updateExistingOnly ? { external_id: value, _update_existing_only: true } : { external_id: value };
    case 'm':
      return updateExistingOnly ? { email: value, _update_existing_only: true } : { email: value };
    default:
      // Braze defaults alias objects to update-only; an alias-only profile must be created explicitly.
      return { user_alias: { alias_name: value, alias_label: ALIAS_LABEL }, _update_existing_only: updateExistingOnly };
  }
}
