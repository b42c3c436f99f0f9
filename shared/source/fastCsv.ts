import { StringDecoder } from 'node:string_decoder';
import { Transform, TransformCallback } from 'node:stream';
import { SourceError } from './errors';
import { RawRowBlock, RawRowSplitter } from './rawRows';

/**
 * A parsed record: its cells, stamped with the 1-based physical line where it starts. `oversizedCell`: the first
 * cell larger than the cell size limit (read through, not kept: it comes out empty), for the reader to reject the row.
 * `unterminated`: the file ends inside this record (no line break after it), so it may be cut short.
 */
export type ParsedRow = string[] & { line?: number; oversizedCell?: number; unterminated?: boolean };

/** A row larger than this is a broken file (an unclosed quote swallowing the rest), not data. */
export const MAX_ROW_SIZE_IN_BYTES = 16 * 1024 * 1024;
/** A value larger than this rejects its row; the file is read on (`maxCellSizeInBytes`). */
export const DEFAULT_MAX_CELL_SIZE_IN_BYTES = 1024 * 1024;

/** The CSV structure problems both parsers report, named by csv-parse's error codes. */
export type CsvProblem =
  'CSV_QUOTE_NOT_CLOSED' | 'CSV_MAX_RECORD_SIZE' | 'INVALID_OPENING_QUOTE' | 'CSV_INVALID_CLOSING_QUOTE';

/** The SourceError for a CSV structure problem; never holds a cell value. */
export function csvProblemError(
  blobName: string,
  problem: CsvProblem,
  line: number,
  maxRowSizeInBytes = MAX_ROW_SIZE_IN_BYTES,
): SourceError {
  switch (problem) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return new SourceError(blobName, 'a quoted value is never closed (unbalanced quote or truncated file)', line);
    case 'CSV_MAX_RECORD_SIZE':
      return new SourceError(
        blobName,
        `a row is larger than ${maxRowSizeInBytes} bytes (unbalanced quote or truncated file)`,
        line,
      );
    default:
      return new SourceError(blobName, `a quote in an unexpected position (${problem})`, line);
  }
}

/** Line breaks (CRLF) inside the cells of a record: csv-parse counts each as two lines. */
export function countQuotedCrLf(record: string[]): number {
  let count = 0;
  for (const cell of record) {
    for (let at = cell.indexOf('\r\n'); at !== -1; at = cell.indexOf('\r\n', at + 2)) count++;
  }
  return count;
}

/** The fast scanner handles quoted CSV where quotes are significant anywhere, with a one-character delimiter. */
export function fastScannerHandles(csv: { delimiter: string; quoteStyle: string; csvStyle: string }): boolean {
  return (
    csv.quoteStyle === 'csv' &&
    csv.csvStyle === 'quoteAlways' &&
    csv.delimiter.length === 1 &&
    !'"\r\n\uFEFF'.includes(csv.delimiter)
  );
}

const QUOTE = 0x22;
const CR = 0x0d;
const LF = 0x0a;
const NUL = 0x00;
/** Returned by `rowEndLength` when the text ends before it can tell. */
const NEED_MORE_TEXT = -1;
/** Returned by the scan steps once they have kept the rest of the text for the next chunk. */
const STOP = -1;

function countLineBreaks(text: string): number {
  let count = 0;
  for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) count++;
  for (let at = text.indexOf('\r'); at !== -1; at = text.indexOf('\r', at + 1)) count++;
  return count;
}

/**
 * A streaming CSV record scanner for `quoteStyle: csv` + `csvStyle: quoteAlways` that yields exactly what
 * csv-parse (with `csvParseOptions`) and LineTrackingParser yield: the same records, start lines and errors.
 *
 * It works on decoded text and jumps between significant characters with `indexOf` instead of looking at every
 * byte. csv-parse behaviours it reproduces on purpose:
 * - with `record_delimiter` CRLF, LF and CR (the CDM's rule, `csvParseOptions`): every line break outside quotes
 *   ends the row, whichever kind, so a file that mixes them never leaves a CR in a value;
 * - its line counter counts every CR and every LF except the LF of a CRLF row end (so a quoted CRLF counts twice,
 *   corrected per record as LineTrackingParser does);
 * - a closing quote must be followed by the delimiter, the row end, the end of the file or a NUL character (its
 *   `!nextChr` test), which carries on as unquoted text;
 * - the record size limit counts earlier cells in UTF-16 units and the current cell in bytes.
 */
