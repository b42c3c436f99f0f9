import { SourceError } from '../../shared/source';
import { CsvRecordScanner, ParsedRow, fastScannerHandles } from '../../shared/source/fastCsv';
import { RawRowBlock, RawRowSplitter } from '../../shared/source/rawRows';
import { LineTrackingParser, csvParseOptions, toSourceError } from '../../shared/source/readPartition';
import { CsvSettings } from '../../shared/source/types';
import { random, type Random } from '../helpers/random';

const BLOB = 'Seg/Seg_1.csv';
const BIG_LIMIT = 16 * 1024 * 1024;

/** What a parser made of a file: records with their start lines, or the error (line and message). */
type Outcome = { records: Array<[number, string[]]> } | { error: { line?: number; message: string } };

function settings(delimiter: string): CsvSettings {
  return { columnHeaders: false, delimiter, quoteStyle: 'csv', csvStyle: 'quoteAlways' };
}

function viaCsvParse(chunks: Buffer[], delimiter: string, maxRecordSizeInBytes = BIG_LIMIT): Promise<Outcome> {
  const parser = new LineTrackingParser({
    ...csvParseOptions(settings(delimiter)),
    max_record_size: maxRecordSizeInBytes,
  });
  const records: Array<[number, string[]]> = [];
  return new Promise((resolve) => {
    parser.on('data', (record: ParsedRow) => records.push([record.line ?? 0, [...record]]));
    parser.on('end', () => resolve({ records }));
    parser.on('error', (error) => {
      const mapped = toSourceError(error, BLOB, parser, maxRecordSizeInBytes) as SourceError;
      resolve({ error: { line: mapped.line, message: mapped.message } });
    });
    for (const chunk of chunks) parser.write(chunk);
    parser.end();
  });
}

function viaScanner(chunks: Buffer[], delimiter: string, maxRecordSizeInBytes = BIG_LIMIT): Outcome {
  const scanner = new CsvRecordScanner(delimiter, BLOB, maxRecordSizeInBytes);
  const records: Array<[number, string[]]> = [];
  const keep = (rows: ParsedRow[]) => rows.forEach((row) => records.push([row.line ?? 0, [...row]]));
  try {
    for (const chunk of chunks) keep(scanner.write(chunk));
    keep(scanner.end());
  } catch (error) {
    if (!(error instanceof SourceError)) throw error;
    return { error: { line: error.line, message: error.message } };
  }
  return { records };
}

/** The scanner behind a RawRowSplitter, blocks decoded: must be the scanner's outcome, whatever the chunks. */
function viaSplitter(chunks: Buffer[], delimiter: string, cellCount: number, maxRecordSizeInBytes = BIG_LIMIT) {
  const splitter = new RawRowSplitter(
    new CsvRecordScanner(delimiter, BLOB, maxRecordSizeInBytes),
    delimiter,
    cellCount,
    maxRecordSizeInBytes,
  );
  const records: Array<[number, string[]]> = [];
  let rawRows = 0;
  const keep = (items: Array<ParsedRow | RawRowBlock>) => {
    for (const item of items) {
      if (item instanceof RawRowBlock) {
        rawRows += item.rowCount;
        for (let row = 0; row < item.rowCount; row++) {
          const decoded = item.decode(row);
          records.push([decoded.line ?? 0, [...decoded]]);
        }
      } else records.push([item.line ?? 0, [...item]]);
    }
  };
  let outcome: Outcome;
  try {
    for (const chunk of chunks) keep(splitter.write(chunk));
    keep(splitter.end());
    outcome = { records };
  } catch (error) {
    if (!(error instanceof SourceError)) throw error;
    outcome = { error: { line: error.line, message: error.message } };
  }
  return { outcome, rawRows };
}

const PLAIN = ['a', 'Ann', 'x1', ' ', 'Zoë', 'Ørsted', 'Győr', '中文', '💡', 'Nguyễn', '0', '-', '\t'];
const SPECIAL = ['"', '""', '\n', '\r\n', '\r', ',', ';', '|', '\t', 'é', '💡', 'ő'];

function cellText(rng: Random, delimiter: string, special: boolean): string {
  let text = '';
  for (let n = rng.int(4); n >= 0; n--) text += rng.pick(special ? [...PLAIN, ...SPECIAL, delimiter] : PLAIN);
  return text;
}

