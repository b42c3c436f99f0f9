import { ContainerClient } from '@azure/storage-blob';
import { discoverExport, readPartition } from '../../shared/source';
import { validateExportConfig } from '../../shared/config/exportConfig';
import {
  GeneratedProfile,
  GeneratorOptions,
  containerSink,
  profilesAtRun,
  sampleExportConfig,
  writeExport,
} from '../../tools/generate-export/generator';
import { Azurite, startAzurite } from '../../tools/local/azurite';
import { freshContainer } from './fixtures';

/** What the reader must produce for a profile's row, minus the CRM key column (not part of GeneratedProfile). */
function expectedValues(profile: GeneratedProfile): unknown[] {
  const asWritten = (
    ['customerId', 'firstName', 'lastName', 'fullName', 'email', 'phone', 'city', 'country'] as const
  ).map((field) => profile[field]);
  return [
    ...asWritten,
    profile.dateOfBirth === null ? null : `${profile.dateOfBirth}T00:00:00.000Z`,
    profile.lifetimeValue,
    profile.loyaltyPoints,
    profile.emailOptIn,
    profile.brazeCustomerId,
    profile.previousCustomerIds.length > 0 ? profile.previousCustomerIds.join(';') : null,
  ];
}

describe('sample export generator', () => {
  let azurite: Azurite;
  let container: ContainerClient;
  beforeAll(async () => {
    azurite = await startAzurite();
    container = await freshContainer(azurite.connectionString, 'gen');
  });
  afterAll(async () => azurite.stop());

  it('is deterministic for a seed and differs for another seed', () => {
    const options = { profiles: 300, seed: 7 };
    const first = [...profilesAtRun(options, 2)];
    expect([...profilesAtRun(options, 2)]).toEqual(first);
    expect([...profilesAtRun({ ...options, seed: 8 }, 2)]).not.toEqual(first);
    expect(new Set(first.map((p) => p.customerId)).size).toBe(300);
    const emails = first.map((p) => p.email).filter((e) => e !== null);
    expect(new Set(emails).size).toBe(emails.length);
    expect(first.some((p) => [...p.fullName].some((char) => char.charCodeAt(0) > 127))).toBe(true);
    expect(first.some((p) => p.brazeCustomerId === null)).toBe(true);
  });

  it('churns memberships and fields and merges ids between runs, leaving most profiles unchanged', () => {
    const options = { profiles: 4000, seed: 11, churnPercent: 10, mergePercent: 2 };
    const before = [...profilesAtRun(options, 0)];
    const after = [...profilesAtRun(options, 1)];
    let joins = 0;
    let leaves = 0;
    let unchanged = 0;
    let merged = 0;
    after.forEach((profile, i) => {
      const old = before[i];
      joins += profile.segments.filter((s) => !old.segments.includes(s)).length;
      leaves += old.segments.filter((s) => !profile.segments.includes(s)).length;
      if (profile.customerId !== old.customerId) {
        merged++;
        expect(profile.previousCustomerIds).toContain(old.customerId);
      }
      if (JSON.stringify(profile) === JSON.stringify(old)) unchanged++;
    });
    expect(joins).toBeGreaterThan(0);
    expect(leaves).toBeGreaterThan(0);
    expect(merged).toBeGreaterThan(20);
    expect(merged).toBeLessThan(160);
    expect(unchanged / after.length).toBeGreaterThan(0.8);
    expect(before.every((p) => p.previousCustomerIds.length === 0)).toBe(true);
  });

  it('produces an export config that the config validator accepts', () => {
    const config = validateExportConfig(sampleExportConfig({ profiles: 1, seed: 1 }));
    expect(config.segments.map((s) => s.table)).toEqual(['HighValueSegment', 'LoyalGold', 'ChurnRisk']);
    expect(config.identity).toMatchObject({ externalId: 'BrazeCustomerId', email: 'PrimaryEmail' });
  });

  const variants: Array<[string, Partial<GeneratorOptions>]> = [
    ['model.json, defaults', {}],
    [
      'model.json, edge cases, BOM, ";", absolute :443 snapshot URLs, repeated ids',
      { edgeCases: true, bom: true, delimiter: ';', locations: 'absolute-443-snapshot', repeatedCustomerIdPercent: 5 },
    ],
    [
      'model.json "tables", no fileFormatSettings but headers (sniffed), .dfs URLs',
      { tablesKey: true, omitFileFormatSettings: true, headers: true, locations: 'absolute-dfs', edgeCases: true },
    ],
    ['manifest, headers, tab', { metadata: 'manifest', headers: true, delimiter: '\t', edgeCases: true }],
    ['listing only', { metadata: 'listing' }],
  ];

  it.each(variants)('round trip: the reader reads what was written (%s)', async (label, variant) => {
    const exportPath = `CustomerInsights_${label.replace(/[^a-z]/gi, '').slice(0, 24)}/BrazeFeed`;
    const options: GeneratorOptions = { profiles: 600, seed: 42, rowsPerPartition: 70, mergePercent: 3, ...variant };
    await writeExport(containerSink(container), exportPath, { ...options, run: 0 });
    const written = await writeExport(containerSink(container), exportPath, { ...options, run: 1 });
    expect(written.runFolder).toBe('2025/03/11/0200');

    const descriptor = await discoverExport(container, exportPath);
    const typed = variant.metadata !== 'listing';
    for (const segment of ['HighValueSegment', 'LoyalGold', 'ChurnRisk']) {
      const entity = descriptor.entities.get(segment);
      if (!entity) throw new Error(`${segment} not discovered`);
      expect(entity.partitions.length).toBe(Math.ceil(written.rows[segment] / 70));
      expect(entity.partitions.every((p) => p.blobName.includes('/2025/03/11/0200/'))).toBe(true);
      const read: unknown[][] = [];
      for (const partition of entity.partitions) {
        for await (const record of readPartition(container, entity, partition)) {
          if (record.kind !== 'row') throw new Error(`rejected: ${JSON.stringify(record)}`);
          read.push(record.values);
        }
      }
      expect(read).toHaveLength(written.rows[segment]);
      const expected: unknown[][] = [];
      let index = 0;
      const repeatsSeen = read.length;
      for (const profile of profilesAtRun(options, 1)) {
        if (profile.segments.includes(segment)) expected.push(expectedValues(profile));
        index++;
      }
      expect(index).toBe(600);
      const actual = read.map((values) => values.slice(0, 14));
      const withoutRepeats = actual.filter((values, i) => i === 0 || values[0] !== actual[i - 1][0]);
      if (typed) expect(withoutRepeats).toEqual(expected);
      else expect(withoutRepeats.map((v) => v[0])).toEqual(expected.map((v) => v[0]));
      if (variant.repeatedCustomerIdPercent) expect(repeatsSeen).toBeGreaterThan(expected.length);
      else expect(repeatsSeen).toBe(expected.length);
    }
  });
});
