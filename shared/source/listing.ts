// Exports without model.json or manifest: the newest complete run folder per table, columns from its header row.
import type { ContainerClient } from '@azure/storage-blob';
import { parse as parseCsvSync } from 'csv-parse/sync';
import { ColumnTyping, SampledType, sampleColumnTypes, throwIfUntyped, typeBareColumns } from './bareColumns';
import { DEFAULT_CSV_SETTINGS } from './csvSettings';
import { SourceError } from './errors';
import { addEntity, compareRunFolders, RUN_FOLDER_PATTERN, sortPartitions } from './runFolders';
import { CsvSettings, EntityDescriptor, ExportDescriptor } from './types';

/** A blob as a listing shows it: what completeness checks need. */
interface ListedBlob {
  name: string;
  etag: string;
  lastModified: Date | undefined;
  contentLength: number | undefined;
}

/** Bytes read from the first partition of a listing-only export to find its header row. */
const HEADER_PROBE_BYTES = 64 * 1024;

export async function discoverByListing(
  container: ContainerClient,
  folder: string,
  settle: { settleTimeInMs: number; now: () => number },
  typing: ColumnTyping | undefined,
): Promise<{ descriptor: Omit<ExportDescriptor, 'fingerprint'>; etags: Map<string, string> }> {
  const prefix = folder === '' ? '' : `${folder}/`;
  const tables = new Map<string, Map<string, ListedBlob[]>>();
  for await (const blob of container.listBlobsFlat({ prefix })) {
    const parts = blob.name.slice(prefix.length).split('/');
    if (parts.length !== 6 || !/\.csv$/i.test(parts[5]) || !RUN_FOLDER_PATTERN.test(parts.slice(1).join('/'))) continue;
    const runFolder = blob.name.slice(0, blob.name.lastIndexOf('/'));
    const runs = tables.get(parts[0]) ?? new Map<string, ListedBlob[]>();
    tables.set(parts[0], runs);
    const { etag, lastModified, contentLength } = blob.properties;
    runs.set(runFolder, [
      ...(runs.get(runFolder) ?? []),
      { name: blob.name, etag: etag ?? '', lastModified, contentLength },
    ]);
  }
  if (tables.size === 0) {
    throw new SourceError(
      folder || '(container root)',
      'no model.json, no *.manifest.cdm.json and no <Table>/<yyyy>/<mm>/<dd>/<HHMM>/*.csv run folders found',
    );
  }
  const warnings: string[] = [];
  const typingProblems: string[] = [];
  const entities = new Map<string, EntityDescriptor>();
  const etags = new Map<string, string>();
  for (const [table, runs] of [...tables.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const newest = newestCompleteRun(table, runs, settle, warnings);
    const files = runs.get(newest) ?? [];
    for (const file of files) etags.set(file.name, file.etag);
    const ordered = sortPartitions(files.map((f) => ({ blobName: f.name, csv: DEFAULT_CSV_SETTINGS })));
    const { columns: sampled, csv } = await headerFromFirstPartition(container, ordered[0].blobName);
    const columns = typeBareColumns(table, sampled, ordered[0].blobName, typing, typingProblems);
    const typed = columns.filter((c) => c.dataType !== 'string').map((c) => `${c.name} as ${c.dataType}`);
    warnings.push(
      `${table}: no model.json or manifest; columns taken from the header row of ${ordered[0].blobName} (delimiter ${JSON.stringify(csv.delimiter)}), ` +
        (typed.length > 0 ? `${typed.join(', ')} (columnTypes), the others read as text` : 'all read as text'),
    );
    addEntity(entities, { name: table, columns, partitions: ordered.map((p) => ({ ...p, csv })) }, folder);
  }
  throwIfUntyped(folder || '(container root)', typingProblems);
  return { descriptor: { metadataBlob: folder, format: 'listing', entities, warnings }, etags };
}

/**
 * The newest run folder that is complete: none of its files changed for the settle time, and none is empty (a
 * listed partition has at least its header row). Newer folders are skipped with a warning; with none complete, a
 * SourceError: the export is being written, and nothing is read (so nothing is removed).
 */
function newestCompleteRun(
  table: string,
  runs: Map<string, ListedBlob[]>,
  settle: { settleTimeInMs: number; now: () => number },
  warnings: string[],
): string {
  const now = settle.now();
  const newestFirst = [...runs.keys()].sort(compareRunFolders).reverse();
  for (const run of newestFirst) {
    const files = runs.get(run) ?? [];
    const empty = files.find((file) => file.contentLength === 0);
    const changedAt = Math.max(...files.map((file) => file.lastModified?.getTime() ?? now));
    const problem = empty
      ? `${empty.name} is empty (0 bytes, not even a header row)`
      : now - changedAt < settle.settleTimeInMs
        ? `a file changed ${Math.max(0, Math.round((now - changedAt) / 1000))} s ago, less than the settle time ` +
          `(SOURCE_SETTLE_SECONDS=${settle.settleTimeInMs / 1000})`
        : undefined;
    if (problem === undefined) return run;
    if (run === newestFirst.at(-1)) {
      throw new SourceError(run, `no complete run folder of ${table}: ${problem}; it is read once CI has finished it`);
    }
    warnings.push(`${table}: run folder ${run} is not complete (${problem}); reading an older one`);
  }
  return '';
}

/**
 * Reads the first line of a partition as column names (the delimiter is the most frequent of `,` `;` tab `|`), and
 * what the values of the rows after it look like.
 */
async function headerFromFirstPartition(
  container: ContainerClient,
  blobName: string,
): Promise<{ columns: Array<{ name: string; sampled: SampledType | undefined }>; csv: CsvSettings }> {
  const response = await container.getBlobClient(blobName).download(0, HEADER_PROBE_BYTES);
  const chunks: Buffer[] = [];
  for await (const chunk of response.readableStreamBody ?? []) chunks.push(chunk as Buffer);
  const probe = Buffer.concat(chunks);
  let text = probe.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const firstLine = text.split(/\r?\n|\r/, 1)[0];
  const counts = [',', ';', '\t', '|'].map((d) => ({ d, n: firstLine.split(d).length - 1 }));
  const delimiter = counts.reduce((best, c) => (c.n > best.n ? c : best)).d;
  let names: string[] | undefined;
  try {
    [names] = parseCsvSync(firstLine, { delimiter, relax_quotes: true }) as string[][];
  } catch {
    // csv-parse messages quote the offending text, which may be data: not passed on.
    names = undefined;
  }
  // Without metadata a header row is required; a data row here would turn personal data into column names.
  const problem = (names ?? []).findIndex((n) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(n.trim()));
  if (!names || names.length === 0 || problem !== -1) {
    throw new SourceError(
      blobName,
      `listing-only export: the first line is not a header row of column names (${names ? `cell ${problem + 1}` : 'it cannot be parsed'}); add model.json or export with headers`,
      1,
    );
  }
  const afterHeader = text.slice(firstLine.length).replace(/^\r?\n|^\r/, '');
  const sampled = sampleColumnTypes(afterHeader, delimiter, names.length, probe.length >= HEADER_PROBE_BYTES);
  return {
    columns: names.map((n, index) => ({ name: n.trim(), sampled: sampled[index] })),
    csv: { ...DEFAULT_CSV_SETTINGS, delimiter, columnHeaders: true },
  };
}
