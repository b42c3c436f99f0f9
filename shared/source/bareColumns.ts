import { parse as parseCsvSync } from 'csv-parse/sync';
import { ConfigError } from '../config/errors';
import { normalizeDataType } from './dataTypes';
import type { CdmDataType, ColumnSchema } from './types';

/**
 * What the export config says of column types, for exports without model.json or manifest: their CSV files carry
 * no types, and Braze fixes a custom attribute's type on its first write, so a number sent as text stays text.
 */
export interface ColumnTyping {
  /** Column name -> CDM type name (`columnTypes`); names are matched ignoring case, as the mapper matches them. */
  types: Readonly<Record<string, string>>;
  /** The configured tables: only their columns are refused when untyped. */
  tables: readonly string[];
  /** Columns whose values become Braze attributes, each with the config key that maps it. */
  attributeColumns: ReadonlyArray<{ column: string; configKey: string }>;
}

/** What the values sampled from the top of a partition look like, when they all look like one non-text type. */
export type SampledType = 'int64' | 'decimal' | 'double' | 'boolean';

const INTEGER = /^-?\d+$/;
const DECIMAL = /^-?\d+\.\d+$/;
const DOUBLE = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
const BOOLEAN = /^(true|false)$/i;

/**
 * The type every non-empty sampled value of each column looks like, or undefined (text, mixed, or no value). `text` is
 * the start of a partition after its header row; a line cut by the end of the sample is left out. No value leaves
 * this function: only type names.
 */
export function sampleColumnTypes(text: string, delimiter: string, columnCount: number, cut: boolean) {
  const end = cut ? text.lastIndexOf('\n') : text.length;
  let rows: string[][];
  try {
    rows = parseCsvSync(text.slice(0, Math.max(0, end)), {
      delimiter,
      relax_quotes: true,
      relax_column_count: true,
      skip_empty_lines: true,
    }) as string[][];
  } catch {
    // A sample cut inside a quoted line break, or a malformed row that the reader will report with its line.
    return new Array<SampledType | undefined>(columnCount).fill(undefined);
  }
  return Array.from({ length: columnCount }, (_, column) => {
    const values = rows.map((row) => (row[column] ?? '').trim()).filter((value) => value !== '');
    if (values.length === 0) return undefined;
    if (values.every((v) => BOOLEAN.test(v))) return 'boolean';
    if (values.every((v) => INTEGER.test(v))) return 'int64';
    if (values.every((v) => INTEGER.test(v) || DECIMAL.test(v))) return 'decimal';
    if (values.every((v) => DOUBLE.test(v))) return 'double';
    return undefined;
  });
}

const LOOKS_LIKE: Record<SampledType, string> = {
  int64: 'whole numbers',
  decimal: 'decimal numbers',
  double: 'numbers',
  boolean: 'booleans',
};

/**
 * The columns of one table of an export without metadata, typed by the config; read as text where the config gives
 * no type. Problems name the table, column and config key to add, for a mapped column whose sampled values look like
 * numbers or booleans and that has no type: sent as text, Braze would make its attribute a string for good.
 */
export function typeBareColumns(
  table: string,
  columns: ReadonlyArray<{ name: string; sampled: SampledType | undefined }>,
  sampledBlob: string,
  typing: ColumnTyping | undefined,
  problems: string[],
): ColumnSchema[] {
  const typeOf = (name: string): CdmDataType | undefined => {
    const configured = Object.entries(typing?.types ?? {}).find(
      ([column]) => column.toLowerCase() === name.toLowerCase(),
    );
    return configured ? normalizeDataType(configured[1]) : undefined;
  };
  const typed = columns.map(({ name }) => ({ name, dataType: typeOf(name) ?? ('string' as const) }));
  if (!typing?.tables.includes(table)) return typed;
  for (const { column, configKey } of typing.attributeColumns) {
    const found =
      columns.find((c) => c.name === column) ?? columns.find((c) => c.name.toLowerCase() === column.toLowerCase());
    if (!found?.sampled || typeOf(found.name) !== undefined) continue;
    problems.push(
      `table ${table}: column ${found.name} (${configKey}) has no type, and its values at the start of ` +
        `${sampledBlob} look like ${LOOKS_LIKE[found.sampled]}; without model.json it would be sent as text, and ` +
        `Braze fixes an attribute's type on its first write: add "columnTypes": { "${found.name}": ` +
        `"${found.sampled}" } to the export config (or "string" to send text)`,
    );
  }
  return typed;
}

/** Refuses an export whose untyped columns would reach Braze as the wrong type (see `typeBareColumns`). */
export function throwIfUntyped(exportPath: string, problems: readonly string[]): void {
  if (problems.length > 0) throw new ConfigError(`export config against the export in ${exportPath}`, problems);
}