export class CsvRecordScanner {
  /** The line where the next record starts: also where an unclosed quote began. */
  nextRowLine = 1;

  private readonly decoder = new StringDecoder('utf8');
  private readonly delimiter: string;
  private readonly delimiterCode: number;
  private readonly maxRecordSizeInBytes: number;
  readonly maxCellSizeInBytes: number;
  private atFileStart = true;
  /** Text not consumed yet: it starts at the current cell (or, inside quotes, where the quoted value goes on). */
  private text = '';
  /** The file's first record was read (its BOM handled): what `RawRowSplitter` waits for. */
  private firstRecordRead = false;

  private record: ParsedRow = [];
  /** Sum of the lengths of the record's finished cells, as csv-parse counts it for the size limit. */
  private recordLength = 0;
  private inQuotes = false;
  /** The quoted value read so far, `""` already turned into `"`. */
  private quoted = '';
  /**
   * The unquoted cell read so far, when it began in an earlier text (or after a closing quote followed by NUL);
   * undefined at a cell start. Kept apart from `text`, so that a long cell is never searched again.
   */
  private unquotedPrefix: string | undefined;
  /** UTF-8 size of the current cell so far, counted only once it is near a size limit (-1 before). */
  private cellBytes = -1;
  /** The current cell is over the cell size limit: read through to its end, not kept. */
  private discardingCell = false;
  /** Quoted CRLFs in the record's values that were not kept (the line correction counts them), and a CR pending. */
  private droppedCrLf = 0;
  private droppedEndsWithCr = false;
  /** Positions of the next delimiter, quote, LF and CR in `text` at or after the scan point (its length: none). */
  private nextDelimiter = -1;
  private nextQuote = -1;
  private nextLf = -1;
  private nextCr = -1;

  /** csv-parse's line counter (see the class comment) and LineTrackingParser's correction state. */
  private countedLine = 1;
  private previousCountedLine = 0;
  private overcountedLines = 0;

  constructor(
    delimiter: string,
    private readonly blobName: string,
    maxRecordSizeInBytes = MAX_ROW_SIZE_IN_BYTES,
    maxCellSizeInBytes = DEFAULT_MAX_CELL_SIZE_IN_BYTES,
  ) {
    if (!fastScannerHandles({ delimiter, quoteStyle: 'csv', csvStyle: 'quoteAlways' })) {
      throw new Error(`the fast CSV scanner cannot use the delimiter ${JSON.stringify(delimiter)}`);
    }
    this.delimiter = delimiter;
    this.delimiterCode = delimiter.charCodeAt(0);
    this.maxRecordSizeInBytes = maxRecordSizeInBytes;
    this.maxCellSizeInBytes = maxCellSizeInBytes;
  }

  get pastFirstRecord(): boolean {
    return this.firstRecordRead;
  }

  /** True between records: no text kept, no record or quoted value begun (what `RawRowSplitter` waits for). */
  get atRowStart(): boolean {
    return this.text.length === 0 && this.record.length === 0 && !this.inQuotes && this.unquotedPrefix === undefined;
  }

  /** Inside a quoted value: the row can only end after a quote. */
  get inQuotedValue(): boolean {
    return this.inQuotes;
  }

  /**
   * Counts `rows` records that were read elsewhere (by `RawRowSplitter`), each one physical line without line breaks
   * inside, as `endRecord` would have: the lines of the records after them stay exact.
   */
  countRowsReadElsewhere(rows: number): void {
    if (rows === 0) return;
    this.previousCountedLine = this.countedLine + rows - 1;
    this.nextRowLine = this.previousCountedLine - this.overcountedLines + 1;
    this.countedLine += rows;
  }

  /** Scans the next bytes of the file; returns the records they complete. */
  write(bytes: Buffer): ParsedRow[] {
    const out: ParsedRow[] = [];
    this.addText(this.decoder.write(bytes));
    this.scan(false, out);
    return out;
  }

  /** Ends the file: returns the last record, or throws for an unclosed quote. */
  end(): ParsedRow[] {
    const out: ParsedRow[] = [];
    this.addText(this.decoder.end());
    this.scan(true, out);
    return out;
  }

