import { createHash } from 'node:crypto';
import type { ContainerClient } from '@azure/storage-blob';
import { storageStatus } from '../errors';
import type { Logger } from '../telemetry/logger';
import type { ColumnTyping } from './bareColumns';
import { RawCsvSettings, parseCsvSettings } from './csvSettings';
import { normalizeDataType } from './dataTypes';
import { SourceError } from './errors';
import { discoverByListing } from './listing';
import { folderOf, joinBlobPath, resolveLocation } from './locations';
import { addEntity, compareRunFolders, RUN_FOLDER_PATTERN } from './runFolders';
import { ColumnSchema, EntityDescriptor, ExportDescriptor, PartitionRef } from './types';

export interface DiscoverOptions {
  logger?: Logger;
  /**
   * Listing mode: a run folder is read only once none of its files changed for this long (CI writes a folder's files
   * one by one, and a listing has no metadata written last to say it is done). Default 0.
   */
  settleTimeInMs?: number;
  /** The clock the settle time is measured with. Default `Date.now`. */
  now?: () => number;
  /**
   * Listing mode: column types from the export config. Without it every column reads as text; with it a mapped
   * column that looks numeric or boolean and has no type is refused (a ConfigError naming table, column and key).
   */
  columnTyping?: ColumnTyping;
}

const MODEL_JSON = 'model.json';
const DEFAULT_MANIFEST = 'default.manifest.cdm.json';
const MANIFEST_SUFFIX = '.manifest.cdm.json';
const CSV_TRAIT = 'is.partition.format.csv';

type Json = Record<string, unknown>;

/**
 * Finds what the export at `exportPath` (a folder in `container`) holds: `model.json` first, else a
 * `*.manifest.cdm.json` (default.manifest.cdm.json first) with its entity documents, else the newest
 * `<Table>/<yyyy>/<mm>/<dd>/<HHMM>/` run folder per table (columns from a header row). Every partition blob is
 * checked to exist; the fingerprint hashes their names and ETags.
 */
export async function discoverExport(
  container: ContainerClient,
  exportPath: string,
  options: DiscoverOptions = {},
): Promise<ExportDescriptor> {
  const folder = exportPath
    .split('/')
    .filter((s) => s !== '')
    .join('/');
  const filesInFolder = await listFolderFiles(container, folder);
  const modelJson = blobPath(folder, MODEL_JSON);
  const manifests = [...filesInFolder.keys()]
    .filter((name) => name.toLowerCase().endsWith(MANIFEST_SUFFIX))
    .sort(
      (a, b) =>
        Number(b.endsWith(`/${DEFAULT_MANIFEST}`) || b === DEFAULT_MANIFEST) -
          Number(a.endsWith(`/${DEFAULT_MANIFEST}`) || a === DEFAULT_MANIFEST) || a.localeCompare(b),
    );

  let descriptor: Omit<ExportDescriptor, 'fingerprint'>;
  let etags: Map<string, string>;
  if (filesInFolder.has(modelJson)) {
    descriptor = await readModelJson(container, modelJson);
    etags = await checkPartitions(container, descriptor, filesInFolder.get(modelJson));
  } else if (manifests.length > 0) {
    descriptor = await readManifest(container, manifests[0]);
    etags = await checkPartitions(container, descriptor, filesInFolder.get(manifests[0]));
  } else {
    const settle = { settleTimeInMs: options.settleTimeInMs ?? 0, now: options.now ?? Date.now };
    ({ descriptor, etags } = await discoverByListing(container, folder, settle, options.columnTyping));
  }
  const export_: ExportDescriptor = { ...descriptor, fingerprint: fingerprintOf(etags) };
  const partitions = [...export_.entities.values()].reduce((sum, e) => sum + e.partitions.length, 0);
  options.logger?.log('info', 'CI export discovered', {
    metadataBlob: export_.metadataBlob,
    format: export_.format,
    entities: export_.entities.size,
    partitions,
    warnings: export_.warnings.length,
  });
  for (const warning of export_.warnings) options.logger?.log('warn', warning, { metadataBlob: export_.metadataBlob });
  return export_;
}

function blobPath(folder: string, name: string): string {
  return folder === '' ? name : `${folder}/${name}`;
}

