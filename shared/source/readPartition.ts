import { isUtf8 } from 'node:buffer';
import { Readable, Transform, TransformCallback, pipeline } from 'node:stream';
import type { ContainerClient } from '@azure/storage-blob';
import { CsvError, Options as CsvParseOptions, Parser } from 'csv-parse';
import { storageStatus } from '../errors';
import { Converter, INVALID, converterFor, invalidCellReason } from './dataTypes';
import { SourceError, SourceReadError } from './errors';
import {
  DEFAULT_MAX_CELL_SIZE_IN_BYTES,
  FastCsvParser,
  MAX_ROW_SIZE_IN_BYTES,
  ParsedRow,
  countQuotedCrLf,
  csvProblemError,
  fastScannerHandles,
} from './fastCsv';
import { RawRowBlock } from './rawRows';
import { CellValue, CsvSettings, EntityDescriptor, PartitionRef, RawSourceRows, SourceRecord } from './types';

export interface ReadPartitionOptions {
  /** Data rows (after any header row) to skip before yielding, when resuming; they are parsed, not converted. */
  skipRows?: number;
  /** Non-fatal findings about the file (e.g. a header row skipped), without cell values. */
  onWarning?: (message: string) => void;
  /**
   * Indexes of the columns the caller uses (default: all). Only these are converted and checked; the others come
   * out as null, so a bad value in a column nobody sends never rejects a row.
   */
  columns?: readonly number[];
  /**
   * Called when the partition is empty (0 bytes: no header, no row, so probably not written yet or cut) or was found
   * partly written at discovery (`PartitionRef.incomplete`). The reader reads it all the same; the caller holds the
   * segment's removals. (A file that ends inside a row rejects that row.)
   */
  onIncompletePartition?: (problem: { blobName: string; reason: string }) => void;
  /**
   * A value larger than this (UTF-8 bytes) rejects its row, naming blob, line and column; the file is read on.
   * Default `DEFAULT_MAX_CELL_SIZE_IN_BYTES` (1 MiB).
   */
  maxCellSizeInBytes?: number;
}

export interface ReadPartitionBatchesOptions extends ReadPartitionOptions {
  /**
   * Leave simple rows as bytes (`RawSourceRows`) where the fast scanner reads the file, for a consumer that decodes
   * only the rows it needs. Default false: every row comes typed.
   */
  rawRows?: boolean;
  /** Told the bytes downloaded so far and the blob's length, as chunks arrive: for a progress bar. */
  onBytesRead?: (bytesRead: number, totalBytes: number) => void;
}

/** Retries of a broken download stream, resumed from the last byte received. */
const DOWNLOAD_RETRIES = 5;
const REPLACEMENT_CHARACTER = '\uFFFD';

/**
 * csv-parse that stamps each record with the 1-based physical line where it starts, at the moment it is pushed.
 * csv-parse counts a CRLF inside a quoted value as two lines; that is corrected here. Exported for the fast
 * scanner's equivalence tests.
 */
export class LineTrackingParser extends Parser {
  /** The line where the next record starts: also where an unclosed quote began. */
  nextRowLine = 1;
  private previousParserLine = 0;
  private overcountedLines = 0;
  /** The input's last byte so far: at the end, whether a line break ended the last record. */
  private lastByte = -1;
  private flushing = false;

  override _transform(chunk: Buffer, encoding: BufferEncoding, callback: TransformCallback): void {
    if (chunk.length > 0) this.lastByte = chunk[chunk.length - 1];
    super._transform(chunk, encoding, callback);
  }

  override _flush(callback: TransformCallback): void {
    this.flushing = true;
    super._flush(callback);
  }

  override push(record: ParsedRow | null): boolean {
    if (record !== null) {
      // What csv-parse pushes at the end of the input is the last record (it may wait there to look past an LF).
      if (this.flushing && this.lastByte !== 0x0a && this.lastByte !== 0x0d) record.unterminated = true;
      const parserLine = this.info.lines;
      if (parserLine - this.previousParserLine > 1) this.overcountedLines += countQuotedCrLf(record);
      this.previousParserLine = parserLine;
      record.line = this.nextRowLine;
      this.nextRowLine = parserLine - this.overcountedLines + 1;
    }
    return super.push(record);
  }

  /** Corrects a line number csv-parse reported in an error. */
  correctedLine(parserLine: number): number {
    return parserLine - this.overcountedLines;
  }
}

/**
 * Flags the first chunk holding bytes that are not UTF-8 (before the parser decodes them into U+FFFD), so rows are
 * only searched for replacement characters once a file has shown invalid bytes. A multi-byte character split across
 * chunks is carried over, not mistaken for an invalid one.
 */