  private addText(decoded: string): void {
    if (decoded.length === 0) return;
    if (this.atFileStart) {
      this.atFileStart = false;
      if (decoded.charCodeAt(0) === 0xfeff) decoded = decoded.slice(1); // the UTF-8 BOM
    }
    this.text = this.text.length === 0 ? decoded : this.text + decoded;
  }

  /**
   * Reads records from `this.text`, one cell at a time. Without `atEnd`, stops where it cannot decide yet (an
   * unfinished cell, a quote or CR as the last character) and keeps that text for the next call.
   */
  private scan(atEnd: boolean, out: ParsedRow[]): void {
    this.nextDelimiter = this.nextQuote = this.nextLf = this.nextCr = -1; // positions in the previous text
    let pos = 0;
    while (pos !== STOP) pos = this.inQuotes ? this.scanQuoted(pos, atEnd, out) : this.scanCell(pos, atEnd, out);
  }

  /** Inside a quoted value, from `pos`: returns where the next cell starts, or STOP. */
  private scanQuoted(pos: number, atEnd: boolean, out: ParsedRow[]): number {
    const text = this.text;
    const length = text.length;
    for (let from = pos; ;) {
      if (this.nextQuote < from) this.nextQuote = indexOrLength(text, '"', from);
      const quoteAt = this.nextQuote;
      if (quoteAt === length) {
        this.growQuoted(text.slice(from));
        if (atEnd) throw this.problem('CSV_QUOTE_NOT_CLOSED', this.nextRowLine);
        return this.keepFrom(length);
      }
      this.growQuoted(text.slice(from, quoteAt));
      if (quoteAt + 1 === length && !atEnd) return this.keepFrom(quoteAt); // closing, or the first of `""`?
      const next = quoteAt + 1 < length ? text.charCodeAt(quoteAt + 1) : -1;
      if (next === QUOTE) {
        this.growQuoted('"');
        from = quoteAt + 2;
        continue;
      }
      // A closing quote: what follows must end the cell.
      if (next === -1) {
        this.endQuotedCell();
        this.endRecord(out, 0);
        return length;
      }
      if (next === this.delimiterCode) {
        this.endQuotedCell();
        return quoteAt + 2;
      }
      if (next === CR || next === LF) {
        const rowEndLength = this.rowEndLength(quoteAt + 1, atEnd);
        if (rowEndLength === NEED_MORE_TEXT) return this.keepFrom(quoteAt);
        this.endQuotedCell();
        this.endRecord(out, rowEndLength);
        return quoteAt + 1 + rowEndLength;
      }
      if (next === NUL) {
        // csv-parse takes the quote as closing and reads on as an unquoted cell that starts with the value.
        this.unquotedPrefix = this.quoted;
        this.inQuotes = false;
        this.quoted = '';
        return quoteAt + 1;
      }
      throw this.problem('CSV_INVALID_CLOSING_QUOTE', this.countedLine - this.overcountedLines);
    }
  }

  /** Outside quotes, at the start of a cell or inside an unquoted one: returns where the next cell starts, or STOP. */
  private scanCell(pos: number, atEnd: boolean, out: ParsedRow[]): number {
    const text = this.text;
    const length = text.length;
    if (this.unquotedPrefix === undefined) {
      if (pos === length) {
        // At the end of the file, a record ended by a delimiter still has its last (empty) cell.
        if (atEnd && this.record.length > 0) {
          this.endUnquotedCell('');
          this.endRecord(out, 0);
        }
        return this.keepFrom(length);
      }
      if (text.charCodeAt(pos) === QUOTE) {
        this.inQuotes = true;
        this.quoted = '';
        return pos + 1;
      }
    }
    for (let from = pos; ;) {
      // Each position is looked up again only once the scan has passed it: the text is searched through once per
      // character class, not once per cell.
      if (this.nextDelimiter < from) this.nextDelimiter = indexOrLength(text, this.delimiter, from);
      if (this.nextQuote < from) this.nextQuote = indexOrLength(text, '"', from);
      if (this.nextLf < from) this.nextLf = indexOrLength(text, '\n', from);
      if (this.nextCr < from) this.nextCr = indexOrLength(text, '\r', from);
      const stop = Math.min(this.nextDelimiter, this.nextQuote, this.nextLf, this.nextCr);
      if (stop === length) {
        if (atEnd) {
          this.endUnquotedCell(text.slice(pos));
          this.endRecord(out, 0);
          return this.keepFrom(length);
        }
        this.growUnquoted(text.slice(pos)); // a huge cell is measured before it is all read
        return this.keepFrom(length);
      }
      const code = text.charCodeAt(stop);
      if (code === this.delimiterCode) {
        this.endUnquotedCell(text.slice(pos, stop));
        return stop + 1;
      }
      if (code === QUOTE) {
        const segment = text.slice(pos, stop);
        this.countCell(this.unquotedCell(segment), segment); // csv-parse reports the size first
        throw this.problem('INVALID_OPENING_QUOTE', this.countedLine - this.overcountedLines);
      }
      const rowEndLength = this.rowEndLength(stop, atEnd);
      if (rowEndLength === NEED_MORE_TEXT) {
        this.growUnquoted(text.slice(pos, stop));
        return this.keepFrom(stop);
      }
      this.endUnquotedCell(text.slice(pos, stop));
      this.endRecord(out, rowEndLength);
      return stop + rowEndLength;
    }
  }

