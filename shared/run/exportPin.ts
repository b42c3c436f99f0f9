import type { ContainerClient } from '@azure/storage-blob';
import type { EntityDescriptor, ExportDescriptor } from '../source/types';
import type { Logger } from '../telemetry/logger';
import { runBlobName } from './artifacts';
import { readJson, writeJson } from './records';
import { storageStatus } from './storage';

/**
 * The export version a run is bound to, as `runs/<runId>/export.json`: the descriptor its first step read (entities,
 * columns, partition blobs) and each partition blob's ETag then.
 */
interface ExportPin {
  descriptor: Omit<ExportDescriptor, 'entities'> & { entities: EntityDescriptor[] };
  etags: Record<string, string>;
}

export type BoundExport =
  /** The version the run started with: the current one, or an older one whose blobs are all still unchanged. */
  | { kind: 'bound'; descriptor: ExportDescriptor; changedSince: boolean }
  /** The version the run started with is gone (a partition deleted or rewritten): the run starts over on `descriptor`. */
  | { kind: 'gone'; descriptor: ExportDescriptor; goneBlob: string };

/**
 * Binds a run to one export version (issue 23.1). Its first step pins the export it discovered. A later step (after
 * a pause, a crash or an interruption) that finds a newer export finishes against the pinned version while its
 * partition blobs still have their ETags, so what earlier steps sent and what this one sends come from the same rows
 * and Braze ends equal to the export the summary names. When a pinned blob is gone or was rewritten, that version
 * cannot be read again: the caller starts over on the current export, which is pinned instead.
 */
export async function bindExportVersion(
  stateContainer: ContainerClient,
  exportContainer: ContainerClient,
  runId: string,
  discovered: ExportDescriptor,
  logger: Logger,
): Promise<BoundExport> {
  const name = runBlobName(runId, 'export.json');
  const pin = (await readJson<ExportPin>(stateContainer, name))?.value;
  if (pin?.descriptor.fingerprint === discovered.fingerprint) {
    return { kind: 'bound', descriptor: discovered, changedSince: false };
  }
  if (!pin) {
    await writeJson(stateContainer, name, await pinOf(exportContainer, discovered), {}, 'compact');
    return { kind: 'bound', descriptor: discovered, changedSince: false };
  }
  const goneBlob = await firstChangedBlob(exportContainer, pin.etags);
  if (goneBlob === null) {
    logger.log('warn', 'the export changed since the run started; finishing against the version it started with', {
      runId,
      startedWith: pin.descriptor.fingerprint,
      newest: discovered.fingerprint,
    });
    const { entities, ...rest } = pin.descriptor;
    return {
      kind: 'bound',
      descriptor: { ...rest, entities: new Map(entities.map((entity) => [entity.name, entity])) },
      changedSince: true,
    };
  }
  logger.log('warn', 'the export version the run started with is gone; the run starts over on the newest export', {
    runId,
    goneBlob,
  });
  await writeJson(stateContainer, name, await pinOf(exportContainer, discovered), {}, 'compact');
  return { kind: 'gone', descriptor: discovered, goneBlob };
}

async function pinOf(exportContainer: ContainerClient, descriptor: ExportDescriptor): Promise<ExportPin> {
  const blobs = [...descriptor.entities.values()].flatMap((entity) => entity.partitions.map((p) => p.blobName));
  const etags = await Promise.all(
    blobs.map(async (blob) => [blob, (await exportContainer.getBlobClient(blob).getProperties()).etag ?? ''] as const),
  );
  return {
    descriptor: { ...descriptor, entities: [...descriptor.entities.values()] },
    etags: Object.fromEntries(etags),
  };
}

/** The first pinned blob that no longer exists or has another ETag; null when all are as pinned. */
async function firstChangedBlob(
  exportContainer: ContainerClient,
  etags: Record<string, string>,
): Promise<string | null> {
  const names = Object.keys(etags);
  const current = await Promise.all(
    names.map(async (blob) => {
      try {
        return (await exportContainer.getBlobClient(blob).getProperties()).etag ?? '';
      } catch (error) {
        if (storageStatus(error) === 404) return null;
        throw error;
      }
    }),
  );
  const index = names.findIndex((blob, i) => current[i] !== etags[blob]);
  return index < 0 ? null : names[index];
}
