import {
  GeneratedProfile,
  ProfileOptions,
  ResolvedProfileOptions,
  crmContactId,
  isMemberAt,
  profileAt,
  resolveProfileOptions,
  rowRepeats,
  styleDraw,
} from './profiles';
import { ExportSink } from './sinks';

export interface GeneratorOptions extends ProfileOptions {
  /** Which run to write (0-based); each run is a full snapshot folder `<Table>/<yyyy>/<mm>/<dd>/<HHMM>/`. */
  run?: number;
  /** Rows per CSV file (`<Table>_1.csv`, `_2.csv`...), default 250,000. */
  rowsPerPartition?: number;
  metadata?: 'model.json' | 'manifest' | 'listing';
  /** Header row in every file; default false with metadata (the CDM default), true for a listing-only export. */
  headers?: boolean;
  delimiter?: string;
  bom?: boolean;
  locations?: 'relative' | 'absolute-blob' | 'absolute-dfs' | 'absolute-443-snapshot';
  /** Quotes, embedded delimiters and line breaks, non-ASCII, empty vs `""`, True/False/1/0, Z-less datetimes. */
  edgeCases?: boolean;
  /** model.json without `fileFormatSettings` (CDM defaults apply; with `headers` the reader must sniff the header). */
  omitFileFormatSettings?: boolean;
  /** model.json with `tables` instead of `entities` (a documented doc bug). */
  tablesKey?: boolean;
  /** Storage account and container named in absolute locations; the container defaults to the sink's. */
  accountName?: string;
  containerName?: string;
}

export const COLUMNS: ReadonlyArray<{ name: string; dataType: string }> = [
  { name: 'CustomerId', dataType: 'guid' },
  { name: 'FirstName', dataType: 'string' },
  { name: 'LastName', dataType: 'string' },
  { name: 'FullName', dataType: 'string' },
  { name: 'PrimaryEmail', dataType: 'string' },
  { name: 'Phone', dataType: 'string' },
  { name: 'City', dataType: 'string' },
  { name: 'Country', dataType: 'string' },
  { name: 'DateOfBirth', dataType: 'dateTime' },
  { name: 'LifetimeValue', dataType: 'decimal' },
  { name: 'LoyaltyPoints', dataType: 'int64' },
  { name: 'EmailOptIn', dataType: 'boolean' },
  { name: 'BrazeCustomerId', dataType: 'string' },
  { name: 'PreviousCustomerId', dataType: 'string' },
  { name: 'Crm_Contacts_ContactId', dataType: 'guid' },
];

const FIRST_RUN_UTC = Date.UTC(2025, 2, 10, 2, 0);
const DAY_IN_MS = 86_400_000;
const CHUNK_IN_CHARS = 256 * 1024;
const DEFAULT_ROWS_PER_PARTITION = 250_000;

/** `<yyyy>/<mm>/<dd>/<HHMM>` of a run: 2025-03-10 02:00 UTC plus one day per run, never the wall clock. */
export function runFolderOf(run: number): string {
  const at = new Date(FIRST_RUN_UTC + run * DAY_IN_MS);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${at.getUTCFullYear()}/${two(at.getUTCMonth() + 1)}/${two(at.getUTCDate())}/${two(at.getUTCHours())}${two(at.getUTCMinutes())}`;
}

interface Writer {
  options: ResolvedProfileOptions;
  run: number;
  delimiter: string;
  edgeCases: boolean;
  needsQuotes: RegExp;
}

function cell(writer: Writer, value: string | null, draw: number): string {
  if (value === null || value === '') return writer.edgeCases && draw % 3 === 0 ? '""' : '';
  if (writer.needsQuotes.test(value)) return `"${value.replace(/"/g, '""')}"`;
  return writer.edgeCases && draw % 2 === 0 ? `"${value}"` : value;
}

function booleanText(value: boolean, edgeCases: boolean, draw: number): string {
  if (!edgeCases) return value ? 'true' : 'false';
  const spellings = value ? ['true', 'True', '1', 'TRUE'] : ['false', 'False', '0', 'FALSE'];
  return spellings[(draw >>> 4) % spellings.length];
}

