import type { ContainerClient } from '@azure/storage-blob';

/** A small hand-written CI export for pipeline tests: headerless CSV, relative locations, two segment tables. */
export const EXPORT_PATH = 'CustomerInsights_5d0c7f3e/BrazeFeed';
export const COLUMNS = [
  'CustomerId',
  'BrazeCustomerId',
  'PrimaryEmail',
  'FirstName',
  'LoyaltyPoints',
  'PreviousCustomerId',
];
export const rawConfig = {
  identity: { externalId: 'BrazeCustomerId', email: 'PrimaryEmail', whenExternalIdMissing: 'alias' },
  segments: [
    { table: 'Gold', brazeSegmentApiId: 'seg-gold' },
    { table: 'Churn', brazeSegmentApiId: 'seg-churn' },
  ],
  attributes: { FirstName: 'first_name', LoyaltyPoints: 'ci_points' },
};
export type Row = [string, string, string, string, string, string];

/** Writes one CI export run into `<day>/<HHMM>` folders and points model.json at it. Raw lines are written as they are. */
export async function writeExport(
  container: ContainerClient,
  folder: string,
  tables: Record<string, Array<Row | string>>,
) {
  const entities = [];
  for (const [table, rows] of Object.entries(tables)) {
    const location = `${table}/2025/03/${folder}/${table}_1.csv`;
    const lines = rows.map((row) =>
      typeof row === 'string' ? row : row.map((cell) => (cell === '' ? '' : `"${cell.replace(/"/g, '""')}"`)).join(','),
    );
    const csv = lines.length > 0 ? lines.join('\r\n') + '\r\n' : '';
    await container.getBlockBlobClient(`${EXPORT_PATH}/${location}`).upload(csv, Buffer.byteLength(csv));
    entities.push({
      $type: 'LocalEntity',
      name: table,
      attributes: COLUMNS.map((name) => ({ name, dataType: name === 'LoyaltyPoints' ? 'int64' : 'string' })),
      partitions: [{ name: `${table}_1`, location }],
    });
  }
  const model = JSON.stringify({ name: 'BrazeFeed', version: '1.0', entities });
  await container.getBlockBlobClient(`${EXPORT_PATH}/model.json`).upload(model, Buffer.byteLength(model));
}