  /** Keeps the text from `pos` on for the next call and stops this one. */
  private keepFrom(pos: number): typeof STOP {
    this.text = pos === this.text.length ? '' : this.text.slice(pos);
    return STOP;
  }

  private problem(problem: CsvProblem, line: number): SourceError {
    return csvProblemError(this.blobName, problem, line, this.maxRecordSizeInBytes);
  }

  /**
   * The length of the row end at `at` (a CR or LF), or NEED_MORE_TEXT. Outside quotes every line break ends the row,
   * as the CDM's QuoteStyle.Csv says: CRLF, LF or a lone CR, mixed in one file or not, so no CR is left in a value.
   */
  private rowEndLength(at: number, atEnd: boolean): number {
    if (this.text.charCodeAt(at) === LF) return 1;
    if (at + 1 === this.text.length) return atEnd ? 1 : NEED_MORE_TEXT;
    return this.text.charCodeAt(at + 1) === LF ? 2 : 1;
  }

  private growQuoted(segment: string): void {
    if (segment.length === 0) return;
    if (segment.indexOf('\n') !== -1 || segment.indexOf('\r') !== -1) this.countedLine += countLineBreaks(segment);
    if (!this.discardingCell) this.quoted += segment;
    this.countCell(this.quoted, segment);
    if (this.discardingCell) {
      // What is dropped: the value so far when the limit is crossed, each segment after it.
      const dropped = this.quoted.length > 0 ? this.quoted : segment;
      if (this.droppedEndsWithCr && dropped.charCodeAt(0) === LF) this.droppedCrLf++;
      this.droppedCrLf += countQuotedCrLf([dropped]);
      this.droppedEndsWithCr = dropped.charCodeAt(dropped.length - 1) === CR;
      this.quoted = '';
    }
  }

  private growUnquoted(segment: string): void {
    this.unquotedPrefix = this.unquotedCell(segment);
    this.countCell(this.unquotedPrefix, segment);
    if (this.discardingCell) this.unquotedPrefix = '';
  }

  private endQuotedCell(): void {
    this.pushCell(this.quoted);
    this.inQuotes = false;
    this.quoted = '';
  }

  /** The current unquoted cell ending with `text` (after what was kept of it, `''` when discarded). */
  private unquotedCell(text: string): string {
    return this.unquotedPrefix === undefined ? text : this.unquotedPrefix + text;
  }

  private endUnquotedCell(text: string): void {
    const cell = this.unquotedCell(text);
    this.countCell(cell, text);
    this.pushCell(cell);
    this.unquotedPrefix = undefined;
  }

  /**
   * Counts `segment`, just read into the current cell (`cell`: what is kept of it), against both limits. csv-parse
   * fails once a byte would be added while the record holds more than the record limit, i.e. when the earlier cells'
   * length (UTF-16 units) plus this cell's bytes reach limit + 2. A UTF-16 unit is at most 3 bytes, so bytes are
   * counted only near a limit, and then one segment at a time: a long cell is measured once, not once per chunk.
   * A cell over the cell limit is read on to its end but no longer kept.
   */
  private countCell(cell: string, segment: string): void {
    const recordLimit = this.maxRecordSizeInBytes + 2;
    if (this.cellBytes >= 0) this.cellBytes += Buffer.byteLength(segment);
    else if (3 * cell.length >= Math.min(recordLimit - this.recordLength, this.maxCellSizeInBytes + 1)) {
      this.cellBytes = Buffer.byteLength(cell);
    } else return;
    if (this.recordLength + this.cellBytes >= recordLimit) {
      throw csvProblemError(this.blobName, 'CSV_MAX_RECORD_SIZE', this.nextRowLine, this.maxRecordSizeInBytes);
    }
    if (this.cellBytes > this.maxCellSizeInBytes) this.discardingCell = true;
  }