/** The folder's files and when each was last written. */
async function listFolderFiles(container: ContainerClient, folder: string): Promise<Map<string, Date | undefined>> {
  const files = new Map<string, Date | undefined>();
  const prefix = folder === '' ? '' : `${folder}/`;
  for await (const item of container.listBlobsByHierarchy('/', { prefix })) {
    if (item.kind === 'blob') files.set(item.name, item.properties.lastModified);
  }
  return files;
}

async function downloadJson(container: ContainerClient, blobName: string, role: string): Promise<Json> {
  let text: string;
  try {
    text = (await container.getBlobClient(blobName).downloadToBuffer()).toString('utf8');
  } catch (error) {
    if (storageStatus(error) === 404) throw new SourceError(blobName, `${role} does not exist`);
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (error) {
    throw new SourceError(blobName, `${role} is not valid JSON (${(error as Error).message})`);
  }
  if (!isObject(parsed)) throw new SourceError(blobName, `${role} is not a JSON object`);
  return parsed;
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function columnsFrom(
  attributes: unknown,
  typeKeys: readonly string[],
  metadataBlob: string,
  entityName: string,
  warnings: string[],
): ColumnSchema[] {
  if (!Array.isArray(attributes) || attributes.length === 0) {
    throw new SourceError(metadataBlob, `entity ${entityName} has no attributes`);
  }
  return attributes.map((attribute, index) => {
    if (!isObject(attribute) || typeof attribute.name !== 'string' || attribute.name === '') {
      throw new SourceError(
        metadataBlob,
        `entity ${entityName} attribute ${index + 1} has no name (attribute groups and references are not supported)`,
      );
    }
    const rawType = typeKeys.map((key) => attribute[key]).find((value) => value !== undefined);
    const dataType = normalizeDataType(rawType);
    if (dataType === 'unknown') {
      warnings.push(
        `${entityName}.${attribute.name}: data type ${JSON.stringify(rawType ?? null)} is not recognised; read as text`,
      );
    }
    return { name: attribute.name, dataType };
  });
}

async function readModelJson(
  container: ContainerClient,
  metadataBlob: string,
): Promise<Omit<ExportDescriptor, 'fingerprint'>> {
  const root = await downloadJson(container, metadataBlob, 'model.json');
  const list = root.entities ?? root.tables;
  if (!Array.isArray(list)) throw new SourceError(metadataBlob, 'model.json has no "entities" array');
  const warnings: string[] = [];
  const entities = new Map<string, EntityDescriptor>();
  const baseFolder = folderOf(metadataBlob);
  for (const [index, entity] of list.entries()) {
    if (!isObject(entity)) throw new SourceError(metadataBlob, `entity ${index + 1} is not an object`);
    const name = typeof entity.name === 'string' ? entity.name : '';
    if (name === '') throw new SourceError(metadataBlob, `entity ${index + 1} has no name`);
    const type = entity['$type'];
    if (typeof type === 'string' && type.toLowerCase() !== 'localentity') {
      warnings.push(`entity ${name} is a ${type}, not a LocalEntity; ignored`);
      continue;
    }
    const columns = columnsFrom(entity.attributes, ['dataType'], metadataBlob, name, warnings);
    const partitions: PartitionRef[] = [];
    const rawPartitions = entity.partitions ?? [];
    if (!Array.isArray(rawPartitions))
      throw new SourceError(metadataBlob, `entity ${name}: "partitions" is not an array`);
    for (const partition of rawPartitions) {
      // A partition without a location describes the schema only.
      if (!isObject(partition) || partition.location === null || partition.location === undefined) continue;
      if (typeof partition.location !== 'string')
        throw new SourceError(metadataBlob, `entity ${name}: a partition location is not a string`);
      const blobName = resolveLocation(partition.location, baseFolder, container.containerName, metadataBlob);
      const settings = isObject(partition.fileFormatSettings) ? partition.fileFormatSettings : undefined;
      partitions.push({ blobName, csv: parseCsvSettings(settings, metadataBlob, blobName) });
    }
    if (partitions.length === 0) warnings.push(`entity ${name} lists no data partitions`);
    addEntity(entities, { name, columns, partitions }, metadataBlob);
  }
  return { metadataBlob, format: 'model.json', entities, warnings };
}

/** `is.partition.format.CSV` trait arguments of a manifest partition or pattern, as raw settings. */
function csvTraitArguments(traits: unknown, metadataBlob: string, where: string): RawCsvSettings | undefined {
  if (!Array.isArray(traits)) return undefined;
  for (const trait of traits) {
    const reference = typeof trait === 'string' ? trait : isObject(trait) ? trait.traitReference : undefined;
    if (typeof reference !== 'string') continue;
    const lower = reference.toLowerCase();
    if (lower.startsWith('is.partition.format.') && lower !== CSV_TRAIT) {
      throw new SourceError(metadataBlob, `${where}: partition format ${reference} is not supported (CSV only)`);
    }
    if (lower !== CSV_TRAIT || !isObject(trait) || !Array.isArray(trait.arguments)) continue;
    const settings: RawCsvSettings = {};
    for (const argument of trait.arguments) {
      if (isObject(argument) && typeof argument.name === 'string') settings[argument.name] = argument.value;
    }
    return settings;
  }
  return undefined;
}

async function readManifest(
  container: ContainerClient,
  metadataBlob: string,
): Promise<Omit<ExportDescriptor, 'fingerprint'>> {
  const root = await downloadJson(container, metadataBlob, 'manifest');
  if (!Array.isArray(root.entities)) throw new SourceError(metadataBlob, 'manifest has no "entities" array');
  const warnings: string[] = [];
  const entities = new Map<string, EntityDescriptor>();
  const baseFolder = folderOf(metadataBlob);
  const documents = new Map<string, Json>();
  for (const [index, declaration] of root.entities.entries()) {
    if (!isObject(declaration)) throw new SourceError(metadataBlob, `entity ${index + 1} is not an object`);
    const name = typeof declaration.entityName === 'string' ? declaration.entityName : '';
    if (name === '') throw new SourceError(metadataBlob, `entity ${index + 1} has no entityName`);
    const type = declaration.type ?? declaration['$type'];
    if (typeof type === 'string' && type.toLowerCase() !== 'localentity') {
      warnings.push(`entity ${name} is a ${type}, not a LocalEntity; ignored`);
      continue;
    }
    const columns = await entityColumns(container, declaration, name, baseFolder, metadataBlob, documents, warnings);
    const explicit: PartitionRef[] = [];
    for (const partition of Array.isArray(declaration.dataPartitions) ? declaration.dataPartitions : []) {
      if (!isObject(partition) || typeof partition.location !== 'string') continue;
      const blobName = resolveLocation(partition.location, baseFolder, container.containerName, metadataBlob);
      const traits = partition.exhibitsTraits ?? partition.arguments;
      const raw = csvTraitArguments(traits, metadataBlob, `entity ${name} partition ${blobName}`);
      explicit.push({ blobName, csv: parseCsvSettings(raw, metadataBlob, blobName) });
    }
    const fromPatterns = await expandPatterns(container, declaration, name, baseFolder, metadataBlob, warnings);
    const explicitNames = new Set(explicit.map((p) => p.blobName));
    const partitions = [...explicit, ...fromPatterns.filter((p) => !explicitNames.has(p.blobName))];
    if (partitions.length === 0) warnings.push(`entity ${name} lists no data partitions`);
    addEntity(entities, { name, columns, partitions }, metadataBlob);
  }
  return { metadataBlob, format: 'manifest', entities, warnings };
}

async function entityColumns(
  container: ContainerClient,
  declaration: Json,
  name: string,
  baseFolder: string,
  metadataBlob: string,
  documents: Map<string, Json>,
  warnings: string[],
): Promise<ColumnSchema[]> {
  const entityPath = declaration.entityPath ?? declaration.entitySchema;
  const match = typeof entityPath === 'string' ? /^(.+\.cdm\.json)\/([^/]+)$/i.exec(entityPath) : null;
  if (!match) {
    throw new SourceError(metadataBlob, `entity ${name}: entityPath must look like "<document>.cdm.json/<Entity>"`);
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(match[1])) {
    throw new SourceError(metadataBlob, `entity ${name}: entity document ${match[1]} is not in the export folder`);
  }
  const documentBlob = joinBlobPath(baseFolder, match[1], metadataBlob);
  let document = documents.get(documentBlob);
  if (!document) {
    document = await downloadJson(container, documentBlob, `entity document of ${name}`);
    documents.set(documentBlob, document);
  }
  const definitions = Array.isArray(document.definitions) ? document.definitions.filter(isObject) : [];
  const definition =
    definitions.find((d) => d.entityName === match[2]) ??
    definitions.find((d) => typeof d.entityName === 'string' && d.entityName.toLowerCase() === match[2].toLowerCase());
  if (!definition) throw new SourceError(documentBlob, `no definition of entity ${match[2]}`);
  return columnsFrom(definition.hasAttributes, ['dataFormat', 'dataType'], documentBlob, name, warnings);
}

// Glob to regex: "**" any path (also none before a slash), "*" within one folder, "?" one character.
function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const char = glob[i];
    if (char === '*' && glob[i + 1] === '*' && glob[i + 2] === '/') {
      source += '(?:.*/)?';
      i += 2;
    } else if (char === '*' && glob[i + 1] === '*') {
      source += '.*';
      i++;
    } else if (char === '*') source += '[^/]*';
    else if (char === '?') source += '[^/]';
    else source += char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

async function expandPatterns(
  container: ContainerClient,
  declaration: Json,
  name: string,
  baseFolder: string,
  metadataBlob: string,
  warnings: string[],
): Promise<PartitionRef[]> {
  const patterns = Array.isArray(declaration.dataPartitionPatterns)
    ? declaration.dataPartitionPatterns.filter(isObject)
    : [];
  const found = new Map<string, PartitionRef>();
  for (const pattern of patterns) {
    const root = typeof pattern.rootLocation === 'string' ? pattern.rootLocation : '';
    const rootFolder = resolveLocation(root === '' ? '.' : root, baseFolder, container.containerName, metadataBlob);
    let matcher: RegExp;
    try {
      if (typeof pattern.regularExpression === 'string') matcher = new RegExp(`^(?:${pattern.regularExpression})$`);
      else if (typeof pattern.globPattern === 'string') matcher = globToRegExp(pattern.globPattern);
      else throw new Error('no regularExpression or globPattern');
    } catch (error) {
      throw new SourceError(metadataBlob, `entity ${name} partition pattern: ${(error as Error).message}`);
    }
    const raw = csvTraitArguments(pattern.exhibitsTraits, metadataBlob, `entity ${name} partition pattern`);
    const prefix = rootFolder === '' ? '' : `${rootFolder}/`;
    const matches: string[] = [];
    for await (const blob of container.listBlobsFlat({ prefix })) {
      const relative = blob.name.slice(prefix.length);
      if (matcher.test(relative) || matcher.test(`/${relative}`)) matches.push(blob.name);
    }
    // The last pattern wins when two match the same file.
    for (const blobName of newestRunOnly(matches, `entity ${name} partition pattern`, warnings)) {
      found.set(blobName, { blobName, csv: parseCsvSettings(raw, metadataBlob, blobName) });
    }
  }
  return [...found.values()];
}

/** A pattern spanning several CI run folders would read every snapshot; keep the newest run's files only. */
function newestRunOnly(blobNames: string[], where: string, warnings: string[]): string[] {
  const runs = new Map<string, string[]>();
  for (const blobName of blobNames) {
    const run = RUN_FOLDER_PATTERN.test(blobName) ? folderOf(blobName) : '';
    runs.set(run, [...(runs.get(run) ?? []), blobName]);
  }
  if (runs.size <= 1 || runs.has('')) return blobNames;
  const newest = [...runs.keys()].sort(compareRunFolders).at(-1) ?? '';
  warnings.push(`${where}: matches ${runs.size} run folders; reading only the newest, ${newest}`);
  return runs.get(newest) ?? [];
}

/**
 * CI rewrites its metadata on each run; metadata pointing at an older run folder than the newest one on storage
 * suggests a failed or partial export. Reported, not fatal: the metadata still describes a complete snapshot.
 */
async function warnIfStale(
  container: ContainerClient,
  descriptor: Omit<ExportDescriptor, 'fingerprint'>,
): Promise<void> {
  const listedRunByTableFolder = new Map<string, string>();
  for (const entity of descriptor.entities.values()) {
    for (const partition of entity.partitions) {
      if (!RUN_FOLDER_PATTERN.test(partition.blobName)) continue;
      const runFolder = folderOf(partition.blobName);
      const tableFolder = runFolder.split('/').slice(0, -4).join('/');
      const known = listedRunByTableFolder.get(tableFolder);
      if (known === undefined || compareRunFolders(runFolder, known) > 0)
        listedRunByTableFolder.set(tableFolder, runFolder);
    }
  }
  // One listing per table folder, all at once; the warnings keep the folders' order.
  const newestRuns = await Promise.all(
    [...listedRunByTableFolder].map(async ([tableFolder, listedRun]) => {
      let newest = listedRun;
      const prefix = tableFolder === '' ? '' : `${tableFolder}/`;
      for await (const blob of container.listBlobsFlat({ prefix })) {
        const runFolder = folderOf(blob.name);
        const relative = blob.name.slice(prefix.length);
        if (/^\d{4}\/\d{1,2}\/\d{1,2}\/\d{4}\/[^/]+$/.test(relative) && compareRunFolders(runFolder, newest) > 0) {
          newest = runFolder;
        }
      }
      return { listedRun, newest };
    }),
  );
  for (const { listedRun, newest } of newestRuns) {
    if (newest !== listedRun) {
      descriptor.warnings.push(
        `${descriptor.metadataBlob} lists run ${listedRun} but a newer run folder ${newest} exists; the metadata may be stale`,
      );
    }
  }
}

/**
 * The partitions' ETags (every listed partition must exist, written before the metadata), and a warning when the
 * metadata looks stale.
 */
async function checkPartitions(
  container: ContainerClient,
  descriptor: Omit<ExportDescriptor, 'fingerprint'>,
  metadataModified: Date | undefined,
): Promise<Map<string, string>> {
  const [etags] = await Promise.all([
    partitionEtags(container, descriptor, metadataModified),
    warnIfStale(container, descriptor),
  ]);
  return etags;
}

async function partitionEtags(
  container: ContainerClient,
  descriptor: Omit<ExportDescriptor, 'fingerprint'>,
  metadataModified: Date | undefined,
): Promise<Map<string, string>> {
  const wanted = new Set<string>();
  for (const entity of descriptor.entities.values()) for (const p of entity.partitions) wanted.add(p.blobName);
  const etags = new Map<string, string>();
  const writtenAfter = new Set<string>();
  // One listing per partition folder, all at once.
  await Promise.all(
    [...new Set([...wanted].map(folderOf))].map(async (folder) => {
      for await (const blob of container.listBlobsByHierarchy('/', { prefix: folder === '' ? '' : `${folder}/` })) {
        if (blob.kind !== 'blob' || !wanted.has(blob.name)) continue;
        etags.set(blob.name, blob.properties.etag ?? '');
        // CI writes the metadata after the partitions: a partition written later belongs to an export being written.
        const written = blob.properties.lastModified;
        if (metadataModified && written && written.getTime() > metadataModified.getTime()) {
          writtenAfter.add(blob.name);
        }
      }
    }),
  );
  for (const blobName of wanted) {
    if (!etags.has(blobName)) {
      throw new SourceError(
        blobName,
        `partition listed in ${descriptor.metadataBlob} does not exist (a missing partition is never read as an empty segment)`,
      );
    }
  }
  for (const entity of descriptor.entities.values()) {
    for (const partition of entity.partitions) {
      if (!writtenAfter.has(partition.blobName)) continue;
      partition.incomplete = `written after ${descriptor.metadataBlob}: the export is being written`;
      descriptor.warnings.push(`${partition.blobName}: ${partition.incomplete}; removals of ${entity.name} are held`);
    }
  }
  return etags;
}

function fingerprintOf(etags: Map<string, string>): string {
  const hash = createHash('sha256');
  for (const name of [...etags.keys()].sort()) hash.update(`${name}\t${etags.get(name)}\n`);
  return hash.digest('hex');
}
