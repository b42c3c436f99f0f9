import { ContainerClient } from '@azure/storage-blob';
import { discoverExport, readPartition, SourceError } from '../../shared/source';
import { ExportDescriptor } from '../../shared/source/types';
import { MemoryLogger } from '../../shared/telemetry/logger';
import { Azurite, startAzurite } from '../../tools/local/azurite';
import { freshContainer, putBlob } from './fixtures';

const ID_A = '3f9a1c52-7d4e-4b0a-a2c1-58e6d9f0b713';
const ID_B = 'a0e4b7d9-1c3f-4e62-8b5a-9d7c2e1f0a68';

async function readEntity(container: ContainerClient, descriptor: ExportDescriptor, name: string) {
  const entity = descriptor.entities.get(name);
  if (!entity) throw new Error(`no entity ${name}`);
  const values: unknown[][] = [];
  for (const partition of entity.partitions) {
    for await (const record of readPartition(container, entity, partition)) {
      if (record.kind === 'row') values.push(record.values);
    }
  }
  return values;
}

function modelJson(entities: unknown[], key = 'entities') {
  return JSON.stringify({ name: 'BrazeFeed', version: '1.0', 'pbi:mashup': { x: 1 }, [key]: entities });
}

describe('discoverExport', () => {
  let azurite: Azurite;
  let container: ContainerClient;
  beforeAll(async () => {
    azurite = await startAzurite();
    container = await freshContainer(azurite.connectionString, 'ci-exports');
  });
  afterAll(async () => azurite.stop());

  it('reads model.json with absolute .dfs/:443/?snapshot=/URL-encoded and relative locations, several partitions', async () => {
    const root = 'CustomerInsights_5d0c/BrazeFeed';
    const account = 'https://contosoci';
    const run = `${root}/Loyal Gold/2025/03/11/0200`;
    await putBlob(container, `${run}/LoyalGold_1.csv`, `${ID_A},"Mária",True,2310.40\n`);
    await putBlob(container, `${run}/LoyalGold_2.csv`, `${ID_B},Liam,false,87.00\n`);
    await putBlob(container, `${run}/LoyalGold_3.csv`, `"${ID_B.toUpperCase()}",Zed,1,1\n`);
    await putBlob(container, `${run}/LoyalGold_10.csv`, `CustomerId,Name,OptIn,Value\n${ID_A},Ten,0,10\n`);
    const c = container.containerName;
    await putBlob(
      container,
      `${root}/model.json`,
      modelJson([
        {
          $type: 'LocalEntity',
          name: 'LoyalGold',
          'cdm:extra': true,
          attributes: [
            { name: 'CustomerId', dataType: 'GUID' },
            { name: 'Name', dataType: 'string' },
            { name: 'OptIn', dataType: 'Boolean' },
            { name: 'Value', dataType: 'decimal' },
          ],
          partitions: [
            { name: 'p10', location: 'Loyal%20Gold/2025/03/11/0200/LoyalGold_10.csv' },
            {
              name: 'p3',
              location: `${account}.blob.core.windows.net/${c}/${root}/Loyal%20Gold/2025/03/11/0200/LoyalGold_3.csv?snapshot=2018-08-16T09%3A11%3A17.5629752Z`,
              fileFormatSettings: { $type: 'CsvFormatSettings', columnHeaders: 'false', encoding: 65001 },
            },
            {
              name: 'p1',
              location: `${account}.dfs.core.windows.net:443/${c}/${root}/Loyal%20Gold/2025/03/11/0200/LoyalGold_1.csv`,
              fileFormatSettings: {
                $type: 'CsvFormatSettings',
                columnHeaders: false,
                delimiter: ',',
                encoding: 'UTF-8',
              },
            },
            {
              name: 'p2',
              location: `${account}.blob.core.windows.net/${c}/${root}/Loyal Gold/2025/03/11/0200/LoyalGold_2.csv`,
            },
            { name: 'schemaOnly', location: null },
          ],
        },
        { $type: 'ReferenceEntity', name: 'Elsewhere', source: 'x', modelId: 'y' },
      ]),
    );
    const logger = new MemoryLogger();
    const descriptor = await discoverExport(container, `/${root}/`, { logger });
    expect(descriptor.format).toBe('model.json');
    expect(descriptor.metadataBlob).toBe(`${root}/model.json`);
    expect([...descriptor.entities.keys()]).toEqual(['LoyalGold']);
    const entity = descriptor.entities.get('LoyalGold');
    expect(entity?.columns.map((col) => col.dataType)).toEqual(['guid', 'string', 'boolean', 'decimal']);
    expect(entity?.partitions.map((p) => p.blobName.split('/').pop())).toEqual([
      'LoyalGold_1.csv',
      'LoyalGold_2.csv',
      'LoyalGold_3.csv',
      'LoyalGold_10.csv',
    ]);
    expect(descriptor.warnings).toEqual([expect.stringContaining('Elsewhere is a ReferenceEntity')]);
    expect(logger.text()).toContain('CI export discovered');
    // The headered LoyalGold_10 has no fileFormatSettings: CDM defaults, the header row is detected and skipped.
    expect(await readEntity(container, descriptor, 'LoyalGold')).toEqual([
      [ID_A, 'Mária', true, 2310.4],
      [ID_B, 'Liam', false, 87],
      [ID_B, 'Zed', true, 1],
      [ID_A, 'Ten', false, 10],
    ]);
  });

  it('gives the same fingerprint for the same blobs and a new one when a partition is rewritten', async () => {
    const root = 'fp/Export';
    await putBlob(container, `${root}/T/2025/03/10/0200/T_1.csv`, `${ID_A}\n`);
    await putBlob(
      container,
      `${root}/model.json`,
      modelJson([
        {
          name: 'T',
          attributes: [{ name: 'CustomerId', dataType: 'guid' }],
          partitions: [{ name: 'p', location: 'T/2025/03/10/0200/T_1.csv' }],
        },
      ]),
    );
    const first = await discoverExport(container, root);
    expect((await discoverExport(container, root)).fingerprint).toBe(first.fingerprint);
    // CI rewrites model.json after the partitions.
    const model = (await container.getBlobClient(`${root}/model.json`).downloadToBuffer()).toString('utf8');
    await putBlob(container, `${root}/T/2025/03/10/0200/T_1.csv`, `${ID_B}\n`);
    await putBlob(container, `${root}/model.json`, model);
    expect((await discoverExport(container, root)).fingerprint).not.toBe(first.fingerprint);
  });

  it('marks a partition written after model.json as incomplete (the export is being written)', async () => {
    const root = 'rewriting/Export';
    await putBlob(container, `${root}/T/2025/03/10/0200/T_1.csv`, `${ID_A}\n`);
    const model = modelJson([
      {
        name: 'T',
        attributes: [{ name: 'CustomerId', dataType: 'guid' }],
        partitions: [{ name: 'p', location: 'T/2025/03/10/0200/T_1.csv' }],
      },
    ]);
    await putBlob(container, `${root}/model.json`, model);
    expect((await discoverExport(container, root)).entities.get('T')?.partitions[0].incomplete).toBeUndefined();
    // Storage times have whole seconds: the rewrite must land in a later second than model.json.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await putBlob(container, `${root}/T/2025/03/10/0200/T_1.csv`, '');
    const beingWritten = await discoverExport(container, root);
    expect(beingWritten.entities.get('T')?.partitions[0].incomplete).toBe(
      `written after ${root}/model.json: the export is being written`,
    );
    expect(beingWritten.warnings).toContain(
      `${root}/T/2025/03/10/0200/T_1.csv: written after ${root}/model.json: the export is being written; removals of T are held`,
    );
    await putBlob(container, `${root}/model.json`, model);
    expect((await discoverExport(container, root)).entities.get('T')?.partitions[0].incomplete).toBeUndefined();
  });

  it('warns when model.json lists an older run than the newest run folder on storage', async () => {
    const root = 'stale/Export';
    await putBlob(container, `${root}/T/2025/03/10/0200/T_1.csv`, `${ID_A}\n`);
    await putBlob(container, `${root}/T/2025/03/9/0200/T_1.csv`, `${ID_A}\n`);
    const model = (run: string) =>
      modelJson([
        {
          name: 'T',
          attributes: [{ name: 'CustomerId', dataType: 'guid' }],
          partitions: [{ name: 'p', location: `T/${run}/T_1.csv` }],
        },
      ]);
    await putBlob(container, `${root}/model.json`, model('2025/03/10/0200'));
    expect((await discoverExport(container, root)).warnings).toEqual([]);
    await putBlob(container, `${root}/T/2025/03/11/0200/T_1.csv`, `${ID_B}\n`);
    expect((await discoverExport(container, root)).warnings).toEqual([
      `${root}/model.json lists run ${root}/T/2025/03/10/0200 but a newer run folder ${root}/T/2025/03/11/0200 exists; the metadata may be stale`,
    ]);
  });

  it('accepts "tables" instead of "entities" and applies CDM defaults without fileFormatSettings', async () => {
    const root = 'tables/Export';
    await putBlob(container, `${root}/Seg/2025/03/10/0200/Seg_1.csv`, `${ID_A},"x,y"\n`);
    await putBlob(
      container,
      `${root}/model.json`,
      modelJson(
        [
          {
            $type: 'LocalEntity',
            name: 'Seg',
            attributes: [
              { name: 'CustomerId', dataType: 'guid' },
              { name: 'Odd', dataType: 'geography' },
            ],
            partitions: [{ name: 'Seg_1', location: 'Seg/2025/03/10/0200/Seg_1.csv' }],
          },
        ],
        'tables',
      ),
    );
    const descriptor = await discoverExport(container, root);
    const partition = descriptor.entities.get('Seg')?.partitions[0];
    expect(partition?.csv).toEqual({
      columnHeaders: false,
      delimiter: ',',
      quoteStyle: 'csv',
      csvStyle: 'quoteAlways',
    });
    expect(descriptor.entities.get('Seg')?.columns[1]).toEqual({ name: 'Odd', dataType: 'unknown' });
    expect(descriptor.warnings).toEqual([expect.stringContaining('Seg.Odd: data type "geography" is not recognised')]);
    expect(await readEntity(container, descriptor, 'Seg')).toEqual([[ID_A, 'x,y']]);
  });

  it.each([
    [
      'another container',
      (c: string) => `https://acct.blob.core.windows.net/other-${c}/x/T_1.csv`,
      /outside the configured container/,
    ],
    ['a relative path climbing out of the container', () => '../../../../T_1.csv', /escapes the container/],
    [
      'an encoded climb out of the container',
      (c: string) => `https://acct.blob.core.windows.net/${c}/%2E%2E/other/T_1.csv`,
      /outside the configured container/,
    ],
  ])('refuses a location in %s before fetching anything', async (_label, location, message) => {
    const root = `escape/${Math.random().toString(36).slice(2)}`;
    await putBlob(
      container,
      `${root}/model.json`,
      modelJson([
        {
          name: 'T',
          attributes: [{ name: 'A', dataType: 'string' }],
          partitions: [{ name: 'p', location: location(container.containerName) }],
        },
      ]),
    );
    const error = await discoverExport(container, root).catch((e) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect(error.blobName).toBe(`${root}/model.json`);
    expect(error.message).toMatch(message);
  });

  it('fails naming the blob and setting for an unsupported encoding', async () => {
    const root = 'enc/Export';
    await putBlob(
      container,
      `${root}/model.json`,
      modelJson([
        {
          name: 'T',
          attributes: [{ name: 'A', dataType: 'string' }],
          partitions: [{ name: 'p', location: 'T/T_1.csv', fileFormatSettings: { encoding: 'UTF-16' } }],
        },
      ]),
    );
    const error = await discoverExport(container, root).catch((e) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect(error.message).toBe(
      `${root}/model.json: partition ${root}/T/T_1.csv: setting encoding: only UTF-8 (or code page 65001) is supported`,
    );
  });

  it('fails when a partition listed in model.json does not exist', async () => {
    const root = 'missing/Export';
    await putBlob(
      container,
      `${root}/model.json`,
      modelJson([
        {
          name: 'T',
          attributes: [{ name: 'A', dataType: 'string' }],
          partitions: [{ name: 'p', location: 'T/2025/03/10/0200/T_1.csv' }],
        },
      ]),
    );
    const error = await discoverExport(container, root).catch((e) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect(error.blobName).toBe(`${root}/T/2025/03/10/0200/T_1.csv`);
    expect(error.message).toContain('does not exist');
  });

  it('reads a manifest with entity documents, explicit partitions (string booleans) and a pattern (newest run only)', async () => {
    const root = 'manifest/BrazeFeed';
    await putBlob(container, `${root}/LoyalGold/2025/03/11/0200/LoyalGold_1.csv`, `CustomerId;Points\n${ID_A};5120\n`);
    await putBlob(container, `${root}/Churn/2025/03/09/0200/Churn_1.csv`, `${ID_A},old\n`);
    await putBlob(container, `${root}/Churn/2025/03/10/0200/Churn_1.csv`, `${ID_A},new1\n`);
    await putBlob(container, `${root}/Churn/2025/03/10/0200/Churn_2.csv`, `${ID_B},new2\n`);
    await putBlob(container, `${root}/Churn/2025/03/10/0200/notes.txt`, `ignore me`);
    await putBlob(container, `${root}/Glob/2025/03/10/0200/Glob_1.csv`, `${ID_B}\n`);
    await putBlob(
      container,
      `${root}/other.manifest.cdm.json`,
      JSON.stringify({ manifestName: 'Other', entities: [] }),
    );
    await putBlob(
      container,
      `${root}/default.manifest.cdm.json`,
      JSON.stringify({
        jsonSchemaSemanticVersion: '1.0.0',
        manifestName: 'BrazeFeed',
        entities: [
          {
            type: 'LocalEntity',
            entityName: 'LoyalGold',
            entityPath: 'LoyalGold.cdm.json/LoyalGold',
            dataPartitions: [
              {
                location: 'LoyalGold/2025/03/11/0200/LoyalGold_1.csv',
                exhibitsTraits: [
                  {
                    traitReference: 'is.partition.format.CSV',
                    arguments: [
                      { name: 'columnHeaders', value: 'true' },
                      { name: 'delimiter', value: ';' },
                      { name: 'csvStyle', value: 'CsvStyle.QuoteAlways' },
                      { name: 'quoteStyle', value: 'QuoteStyle.Csv' },
                      { name: 'encoding', value: 'UTF-8' },
                    ],
                  },
                ],
              },
            ],
          },
          {
            type: 'LocalEntity',
            entityName: 'Churn',
            entityPath: 'schemas/Segments.cdm.json/Churn',
            dataPartitionPatterns: [
              {
                name: 'AllRuns',
                rootLocation: 'Churn/',
                regularExpression: '(\\d{4})/(\\d{2})/(\\d{2})/(\\d{4})/Churn_(\\d+)\\.csv',
                parameters: ['year', 'month', 'day', 'hhmm', 'part'],
              },
            ],
          },
          {
            type: 'LocalEntity',
            entityName: 'Glob',
            entityPath: 'schemas/Segments.cdm.json/Glob',
            dataPartitionPatterns: [{ rootLocation: 'Glob', globPattern: '**/*.csv' }],
          },
        ],
      }),
    );
    await putBlob(
      container,
      `${root}/LoyalGold.cdm.json`,
      JSON.stringify({
        jsonSchemaSemanticVersion: '1.0.0',
        definitions: [
          {
            entityName: 'LoyalGold',
            hasAttributes: [
              { name: 'CustomerId', dataFormat: 'Guid' },
              { name: 'Points', dataFormat: 'Int64' },
            ],
          },
        ],
      }),
    );
    await putBlob(
      container,
      `${root}/schemas/Segments.cdm.json`,
      JSON.stringify({
        definitions: [
          {
            entityName: 'Churn',
            hasAttributes: [
              { name: 'CustomerId', dataType: 'guid' },
              { name: 'Note', dataType: 'string' },
            ],
          },
          { entityName: 'Glob', hasAttributes: [{ name: 'CustomerId', dataFormat: 'Guid' }] },
        ],
      }),
    );
    const descriptor = await discoverExport(container, root);
    expect(descriptor.format).toBe('manifest');
    expect(descriptor.metadataBlob).toBe(`${root}/default.manifest.cdm.json`);
    expect(descriptor.entities.get('LoyalGold')?.partitions[0].csv).toEqual({
      columnHeaders: true,
      delimiter: ';',
      quoteStyle: 'csv',
      csvStyle: 'quoteAlways',
    });
    expect(await readEntity(container, descriptor, 'LoyalGold')).toEqual([[ID_A, 5120]]);
    expect(await readEntity(container, descriptor, 'Churn')).toEqual([
      [ID_A, 'new1'],
      [ID_B, 'new2'],
    ]);
    expect(descriptor.warnings).toEqual([expect.stringContaining('matches 2 run folders; reading only the newest')]);
    expect(await readEntity(container, descriptor, 'Glob')).toEqual([[ID_B]]);
  });

  it('without metadata reads only a complete run folder: settled, and no file empty', async () => {
    const root = 'settle/Export';
    await putBlob(container, `${root}/Gold/2025/03/10/0100/Gold_1.csv`, `CustomerId\n${ID_A}\n${ID_B}\n`);
    await putBlob(container, `${root}/Gold/2025/03/10/0200/Gold_1.csv`, `CustomerId\n${ID_A}\n`);
    await putBlob(container, `${root}/Gold/2025/03/10/0200/Gold_2.csv`, '');
    const later = () => Date.now() + 61_000;

    // The newest folder holds an empty file: still being written. The older, complete one is read.
    const olderRead = await discoverExport(container, root, { settleTimeInMs: 60_000, now: later });
    expect(olderRead.entities.get('Gold')?.partitions.map((p) => p.blobName)).toEqual([
      `${root}/Gold/2025/03/10/0100/Gold_1.csv`,
    ]);
    expect(olderRead.warnings).toContain(
      `Gold: run folder ${root}/Gold/2025/03/10/0200 is not complete (${root}/Gold/2025/03/10/0200/Gold_2.csv is ` +
        'empty (0 bytes, not even a header row)); reading an older one',
    );

    // Finished, but changed less than the settle time ago (and so is every older folder): nothing is read.
    await putBlob(container, `${root}/Gold/2025/03/10/0200/Gold_2.csv`, `CustomerId\n${ID_B}\n`);
    await expect(discoverExport(container, root, { settleTimeInMs: 60_000 })).rejects.toThrow(
      /no complete run folder of Gold: a file changed \d+ s ago, less than the settle time \(SOURCE_SETTLE_SECONDS=60\)/,
    );
    const settled = await discoverExport(container, root, { settleTimeInMs: 60_000, now: later });
    expect(settled.entities.get('Gold')?.partitions.map((p) => p.blobName)).toEqual([
      `${root}/Gold/2025/03/10/0200/Gold_1.csv`,
      `${root}/Gold/2025/03/10/0200/Gold_2.csv`,
    ]);
  });

  it('without metadata lists run folders, takes the newest run per table numerically, and reads headers', async () => {
    const root = 'listing/Export';
    // 2025/03/9 is older than 2025/03/10 numerically but sorts after it as text.
    await putBlob(
      container,
      `${root}/HighValue/2025/03/9/2300/HighValue_1.csv`,
      `CustomerId,Email\n${ID_A},old@example.com\n`,
    );
    await putBlob(
      container,
      `${root}/HighValue/2025/03/10/0200/Other_2.csv`,
      `CustomerId,Email\n${ID_B},b@example.com\n`,
    );
    await putBlob(
      container,
      `${root}/HighValue/2025/03/10/0200/Other_1.csv`,
      `\uFEFFCustomerId,Email\n${ID_A},a@example.com\n`,
    );
    await putBlob(container, `${root}/Semi/2025/03/10/0200/Semi_1.csv`, `CustomerId;Name\n${ID_A};"A;B"\n`);
    const descriptor = await discoverExport(container, root);
    expect(descriptor.format).toBe('listing');
    expect([...descriptor.entities.keys()]).toEqual(['HighValue', 'Semi']);
    const highValue = descriptor.entities.get('HighValue');
    expect(highValue?.columns).toEqual([
      { name: 'CustomerId', dataType: 'string' },
      { name: 'Email', dataType: 'string' },
    ]);
    expect(highValue?.partitions.map((p) => p.blobName)).toEqual([
      `${root}/HighValue/2025/03/10/0200/Other_1.csv`,
      `${root}/HighValue/2025/03/10/0200/Other_2.csv`,
    ]);
    expect(highValue?.partitions[0].csv.columnHeaders).toBe(true);
    expect(await readEntity(container, descriptor, 'HighValue')).toEqual([
      [ID_A, 'a@example.com'],
      [ID_B, 'b@example.com'],
    ]);
    expect(await readEntity(container, descriptor, 'Semi')).toEqual([[ID_A, 'A;B']]);
    expect(descriptor.warnings).toHaveLength(2);
    expect(descriptor.warnings[0]).toContain('columns taken from the header row');
  });

  it('refuses a listing-only export whose first line is data, without quoting it', async () => {
    const root = 'listing-noheader/Export';
    await putBlob(container, `${root}/T/2025/03/10/0200/T_1.csv`, `${ID_A},someone@example.com\n`);
    const error = await discoverExport(container, root).catch((e) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect(error).toMatchObject({ blobName: `${root}/T/2025/03/10/0200/T_1.csv`, line: 1 });
    expect(error.message).not.toContain('someone');
  });

  it('fails clearly when the folder holds no export at all', async () => {
    const error = await discoverExport(container, 'empty/Export').catch((e) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect(error.message).toContain('no model.json');
  });
});
