import type { CsvRecordScanner, ParsedRow } from './fastCsv';

const QUOTE = 0x22;
/** A character above U+007F: in a Latin-1 view of UTF-8 bytes, a byte that is not ASCII. */
const NON_ASCII = /[\u0080-\u00ff]/;
const CR = 0x0d;
const LF = 0x0a;
/** An incomplete row carried to the next chunk beyond this size goes to the scanner, which enforces the real limit. */
const MAX_CARRY_BYTES = 1024 * 1024;
/**
 * A carried row still incomplete after the next chunk is carried again only while it is one line up to this size
 * (small chunks); beyond, the scanner finishes it, so that no row is searched from its start once per chunk.
 */
const MAX_RECARRY_BYTES = 64 * 1024;
/** A first guess of row length, for sizing a block's cell table (it grows when rows are shorter). */
const TYPICAL_ROW_BYTES = 64;

/**
 * Consecutive simple rows of one chunk, left as bytes: each row is one physical line with exactly `cellCount` cells,
 * no line break or doubled quote inside a cell, and no byte out of place. A delta run can tell most rows unchanged
 * from these bytes alone (`ProfileMapper.readRaw`) and decode only the others (`decode`).
 */
export class RawRowBlock {
  constructor(
    readonly bytes: Buffer,
    /** The one-byte (ASCII) delimiter. */
    private readonly delimiter: string,
    readonly cellCount: number,
    readonly rowCount: number,
    /**
     * `cellCount + 1` entries per row from `rowBase(row)`: where each cell starts (at its opening quote when
     * quoted), then one past the row's last cell. Cell `c` ends one byte before entry `c + 1` (its delimiter or the
     * row end). For hot loops; `valueStart` and `valueEnd` say the same one cell at a time.
     */
    readonly cellStarts: Int32Array,
    /** The 1-based line of the first row; row `r` is on line `firstLine + r`. */
    readonly firstLine: number,
    /** `bytes` read as Latin-1 (one character per byte): an ASCII row's text without decoding it again. */
    private readonly latin1: string,
    private readonly firstRow = 0,
  ) {}

  /** Where the row's entries start in `cellStarts`. */
  rowBase(row: number): number {
    return (this.firstRow + row) * (this.cellCount + 1);
  }

  /** Start of the cell's value (after its opening quote, when quoted). */
  valueStart(row: number, cell: number): number {
    const start = this.cellStarts[this.rowBase(row) + cell];
    return this.bytes[start] === QUOTE ? start + 1 : start;
  }

  /** End (exclusive) of the cell's value (before its closing quote, when quoted). */
  valueEnd(row: number, cell: number): number {
    const at = this.rowBase(row) + cell;
    const end = this.cellStarts[at + 1] - 1;
    return this.bytes[this.cellStarts[at]] === QUOTE ? end - 1 : end;
  }

  lineOf(row: number): number {
    return this.firstLine + row;
  }

  /**
   * The row as the scanner would have yielded it: its cells as strings, stamped with its line. With `cells`, the
   * others may come out empty (they are decoded only when splitting the whole row is cheaper).
   */
  decode(row: number, cells?: readonly number[]): ParsedRow {
    const first = this.rowBase(row);
    const rowStart = this.cellStarts[first];
    const rowEnd = this.cellStarts[first + this.cellCount] - 1;
    const count = cells ? cells.length : this.cellCount;
    let record: ParsedRow;
    if (!NON_ASCII.test(this.latin1.slice(rowStart, rowEnd))) {
      // An ASCII row: its cells are slices of the Latin-1 text the splitter made of the chunk, nothing to decode.
      record = new Array<string>(this.cellCount).fill('');
      for (let index = 0; index < count; index++) {
        const cell = cells ? cells[index] : index;
        record[cell] = this.latin1.slice(this.valueStart(row, cell), this.valueEnd(row, cell));
      }
    } else {
      const text = this.bytes.toString('utf8', rowStart, rowEnd);
      if (text.indexOf('"') < 0) {
        // Unquoted cells hold no delimiter: splitting the decoded row is one native call instead of one per cell.
        record = text.split(this.delimiter);
      } else {
        record = new Array<string>(this.cellCount).fill('');
        for (let index = 0; index < count; index++) {
          const cell = cells ? cells[index] : index;
          record[cell] = this.bytes.toString('utf8', this.valueStart(row, cell), this.valueEnd(row, cell));
        }
      }
    }
    record.line = this.lineOf(row);
    return record;
  }

