import { readPartition } from '../../shared/source';
import { startAzurite, type Azurite } from '../../tools/local/azurite';
import { CSV_DEFAULTS, entity, freshContainer, putBlob } from './fixtures';

describe('readPartition with a slow consumer', () => {
  let azurite: Azurite;
  beforeAll(async () => {
    azurite = await startAzurite();
  });
  afterAll(async () => azurite.stop());

  // Regression: the batching loop once waited for 'readable' after yielding a batch, although the event had fired
  // while the consumer was busy, and the read stalled forever mid-partition.
  it('reads every row when the consumer yields to the event loop between rows', async () => {
    const container = await freshContainer(azurite.connectionString, 'slow');
    const rows = 20_000;
    const csv = Array.from({ length: rows }, (_, i) => `"id-${i}","name ${i}"`).join('\n') + '\n';
    await putBlob(container, 'T/T_1.csv', csv);
    const table = entity('T', [
      ['Id', 'string'],
      ['Name', 'string'],
    ]);
    let read = 0;
    for await (const record of readPartition(container, table, { blobName: 'T/T_1.csv', csv: CSV_DEFAULTS })) {
      if (record.kind === 'row') read++;
      if (read % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    expect(read).toBe(rows);
  });
});