  /** Adds the finished cell to the record: an oversized one as empty, marked for the reader to reject the row. */
  private pushCell(cell: string): void {
    if (this.discardingCell) {
      this.record.oversizedCell ??= this.record.length;
      this.record.push('');
      this.recordLength += this.cellBytes;
    } else {
      this.record.push(cell);
      this.recordLength += cell.length;
    }
    this.cellBytes = -1;
    this.discardingCell = false;
    this.droppedEndsWithCr = false;
  }

  /** Stamps the record with its start line as LineTrackingParser does, then counts the row end's line break. */
  private endRecord(out: ParsedRow[], rowEndLength: number): void {
    const record = this.record;
    const parserLine = this.countedLine;
    if (parserLine - this.previousCountedLine > 1) this.overcountedLines += countQuotedCrLf(record) + this.droppedCrLf;
    this.droppedCrLf = 0;
    this.previousCountedLine = parserLine;
    record.line = this.nextRowLine;
    this.nextRowLine = parserLine - this.overcountedLines + 1;
    out.push(record);
    this.record = [];
    this.recordLength = 0;
    this.firstRecordRead = true;
    if (rowEndLength > 0) this.countedLine++;
    else record.unterminated = true; // only the end of the file ends a record without a line break
  }
}

function indexOrLength(text: string, searched: string, from: number): number {
  const at = text.indexOf(searched, from);
  return at === -1 ? text.length : at;
}

export interface FastCsvParserOptions {
  maxRecordSizeInBytes?: number;
  /** A larger value is read through, not kept, and its record marked (`ParsedRow.oversizedCell`). */
  maxCellSizeInBytes?: number;
  /**
   * The table's column count, to leave simple rows of that many cells as bytes (`RawRowBlock`s, see
   * `RawRowSplitter`) for a consumer that decodes only the rows it needs. Default: every row is decoded.
   */
  rawRowCellCount?: number;
}

/**
 * The scanner as a stream: bytes in, one array of records out per chunk (so the reader awaits once per chunk). With
 * `rawRowCellCount`, the arrays also hold `RawRowBlock`s.
 */
export class FastCsvParser extends Transform {
  private readonly scanner: CsvRecordScanner;
  private readonly splitter: RawRowSplitter | undefined;

  constructor(delimiter: string, blobName: string, options: FastCsvParserOptions = {}) {
    // Each buffered item holds a whole chunk's records (hundreds of rows): a small high-water mark keeps the
    // backpressure close to csv-parse's 16 buffered records.
    super({ readableObjectMode: true, readableHighWaterMark: 2 });
    const maxRecordSizeInBytes = options.maxRecordSizeInBytes ?? MAX_ROW_SIZE_IN_BYTES;
    this.scanner = new CsvRecordScanner(delimiter, blobName, maxRecordSizeInBytes, options.maxCellSizeInBytes);
    if (options.rawRowCellCount !== undefined) {
      this.splitter = new RawRowSplitter(this.scanner, delimiter, options.rawRowCellCount, maxRecordSizeInBytes);
    }
  }

  get nextRowLine(): number {
    return this.scanner.nextRowLine;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.emitRecords(() => (this.splitter ? this.splitter.write(chunk) : this.scanner.write(chunk)), callback);
  }

  override _flush(callback: TransformCallback): void {
    this.emitRecords(() => (this.splitter ? this.splitter.end() : this.scanner.end()), callback);
  }

  private emitRecords(scan: () => Array<ParsedRow | RawRowBlock>, callback: TransformCallback): void {
    let records: Array<ParsedRow | RawRowBlock>;
    try {
      records = scan();
    } catch (error) {
      callback(error as Error);
      return;
    }
    if (records.length > 0) this.push(records);
    callback();
  }
}