class Utf8Watch extends Transform {
  sawInvalidBytes = false;
  private carry: Buffer | undefined;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (!this.sawInvalidBytes) {
      const bytes = this.carry ? Buffer.concat([this.carry, chunk]) : chunk;
      const incomplete = incompleteTailLength(bytes);
      this.carry = incomplete > 0 ? bytes.subarray(bytes.length - incomplete) : undefined;
      if (!isUtf8(bytes.subarray(0, bytes.length - incomplete))) this.sawInvalidBytes = true;
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.carry) this.sawInvalidBytes = true; // the file ends inside a multi-byte character
    callback();
  }
}

/** Bytes at the end of `bytes` that start a multi-byte UTF-8 character not yet complete. */
function incompleteTailLength(bytes: Buffer): number {
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const byte = bytes[bytes.length - back];
    if ((byte & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead byte
    const needed = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return needed > back ? back : 0;
  }
  return 0;
}

export function csvParseOptions(csv: CsvSettings): CsvParseOptions {
  return {
    delimiter: csv.delimiter,
    quote: csv.quoteStyle === 'none' ? false : '"',
    escape: '"',
    // QuoteAfterDelimiter: a quote inside an unquoted value is just a character.
    relax_quotes: csv.csvStyle === 'quoteAfterDelimiter',
    relax_column_count: true,
    bom: true,
    skip_empty_lines: false,
    max_record_size: MAX_ROW_SIZE_IN_BYTES,
    // Every line break outside quotes ends a row, whatever kind (CDM QuoteStyle.Csv and QuoteStyle.None): without
    // this list csv-parse takes the first one for the whole file, and a later CRLF leaves its CR in the last value.
    record_delimiter: ['\r\n', '\n', '\r'],
  };
}

/**
 * Streams one CSV partition as typed rows in the entity's column order. Rows with the wrong number of cells or a cell
 * that does not parse for its type come out as `rejected` records (blob, line, column, reason; no cell value). A
 * missing blob, an unclosed quote or a truncated file is a SourceError. Rows holding bytes that are not valid UTF-8
 * are rejected (the rest of the file is still read). Repeated CustomerIds are passed through as they are.
 */
export async function* readPartition(
  container: ContainerClient,
  entity: EntityDescriptor,
  partition: PartitionRef,
  options: ReadPartitionOptions = {},
): AsyncGenerator<SourceRecord> {
  for await (const batch of readPartitionBatches(container, entity, partition, { ...options, rawRows: false })) {
    yield* batch as SourceRecord[];
  }
}

/**
 * `readPartition` in batches of the records the parser has buffered: one await per batch instead of one per row,
 * which is what the run pipeline's hot loop uses.
 */
export async function* readPartitionBatches(
  container: ContainerClient,
  entity: EntityDescriptor,
  partition: PartitionRef,
  options: ReadPartitionBatchesOptions = {},
): AsyncGenerator<Array<SourceRecord | RawSourceRows>> {
  const { blobName, csv } = partition;
  const columns = entity.columns;
  const columnCount = columns.length;
  const converters: Converter[] = columns.map((c) => converterFor(c.dataType));
  const used = options.columns ?? columns.map((_, index) => index);
  const unused = columns.map((_, index) => index).filter((index) => !used.includes(index));
  let rowsToSkip = options.skipRows ?? 0;
  const maxCellSizeInBytes = options.maxCellSizeInBytes ?? DEFAULT_MAX_CELL_SIZE_IN_BYTES;

  const { body, contentLength } = await openBlob(container, blobName);
  const onBytesRead = options.onBytesRead;
  const totalBytes = contentLength ?? 0;
  if (onBytesRead && totalBytes > 0) {
    let bytesRead = 0;
    body.on('data', (chunk: Buffer) => onBytesRead((bytesRead += chunk.length), totalBytes));
  }
  if (partition.incomplete) options.onIncompletePartition?.({ blobName, reason: partition.incomplete });
  else if (contentLength === 0) {
    options.onIncompletePartition?.({
      blobName,
      reason: 'the partition is empty (0 bytes, not even a header): it may not be written yet',
    });
  }
  const utf8 = new Utf8Watch();
  // The fast scanner yields what csv-parse yields for the common settings, in about a third of the time.
  const fast = fastScannerHandles(csv);
  const parser = fast
    ? new FastCsvParser(csv.delimiter, blobName, {
        rawRowCellCount: options.rawRows ? columnCount : undefined,
        maxCellSizeInBytes,
      })
    : new LineTrackingParser(csvParseOptions(csv));
  pipeline(body, utf8, parser, () => {
    // Errors surface through `records` below.
  });

  /** The record a parsed row becomes: typed, or rejected with blob, line and column. */
  const typed = (record: ParsedRow, line: number): SourceRecord => {
    if (record.unterminated) {
      return {
        kind: 'rejected',
        blobName,
        line,
        reason: 'the file ends inside this row (no line break after it): it may be cut short',
      };
    }
    // The fast scanner marks an oversized value as it reads past it; csv-parse's records are measured here.
    const oversized = fast ? record.oversizedCell : oversizedCell(record, maxCellSizeInBytes);
    if (oversized !== undefined) {
      return {
        kind: 'rejected',
        blobName,
        line,
        column: columns[oversized]?.name ?? `cell ${oversized + 1}`,
        reason: `a value larger than ${maxCellSizeInBytes} bytes (SOURCE_MAX_CELL_BYTES)`,
      };
    }
    if (record.length !== columnCount) {
      return { kind: 'rejected', blobName, line, reason: `expected ${columnCount} cells, found ${record.length}` };
    }
    if (utf8.sawInvalidBytes) {
      const column = used.find((index) => record[index].includes(REPLACEMENT_CHARACTER));
      if (column !== undefined) {
        return {
          kind: 'rejected',
          blobName,
          line,
          column: columns[column].name,
          reason: 'bytes that are not valid UTF-8',
        };
      }
    }
    const values: CellValue[] = new Array(columnCount);
    for (let u = 0; u < used.length; u++) {
      const i = used[u];
      const text = record[i];
      if (text.length === 0) values[i] = null;
      else {
        const value = converters[i](text);
        if (value === INVALID) {
          const column = columns[i];
          return { kind: 'rejected', blobName, line, column: column.name, reason: invalidCellReason(column.dataType) };
        }
        values[i] = value;
      }
    }
    for (let u = 0; u < unused.length; u++) values[unused[u]] = null;
    return { kind: 'row', blobName, line, values };
  };

  let firstRecord = true;
  /** The header and skip rules for one parsed record; undefined when it is no data row. */
  const dataRecord = (record: ParsedRow): SourceRecord | undefined => {
    const line = record.line ?? 0;
    // A blank line (e.g. a trailing one) holds no row of a multi-column table: skipped, not rejected, since a
    // rejected row would hold back its segment's removals.
    if (columnCount > 1 && record.length === 1 && record[0] === '' && record.oversizedCell === undefined)
      return undefined;
    if (firstRecord) {
      firstRecord = false;
      if (csv.columnHeaders) {
        checkHeader(record, entity, blobName, line);
        return undefined;
      }
      if (isHeaderRow(record, entity)) {
        options.onWarning?.(
          `${blobName}: line ${line} repeats the column names although columnHeaders is not set; skipped as a header row`,
        );
        return undefined;
      }
    }
    if (rowsToSkip > 0) {
      rowsToSkip--;
      return undefined;
    }
    return typed(record, line);
  };

  try {
    for await (const batch of records(parser, blobName, fast)) {
      const out: Array<SourceRecord | RawSourceRows> = [];
      for (const item of batch) {
        if (!(item instanceof RawRowBlock)) {
          const record = dataRecord(item);
          if (record) out.push(record);
          continue;
        }
        let rows = item;
        // The header rules look at the first record: should it come as bytes, it is decoded like any other.
        while (firstRecord && rows.rowCount > 0) {
          const record = dataRecord(rows.decode(0));
          if (record) out.push(record);
          rows = rows.withoutFirst(1);
        }
        const skipped = Math.min(rowsToSkip, rows.rowCount);
        rowsToSkip -= skipped;
        if (skipped === rows.rowCount) continue;
        const block = rows.withoutFirst(skipped);
        // Only the cells the caller uses are decoded: the others are not converted either.
        const decode = (row: number) => typed(block.decode(row, used), block.lineOf(row));
        out.push({ kind: 'raw', blobName, rows: block, decode });
      }
      if (out.length > 0) yield out;
    }
  } catch (error) {
    throw toSourceError(error, blobName, parser);
  } finally {
    body.destroy();
    parser.destroy();
  }
}

/**
 * The parser's records, drained with synchronous `read()` calls and one await per buffered batch: cheaper than the
 * stream's own async iterator, which awaits once per record. csv-parse buffers single records, the fast parser
 * arrays of them (`readsArrays`).
 */
async function* records(
  parser: Readable,
  blobName: string,
  readsArrays: boolean,
): AsyncGenerator<Array<ParsedRow | RawRowBlock>> {
  let failure: unknown;
  let ended = false;
  let closed = false;
  let wake: () => void = () => {};
  parser.on('close', () => {
    closed = true;
    wake();
  });
  parser.on('readable', () => wake());
  parser.on('end', () => {
    ended = true;
    wake();
  });
  parser.on('error', (error) => {
    failure = error;
    wake();
  });
  for (;;) {
    let batch: Array<ParsedRow | RawRowBlock> = [];
    if (readsArrays) {
      for (let records = parser.read(); records !== null; records = parser.read()) {
        batch = batch.length === 0 ? records : batch.concat(records);
      }
    } else {
      for (let record = parser.read(); record !== null; record = parser.read()) batch.push(record);
    }
    if (batch.length > 0) {
      yield batch;
      // While the consumer worked on the batch, 'readable' may have fired with nobody waiting: read again first.
      continue;
    }
    if (failure !== undefined) throw failure;
    if (ended) return;
    // 'error' comes before 'close': closing without either means the download stopped short.
    if (closed) throw new SourceError(blobName, 'the download ended before the end of the file');
    await new Promise<void>((resolve) => (wake = resolve));
  }
}

async function openBlob(
  container: ContainerClient,
  blobName: string,
): Promise<{ body: Readable; contentLength: number | undefined }> {
  try {
    const response = await container
      .getBlobClient(blobName)
      .download(0, undefined, { maxRetryRequests: DOWNLOAD_RETRIES });
    if (!response.readableStreamBody) throw new SourceError(blobName, 'download returned no body');
    return { body: response.readableStreamBody as Readable, contentLength: response.contentLength };
  } catch (error) {
    if (error instanceof SourceError) throw error;
    if (storageStatus(error) === 404) {
      throw new SourceError(
        blobName,
        'partition blob does not exist (a missing partition is never read as an empty segment)',
      );
    }
    throw error;
  }
}

/**
 * Maps csv-parse errors to SourceErrors without their message, which quotes cell values (the fast parser throws
 * SourceErrors itself). Exported for the fast scanner's equivalence tests.
 */
export function toSourceError(
  error: unknown,
  blobName: string,
  parser: LineTrackingParser | FastCsvParser,
  maxRowSizeInBytes = MAX_ROW_SIZE_IN_BYTES,
): unknown {
  const rowStartLine = parser.nextRowLine;
  if (error instanceof SourceError) return error;
  if (error instanceof CsvError && parser instanceof LineTrackingParser) {
    const errorLine = typeof error.lines === 'number' ? parser.correctedLine(error.lines) : rowStartLine;
    switch (error.code) {
      case 'CSV_QUOTE_NOT_CLOSED':
      case 'CSV_MAX_RECORD_SIZE':
        return csvProblemError(blobName, error.code, rowStartLine, maxRowSizeInBytes);
      case 'INVALID_OPENING_QUOTE':
      case 'CSV_INVALID_CLOSING_QUOTE':
        return csvProblemError(blobName, error.code, errorLine, maxRowSizeInBytes);
      default:
        return new SourceError(blobName, `CSV cannot be parsed (${error.code})`, errorLine);
    }
  }
  // Anything else failed the download itself (the stream's error carries no blob name and may carry a URL).
  const code = (error as { code?: unknown; name?: unknown } | null)?.code ?? (error as { name?: unknown })?.name;
  return new SourceReadError(blobName, typeof code === 'string' ? code : 'stream error');
}

/** The first cell over `maxCellSizeInBytes` (a UTF-16 unit is at most 3 bytes: most cells need no count). */
function oversizedCell(record: string[], maxCellSizeInBytes: number): number | undefined {
  for (let i = 0; i < record.length; i++) {
    const cell = record[i];
    if (cell.length * 3 > maxCellSizeInBytes && Buffer.byteLength(cell) > maxCellSizeInBytes) return i;
  }
  return undefined;
}

function isHeaderRow(record: string[], entity: EntityDescriptor): boolean {
  if (record.length !== entity.columns.length) return false;
  return record.every((cell, i) => cell.trim().toLowerCase() === entity.columns[i].name.toLowerCase());
}

/** With columnHeaders set, the header must name the schema's columns in order: values are mapped by position. */
function checkHeader(record: string[], entity: EntityDescriptor, blobName: string, line: number): void {
  if (record.length !== entity.columns.length) {
    throw new SourceError(
      blobName,
      `header row has ${record.length} columns, the schema of ${entity.name} has ${entity.columns.length}`,
      line,
    );
  }
  entity.columns.forEach((column, i) => {
    if (record[i].trim().toLowerCase() !== column.name.toLowerCase()) {
      throw new SourceError(
        blobName,
        `header row column ${i + 1} does not match the schema (expected ${column.name})`,
        line,
        column.name,
      );
    }
  });
}
