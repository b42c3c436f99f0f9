import { validateExportConfig } from '../../shared/config/exportConfig';
import { emailProblem } from '../../shared/mapping/email';
import { createProfileMapper } from '../../shared/mapping/profileMapper';
import type { EntityDescriptor } from '../../shared/source/types';

const entity = {
  name: 'Gold',
  columns: [
    { name: 'CustomerId', dataType: 'string' },
    { name: 'BrazeCustomerId', dataType: 'string' },
    { name: 'Email', dataType: 'string' },
    { name: 'FirstName', dataType: 'string' },
  ],
} as unknown as EntityDescriptor;
const mapperFor = (whenExternalIdMissing: string) =>
  createProfileMapper(
    validateExportConfig({
      identity: { externalId: 'BrazeCustomerId', email: 'Email', whenExternalIdMissing },
      segments: [{ table: 'Gold', brazeSegmentApiId: 'seg' }],
      attributes: { FirstName: 'first_name' },
    }),
    entity,
  );

describe('emails: trimmed, checked with Braze rules, a bad one is left out', () => {
  it('follows Braze syntax rules (spec §3.4)', () => {
    for (const good of ['a@b.co', 'first.last+x@example.com', 'jürgen@example.de', 'x@xn--bcher-kva.example']) {
      expect(emailProblem(good)).toBeNull();
    }
    for (const bad of ['a b@c.co', '.a@b.co', 'a.@b.co', 'a..b@c.co', 'a@b..co', 'a@bücher.example', 'ab.co', 'a@b']) {
      expect(emailProblem(bad)).toEqual(expect.any(String));
    }
    // The reason never echoes the email.
    expect(emailProblem('secret person@example.com')).not.toContain('secret');
  });

  it('trims the email it sends, not only the key', () => {
    const outcome = mapperFor('email').map(['c1', null, '  ann@example.com ', 'Ann']);
    expect(outcome).toMatchObject({
      kind: 'mapped',
      row: { key: 'm:ann@example.com', values: ['ann@example.com', 'Ann'] },
    });
  });

  it('delivers a person with another identifier without the bad email, and says why', () => {
    const byExternalId = mapperFor('email').map(['c1', 'E1', 'ann(at)example.com', 'Ann']);
    expect(byExternalId).toMatchObject({
      kind: 'mapped',
      row: { key: 'e:E1', values: [null, 'Ann'], emailColumn: 'Email', emailProblem: expect.any(String) },
    });
    const byAlias = mapperFor('alias').map(['c1', null, 'ann @example.com', 'Ann']);
    expect(byAlias).toMatchObject({ kind: 'mapped', row: { key: 'a:c1', emailProblem: 'email contains whitespace' } });
  });

  it('rejects the row, naming the column, when the email was its only identifier', () => {
    expect(mapperFor('email').map(['c1', null, 'ann@@example.com', 'Ann'])).toEqual({
      kind: 'rejected',
      column: 'Email',
      reason: expect.any(String),
    });
  });
});
