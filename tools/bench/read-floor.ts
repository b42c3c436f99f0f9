import { BlobServiceClient, ContainerClient } from '@azure/storage-blob';
import type { ExportConfig } from '../../shared/config/exportConfig';
import { createProfileMapper } from '../../shared/mapping/profileMapper';
import { discoverExport } from '../../shared/source';
import { readPartitionBatches } from '../../shared/source/readPartition';
import { containerSink, writeExport } from '../generate-export/generator';
import { startAzurite } from '../local/azurite';

export interface ReadFloor {
  rows: number;
  rejected: number;
  seconds: number;
  rowsPerSecond: number;
  peakRssMb: number;
}

/**
 * The parsing floor of a sync: discovers the export and reads every partition of every entity, typed, doing nothing
 * with the rows. With `exportConfig`, it reads the columns a sync with that config reads (the others are scanned,
 * not converted), as the sync does. Peak RSS is sampled while reading.
 */
export async function measureReadFloor(
  container: ContainerClient,
  exportPath: string,
  exportConfig?: ExportConfig,
): Promise<ReadFloor> {
  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 50);
  const started = process.hrtime.bigint();
  let rows = 0;
  let rejected = 0;
  try {
    const descriptor = await discoverExport(container, exportPath);
    for (const entity of descriptor.entities.values()) {
      const columns = exportConfig && createProfileMapper(exportConfig, entity).columnsRead;
      for (const partition of entity.partitions) {
        // The batch reader, as the run pipeline uses it: the floor is the reader at its fastest.
        for await (const batch of readPartitionBatches(container, entity, partition, { columns })) {
          for (const record of batch) {
            if (record.kind === 'row') rows++;
            else rejected++;
          }
        }
      }
    }
  } finally {
    clearInterval(sampler);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
  return {
    rows,
    rejected,
    seconds,
    rowsPerSecond: Math.round(rows / seconds),
    peakRssMb: Math.round(peakRss / 2 ** 20),
  };
}

/** `node dist/tools/bench/read-floor.js [profiles]`: generates an export into a fresh Azurite and measures the floor. */
async function main(): Promise<void> {
  const profiles = Number(process.argv[2] ?? 1_000_000);
  const azurite = await startAzurite();
  try {
    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('ci-exports');
    await container.create();
    const exportPath = 'CustomerInsights_bench/BrazeFeed';
    // One segment holding every profile, so rows read == profiles.
    const generateStarted = Date.now();
    const written = await writeExport(containerSink(container), exportPath, {
      profiles,
      seed: 1,
      segments: [{ table: 'AllProfiles', brazeSegmentApiId: 'all-profiles', share: 1 }],
    });
    const generateSeconds = (Date.now() - generateStarted) / 1000;
    const floor = await measureReadFloor(container, exportPath);
    console.log(JSON.stringify({ profiles, generated: written.rows, generateSeconds, ...floor }));
  } finally {
    await azurite.stop();
  }
}

if (require.main === module) {
  main().catch((error: Error) => {
    console.error(error.message);
    process.exitCode = 1;
  });
}
