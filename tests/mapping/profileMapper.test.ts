import { validateExportConfig } from '../../shared/config/exportConfig';
import { createProfileMapper, identifierFields, missingColumns } from '../../shared/mapping/profileMapper';
import type { CellValue, EntityDescriptor } from '../../shared/source/types';

const entity: EntityDescriptor = {
  name: 'LoyalGold',
  partitions: [],
  columns: [
    { name: 'CustomerId', dataType: 'guid' },
    { name: 'BrazeCustomerId', dataType: 'string' },
    { name: 'PrimaryEmail', dataType: 'string' },
    { name: 'FirstName', dataType: 'string' },
    { name: 'DateOfBirth', dataType: 'datetime' },
    { name: 'LifetimeValue', dataType: 'decimal' },
    { name: 'EmailOptIn', dataType: 'boolean' },
    { name: 'PreviousCustomerId', dataType: 'string' },
  ],
};

function configWith(overrides: Record<string, unknown> = {}) {
  return validateExportConfig({
    identity: { externalId: 'BrazeCustomerId', email: 'PrimaryEmail', whenExternalIdMissing: 'alias' },
    segments: [{ table: 'LoyalGold', brazeSegmentApiId: 'seg-gold' }],
    attributes: { firstname: 'first_name', DateOfBirth: 'dob', LifetimeValue: 'ci_ltv', EmailOptIn: 'ci_opt_in' },
    ...overrides,
  });
}

const row = (cells: Partial<Record<string, CellValue>>): CellValue[] =>
  entity.columns.map((c) => (c.name in cells ? (cells[c.name] ?? null) : null));

describe('profile mapper', () => {
  it('maps identity, email and converted attributes in config order (columns matched case-insensitively)', () => {
    const mapper = createProfileMapper(configWith(), entity);
    expect(mapper.attributeNames).toEqual(['email', 'first_name', 'dob', 'ci_ltv', 'ci_opt_in']);
    const outcome = mapper.map(
      row({
        CustomerId: 'c-1',
        BrazeCustomerId: 'BZ-1',
        PrimaryEmail: 'a@example.com',
        FirstName: 'Mária',
        DateOfBirth: '1979-11-02T00:00:00.000Z',
        LifetimeValue: '2310.40',
        EmailOptIn: true,
      }),
    );
    expect(outcome).toEqual({
      kind: 'mapped',
      row: {
        key: 'e:BZ-1',
        customerId: 'c-1',
        values: ['a@example.com', 'Mária', '1979-11-02', 2310.4, true],
        previousCustomerIds: [],
      },
    });
  });

  it('names the columns it reads, so the reader converts only those', () => {
    expect(createProfileMapper(configWith(), entity).columnsRead).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const fewer = configWith({ attributes: { EmailOptIn: 'ci_opt_in' } });
    // CustomerId (alias fallback) and PreviousCustomerId (merges) are identity columns: always read.
    expect(createProfileMapper(fewer, entity).columnsRead).toEqual([0, 1, 2, 6, 7]);
  });

  it('falls back to an alias on the CustomerId and keeps previous ids of a merge', () => {
    const outcome = createProfileMapper(configWith(), entity).map(
      row({ CustomerId: 'c-2', PreviousCustomerId: 'old-1; old-2' }),
    );
    expect(outcome).toMatchObject({ kind: 'mapped', row: { key: 'a:c-2', previousCustomerIds: ['old-1', 'old-2'] } });
  });

  it('falls back to email, or skips with a reason', () => {
    const byEmail = configWith({
      identity: { externalId: 'BrazeCustomerId', email: 'PrimaryEmail', whenExternalIdMissing: 'email' },
    });
    expect(createProfileMapper(byEmail, entity).map(row({ PrimaryEmail: 'x@example.com' }))).toMatchObject({
      row: { key: 'm:x@example.com' },
    });
    expect(createProfileMapper(byEmail, entity).map(row({ CustomerId: 'c' }))).toEqual({
      kind: 'skipped',
      reason: 'no external id and no email',
    });
    const skip = configWith({ identity: { externalId: 'BrazeCustomerId', whenExternalIdMissing: 'skip' } });
    expect(createProfileMapper(skip, entity).map(row({ CustomerId: 'c' }))).toEqual({
      kind: 'skipped',
      reason: 'no external id (whenExternalIdMissing: skip)',
    });
  });

  it('rejects values Braze would refuse, naming the column', () => {
    const mapper = createProfileMapper(configWith(), entity);
    expect(mapper.map(row({ BrazeCustomerId: 'x'.repeat(988) }))).toEqual({
      kind: 'rejected',
      column: 'BrazeCustomerId',
      reason: 'external id longer than 987 bytes',
    });
    // The user is still named, so the pipeline can keep what Braze has for them.
    expect(mapper.map(row({ BrazeCustomerId: 'ok', FirstName: 'y'.repeat(256) }))).toEqual({
      kind: 'rejected',
      column: 'FirstName',
      reason: 'value longer than 255 characters',
      key: 'e:ok',
    });
  });

  it('reports columns the config names but the table lacks', () => {
    const config = configWith({ attributes: { Nope: 'x', FirstName: 'first_name' } });
    expect(missingColumns(config, entity)).toEqual(['Nope']);
    expect(() => createProfileMapper(config, entity)).toThrow('table LoyalGold lacks column(s) Nope');
  });

  it('builds Braze identifiers; alias profiles are created unless update-only', () => {
    expect(identifierFields('e:u1', false)).toEqual({ external_id: 'u1' });
    expect(identifierFields('e:u1', true)).toEqual({ external_id: 'u1', _update_existing_only: true });
    expect(identifierFields('m:a@b.co', false)).toEqual({ email: 'a@b.co' });
    expect(identifierFields('a:c-9', false)).toEqual({
      user_alias: { alias_name: 'c-9', alias_label: 'ci_customer_id' },
      _update_existing_only: false,
    });
  });
});
