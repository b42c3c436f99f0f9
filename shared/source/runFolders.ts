// CI run folders and the order an entity's partitions are read in: shared by metadata and listing discovery.
import { SourceError } from './errors';
import { folderOf } from './locations';
import type { EntityDescriptor, PartitionRef } from './types';

/** `<yyyy>/<mm>/<dd>/<HHMM>/<file>` at the end of a blob name: a CI run folder and its file. */
export const RUN_FOLDER_PATTERN = /(?:^|\/)(\d{4})\/(\d{1,2})\/(\d{1,2})\/(\d{4})\/[^/]+$/;

export function addEntity(
  entities: Map<string, EntityDescriptor>,
  entity: EntityDescriptor,
  metadataBlob: string,
): void {
  if (entities.has(entity.name)) throw new SourceError(metadataBlob, `entity ${entity.name} is declared twice`);
  entities.set(entity.name, { ...entity, partitions: sortPartitions(entity.partitions) });
}

/** Partition number (`_N` before the extension) when there is one, else the name; folders first. */
export function sortPartitions(partitions: PartitionRef[]): PartitionRef[] {
  const numberOf = (name: string) => Number(/_(\d+)\.[^./]+$/.exec(name)?.[1] ?? Number.NaN);
  return [...partitions].sort((a, b) => {
    const byFolder = folderOf(a.blobName).localeCompare(folderOf(b.blobName));
    if (byFolder !== 0) return byFolder;
    const na = numberOf(a.blobName);
    const nb = numberOf(b.blobName);
    if (!Number.isNaN(na) && !Number.isNaN(nb) && na !== nb) return na - nb;
    return a.blobName.localeCompare(b.blobName);
  });
}

/** Orders `.../<yyyy>/<mm>/<dd>/<HHMM>` folders by time, comparing the numbers, not the text. */
export function compareRunFolders(a: string, b: string): number {
  const key = (folder: string) => folder.split('/').slice(-4).map(Number);
  const ka = key(a);
  const kb = key(b);
  for (let i = 0; i < 4; i++) if (ka[i] !== kb[i]) return ka[i] - kb[i];
  return a.localeCompare(b);
}
