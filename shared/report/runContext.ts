import path from 'node:path/posix';
import type { ExportDescriptor } from '../source/types';
import type { RunContext, RunRequest } from '../run/types';

/** Folders listed in the context block; a listing-only export can have many. */
const MAX_FOLDERS = 10;

/** The context block of a run: which CI export folders were synced, under which config, asked for how. */
export function runContext(
  request: RunRequest,
  descriptor: ExportDescriptor,
  configHash: string,
  comparedWithPreviousState: boolean,
): RunContext {
  const folders = new Set<string>();
  for (const entity of descriptor.entities.values()) {
    for (const partition of entity.partitions) folders.add(path.dirname(partition.blobName));
  }
  return {
    exportFolders: [...folders].sort().slice(0, MAX_FOLDERS),
    configHash,
    comparedWithPreviousState,
    request,
  };
}