function csvRow(writer: Writer, index: number, profile: GeneratedProfile): string {
  const draw = writer.edgeCases ? styleDraw(writer.options, index, writer.run) : 0;
  const birth =
    profile.dateOfBirth === null
      ? null
      : writer.edgeCases && draw % 5 === 0
        ? `${profile.dateOfBirth}T00:00:00`
        : `${profile.dateOfBirth}T00:00:00Z`;
  const d = writer.delimiter;
  return (
    profile.customerId +
    d +
    cell(writer, profile.firstName, draw) +
    d +
    cell(writer, profile.lastName, draw >>> 1) +
    d +
    cell(writer, profile.fullName, draw >>> 2) +
    d +
    cell(writer, profile.email, draw >>> 3) +
    d +
    cell(writer, profile.phone, draw >>> 5) +
    d +
    cell(writer, profile.city, draw >>> 6) +
    d +
    cell(writer, profile.country, draw >>> 7) +
    d +
    (birth ?? '') +
    d +
    profile.lifetimeValue.toFixed(2) +
    d +
    profile.loyaltyPoints +
    d +
    booleanText(profile.emailOptIn, writer.edgeCases, draw) +
    d +
    cell(writer, profile.brazeCustomerId, draw >>> 8) +
    d +
    cell(writer, profile.previousCustomerIds.join(';') || null, draw >>> 9) +
    d +
    crmContactId(writer.options, index) +
    '\r\n'
  );
}

/** The rows of one segment table at the writer's run, in profile order, repeated rows included. */
function* segmentRows(writer: Writer, segmentIndex: number): Generator<string> {
  const { options, run } = writer;
  for (let index = 0; index < options.profiles; index++) {
    if (!isMemberAt(options, index, run, segmentIndex)) continue;
    const profile = profileAt(options, index, run, writer.edgeCases);
    const row = csvRow(writer, index, profile);
    for (let copy = rowRepeats(options, index, run); copy > 0; copy--) yield row;
  }
}

/** Pulls up to `limit` rows from `rows` as text chunks of about CHUNK_IN_CHARS; counts them into `counter`. */
async function* partitionChunks(
  rows: Iterator<string>,
  first: string,
  limit: number,
  prefix: string,
  counter: { rows: number },
): AsyncGenerator<string> {
  let chunk = prefix + first;
  counter.rows++;
  for (let written = 1; written < limit; written++) {
    const next = rows.next();
    if (next.done) break;
    chunk += next.value;
    counter.rows++;
    if (chunk.length >= CHUNK_IN_CHARS) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk.length > 0) yield chunk;
}

function partitionLocation(
  options: GeneratorOptions,
  containerName: string,
  exportPath: string,
  relative: string,
): string {
  const account = options.accountName ?? 'contosoci';
  const encodedPath = `${containerName}/${exportPath}/${relative}`.split('/').map(encodeURIComponent).join('/');
  switch (options.locations ?? 'relative') {
    case 'relative':
      return relative;
    case 'absolute-blob':
      return `https://${account}.blob.core.windows.net/${encodedPath}`;
    case 'absolute-dfs':
      return `https://${account}.dfs.core.windows.net/${encodedPath}`;
    case 'absolute-443-snapshot':
      return `https://${account}.blob.core.windows.net:443/${encodedPath}?snapshot=2025-03-11T02%3A24%3A40.0000000Z`;
  }
}

/**
 * Writes run `options.run` of a synthetic CI export under `exportPath`: one folder per segment table
 * (`<Table>/<yyyy>/<mm>/<dd>/<HHMM>/<Table>_<n>.csv`) and, unless listing-only, `model.json` or a manifest with
 * entity documents listing that run. Streams: memory stays flat whatever the profile count.
 */