  /** The same rows without the first `rows` (a resumed run skips the rows it had read). */
  withoutFirst(rows: number): RawRowBlock {
    if (!(rows >= 0 && rows <= this.rowCount)) throw new RangeError(`cannot drop ${rows} of ${this.rowCount} rows`);
    return new RawRowBlock(
      this.bytes,
      this.delimiter,
      this.cellCount,
      this.rowCount - rows,
      this.cellStarts,
      this.firstLine + rows,
      this.latin1,
      this.firstRow + rows,
    );
  }
}

const NO_STARTS = new Int32Array(0);
/** Returned by `readRow`: the chunk ends inside the row. */
const INCOMPLETE = -1;
/** Returned by `readRow`: the row holds a quote out of place, for the scanner to report. */
const MALFORMED = -2;
/** Returned by `readRow`: the row ends at a lone CR, which the scanner tells from a CRLF only by the next character. */
const LONE_CR = -3;

/**
 * Records the starts of the cells of `text[from..to)` split at `delimiter` (up to `cellCount` of them) from
 * `starts[base]` on; returns how many cells there are. `text` is the chunk read as Latin-1, one character per
 * byte, where `indexOf` finds a delimiter faster than a loop over the bytes: this is the hottest loop of a delta.
 */
function splitAtDelimiters(
  text: string,
  from: number,
  to: number,
  delimiter: string,
  starts: Int32Array,
  base: number,
  cellCount: number,
): number {
  starts[base] = from;
  let cells = 1;
  for (let at = text.indexOf(delimiter, from); at !== -1 && at < to; at = text.indexOf(delimiter, at + 1)) {
    if (cells < cellCount) starts[base + cells] = at + 1;
    cells++;
  }
  return cells;
}

function indexOrLength(text: string, searched: string, from: number): number {
  const at = text.indexOf(searched, from);
  return at < 0 ? text.length : at;
}

/**
 * Splits the bytes of a file into `RawRowBlock`s where rows are simple, and hands every other row to the
 * `CsvRecordScanner` as exactly that row's bytes, so records, start lines and errors are the scanner's own. It starts
 * once the scanner has read a first record (the BOM), gives the rest of a chunk to the scanner from a row that ends at
 * a lone CR or spans chunks, and the rest of a file at anything malformed (a stray quote), where the scanner reports
 * the error. The output keeps the file's order: blocks and scanner records interleaved.
 */
export class RawRowSplitter {
  private readonly delimiterCode: number;
  /** Rows at least this long go to the scanner, which measures them against its record and cell size limits. */
  private readonly rawRowLimitInBytes: number;
  /** The start of a row not complete at the end of the last chunk. */
  private carry: Buffer | undefined;
  /** Once true, everything goes to the scanner. */
  private scannerOnly = false;
  /** Typical length of the file's rows so far (a running average), for sizing cell tables. */
  private bytesPerRow = TYPICAL_ROW_BYTES;
  /** Set by `readRow`: the row just read can stay bytes. */
  private rowIsRaw = false;
  /**
   * The next LF, quote and CR at or after the scan point in the chunk (its length: none), each searched for
   * natively, once per time the scan passes it: most rows hold none of the last two.
   */
  private nextLf = -1;
  private nextQuote = -1;
  private nextCr = -1;

  constructor(
    private readonly scanner: CsvRecordScanner,
    private readonly delimiter: string,
    private readonly cellCount: number,
    maxRecordSizeInBytes: number,
  ) {
    this.delimiterCode = delimiter.charCodeAt(0);
    this.rawRowLimitInBytes = Math.min(maxRecordSizeInBytes, scanner.maxCellSizeInBytes);
    // A multi-byte delimiter (é) would need UTF-8 matching: such files are read by the scanner alone.
    if (delimiter.length !== 1 || this.delimiterCode >= 0x80 || !(cellCount >= 1)) this.scannerOnly = true;
  }

  write(chunk: Buffer): Array<ParsedRow | RawRowBlock> {
    const out: Array<ParsedRow | RawRowBlock> = [];
    let pos = 0;
    // A row begun in the last chunk: completed with this chunk's first line, so that only that row's bytes are
    // copied, not the whole chunk. Still incomplete after a line break (a quoted one), or long, the scanner reads on.
    if (this.carry) {
      const lf = chunk.indexOf(LF);
      const until = lf < 0 ? chunk.length : lf + 1;
      const joined = Buffer.concat([this.carry, chunk.subarray(0, until)]);
      this.carry = undefined;
      this.read(joined, 0, out, lf >= 0 || joined.length > MAX_RECARRY_BYTES);
      pos = until;
    }
    if (pos < chunk.length) this.read(chunk, pos, out);
    return out;
  }

