import { ConfigError } from '../../shared/config/errors';
import { columnTypingOf, exportConfigHash, validateExportConfig } from '../../shared/config/exportConfig';
import { loadSettings } from '../../shared/config/settings';
import { earlierStateKeys, legacyStateKey, stateKey, stateScope } from '../../shared/state/stateKey';

const valid = {
  identity: { externalId: 'BrazeCustomerId', email: 'PrimaryEmail' },
  segments: [{ table: 'HighValueSegment', brazeSegmentApiId: '3bbc4555-8fa0-4c9b-a5c0-4505edf3e064' }],
  attributes: { FirstName: 'first_name', LifetimeValue: 'ci_lifetime_value' },
};
const settings = loadSettings({
  CI_EXPORT_STORAGE: 'UseDevelopmentStorage=true',
  CI_EXPORT_CONTAINER: 'exports',
  CI_EXPORT_PATH: 'CustomerInsights_1/BrazeFeed',
  STATE_STORAGE: 'UseDevelopmentStorage=true',
  BRAZE_REST_ENDPOINT: 'rest.iad-03.braze.com',
  BRAZE_API_KEY: 'key-one',
  EXPORT_CONFIG: '{}',
});

function problemsOf(raw: unknown): readonly string[] {
  try {
    validateExportConfig(raw);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected the config to be rejected');
}

describe('columnTypes in the export config', () => {
  it('is absent from the validated config when not set, so existing configs hash as before', () => {
    const config = validateExportConfig(valid);
    expect('columnTypes' in config).toBe(false);
    expect(validateExportConfig({ ...valid, columnTypes: {} })).toEqual(config);
  });

  it('accepts the type names model.json uses and hands them to the reader', () => {
    const config = validateExportConfig({ ...valid, columnTypes: { lifetimevalue: 'decimal' } });
    expect(config.columnTypes).toEqual({ lifetimevalue: 'decimal' });
    expect(columnTypingOf(config)).toEqual({
      types: { lifetimevalue: 'decimal' },
      tables: ['HighValueSegment'],
      attributeColumns: [
        { column: 'FirstName', configKey: 'attributes.FirstName' },
        { column: 'LifetimeValue', configKey: 'attributes.LifetimeValue' },
      ],
    });
  });

  it('names the key of an unknown type, a column the config never reads, and a column listed twice', () => {
    expect(problemsOf({ ...valid, columnTypes: { LifetimeValue: 'number' } })).toEqual([
      'columnTypes.LifetimeValue: expected one of "string", "int64", "double", "decimal", "boolean", "dateTime"',
    ]);
    expect(problemsOf({ ...valid, columnTypes: { Points: 'int64' } })).toEqual([
      'columnTypes.Points: not a column the config reads (identity or attributes)',
    ]);
    expect(problemsOf({ ...valid, columnTypes: { LifetimeValue: 'decimal', lifetimeValue: 'double' } })).toEqual([
      'columnTypes.lifetimeValue: the column is listed twice (names are matched ignoring case)',
    ]);
  });

  it('is part of the config hash: another type may send other values', () => {
    const untyped = exportConfigHash(validateExportConfig(valid));
    const typed = exportConfigHash(validateExportConfig({ ...valid, columnTypes: { LifetimeValue: 'decimal' } }));
    const asText = exportConfigHash(validateExportConfig({ ...valid, columnTypes: { LifetimeValue: 'string' } }));
    expect(new Set([untyped, typed, asText]).size).toBe(3);
  });
});

describe('column names in the wrong case', () => {
  const wrongCase = {
    ...valid,
    identity: { externalId: 'brazecustomerid', email: 'PRIMARYEMAIL', customerId: 'customerid' },
    attributes: { firstname: 'first_name', LIFETIMEVALUE: 'ci_lifetime_value' },
    columnTypes: { lifetimevalue: 'decimal' },
  };
  const right = { ...valid, columnTypes: { LifetimeValue: 'decimal' } };

  it('give the same state key and config hash as the names written right', () => {
    const a = validateExportConfig(wrongCase);
    const b = validateExportConfig(right);
    expect(stateKey(stateScope(settings, a))).toBe(stateKey(stateScope(settings, b)));
    expect(exportConfigHash(a)).toBe(exportConfigHash(b));
  });

  it('still tell other columns, Braze attributes and identity choices apart', () => {
    const base = validateExportConfig(right);
    const others = [
      { ...right, identity: { ...right.identity, externalId: 'OtherId' } },
      { ...right, identity: { ...right.identity, whenExternalIdMissing: 'alias' } },
    ].map((raw) => validateExportConfig(raw));
    for (const other of others)
      expect(stateKey(stateScope(settings, other))).not.toBe(stateKey(stateScope(settings, base)));
    const renamed = validateExportConfig({ ...right, attributes: { ...right.attributes, FirstName: 'ci_first' } });
    expect(exportConfigHash(renamed)).not.toBe(exportConfigHash(base));
  });

  it('leave the keys of earlier versions to take over from: the key before lower-casing, then the legacy key', () => {
    const config = validateExportConfig(valid);
    const keys = earlierStateKeys(settings, config);
    expect(keys).toHaveLength(2);
    expect(keys[0]).not.toBe(stateKey(stateScope(settings, config)));
    expect(keys[1]).toBe(legacyStateKey(config, settings.brazeRestEndpoint));
    // A config written in lower case already had the key lower-casing gives.
    const lower = validateExportConfig({
      ...valid,
      identity: {
        externalId: 'brazecustomerid',
        email: 'primaryemail',
        customerId: 'customerid',
        previousCustomerId: 'previouscustomerid',
      },
    });
    expect(earlierStateKeys(settings, lower)[0]).toBe(stateKey(stateScope(settings, lower)));
  });
});