export async function writeExport(
  sink: ExportSink,
  exportPath: string,
  options: GeneratorOptions,
): Promise<{ runFolder: string; blobs: string[]; rows: Record<string, number> }> {
  const resolved = resolveProfileOptions(options);
  const run = options.run ?? 0;
  const metadata = options.metadata ?? 'model.json';
  const headers = options.headers ?? metadata === 'listing';
  const delimiter = options.delimiter ?? ',';
  const rowsPerPartition = options.rowsPerPartition ?? DEFAULT_ROWS_PER_PARTITION;
  if (!Number.isInteger(rowsPerPartition) || rowsPerPartition < 1)
    throw new Error('rowsPerPartition: expected an integer >= 1');
  const folder = exportPath
    .split('/')
    .filter((s) => s !== '')
    .join('/');
  const runFolder = runFolderOf(run);
  const writer: Writer = {
    options: resolved,
    run,
    delimiter,
    edgeCases: options.edgeCases ?? false,
    needsQuotes: new RegExp(`["\\r\\n]|${delimiter.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
  };
  const headerLine = headers ? COLUMNS.map((c) => c.name).join(delimiter) + '\r\n' : '';
  const bom = options.bom ? '\uFEFF' : '';

  const blobs: string[] = [];
  const rows: Record<string, number> = {};
  const partitionsByTable = new Map<string, string[]>();
  for (const [segmentIndex, segment] of resolved.segments.entries()) {
    const relatives: string[] = [];
    const counter = { rows: 0 };
    const iterator = segmentRows(writer, segmentIndex);
    let first = iterator.next();
    // An empty segment still gets one (empty) file: a missing file means a broken export, not an empty segment.
    for (let part = 1; part === 1 || !first.done; part++) {
      const relative = `${segment.table}/${runFolder}/${segment.table}_${part}.csv`;
      const name = `${folder}/${relative}`;
      if (first.done) await sink.writeBlob(name, bom + headerLine);
      else
        await sink.writeBlob(name, partitionChunks(iterator, first.value, rowsPerPartition, bom + headerLine, counter));
      relatives.push(relative);
      blobs.push(name);
      first = iterator.next();
    }
    rows[segment.table] = counter.rows;
    partitionsByTable.set(segment.table, relatives);
  }

  const containerName = options.containerName ?? sink.containerName ?? 'ci-exports';
  const csvSettings = {
    columnHeaders: headers,
    delimiter,
    quoteStyle: 'QuoteStyle.Csv',
    csvStyle: 'CsvStyle.QuoteAlways',
    encoding: 'UTF-8',
  };
  const modifiedTime = new Date(FIRST_RUN_UTC + run * DAY_IN_MS + 25 * 60_000).toISOString();
  if (metadata === 'model.json') {
    const entities = resolved.segments.map((segment) => ({
      $type: 'LocalEntity',
      name: segment.table,
      attributes: COLUMNS.map((c) => ({ name: c.name, dataType: c.dataType })),
      partitions: (partitionsByTable.get(segment.table) ?? []).map((relative) => ({
        name: relative
          .split('/')
          .pop()
          ?.replace(/\.csv$/, ''),
        refreshTime: modifiedTime,
        location: partitionLocation(options, containerName, folder, relative),
        ...(options.omitFileFormatSettings
          ? {}
          : { fileFormatSettings: { $type: 'CsvFormatSettings', ...csvSettings } }),
      })),
    }));
    const model = {
      name: folder.split('/').pop() ?? 'Export',
      version: '1.0',
      culture: 'en-US',
      modifiedTime,
      [options.tablesKey ? 'tables' : 'entities']: entities,
    };
    const name = `${folder}/model.json`;
    await sink.writeBlob(name, JSON.stringify(model, null, 2));
    blobs.push(name);
  } else if (metadata === 'manifest') {
    const traitArguments = Object.entries(csvSettings).map(([key, value]) => ({ name: key, value: String(value) }));
    const manifest = {
      jsonSchemaSemanticVersion: '1.0.0',
      imports: [{ corpusPath: 'cdm:/foundations.cdm.json' }],
      manifestName: folder.split('/').pop() ?? 'Export',
      lastFileModifiedTime: modifiedTime,
      entities: resolved.segments.map((segment) => ({
        type: 'LocalEntity',
        entityName: segment.table,
        entityPath: `${segment.table}.cdm.json/${segment.table}`,
        dataPartitions: (partitionsByTable.get(segment.table) ?? []).map((relative) => ({
          location: partitionLocation(options, containerName, folder, relative),
          exhibitsTraits: [{ traitReference: 'is.partition.format.CSV', arguments: traitArguments }],
          lastFileModifiedTime: modifiedTime,
        })),
      })),
      relationships: [],
    };
    for (const segment of resolved.segments) {
      const document = {
        jsonSchemaSemanticVersion: '1.0.0',
        imports: [{ corpusPath: 'cdm:/foundations.cdm.json' }],
        definitions: [
          {
            entityName: segment.table,
            hasAttributes: COLUMNS.map((c) => ({
              name: c.name,
              dataFormat: c.dataType[0].toUpperCase() + c.dataType.slice(1),
            })),
          },
        ],
      };
      const name = `${folder}/${segment.table}.cdm.json`;
      await sink.writeBlob(name, JSON.stringify(document, null, 2));
      blobs.push(name);
    }
    const name = `${folder}/default.manifest.cdm.json`;
    await sink.writeBlob(name, JSON.stringify(manifest, null, 2));
    blobs.push(name);
  }
  return { runFolder, blobs, rows };
}

/** The export config that maps this generator's columns and segments (design §5). */
export function sampleExportConfig(options: GeneratorOptions): object {
  const { segments } = resolveProfileOptions(options);
  return {
    identity: { externalId: 'BrazeCustomerId', email: 'PrimaryEmail', whenExternalIdMissing: 'alias' },
    segments: segments.map((s) => ({ table: s.table, brazeSegmentApiId: s.brazeSegmentApiId })),
    attributes: {
      FirstName: 'first_name',
      LastName: 'last_name',
      City: 'home_city',
      Country: 'country',
      DateOfBirth: 'dob',
      LifetimeValue: 'ci_lifetime_value',
      LoyaltyPoints: 'ci_loyalty_points',
      EmailOptIn: 'ci_email_opt_in',
    },
  };
}