  end(): Array<ParsedRow | RawRowBlock> {
    const out: Array<ParsedRow | RawRowBlock> = [];
    if (this.carry) this.scan(this.carry, out);
    this.carry = undefined;
    for (const record of this.scanner.end()) out.push(record);
    return out;
  }

  /**
   * Reads `bytes` from `pos` to the end: rows as bytes where it can, the rest with the scanner. `incompleteToScanner`:
   * a row the bytes end inside is the scanner's (it was carried once already).
   */
  private read(bytes: Buffer, pos: number, out: Array<ParsedRow | RawRowBlock>, incompleteToScanner = false): void {
    while (pos < bytes.length) {
      if (this.scannerOnly) {
        this.scan(bytes.subarray(pos), out);
        return;
      }
      if (this.scanner.atRowStart && this.scanner.pastFirstRecord) {
        pos = this.splitRows(bytes, pos, out, incompleteToScanner);
        continue;
      }
      // Until the scanner stands between records (after the first), it reads up to each place where the row may
      // end, and never a byte twice: a value full of line breaks costs one pass, not one per line.
      const until = this.possibleRowEnd(bytes, pos);
      this.scan(bytes.subarray(pos, until), out);
      pos = until;
    }
  }

  /** One past the first LF at or after `pos` where the scanner's record may end (inside quotes: after a quote). */
  private possibleRowEnd(bytes: Buffer, pos: number): number {
    let from = pos;
    if (this.scanner.inQuotedValue) {
      const quote = bytes.indexOf(QUOTE, pos);
      if (quote < 0) return bytes.length;
      from = quote + 1;
    }
    const lf = bytes.indexOf(LF, from);
    return lf < 0 ? bytes.length : lf + 1;
  }

  private scan(bytes: Buffer, out: Array<ParsedRow | RawRowBlock>): void {
    for (const record of this.scanner.write(bytes)) out.push(record);
  }

  /**
   * Reads rows from `pos` until the chunk ends; returns the position reached (the chunk's length, once an
   * incomplete row is carried or the rest was given to the scanner).
   */
  private splitRows(
    bytes: Buffer,
    pos: number,
    out: Array<ParsedRow | RawRowBlock>,
    incompleteToScanner: boolean,
  ): number {
    const length = bytes.length;
    const stride = this.cellCount + 1;
    this.nextLf = this.nextQuote = this.nextCr = -1; // positions in the previous chunk
    // One character per byte, so positions in the text are positions in the bytes.
    const text = bytes.toString('latin1');
    let starts = NO_STARTS;
    let rows = 0;
    for (let p = pos; ;) {
      if (starts.length < (rows + 1) * stride) {
        const expected = stride * (rows + Math.ceil((length - p) / this.bytesPerRow) + 16);
        const grown = new Int32Array(Math.max(expected, starts.length * 2));
        grown.set(starts);
        starts = grown;
      }
      const next = this.readRow(bytes, text, p, starts, rows * stride);
      if (next === INCOMPLETE || next === MALFORMED || next === LONE_CR) {
        this.emitBlock(bytes, text, starts, rows, out);
        const rest = bytes.subarray(p);
        // A malformed row is the scanner's to report, a lone CR its to tell from a CRLF. A huge row (or an unclosed
        // quote) is its to measure, and a row carried before is its to finish: it reads on from where it stands,
        // never from the row start again.
        if (next === MALFORMED) this.scannerOnly = true;
        if (next !== INCOMPLETE || incompleteToScanner || rest.length > MAX_CARRY_BYTES) this.scan(rest, out);
        else this.carry = rest;
        return length;
      }
      if (this.rowIsRaw) {
        rows++;
        // A running estimate of row length sizes the next cell tables: no more than the rows need.
        this.bytesPerRow += (next - p - this.bytesPerRow) / 64;
      } else {
        // The scanner reads what is not simple, as exactly that row's bytes: it stands between records after it.
        this.emitBlock(bytes, text, starts, rows, out);
        starts = NO_STARTS;
        rows = 0;
        this.scan(bytes.subarray(p, next), out);
      }
      p = next;
      if (p >= length) {
        this.emitBlock(bytes, text, starts, rows, out);
        return length;
      }
    }
  }

