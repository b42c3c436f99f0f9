import type { RawRowBlock } from './rawRows';

/**
 * Contract of the Customer Insights export reader. The run pipeline depends only on these types and on
 * `discoverExport` / `readPartition` in `./index`.
 */

/** CDM data types, lower-cased. `unknown` is read as a string (with a warning at discovery). */
export type CdmDataType =
  | 'string'
  | 'int64'
  | 'double'
  | 'decimal'
  | 'datetime'
  | 'datetimeoffset'
  | 'boolean'
  | 'guid'
  | 'json'
  | 'date'
  | 'time'
  | 'unknown';

/**
 * A typed cell. `null` = empty cell (no value). int64 beyond 2^53 and decimals that a double cannot hold
 * exactly stay strings; dates are ISO-8601 UTC strings.
 */
export type CellValue = string | number | boolean | null;

export interface ColumnSchema {
  name: string;
  dataType: CdmDataType;
}

export interface CsvSettings {
  columnHeaders: boolean;
  delimiter: string;
  /** `csv`: quoted line breaks belong to the value; `none`: every line break ends the row. */
  quoteStyle: 'csv' | 'none';
  /** `quoteAlways`: quotes are significant anywhere; `quoteAfterDelimiter`: only right after a delimiter. */
  csvStyle: 'quoteAlways' | 'quoteAfterDelimiter';
}

export interface PartitionRef {
  /** Blob name inside the export container (already resolved, decoded, validated to stay in the container). */
  blobName: string;
  csv: CsvSettings;
  /**
   * Why the partition looks partly written (it was written after the metadata), if it does: it is read, and the
   * reader reports it (`onIncompletePartition`) so that its segment's removals are held.
   */
  incomplete?: string;
}

export interface EntityDescriptor {
  name: string;
  columns: ColumnSchema[];
  /** In a stable order (partition number when known, else name). */
  partitions: PartitionRef[];
}

export interface ExportDescriptor {
  /** Blob the metadata came from (model.json, manifest) or the listed folder for a listing-only export. */
  metadataBlob: string;
  format: 'model.json' | 'manifest' | 'listing';
  /**
   * Identifies this export run's content: a hash over the partition blob names and their ETags. The same value
   * on the next run means nothing was re-exported.
   */
  fingerprint: string;
  entities: Map<string, EntityDescriptor>;
  /** Non-fatal findings (unknown data types, header rows skipped...), without cell values. */
  warnings: string[];
}

/** One data row, values in the entity's column order. `line` is the 1-based physical line where the row starts. */
export interface SourceRow {
  kind: 'row';
  blobName: string;
  line: number;
  values: CellValue[];
}

/** A row that could not be read (column count, bad cell). Names the blob, line and column; holds no cell value. */
export interface RejectedSourceRow {
  kind: 'rejected';
  blobName: string;
  line: number;
  column?: string;
  reason: string;
}

export type SourceRecord = SourceRow | RejectedSourceRow;

/**
 * Simple rows left as bytes (`readPartitionBatches` with `rawRows`), for a consumer that can tell from the bytes which
 * rows it needs: `decode(row)` gives any of them as the reader would have yielded it.
 */
export interface RawSourceRows {
  kind: 'raw';
  blobName: string;
  rows: RawRowBlock;
  decode(row: number): SourceRecord;
}