/** A well-formed file: random cells (plain, empty, quoted with every special character), random row ends. */
function wellFormedCsv(rng: Random, delimiter: string): string {
  const rowEnds = rng.next() < 0.5 ? [rng.pick(['\n', '\r\n', '\r'])] : ['\n', '\r\n', '\r'];
  let csv = rng.next() < 0.2 ? '\uFEFF' : '';
  const rows = rng.int(7);
  for (let r = 0; r < rows; r++) {
    if (rng.next() < 0.1) {
      csv += rng.pick(rowEnds); // a blank line
      continue;
    }
    const cells: string[] = [];
    for (let c = rng.int(5); c >= 0; c--) {
      const kind = rng.int(4);
      if (kind === 0) cells.push('');
      else if (kind === 1) cells.push(cellText(rng, delimiter, false).replace(/["\r\n]/g, ''));
      else cells.push(`"${cellText(rng, delimiter, true).replace(/"/g, '""')}"`);
    }
    csv += cells.join(delimiter);
    if (r < rows - 1 || rng.next() < 0.7) csv += rng.pick(rowEnds);
  }
  return csv;
}

/** Breaks a file at random: a stray quote, a NUL after a character, a cut end, a removed character. */
function damaged(rng: Random, csv: string): string {
  const chars = Array.from(csv);
  for (let n = 1 + rng.int(2); n > 0; n--) {
    const at = rng.int(chars.length + 1);
    const damage = rng.int(4);
    if (damage === 0) chars.splice(at, 0, '"');
    else if (damage === 1) chars.splice(at, 0, '\0');
    else if (damage === 2) chars.length = at;
    else chars.splice(at, 1);
  }
  return chars.join('');
}

/** Random chunk boundaries, often 1 to 3 bytes apart so they fall inside characters, CRLF and `""`. */
function chunked(rng: Random, bytes: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  const maxChunk = rng.pick([1, 3, 8, 64, bytes.length + 1]);
  for (let at = 0; at < bytes.length;) {
    const size = 1 + rng.int(maxChunk);
    chunks.push(bytes.subarray(at, at + size));
    at += size;
  }
  return chunks;
}

/** Rows the raw splitter left as bytes, over every `expectSameOutcome` call (so a test can show it was used). */
let rawRowsSeen = 0;

/** csv-parse, the scanner, and the scanner behind the raw row splitter (for 1 to 4 cells a row) agree. */
async function expectSameOutcome(bytes: Buffer, chunks: Buffer[], delimiter: string, limit = BIG_LIMIT) {
  const expected = await viaCsvParse([bytes], delimiter, limit);
  const actual = viaScanner(chunks, delimiter, limit);
  // The failing input is part of the message, so a failure can be read and replayed.
  expect({ input: bytes.toString('utf8'), chunks: chunks.length, outcome: actual }).toEqual({
    input: bytes.toString('utf8'),
    chunks: chunks.length,
    outcome: expected,
  });
  const cellCount = 1 + (bytes.length % 4);
  const split = viaSplitter(chunks, delimiter, cellCount, limit);
  expect({ input: bytes.toString('utf8'), chunks: chunks.length, cellCount, outcome: split.outcome }).toEqual({
    input: bytes.toString('utf8'),
    chunks: chunks.length,
    cellCount,
    outcome: expected,
  });
  rawRowsSeen += split.rawRows;
  return expected;
}

describe('CsvRecordScanner against csv-parse', () => {
  it.each([',', ';', '\t', '|', 'é'])(
    'yields the same records and start lines on generated files (delimiter %j)',
    async (delimiter) => {
      const rng = random(delimiter.charCodeAt(0));
      let records = 0;
      for (let round = 0; round < 400; round++) {
        const bytes = Buffer.from(wellFormedCsv(rng, delimiter), 'utf8');
        const outcome = await expectSameOutcome(bytes, chunked(rng, bytes), delimiter);
        if ('records' in outcome) records += outcome.records.length;
      }
      expect(records).toBeGreaterThan(600); // the generator makes real files, not just empty ones
      // The raw splitter read a share of them as bytes (not with 'é', a delimiter it leaves to the scanner).
      if (delimiter !== 'é') expect(rawRowsSeen).toBeGreaterThan(20);
      rawRowsSeen = 0;
    },
  );

  it('leaves most rows of a long file of simple rows as bytes, with the same records and lines', async () => {
    const rng = random(5);
    for (const rowEnd of ['\n', '\r\n']) {
      const rows: string[] = [];
      for (let r = 0; r < 3000; r++) {
        // Now and then a row the scanner must read: a quoted line break, a doubled quote, a blank line, 2 cells.
        const special = rng.int(50);
        if (special === 0) rows.push(`"a${rowEnd}b",x,y`);
        else if (special === 1) rows.push('"say ""hi""",x,y');
        else if (special === 2) rows.push('');
        else if (special === 3) rows.push('x,y');
        else rows.push([cellText(rng, ',', false).replace(/["\r\n,]/g, ''), `"${r}"`, 'Győr'].join(','));
      }
      const bytes = Buffer.from(rows.join(rowEnd) + rowEnd, 'utf8');
      const expected = await viaCsvParse([bytes], ',');
      const split = viaSplitter(chunked(rng, bytes), ',', 3);
      expect(split.outcome).toEqual(expected);
      expect(split.rawRows).toBeGreaterThan(2500);
    }
  });

  it('fails the same way, on the same line, on damaged files', async () => {
    const rng = random(7);
    const errors = new Set<string>();
    for (let round = 0; round < 1500; round++) {
      const delimiter = rng.pick([',', ';', '\t']);
      const bytes = Buffer.from(damaged(rng, wellFormedCsv(rng, delimiter)), 'utf8');
      const outcome = await expectSameOutcome(bytes, chunked(rng, bytes), delimiter);
      if ('error' in outcome) errors.add(outcome.error.message.replace(/.*: /, ''));
    }
    // Every kind of structure error came up.
    expect([...errors].sort()).toEqual([
      'a quote in an unexpected position (CSV_INVALID_CLOSING_QUOTE)',
      'a quote in an unexpected position (INVALID_OPENING_QUOTE)',
      'a quoted value is never closed (unbalanced quote or truncated file)',
    ]);
  });

  it('enforces the record size limit as csv-parse does (earlier cells in characters, the current one in bytes)', async () => {
    const rng = random(11);
    let tooLarge = 0;
    for (let round = 0; round < 1500; round++) {
      const csv = rng.next() < 0.3 ? damaged(rng, wellFormedCsv(rng, ',')) : wellFormedCsv(rng, ',');
      const bytes = Buffer.from(csv, 'utf8');
      const outcome = await expectSameOutcome(bytes, chunked(rng, bytes), ',', 4 + rng.int(20));
      if ('error' in outcome && outcome.error.message.includes('a row is larger than')) tooLarge++;
    }
    expect(tooLarge).toBeGreaterThan(100);
  });

  it('marks the same cells when the file holds bytes that are not UTF-8', async () => {
    const rng = random(13);
    for (let round = 0; round < 400; round++) {
      const valid = Buffer.from(wellFormedCsv(rng, ','), 'utf8');
      const at = rng.int(valid.length + 1);
      const invalid = Buffer.from(rng.pick([[0xff], [0xc3], [0xe2, 0x82], [0xf0, 0x9f], [0x80, 0x80]]));
      const bytes = Buffer.concat([valid.subarray(0, at), invalid, valid.subarray(at)]);
      const expected = await viaCsvParse([bytes], ',');
      const actual = viaScanner(chunked(rng, bytes), ',');
      // The number of U+FFFD for one bad sequence may differ; which cells hold one, and everything else, may not.
      const marked = (outcome: Outcome) =>
        'error' in outcome ? outcome : outcome.records.map(([line, cells]) => [line, cells.map(markInvalid)]);
      expect(marked(actual)).toEqual(marked(expected));
    }
  });

  it('strips a BOM split across chunks and keeps a U+FEFF that is not at the start', () => {
    const bytes = Buffer.from('\uFEFFa,\uFEFFb\n', 'utf8');
    const chunks = [bytes.subarray(0, 1), bytes.subarray(1, 2), bytes.subarray(2)];
    expect(viaScanner(chunks, ',')).toEqual({ records: [[1, ['a', '\uFEFFb']]] });
  });

  it('names the line of the stray quote and of the unclosed quote, counting a quoted CRLF as one line', () => {
    const stray = Buffer.from('a,"x\r\ny"\r\nb,6" pipe\r\n', 'utf8');
    expect(viaScanner([stray], ',')).toEqual({
      error: { line: 3, message: `${BLOB} line 3: a quote in an unexpected position (INVALID_OPENING_QUOTE)` },
    });
    const afterClosing = Buffer.from('a\n"x"y\n', 'utf8');
    expect(viaScanner([afterClosing], ',')).toMatchObject({ error: { line: 2 } });
    const unclosed = Buffer.from('a,b\r\n"x\r\ny",c\r\nd,"Secret\r\ne\r\n', 'utf8');
    const outcome = viaScanner([unclosed], ',');
    expect(outcome).toEqual({
      error: {
        line: 4,
        message: `${BLOB} line 4: a quoted value is never closed (unbalanced quote or truncated file)`,
      },
    });
  });

  it('stops at the size limit inside an unclosed quote before reading the whole file', () => {
    const scanner = new CsvRecordScanner(',', BLOB, 1000);
    expect(scanner.write(Buffer.from('a,b\n"', 'utf8')).map((row) => [...row])).toEqual([['a', 'b']]);
    const megabyte = Buffer.alloc(1 << 20, 'x');
    expect(() => scanner.write(megabyte)).toThrow(`${BLOB} line 2: a row is larger than 1000 bytes`);
  });

  it('reads past a value over the cell limit without keeping it, marking its row; later rows keep their lines', async () => {
    const limit = 64 * 1024;
    for (const rowEnd of ['\n', '\r\n']) {
      const quoted = `"${'ab\r\ncd""e\n'.repeat(20_000)}"`; // 240 KB, line breaks and doubled quotes
      const unquoted = 'z'.repeat(200_000);
      const rows = ['a,b,c', `x,${quoted},y`, 'd,e,f', `g,${unquoted},h`, '"i",j,k'];
      const bytes = Buffer.from(rows.join(rowEnd) + rowEnd, 'utf8');
      const expected = await viaCsvParse([bytes], ',');
      if (!('records' in expected)) throw new Error('csv-parse failed');
      // Chunk sizes that put chunk ends between a CR and its LF, and elsewhere.
      for (const [chunkSize, viaRaw] of [65_536, 65_537, 65_539, 4_099].flatMap((size) => [
        [size, false] as const,
        [size, true] as const,
      ])) {
        const chunks: Buffer[] = [];
        for (let at = 0; at < bytes.length; at += chunkSize) chunks.push(bytes.subarray(at, at + chunkSize));
        const scanner = new CsvRecordScanner(',', BLOB, BIG_LIMIT, limit);
        const splitter = new RawRowSplitter(scanner, ',', 3, BIG_LIMIT);
        const records: ParsedRow[] = [];
        const keep = (items: Array<ParsedRow | RawRowBlock>) => {
          for (const item of items) {
            if (!(item instanceof RawRowBlock)) records.push(item);
            else for (let row = 0; row < item.rowCount; row++) records.push(item.decode(row));
          }
        };
        for (const chunk of chunks) keep(viaRaw ? splitter.write(chunk) : scanner.write(chunk));
        keep(viaRaw ? splitter.end() : scanner.end());
        expect(records.map((record) => record.line)).toEqual(expected.records.map(([line]) => line));
        expect(records.map((record) => record.oversizedCell)).toEqual([undefined, 1, undefined, 1, undefined]);
        // The oversized value comes out empty; every other cell is csv-parse's.
        const withoutOversized = expected.records.map(([, cells]) =>
          cells.map((cell) => (cell.length > limit ? '' : cell)),
        );
        expect(records.map((record) => [...record])).toEqual(withoutOversized);
      }
    }
  });

  it('is only chosen for quoted CSV with QuoteAlways and a one-character delimiter', () => {
    expect(fastScannerHandles(settings(','))).toBe(true);
    expect(fastScannerHandles({ ...settings(','), quoteStyle: 'none' })).toBe(false);
    expect(fastScannerHandles({ ...settings(','), csvStyle: 'quoteAfterDelimiter' })).toBe(false);
    expect(fastScannerHandles(settings('||'))).toBe(false);
    expect(fastScannerHandles(settings('"'))).toBe(false);
  });
});

function markInvalid(cell: string): string {
  return cell.includes('\uFFFD') ? '<invalid>' : cell;
}