  private emitBlock(
    bytes: Buffer,
    latin1: string,
    starts: Int32Array,
    rows: number,
    out: Array<ParsedRow | RawRowBlock>,
  ): void {
    if (rows === 0) return;
    out.push(new RawRowBlock(bytes, this.delimiter, this.cellCount, rows, starts, this.scanner.nextRowLine, latin1));
    this.scanner.countRowsReadElsewhere(rows);
  }

  /**
   * Reads the row at `p`, writing its cell starts at `starts[base..]`; returns where the next row starts, or
   * INCOMPLETE / MALFORMED. `rowIsRaw` then tells whether the row can stay bytes. Every line break outside quotes
   * ends a row (LF, CRLF or a lone CR, mixed or not: the scanner's rule); from a lone CR on, the scanner reads the
   * chunk.
   */
  private readRow(bytes: Buffer, text: string, p: number, starts: Int32Array, base: number): number {
    const length = bytes.length;
    const rowStart = p;
    if (this.nextLf < p) this.nextLf = indexOrLength(text, '\n', p);
    if (this.nextQuote < p) this.nextQuote = indexOrLength(text, '"', p);
    if (this.nextCr < p) this.nextCr = indexOrLength(text, '\r', p);
    const lf = this.nextLf;
    const plainEnd = lf > p && bytes[lf - 1] === CR ? lf - 1 : lf;
    if (lf < length && this.nextQuote > plainEnd && this.nextCr >= plainEnd) {
      // No quote and no lone CR before the row end: the cells are what lies between delimiters.
      const cells = splitAtDelimiters(text, p, plainEnd, this.delimiter, starts, base, this.cellCount);
      return this.rowRead(rowStart, plainEnd, lf + 1 - plainEnd, cells, true, starts, base);
    }
    return this.readRowByCells(bytes, p, starts, base);
  }

  /** `readRow` for rows with quotes or lone CRs: one cell at a time, as the scanner reads them. */
  private readRowByCells(bytes: Buffer, p: number, starts: Int32Array, base: number): number {
    const length = bytes.length;
    const rowStart = p;
    const delimiter = this.delimiterCode;
    const cellCount = this.cellCount;
    let cells = 0;
    let simple = true;
    for (;;) {
      if (cells < cellCount) starts[base + cells] = p;
      cells++;
      if (p >= length) return INCOMPLETE;
      if (bytes[p] === QUOTE) {
        // Quoted: find the closing quote; `""` and line breaks inside are left to the scanner.
        for (p++; ; p++) {
          if (p >= length) return INCOMPLETE;
          const code = bytes[p];
          if (code === QUOTE) {
            if (p + 1 >= length) return INCOMPLETE;
            if (bytes[p + 1] !== QUOTE) break;
            simple = false;
            p++;
          } else if (code === LF || code === CR) simple = false;
        }
        p++; // past the closing quote: a delimiter or the row end must follow
        const code = bytes[p];
        if (code === delimiter) {
          p++;
          continue;
        }
        if (code !== LF && code !== CR) return MALFORMED;
        return this.rowEnd(bytes, rowStart, p, cells, simple, starts, base);
      }
      for (; ; p++) {
        if (p >= length) return INCOMPLETE;
        const code = bytes[p];
        if (code === delimiter) break;
        if (code === QUOTE) return MALFORMED;
        if (code === LF || code === CR) return this.rowEnd(bytes, rowStart, p, cells, simple, starts, base);
      }
      p++;
    }
  }

  /** The row ends at the line break at `at`: CRLF, LF, or a lone CR (which the scanner reads). */
  private rowEnd(
    bytes: Buffer,
    rowStart: number,
    at: number,
    cells: number,
    simple: boolean,
    starts: Int32Array,
    base: number,
  ): number {
    if (bytes[at] === LF) return this.rowRead(rowStart, at, 1, cells, simple, starts, base);
    if (at + 1 >= bytes.length) return INCOMPLETE;
    if (bytes[at + 1] === LF) return this.rowRead(rowStart, at, 2, cells, simple, starts, base);
    return LONE_CR;
  }

  /** Ends a row found at `rowStart..rowEnd` (its row end excluded); returns where the next row starts. */
  private rowRead(
    rowStart: number,
    rowEnd: number,
    rowEndLength: number,
    cells: number,
    simple: boolean,
    starts: Int32Array,
    base: number,
  ): number {
    // Rows near the scanner's size limits are left to it, so that it measures them.
    this.rowIsRaw = simple && cells === this.cellCount && rowEnd - rowStart + 2 < this.rawRowLimitInBytes;
    if (this.rowIsRaw) starts[base + this.cellCount] = rowEnd + 1;
    return rowEnd + rowEndLength;
  }
}
