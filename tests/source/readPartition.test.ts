import { ContainerClient } from '@azure/storage-blob';
import { SourceError, readPartition } from '../../shared/source';
import { readPartitionBatches } from '../../shared/source/readPartition';
import { SourceRecord } from '../../shared/source/types';
import { Azurite, startAzurite } from '../../tools/local/azurite';
import { CSV_DEFAULTS, entity, freshContainer, putBlob, readAll } from './fixtures';

function rows(records: SourceRecord[]) {
  return records.map((r) => (r.kind === 'row' ? r.values : r));
}

describe('readPartition', () => {
  let azurite: Azurite;
  let container: ContainerClient;
  beforeAll(async () => {
    azurite = await startAzurite();
    container = await freshContainer(azurite.connectionString);
  });
  afterAll(async () => azurite.stop());

  const people = entity('People', [
    ['CustomerId', 'guid'],
    ['FullName', 'string'],
    ['City', 'string'],
  ]);

  it('reads quoted values holding the delimiter, "" quotes and line breaks, with the line where each row starts', async () => {
    await putBlob(
      container,
      'q/p_1.csv',
      [
        '"3F9A1C52-7D4E-4B0A-A2C1-58E6D9F0B713","Liam ""Red"" Byrne","Cork, Munster"',
        '"a0e4b7d9-1c3f-4e62-8b5a-9d7c2e1f0a68","Two\nLines","Győr"',
        'b0e4b7d9-1c3f-4e62-8b5a-9d7c2e1f0a68,,""',
      ].join('\n') + '\n',
    );
    const records = await readAll(container, people, 'q/p_1.csv');
    expect(records).toEqual([
      {
        kind: 'row',
        blobName: 'q/p_1.csv',
        line: 1,
        values: ['3f9a1c52-7d4e-4b0a-a2c1-58e6d9f0b713', 'Liam "Red" Byrne', 'Cork, Munster'],
      },
      {
        kind: 'row',
        blobName: 'q/p_1.csv',
        line: 2,
        values: ['a0e4b7d9-1c3f-4e62-8b5a-9d7c2e1f0a68', 'Two\nLines', 'Győr'],
      },
      { kind: 'row', blobName: 'q/p_1.csv', line: 4, values: ['b0e4b7d9-1c3f-4e62-8b5a-9d7c2e1f0a68', null, null] },
    ]);
  });

  it.each([
    ['the fast scanner', {}],
    ['csv-parse (QuoteAfterDelimiter)', { csvStyle: 'quoteAfterDelimiter' as const }],
  ])('skips blank lines, in the middle and at the end, with %s', async (_parser, csv) => {
    const id = '3f9a1c52-7d4e-4b0a-a2c1-58e6d9f0b713';
    await putBlob(container, 'q/blank.csv', `${id},A,x\r\n\r\n${id},B,y\r\n\r\n\r\n`);
    const records = await readAll(container, people, 'q/blank.csv', csv);
    expect(records.map((r) => [r.kind, r.line])).toEqual([
      ['row', 1],
      ['row', 3],
    ]);
  });

  it('counts CRLF line breaks inside quoted values as one line', async () => {
    const id = '3f9a1c52-7d4e-4b0a-a2c1-58e6d9f0b713';
    await putBlob(container, 'q/crlf.csv', `${id},"a\r\nb\r\nc",x\r\n${id},b,oops\r\n${id},c\r\n`);
    const records = await readAll(container, people, 'q/crlf.csv');
    expect(records.map((r) => [r.kind, r.line])).toEqual([
      ['row', 1],
      ['row', 4],
      ['rejected', 5],
    ]);
  });

  it('skips a header row given columnHeaders, and one found although columnHeaders is missing (with a warning)', async () => {
    const body = 'CustomerId,FullName,City\n3f9a1c52-7d4e-4b0a-a2c1-58e6d9f0b713,Ann,Oslo\n';
    await putBlob(container, 'h/p_1.csv', body);
    const withFlag = await readAll(container, people, 'h/p_1.csv', { columnHeaders: true });
    expect(withFlag).toEqual([
      { kind: 'row', blobName: 'h/p_1.csv', line: 2, values: ['3f9a1c52-7d4e-4b0a-a2c1-58e6d9f0b713', 'Ann', 'Oslo'] },
    ]);
    const warnings: string[] = [];
    const sniffed = await readAll(container, people, 'h/p_1.csv', {}, { warnings });
    expect(sniffed).toEqual(withFlag);
    expect(warnings).toEqual([expect.stringContaining('h/p_1.csv: line 1 repeats the column names')]);
  });

  it('rejects a header row that does not match the schema, naming blob, line and column', async () => {
    await putBlob(container, 'h/bad.csv', 'CustomerId,City,FullName\n');
    const error = await readAll(container, people, 'h/bad.csv', { columnHeaders: true }).catch((e) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect(error).toMatchObject({ blobName: 'h/bad.csv', line: 1, column: 'FullName' });
  });

  it('reads a headerless file with a UTF-8 BOM and CRLF line ends', async () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    await putBlob(
      container,
      'b/p.csv',
      Buffer.concat([bom, Buffer.from('3f9a1c52-7d4e-4b0a-a2c1-58e6d9f0b713,Zoë,Ørsted\r\n', 'utf8')]),
    );
    expect(rows(await readAll(container, people, 'b/p.csv'))).toEqual([
      ['3f9a1c52-7d4e-4b0a-a2c1-58e6d9f0b713', 'Zoë', 'Ørsted'],
    ]);
  });

  it.each([
    [';', 'semicolon'],
    ['\t', 'tab'],
  ])('honours the delimiter %j (%s)', async (delimiter) => {
    const name = `d/${delimiter === ';' ? 'semi' : 'tab'}.csv`;
    await putBlob(container, name, ['3f9a1c52-7d4e-4b0a-a2c1-58e6d9f0b713', 'A, B', '"x;y\tz"'].join(delimiter) + '\n');
    expect(rows(await readAll(container, people, name, { delimiter }))).toEqual([
      ['3f9a1c52-7d4e-4b0a-a2c1-58e6d9f0b713', 'A, B', 'x;y\tz'],
    ]);
  });

  it('with QuoteStyle.None ends every row at a line break and keeps quotes as text', async () => {
    await putBlob(container, 'n/p.csv', '3f9a1c52-7d4e-4b0a-a2c1-58e6d9f0b713,"Ann,Oslo\n');
    const records = await readAll(container, people, 'n/p.csv', { quoteStyle: 'none' });
    expect(rows(records)).toEqual([['3f9a1c52-7d4e-4b0a-a2c1-58e6d9f0b713', '"Ann', 'Oslo']]);
  });

  it('with CsvStyle.QuoteAfterDelimiter treats a quote inside a value as text; QuoteAlways refuses it', async () => {
    await putBlob(container, 'n/mid.csv', '3f9a1c52-7d4e-4b0a-a2c1-58e6d9f0b713,6" pipe,Oslo\n');
    const lenient = await readAll(container, people, 'n/mid.csv', { csvStyle: 'quoteAfterDelimiter' });
    expect(rows(lenient)).toEqual([['3f9a1c52-7d4e-4b0a-a2c1-58e6d9f0b713', '6" pipe', 'Oslo']]);
    const strict = await readAll(container, people, 'n/mid.csv').catch((e) => e);
    expect(strict).toBeInstanceOf(SourceError);
    expect(strict).toMatchObject({ blobName: 'n/mid.csv', line: 1 });
    expect(String(strict.message)).not.toContain('pipe');
  });

  it('rejects rows with too many or too few cells, naming blob and line, and goes on', async () => {
    const id = '3f9a1c52-7d4e-4b0a-a2c1-58e6d9f0b713';
    await putBlob(container, 'c/p_2.csv', `${id},A,B\n${id},A\n${id},A,B,C\n${id}\n${id},"multi\nline",B\n`);
    const records = await readAll(container, people, 'c/p_2.csv');
    expect(records).toEqual([
      expect.objectContaining({ kind: 'row', line: 1 }),
      { kind: 'rejected', blobName: 'c/p_2.csv', line: 2, reason: 'expected 3 cells, found 2' },
      { kind: 'rejected', blobName: 'c/p_2.csv', line: 3, reason: 'expected 3 cells, found 4' },
      { kind: 'rejected', blobName: 'c/p_2.csv', line: 4, reason: 'expected 3 cells, found 1' },
      expect.objectContaining({ kind: 'row', line: 5 }),
    ]);
  });

  it('fails on an unclosed quote (truncated file) with blob and the line where the row starts', async () => {
    const id = '3f9a1c52-7d4e-4b0a-a2c1-58e6d9f0b713';
    await putBlob(container, 't/p.csv', `${id},A,B\n${id},"Secret Name,B\n${id},C,D\n`);
    const error = await readAll(container, people, 't/p.csv').catch((e) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect(error).toMatchObject({ blobName: 't/p.csv', line: 2, retryable: false });
    expect(error.message).toContain('t/p.csv line 2');
    expect(error.message).not.toContain('Secret');
  });

  it('fails on a missing partition blob with a clear error', async () => {
    const error = await readAll(container, people, 'nowhere/p_9.csv').catch((e) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect(error.blobName).toBe('nowhere/p_9.csv');
    expect(error.message).toMatch(/does not exist.*never read as an empty segment/);
  });

  it('rejects rows holding bytes that are not UTF-8 (naming line and column) and reads the rest', async () => {
    const id = '3f9a1c52-7d4e-4b0a-a2c1-58e6d9f0b713';
    const content = Buffer.concat([
      Buffer.from(`${id},Ann,Oslo\n${id},B`, 'utf8'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from(`x,Oslo\n${id},Åsa,Bergen\n`, 'utf8'),
    ]);
    await putBlob(container, 'u/p.csv', content);
    const records = await readAll(container, people, 'u/p.csv');
    expect(records).toEqual([
      expect.objectContaining({ kind: 'row', line: 1 }),
      {
        kind: 'rejected',
        blobName: 'u/p.csv',
        line: 2,
        column: 'FullName',
        reason: 'bytes that are not valid UTF-8',
      },
      { kind: 'row', blobName: 'u/p.csv', line: 3, values: [id, 'Åsa', 'Bergen'] },
    ]);
  });

  it('reads multi-byte characters split across download chunks without rejecting them', async () => {
    const id = '3f9a1c52-7d4e-4b0a-a2c1-58e6d9f0b713';
    const row = `${id},"Nguyễn Ørsted 💡",Győr\n`;
    await putBlob(container, 'u/big.csv', row.repeat(20_000));
    const records = await readAll(container, people, 'u/big.csv');
    expect(records).toHaveLength(20_000);
    expect(records.every((r) => r.kind === 'row' && r.values[1] === 'Nguyễn Ørsted 💡')).toBe(true);
  });

  it('stops cleanly when the consumer leaves early', async () => {
    const id = '3f9a1c52-7d4e-4b0a-a2c1-58e6d9f0b713';
    await putBlob(container, 'e/p.csv', `${id},a,1\n`.repeat(50_000));
    const partition = { blobName: 'e/p.csv', csv: CSV_DEFAULTS };
    let seen = 0;
    for await (const record of readPartition(container, people, partition)) {
      expect(record.kind).toBe('row');
      if (++seen === 3) break;
    }
    expect(seen).toBe(3);
    expect(await readAll(container, people, 'e/p.csv', {}, { skipRows: 49_999 })).toHaveLength(1);
  });

  it('with rawRows, leaves simple rows as bytes that decode to the same records (header, skipRows, UTF-8 rules)', async () => {
    const id = '3f9a1c52-7d4e-4b0a-a2c1-58e6d9f0b713';
    // A blank first line: the header row then comes as bytes, and must still be found.
    const lines: Buffer[] = [Buffer.from('\nCustomerId,FullName,City\n')];
    for (let i = 0; i < 5000; i++) {
      if (i % 97 === 0) lines.push(Buffer.from(`${id},"Liam ""Red"" ${i}",Cork\n`));
      else if (i % 101 === 0) lines.push(Buffer.from(`${id},too,many,cells\n`));
      else if (i % 103 === 0)
        lines.push(Buffer.concat([Buffer.from(`${id},B`), Buffer.from([0xff]), Buffer.from(',x\n')]));
      else if (i % 107 === 0) lines.push(Buffer.from(`not-a-guid,A${i},Oslo\n`));
      else lines.push(Buffer.from(`${id},Åsa ${i},"Bergen, ${i % 7}"\n`));
    }
    await putBlob(container, 'raw/p.csv', Buffer.concat(lines));
    const partition = { blobName: 'raw/p.csv', csv: CSV_DEFAULTS };
    for (const skipRows of [0, 1, 2500, 4999]) {
      const expected = await readAll(container, people, 'raw/p.csv', {}, { skipRows });
      const actual: SourceRecord[] = [];
      const warnings: string[] = [];
      let rawRows = 0;
      const options = { skipRows, rawRows: true, onWarning: (message: string) => warnings.push(message) };
      for await (const batch of readPartitionBatches(container, people, partition, options)) {
        for (const record of batch) {
          if (record.kind !== 'raw') actual.push(record);
          else {
            rawRows += record.rows.rowCount;
            for (let row = 0; row < record.rows.rowCount; row++) actual.push(record.decode(row));
          }
        }
      }
      expect(actual).toEqual(expected);
      expect(warnings).toEqual([expect.stringContaining('line 2 repeats the column names')]);
      warnings.length = 0;
      expect(rawRows).toBeGreaterThan((5000 - skipRows) * 0.9);
    }
  });

  it('skipRows skips data rows (not the header) before yielding', async () => {
    const id = '3f9a1c52-7d4e-4b0a-a2c1-58e6d9f0b713';
    await putBlob(container, 's/p.csv', `CustomerId,FullName,City\n${id},a,1\n${id},b,2\n${id},c,3\n`);
    const records = await readAll(container, people, 's/p.csv', { columnHeaders: true }, { skipRows: 2 });
    expect(records).toEqual([{ kind: 'row', blobName: 's/p.csv', line: 4, values: [id, 'c', '3'] }]);
  });

  it('converts every data type and rejects cells that do not parse, naming the column but not the value', async () => {
    const typed = entity('Typed', [
      ['Big', 'int64'],
      ['Ratio', 'double'],
      ['Amount', 'decimal'],
      ['Flag', 'boolean'],
      ['At', 'datetime'],
      ['AtOffset', 'datetimeoffset'],
      ['Day', 'date'],
      ['Clock', 'time'],
      ['Id', 'guid'],
      ['Doc', 'json'],
    ]);
    const lines = [
      '9007199254740993,1.5e3,2310.40,True,2025-03-10T02:00:00,2025-03-10T04:00:00+02:00,1979-11-02,13:45:00,{A0E4B7D9-1C3F-4E62-8B5A-9D7C2E1F0A68},"{""a"":1}"',
      '-42,-0.25,12345678901234567.89,0,2025-03-10 02:00:00.5Z,2025-03-10T02:00:00Z,1979-11-02T00:00:00Z,,a0e4b7d9-1c3f-4e62-8b5a-9d7c2e1f0a68,',
      '42,,87.00,FALSE,2025-03-10,,,,,',
      '1.5,,,,,,,,,',
      ',,,yes,,,,,,',
      ',,,,2025-02-30T00:00:00Z,,,,,',
      ',,1e5,,,,,,,',
      ',,,,,,,,not-a-guid,',
    ];
    await putBlob(container, 'types/p.csv', lines.join('\n') + '\n');
    const previousTimeZone = process.env.TZ;
    process.env.TZ = 'America/New_York'; // a datetime without offset must still read as UTC
    let records: SourceRecord[];
    try {
      records = await readAll(container, typed, 'types/p.csv');
    } finally {
      process.env.TZ = previousTimeZone;
    }
    expect(rows(records.slice(0, 3))).toEqual([
      [
        '9007199254740993',
        1500,
        2310.4,
        true,
        '2025-03-10T02:00:00.000Z',
        '2025-03-10T02:00:00.000Z',
        '1979-11-02',
        '13:45:00',
        'a0e4b7d9-1c3f-4e62-8b5a-9d7c2e1f0a68',
        '{"a":1}',
      ],
      [
        -42,
        -0.25,
        '12345678901234567.89',
        false,
        '2025-03-10T02:00:00.500Z',
        '2025-03-10T02:00:00.000Z',
        '1979-11-02',
        null,
        'a0e4b7d9-1c3f-4e62-8b5a-9d7c2e1f0a68',
        null,
      ],
      [42, null, 87, false, '2025-03-10T00:00:00.000Z', null, null, null, null, null],
    ]);
    expect(records.slice(3)).toEqual([
      { kind: 'rejected', blobName: 'types/p.csv', line: 4, column: 'Big', reason: 'not a valid int64 value' },
      { kind: 'rejected', blobName: 'types/p.csv', line: 5, column: 'Flag', reason: 'not a valid boolean value' },
      { kind: 'rejected', blobName: 'types/p.csv', line: 6, column: 'At', reason: 'not a valid datetime value' },
      { kind: 'rejected', blobName: 'types/p.csv', line: 7, column: 'Amount', reason: 'not a valid decimal value' },
      { kind: 'rejected', blobName: 'types/p.csv', line: 8, column: 'Id', reason: 'not a valid guid value' },
    ]);
  });

  it('converts and checks only the columns asked for: a bad value elsewhere never rejects the row', async () => {
    const typed = entity('Projected', [
      ['Id', 'guid'],
      ['Unused', 'datetime'],
      ['Points', 'int64'],
    ]);
    const id = 'A0E4B7D9-1C3F-4E62-8B5A-9D7C2E1F0A68';
    await putBlob(container, 'cols/p.csv', [`${id},not-a-date,7`, `${id},2025-03-10,seven`].join('\n') + '\n');
    const records = await readAll(container, typed, 'cols/p.csv', {}, { columns: [0, 2] });
    expect(records).toEqual([
      { kind: 'row', blobName: 'cols/p.csv', line: 1, values: [id.toLowerCase(), null, 7] },
      { kind: 'rejected', blobName: 'cols/p.csv', line: 2, column: 'Points', reason: 'not a valid int64 value' },
    ]);
    // Without the option every column is checked.
    expect(rows(await readAll(container, typed, 'cols/p.csv'))).toEqual([
      { kind: 'rejected', blobName: 'cols/p.csv', line: 1, column: 'Unused', reason: 'not a valid datetime value' },
      { kind: 'rejected', blobName: 'cols/p.csv', line: 2, column: 'Points', reason: 'not a valid int64 value' },
    ]);
  });
});
