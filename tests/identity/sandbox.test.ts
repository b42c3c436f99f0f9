import { BrazeSandbox, SharedEmail, startBrazeSandbox } from '../../tools/braze-sandbox/server';
import { call, track } from '../sandbox/http';

const SEGMENT = 'seg-1';
const alias = (name: string) => ({ alias_name: name, alias_label: 'ci_customer_id' });

describe('Braze sandbox: identity endpoints and email rules', () => {
  let sandbox: BrazeSandbox;

  beforeAll(async () => {
    sandbox = await startBrazeSandbox({ rateLimit: null });
  });
  afterAll(async () => sandbox.close());
  beforeEach(() => sandbox.reset('all'));

  it('applies Braze email syntax: whitespace, misplaced dots and non-Punycode domains are EMAIL_BAD_FORMAT', async () => {
    const valid = ['a@b.co', 'first.last+tag@example.com', 'jürgen@example.de', 'x@xn--bcher-kva.example'];
    const invalid = [
      ' a@b.co',
      'a@b.co ',
      'a b@c.co',
      '.a@b.co',
      'a.@b.co',
      'a..b@c.co',
      'a@.b.co',
      'a@b..co',
      'a@b.co.',
      'a@bücher.example',
      'a@localhost',
      'ab.co',
      '@b.co',
    ];
    const reply = await track(sandbox, {
      attributes: [...valid, ...invalid].map((email, i) => ({ external_id: `u${i}`, email })),
    });
    expect(reply.status).toBe(201);
    const errors = reply.json.errors as Array<{ type: string; index: number }>;
    expect(errors.map((e) => e.index)).toEqual(invalid.map((_, i) => valid.length + i));
    expect(new Set(errors.map((e) => e.type))).toEqual(new Set(['EMAIL_BAD_FORMAT']));
    expect(sandbox.profiles()).toHaveLength(valid.length);
  });

  it('makes a duplicate for an unknown external id with a known email; the email then resolves to the identified one', async () => {
    await track(sandbox, { attributes: [{ email: 'x@example.com', [SEGMENT]: true }] });
    await track(sandbox, { attributes: [{ external_id: 'E', email: 'x@example.com', [SEGMENT]: true }] });
    // The removal the old planner sent for the vanished email key: it lands on the identified profile.
    await track(sandbox, { attributes: [{ email: 'x@example.com', _update_existing_only: true, [SEGMENT]: null }] });
    const profiles = sandbox.profiles();
    expect(profiles).toHaveLength(2);
    expect(sandbox.findProfile({ external_id: 'E' })?.attributes[SEGMENT]).toBeUndefined();
    expect(profiles.find((p) => p.external_id === undefined)?.attributes[SEGMENT]).toBe(true);
    const shared: SharedEmail[] = [{ email: 'x@example.com', braze_ids: profiles.map((p) => p.braze_id) }];
    expect(sandbox.sharedEmails()).toEqual(shared);
    expect((await call(sandbox, 'GET', '/_sim/shared-emails', undefined, null)).json).toEqual({ emails: shared });
  });

  it('identifies an email-only profile: it gets the external id and keeps its data, no second profile', async () => {
    await track(sandbox, { attributes: [{ email: 'x@example.com', first_name: 'Ann', [SEGMENT]: true }] });
    const reply = await call(sandbox, 'POST', '/users/identify', {
      emails_to_identify: [{ external_id: 'E', email: 'x@example.com', prioritization: ['unidentified'] }],
    });
    expect(reply.status).toBe(201);
    expect(reply.json).toMatchObject({ message: 'success', emails_processed: 1 });
    await track(sandbox, { attributes: [{ external_id: 'E', email: 'x@example.com', last_name: 'Lee' }] });
    const [profile] = sandbox.profiles();
    expect(sandbox.profiles()).toHaveLength(1);
    expect(profile).toMatchObject({ external_id: 'E', email: 'x@example.com' });
    expect(profile.attributes).toEqual({ first_name: 'Ann', last_name: 'Lee', [SEGMENT]: true });
    expect(sandbox.sharedEmails()).toEqual([]);
  });

  it('identifies an alias-only profile into an existing external id: fields only it has are kept, its alias resolves there', async () => {
    await track(sandbox, {
      attributes: [
        { user_alias: alias('c1'), _update_existing_only: false, first_name: 'Ann', [SEGMENT]: true },
        { external_id: 'E', first_name: 'Annie' },
      ],
    });
    const reply = await call(sandbox, 'POST', '/users/identify', {
      aliases_to_identify: [{ external_id: 'E', user_alias: alias('c1') }],
    });
    expect(reply.json).toMatchObject({ aliases_processed: 1 });
    expect(sandbox.profiles()).toHaveLength(1);
    const merged = sandbox.findProfile({ alias: alias('c1') });
    expect(merged).toMatchObject({ external_id: 'E', attributes: { first_name: 'Annie', [SEGMENT]: true } });
  });

  it('renames an external id: the old one is deprecated and keeps resolving; a taken or unknown id is refused', async () => {
    await track(sandbox, { attributes: [{ external_id: 'A', [SEGMENT]: true }, { external_id: 'C' }] });
    const reply = await call(sandbox, 'POST', '/users/external_ids/rename', {
      external_id_renames: [
        { current_external_id: 'A', new_external_id: 'B' },
        { current_external_id: 'C', new_external_id: 'A' },
        { current_external_id: 'Z', new_external_id: 'Y' },
      ],
    });
    expect(reply.status).toBe(201);
    expect(reply.json.external_ids).toEqual(['B']);
    expect((reply.json.rename_errors as unknown[][]).map((e) => e[0])).toEqual([
      'new_external_id already exists',
      'current_external_id is not a primary external id',
    ]);
    await track(sandbox, { attributes: [{ external_id: 'A', _update_existing_only: true, [SEGMENT]: null }] });
    expect(sandbox.profiles()).toHaveLength(2);
    expect(sandbox.findProfile({ external_id: 'B' })).toMatchObject({ external_id: 'B', attributes: {} });
    expect(sandbox.findProfile({ external_id: 'A' })?.external_id).toBe('B');
  });

  it('merges one profile into another: fields only the merged one has are copied, the merged one is gone', async () => {
    await track(sandbox, {
      attributes: [
        { external_id: 'A', email: 'a@example.com', first_name: 'Ann', [SEGMENT]: true },
        { external_id: 'B', first_name: 'Anne' },
      ],
    });
    const reply = await call(sandbox, 'POST', '/users/merge', {
      merge_updates: [{ identifier_to_merge: { external_id: 'A' }, identifier_to_keep: { external_id: 'B' } }],
    });
    expect(reply.status).toBe(202);
    expect(sandbox.profiles()).toHaveLength(1);
    expect(sandbox.findProfile({ external_id: 'A' })).toBeUndefined();
    expect(sandbox.findProfile({ email: 'a@example.com' })).toMatchObject({
      external_id: 'B',
      attributes: { first_name: 'Anne', [SEGMENT]: true },
    });
    await track(sandbox, { attributes: [{ external_id: 'A', _update_existing_only: true, last_name: 'X' }] });
    expect(sandbox.profiles()).toHaveLength(1);
  });

  it('refuses more than 50 entries, malformed entries and keys without the permission', async () => {
    const renames = Array.from({ length: 51 }, (_, i) => ({ current_external_id: `a${i}`, new_external_id: `b${i}` }));
    expect((await call(sandbox, 'POST', '/users/external_ids/rename', { external_id_renames: renames })).status).toBe(
      400,
    );
    const malformed = await call(sandbox, 'POST', '/users/identify', {
      emails_to_identify: [{ external_id: 'E', email: 'x@example.com' }],
    });
    expect(malformed.status).toBe(400);
    const trackOnly = await startBrazeSandbox({
      rateLimit: null,
      apiKeys: [{ key: 'k', permissions: ['users.track'] }],
    });
    try {
      const merge = {
        merge_updates: [{ identifier_to_merge: { external_id: 'A' }, identifier_to_keep: { external_id: 'B' } }],
      };
      expect((await call(trackOnly, 'POST', '/users/merge', merge, 'k')).status).toBe(403);
    } finally {
      await trackOnly.close();
    }
  });
});
