/**
 * CPU of the pipeline's CSV parser (FastCsvParser with raw rows) on a 1,002-row file whose second row holds one large
 * quoted value full of line breaks, read in 64 KiB chunks as a blob download delivers them. Shows that the reader is
 * linear in the input whatever a cell holds (issue 23, item 3), and that a value over the cell limit is rejected
 * without being kept. Usage: node dist/tools/bench/cellCpu.js [cell sizes in KiB, default 62,125,250,375,10240]
 */
import { Readable } from 'node:stream';
import { FastCsvParser } from '../../shared/source/fastCsv';

const CHUNK_SIZE_IN_BYTES = 64 * 1024;
const LINE_BREAK_EVERY_IN_BYTES = 16;
const ROWS_AFTER = 1_000;

function fileWithCell(cellKiB: number): Buffer[] {
  const line = 'x'.repeat(LINE_BREAK_EVERY_IN_BYTES - 1) + '\n';
  const cell = line.repeat(Math.ceil((cellKiB * 1024) / LINE_BREAK_EVERY_IN_BYTES)).slice(0, cellKiB * 1024);
  const rows = ['1,Ann,a@example.com\n', `2,"${cell}",b@example.com\n`];
  for (let i = 3; i < ROWS_AFTER + 3; i++) rows.push(`${i},Name${i},u${i}@example.com\n`);
  const bytes = Buffer.from(rows.join(''), 'utf8');
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += CHUNK_SIZE_IN_BYTES)
    chunks.push(bytes.subarray(at, at + CHUNK_SIZE_IN_BYTES));
  return chunks;
}

async function measure(cellKiB: number) {
  const chunks = fileWithCell(cellKiB);
  const parser = new FastCsvParser(',', 'Seg/Seg_1.csv', { rawRowCellCount: 3 });
  let records = 0;
  let oversized = 0;
  const cpuBefore = process.cpuUsage();
  const done = new Promise<void>((resolve, reject) => {
    parser.on('data', (items: Array<{ rowCount?: number; oversizedCell?: unknown }>) => {
      for (const item of items) {
        if (item.rowCount !== undefined) records += item.rowCount;
        else {
          records++;
          if (item.oversizedCell !== undefined) oversized++;
        }
      }
    });
    parser.on('end', resolve);
    parser.on('error', reject);
  });
  Readable.from(chunks).pipe(parser);
  await done;
  const cpu = process.cpuUsage(cpuBefore);
  return { cellKiB, records, oversized, cpuMs: Math.round((cpu.user + cpu.system) / 1000) };
}

async function main() {
  const sizes = (process.argv[2] ?? '62,125,250,375,10240').split(',').map(Number);
  for (const size of sizes) console.log(JSON.stringify(await measure(size)));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
