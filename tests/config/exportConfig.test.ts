import { exportConfigHash, parseExportConfig, validateExportConfig } from '../../shared/config/exportConfig';
import { ConfigError } from '../../shared/config/errors';

const valid = {
  identity: { externalId: 'BrazeCustomerId', email: 'PrimaryEmail', whenExternalIdMissing: 'email' },
  segments: [{ table: 'HighValueSegment', brazeSegmentApiId: '3bbc4555-8fa0-4c9b-a5c0-4505edf3e064' }],
  attributes: { FirstName: 'first_name', LifetimeValue: 'ci_lifetime_value' },
  membership: { value: true, onLeave: 'remove' },
  updateExistingOnly: false,
};

function problemsOf(raw: unknown): readonly string[] {
  try {
    validateExportConfig(raw);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected the config to be rejected');
}

describe('export config', () => {
  it('accepts the design example and fills defaults', () => {
    const config = validateExportConfig(valid);
    expect(config.identity).toEqual({
      externalId: 'BrazeCustomerId',
      email: 'PrimaryEmail',
      whenExternalIdMissing: 'email',
      customerId: 'CustomerId',
      previousCustomerId: 'PreviousCustomerId',
    });
    expect(config.attributes).toEqual([
      { column: 'FirstName', brazeAttribute: 'first_name' },
      { column: 'LifetimeValue', brazeAttribute: 'ci_lifetime_value' },
    ]);
    expect(config.membership).toEqual({ value: true, onLeave: 'remove' });
  });

  it('names the key and what is expected', () => {
    expect(
      problemsOf({
        ...valid,
        identity: { externalId: 7, whenExternalIdMissing: 'phone' },
        segments: [
          { table: 'A', brazeSegmentApiId: '$bad' },
          { table: 'A', brazeSegmentApiId: 'x' },
        ],
        attributes: { FirstName: 'external_id', Other: '$x' },
        membership: { onLeave: 'delete' },
        updateExistingOnly: 'yes',
        extra: 1,
      }),
    ).toEqual(
      expect.arrayContaining([
        'identity.externalId: expected a non-empty string',
        'identity.whenExternalIdMissing: expected one of "email", "alias", "skip"',
        'segments[0].brazeSegmentApiId: Braze attribute names must not start with "$"',
        'segments[1].table: "A" is listed twice',
        'attributes.FirstName: "external_id" is a Braze identifier or flag and cannot be a mapped attribute',
        'attributes.Other: Braze attribute names must not start with "$"',
        'membership.onLeave: expected one of "remove", "false"',
        'updateExistingOnly: expected true or false',
        'extra: unknown key',
      ]),
    );
  });

  it('refuses unknown keys at every level, naming the full path and the near miss', () => {
    const problems = problemsOf({
      ...valid,
      identity: { externalId: 'BrazeCustomerId', email: 'PrimaryEmail', whenExternalIDMissing: 'alias' },
      segments: [...valid.segments, { table: 'B', brazeSegmentApiId: 'b' }, { tabel: 'C', brazeSegmentApiId: 'c' }],
      membership: { value: true, onleave: 'false' },
      updateExistingOnyl: true,
      whenExternalIdMissing: 'skip',
      notes: 'kept for later',
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'identity.whenExternalIDMissing: unknown key; did you mean identity.whenExternalIdMissing?',
        'segments[2].tabel: unknown key; did you mean segments[2].table?',
        'membership.onleave: unknown key; did you mean membership.onLeave?',
        'updateExistingOnyl: unknown key; did you mean updateExistingOnly?',
        // Right name, wrong level.
        'whenExternalIdMissing: unknown key; did you mean identity.whenExternalIdMissing?',
        'notes: unknown key',
      ]),
    );
    // The misspelt segment has no table; the typo is not silently replaced by a default.
    expect(problems).toContain('segments[2].table: required, expected a non-empty string');
  });

  it('accepts $schema (for editors) and leaves it out of the config and its hash', () => {
    const config = validateExportConfig({ $schema: './export.config.schema.json', ...valid });
    expect(config).not.toHaveProperty('$schema');
    expect(exportConfigHash(config)).toBe(exportConfigHash(validateExportConfig(valid)));
  });

  it('rejects an empty segment list and email fallback without an email column', () => {
    const problems = problemsOf({ identity: { externalId: 'X' }, segments: [] });
    expect(problems).toContain('segments: expected a non-empty array of { "table", "brazeSegmentApiId" }');
    expect(problems).toContain('identity.whenExternalIdMissing is "email" but identity.email names no column');
  });

  it('reports invalid JSON with the source name', () => {
    expect(() => parseExportConfig('{ nope', 'export.config.json')).toThrow(
      /Invalid export.config.json:\n- not valid JSON/,
    );
  });

  it('hashes what the config means: not the order of attributes and segments, nor the JSON formatting', () => {
    const config = validateExportConfig(valid);
    const reordered = parseExportConfig(
      JSON.stringify(
        {
          ...valid,
          attributes: Object.fromEntries(Object.entries(valid.attributes).reverse()),
          segments: [...valid.segments].reverse(),
        },
        null,
        4,
      ),
      'reordered.json',
    );
    expect(reordered.attributes).not.toEqual(config.attributes);
    expect(exportConfigHash(reordered)).toBe(exportConfigHash(config));
    expect(exportConfigHash(validateExportConfig({ ...valid, updateExistingOnly: true }))).not.toBe(
      exportConfigHash(config),
    );
  });
});
