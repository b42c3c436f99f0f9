import { BlobServiceClient, ContainerClient } from '@azure/storage-blob';
import { randomUUID } from 'node:crypto';
import { readPartition } from '../../shared/source';
import { ColumnSchema, CsvSettings, EntityDescriptor, SourceRecord } from '../../shared/source/types';

export const CSV_DEFAULTS: CsvSettings = {
  columnHeaders: false,
  delimiter: ',',
  quoteStyle: 'csv',
  csvStyle: 'quoteAlways',
};

/** A fresh container per test file so fixtures never collide. */
export async function freshContainer(connectionString: string, prefix = 'ci'): Promise<ContainerClient> {
  const container = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(
    `${prefix}-${randomUUID().slice(0, 8)}`,
  );
  await container.create();
  return container;
}

export async function putBlob(container: ContainerClient, name: string, content: string | Buffer): Promise<void> {
  const body = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  await container.getBlockBlobClient(name).upload(body, body.length);
}

export function entity(name: string, columns: Array<[string, ColumnSchema['dataType']]>): EntityDescriptor {
  return { name, columns: columns.map(([n, dataType]) => ({ name: n, dataType })), partitions: [] };
}

export async function readAll(
  container: ContainerClient,
  descriptor: EntityDescriptor,
  blobName: string,
  csv: Partial<CsvSettings> = {},
  options: { skipRows?: number; warnings?: string[]; columns?: number[] } = {},
): Promise<SourceRecord[]> {
  const records: SourceRecord[] = [];
  const iterable = readPartition(
    container,
    descriptor,
    { blobName, csv: { ...CSV_DEFAULTS, ...csv } },
    { skipRows: options.skipRows, columns: options.columns, onWarning: (m) => options.warnings?.push(m) },
  );
  for await (const record of iterable) records.push(record);
  return records;
}
