import {
  BrazeSandbox,
  MAX_INPUT_MESSAGE,
  startBrazeSandbox,
  VALID_DATA_MESSAGE,
} from '../../tools/braze-sandbox/server';
import { call, track, users } from './http';

describe('Braze sandbox: POST /users/track', () => {
  let sandbox: BrazeSandbox;

  beforeAll(async () => {
    sandbox = await startBrazeSandbox({
      apiKeys: [
        { key: 'full-key' },
        { key: 'export-only', permissions: ['users.export.ids'] },
        { key: 'eu-key', cluster: 'rest.fra-01.braze.eu' },
        { key: 'us-key', cluster: 'iad-01' },
      ],
      blocklistedExternalIds: ['spam-user'],
    });
  });
  afterAll(async () => sandbox.close());
  beforeEach(() => sandbox.reset('all'));

  describe('routing and auth', () => {
    it('answers 404 with a message for unknown paths and methods', async () => {
      const unknownPath = await call(sandbox, 'POST', '/users/nope', {});
      const wrongMethod = await call(sandbox, 'GET', '/users/track');
      expect(unknownPath.status).toBe(404);
      expect(typeof unknownPath.json.message).toBe('string');
      expect(wrongMethod.status).toBe(404);
    });

    it('rejects a missing, malformed, quoted or unknown key with 401', async () => {
      const body = { attributes: users(1) };
      expect((await track(sandbox, body, { apiKey: null })).status).toBe(401);
      expect((await track(sandbox, body, { apiKey: 'nope' })).status).toBe(401);
      expect((await track(sandbox, body, { apiKey: '"full-key"' })).status).toBe(401);
      const response = await fetch(`${sandbox.url}/users/track`, {
        method: 'POST',
        headers: { authorization: 'Basic full-key', 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(response.status).toBe(401);
      expect(sandbox.profiles()).toHaveLength(0);
    });

    it('rejects a key of another cluster with 401 and accepts one of this cluster', async () => {
      const wrongCluster = await track(sandbox, { attributes: users(1) }, { apiKey: 'eu-key' });
      expect(wrongCluster.status).toBe(401);
      expect(wrongCluster.json).toEqual({ message: expect.any(String) });
      expect((await track(sandbox, { attributes: users(1) }, { apiKey: 'us-key' })).status).toBe(201);
    });

    it('answers 403 Access Denied when the key lacks users.track', async () => {
      const reply = await track(sandbox, { attributes: users(1) }, { apiKey: 'export-only' });
      expect(reply.status).toBe(403);
      expect(reply.json).toEqual({ message: 'Access Denied' });
    });
  });

  describe('request-level validation', () => {
    it('accepts 75 objects combined and refuses 76 with Max Input Length Exceeded', async () => {
      const ok = await track(sandbox, { attributes: users(50), events: eventsFor(25) });
      expect(ok.status).toBe(201);
      const over = await track(sandbox, { attributes: users(50), events: eventsFor(26) });
      expect(over.status).toBe(400);
      expect(over.json.message).toBe(MAX_INPUT_MESSAGE);
      expect(sandbox.findProfile({ external_id: 'u49' })).toBeDefined();
    });

    it('applies a lower cap and the legacy per-array scope when configured', async () => {
      const capped = await startBrazeSandbox({ maxObjectsPerRequest: 50 });
      const legacy = await startBrazeSandbox({ objectCapScope: 'perArray' });
      try {
        expect((await track(capped, { attributes: users(51) })).json.message).toBe(MAX_INPUT_MESSAGE);
        expect((await track(legacy, { attributes: users(75), events: eventsFor(75) })).status).toBe(201);
        expect((await track(legacy, { attributes: users(76) })).status).toBe(400);
      } finally {
        await Promise.all([capped.close(), legacy.close()]);
      }
    });

    it('answers 413 for a body over the configured maximum', async () => {
      const small = await startBrazeSandbox({ maxBodyBytes: 1000 });
      try {
        const reply = await track(small, { attributes: [{ external_id: 'u1', blob: 'x'.repeat(2000) }] });
        expect(reply.status).toBe(413);
        expect(small.profiles()).toHaveLength(0);
      } finally {
        await small.close();
      }
    });

    it('answers 400 for invalid JSON and for a non-JSON content type', async () => {
      const broken = await track(sandbox, undefined, { rawBody: '{"attributes": [' });
      expect(broken.status).toBe(400);
      const wrongType = await track(sandbox, { attributes: users(1) }, { contentType: 'text/plain' });
      expect(wrongType.status).toBe(400);
      expect(sandbox.profiles()).toHaveLength(0);
    });

    it('answers 400 "Valid data…" when no array has objects', async () => {
      for (const body of [{}, { attributes: [] }, { attributes: [], events: [] }, { attributes: 'x' }]) {
        const reply = await track(sandbox, body);
        expect(reply.status).toBe(400);
        expect(reply.json).toEqual({ message: VALID_DATA_MESSAGE });
      }
    });

    it('ignores unknown top-level keys such as partner', async () => {
      const reply = await track(sandbox, { partner: 'RudderStack', attributes: users(1) });
      expect(reply.status).toBe(201);
    });
  });

  describe('per-object validation', () => {
    it('answers 400 with every error when all objects are invalid', async () => {
      const reply = await track(sandbox, {
        attributes: [{ first_name: 'NoId' }, { external_id: 'u1', email: 'not-an-email' }],
        events: [{ external_id: 'u1', name: 'played' }],
      });
      expect(reply.status).toBe(400);
      expect(reply.json).toEqual({
        message: VALID_DATA_MESSAGE,
        errors: [
          { type: "'external_id' or 'braze_id' or 'user_alias' is required", input_array: 'attributes', index: 0 },
          { type: 'EMAIL_BAD_FORMAT', input_array: 'attributes', index: 1 },
          { type: expect.any(String), input_array: 'events', index: 0 },
        ],
      });
      expect(sandbox.profiles()).toHaveLength(0);
    });

    it('answers 201 with errors at the right indexes and applies the valid objects', async () => {
      const reply = await track(sandbox, {
        attributes: [
          { external_id: 'ok-0', plan: 'pro' },
          { external_id: 'a', braze_id: 'b' },
          { external_id: 'ok-2' },
          { user_alias: { alias_name: 'x' } },
          { external_id: 'x'.repeat(988) },
          { external_id: 'spam-user' },
          { external_id: 'ok-6', email_subscribe: 'maybe' },
          { external_id: 'ok-7', push_subscribe: 'sometimes' },
          { external_id: 'ok-8', $bad: 1 },
          { external_id: 'ok-9', ['k'.repeat(256)]: 1 },
          {
            external_id: 'ok-10',
            subscription_groups: [{ subscription_group_id: 'nope', subscription_state: 'subscribed' }],
          },
          { external_id: 'ok-11', current_location: { longitude: 'east' } },
          { external_id: 'é'.repeat(494) },
        ],
        purchases: [
          { external_id: 'ok-0', product_id: 'p', currency: 'USD', price: 1, time: '2026-01-01T00:00:00Z' },
          { external_id: 'ok-0', product_id: 'p', currency: 'USD', time: '2026-01-01T00:00:00Z' },
        ],
      });
      expect(reply.status).toBe(201);
      expect(reply.json.message).toBe('success');
      expect(reply.json.attributes_processed).toBe(2);
      expect(reply.json.purchases_processed).toBe(1);
      expect(reply.json).not.toHaveProperty('events_processed');
      const errors = reply.json.errors as Array<{ type: string; input_array: string; index: number }>;
      expect(errors.map((e) => `${e.input_array}[${e.index}]`)).toEqual([
        'attributes[1]',
        'attributes[3]',
        'attributes[4]',
        'attributes[5]',
        'attributes[6]',
        'attributes[7]',
        'attributes[8]',
        'attributes[9]',
        'attributes[10]',
        'attributes[11]',
        'attributes[12]',
        'purchases[1]',
      ]);
      const types = Object.fromEntries(errors.map((e) => [`${e.input_array}[${e.index}]`, e.type]));
      expect(types['attributes[4]']).toBe('EXTERNAL_USER_ID_TOO_LARGE');
      expect(types['attributes[12]']).toBe('EXTERNAL_USER_ID_TOO_LARGE');
      expect(types['attributes[5]']).toBe('BLACKLISTED_EXTERNAL_USER_ID');
      expect(types['attributes[6]']).toBe('BAD_EMAIL_SUBSCRIPTION_STATE');
      expect(types['attributes[7]']).toBe('BAD_PUSH_SUBSCRIPTION_STATE');
      expect(types['attributes[10]']).toBe('BAD_SUBSCRIPTION_GROUP_ID');
      expect(types['attributes[11]']).toBe('BAD_LOCATION_UPDATE');
      expect(sandbox.profiles().map((p) => p.external_id)).toEqual(['ok-0', 'ok-2']);
      expect(sandbox.findProfile({ external_id: 'ok-0' })?.purchases?.p.count).toBe(1);
    });

    it('replies 201 {} in empty-success mode', async () => {
      const terse = await startBrazeSandbox({ emptySuccessBody: true });
      try {
        const reply = await track(terse, { attributes: users(1) });
        expect(reply.status).toBe(201);
        expect(reply.json).toEqual({});
        expect(terse.profiles()).toHaveLength(1);
      } finally {
        await terse.close();
      }
    });

    it('identifies events and purchases by email, with the alias default of update-only', async () => {
      const reply = await track(sandbox, {
        events: [
          { email: 'ev@example.com', name: 'opened', time: '2026-01-01T00:00:00Z' },
          { user_alias: { alias_name: 'n', alias_label: 'l' }, name: 'opened', time: '2026-01-01T00:00:00Z' },
        ],
      });
      expect(reply.json).toEqual({ message: 'success', events_processed: 2 });
      expect(sandbox.profiles()).toHaveLength(1);
      expect(sandbox.findProfile({ email: 'ev@example.com' })?.custom_events?.opened.count).toBe(1);
      expect(sandbox.ledger().byKey).toEqual({ $events: 1 });
    });

    it('omits errors from a fully valid reply and counts each present array', async () => {
      const reply = await track(sandbox, { attributes: users(2), events: [] });
      expect(reply.json).toEqual({ message: 'success', attributes_processed: 2, events_processed: 0 });
    });

    it('uses sentences instead of codes in sentence style', async () => {
      const sentences = await startBrazeSandbox({ errorTypeStyle: 'sentence' });
      try {
        const reply = await track(sentences, { attributes: [{ external_id: 'u1', email: 'bad' }, ...users(1)] });
        const [error] = reply.json.errors as Array<{ type: string }>;
        expect(error.type).not.toBe('EMAIL_BAD_FORMAT');
        expect(error.type).toMatch(/email/);
      } finally {
        await sentences.close();
      }
    });
  });

  describe('profile resolution', () => {
    it('creates a user for an unknown external_id unless update-only is set', async () => {
      await track(sandbox, {
        attributes: [
          { external_id: 'new-1', first_name: 'A' },
          { external_id: 'new-2', _update_existing_only: true, first_name: 'B' },
        ],
      });
      expect(sandbox.findProfile({ external_id: 'new-1' })?.attributes.first_name).toBe('A');
      expect(sandbox.findProfile({ external_id: 'new-2' })).toBeUndefined();
    });

    it('treats user_alias as update-only by default and creates the alias user only with an explicit false', async () => {
      const alias = { alias_name: 'crm-42', alias_label: 'crm_id' };
      const first = await track(sandbox, { attributes: [{ user_alias: alias, plan: 'gold' }] });
      expect(first.status).toBe(201);
      expect(first.json).not.toHaveProperty('errors');
      expect(sandbox.findProfile({ alias })).toBeUndefined();

      await track(sandbox, { attributes: [{ user_alias: alias, _update_existing_only: false, plan: 'gold' }] });
      await track(sandbox, { attributes: [{ user_alias: alias, tier: 2 }] });
      const profile = sandbox.findProfile({ alias });
      expect(profile?.user_aliases).toEqual([alias]);
      expect(profile?.external_id).toBeUndefined();
      expect(profile?.attributes).toEqual({ plan: 'gold', tier: 2 });
    });

    it('creates an email-only user for an unknown email and updates it by email later', async () => {
      await track(sandbox, { attributes: [{ email: 'Only@Example.com', first_name: 'E' }] });
      await track(sandbox, { attributes: [{ email: 'only@example.com', last_name: 'Mail' }] });
      const all = sandbox.profiles();
      expect(all).toHaveLength(1);
      expect(all[0].email).toBe('Only@Example.com');
      expect(all[0].external_id).toBeUndefined();
      expect(all[0].user_aliases).toEqual([]);
      expect(all[0].attributes).toEqual({ first_name: 'E', last_name: 'Mail' });
    });

    it('prefers the most recently updated identified profile for a shared email', async () => {
      await track(sandbox, { attributes: [{ email: 'shared@example.com', source: 'anonymous' }] });
      await track(sandbox, {
        attributes: [
          { external_id: 'older', email: 'shared@example.com' },
          { external_id: 'newer', email: 'shared@example.com' },
        ],
      });
      await track(sandbox, { attributes: [{ email: 'shared@example.com' }] });
      // Touch the anonymous one last: the identified rule must still win.
      const anonymous = sandbox.profiles().find((p) => p.external_id === undefined);
      await track(sandbox, { attributes: [{ braze_id: anonymous?.braze_id, touched: true }] });
      await track(sandbox, { attributes: [{ email: 'shared@example.com', picked: true }] });
      expect(sandbox.findProfile({ external_id: 'newer' })?.attributes.picked).toBe(true);
      expect(sandbox.findProfile({ external_id: 'older' })?.attributes.picked).toBeUndefined();
    });

    it('creates a duplicate profile for an unknown external_id whose email is already known', async () => {
      await track(sandbox, { attributes: [{ email: 'dup@example.com' }] });
      await track(sandbox, { attributes: [{ external_id: 'dup', email: 'dup@example.com' }] });
      expect(sandbox.profiles()).toHaveLength(2);
    });

    it('updates by braze_id and skips an unknown braze_id silently', async () => {
      await track(sandbox, { attributes: users(1) });
      const brazeId = sandbox.findProfile({ external_id: 'u0' })?.braze_id as string;
      const reply = await track(sandbox, {
        attributes: [
          { braze_id: brazeId, plan: 'x' },
          { braze_id: 'unknown', plan: 'y' },
        ],
      });
      expect(reply.json).toEqual({ message: 'success', attributes_processed: 2 });
      expect(sandbox.findProfile({ braze_id: brazeId })?.attributes.plan).toBe('x');
      expect(sandbox.profiles()).toHaveLength(1);
    });

    it('identifies by phone when nothing else is given', async () => {
      await track(sandbox, { attributes: [{ phone: '+15550100', city_code: 1 }] });
      await track(sandbox, { attributes: [{ phone: '+15550100', city_code: 2 }] });
      const [profile] = sandbox.profiles();
      expect(sandbox.profiles()).toHaveLength(1);
      expect(profile.phone).toBe('+15550100');
      expect(profile.attributes.city_code).toBe(2);
    });

    it('stores email on an identified user as an ordinary attribute and finds it by email', async () => {
      await track(sandbox, { attributes: [{ external_id: 'e1', email: 'e1@example.com' }] });
      expect(sandbox.findProfile({ email: 'e1@example.com' })?.external_id).toBe('e1');
      await track(sandbox, { attributes: [{ external_id: 'e1', email: null }] });
      expect(sandbox.findProfile({ external_id: 'e1' })?.email).toBeUndefined();
      expect(sandbox.findProfile({ email: 'e1@example.com' })).toBeUndefined();
    });
  });

  describe('attribute semantics', () => {
    it('removes an attribute set to null', async () => {
      await track(sandbox, { attributes: [{ external_id: 'u1', seg: true, keep: 1 }] });
      await track(sandbox, { attributes: [{ external_id: 'u1', seg: null }] });
      expect(sandbox.findProfile({ external_id: 'u1' })?.attributes).toEqual({ keep: 1 });
    });

    it('increments with inc, including negative steps and a missing start value', async () => {
      await track(sandbox, { attributes: [{ external_id: 'u1', visits: { inc: 5 } }] });
      await track(sandbox, { attributes: [{ external_id: 'u1', visits: { inc: -2 } }] });
      expect(sandbox.findProfile({ external_id: 'u1' })?.attributes.visits).toBe(3);
    });

    it('dedupes string arrays, keeps the newest elements and moves re-added ones to the end', async () => {
      const small = await startBrazeSandbox({ arrayMaxLength: 3 });
      try {
        await track(small, { attributes: [{ external_id: 'u1', food: ['hotdog', 'hotdog', 'pizza'] }] });
        expect(small.findProfile({ external_id: 'u1' })?.attributes.food).toEqual(['hotdog', 'pizza']);
        await track(small, { attributes: [{ external_id: 'u1', food: { add: ['hotdog', 'taco'] } }] });
        expect(small.findProfile({ external_id: 'u1' })?.attributes.food).toEqual(['pizza', 'hotdog', 'taco']);
        await track(small, { attributes: [{ external_id: 'u1', food: { add: ['sushi'], remove: ['hotdog'] } }] });
        expect(small.findProfile({ external_id: 'u1' })?.attributes.food).toEqual(['pizza', 'taco', 'sushi']);
        await track(small, { attributes: [{ external_id: 'u1', food: ['a', 'b', 'c', 'd'] }] });
        expect(small.findProfile({ external_id: 'u1' })?.attributes.food).toEqual(['b', 'c', 'd']);
      } finally {
        await small.close();
      }
    });

    it('overwrites nested objects unless _merge_objects, and stores $time as a date', async () => {
      await track(sandbox, { attributes: [{ external_id: 'u1', song: { year: 1960, meta: { a: 1 } } }] });
      await track(sandbox, { attributes: [{ external_id: 'u1', song: { meta: { b: 2 } } }] });
      expect(sandbox.findProfile({ external_id: 'u1' })?.attributes.song).toEqual({ meta: { b: 2 } });
      await track(sandbox, {
        attributes: [
          { external_id: 'u1', _merge_objects: true, song: { year: 1961, released: { $time: '1961-01-01' } } },
        ],
      });
      expect(sandbox.findProfile({ external_id: 'u1' })?.attributes.song).toEqual({
        meta: { b: 2 },
        year: 1961,
        released: '1961-01-01',
      });
    });

    it('drops every nested update of a request that holds an invalid nested value', async () => {
      const reply = await track(sandbox, {
        attributes: [
          { external_id: 'u1', good: { a: 1 }, plain: 'kept' },
          { external_id: 'u2', bad: { 'has space': 1 } },
        ],
      });
      expect(reply.status).toBe(201);
      const profile = sandbox.findProfile({ external_id: 'u1' });
      expect(profile?.attributes).toEqual({ plain: 'kept' });
    });

    it('applies $add, $remove and $update on arrays of objects in that order', async () => {
      await track(sandbox, {
        attributes: [
          {
            external_id: 'u1',
            pets: [
              { id: 1, n: 'a' },
              { id: 2, n: 'b' },
            ],
          },
        ],
      });
      await track(sandbox, {
        attributes: [
          {
            external_id: 'u1',
            _merge_objects: true,
            pets: {
              $add: [{ id: 3, n: 'c' }],
              $remove: [{ $identifier_key: 'id', $identifier_value: 1 }],
              $update: [{ $identifier_key: 'id', $identifier_value: 3, $new_object: { age: 4 } }],
            },
          },
        ],
      });
      expect(sandbox.findProfile({ external_id: 'u1' })?.attributes.pets).toEqual([
        { id: 2, n: 'b' },
        { id: 3, n: 'c', age: 4 },
      ]);
    });

    it('truncates strings over 255 characters and maps countries best-effort', async () => {
      await track(sandbox, {
        attributes: [{ external_id: 'u1', note: 'n'.repeat(300), country: 'Australia', home_city: 'c'.repeat(256) }],
      });
      const attributes = sandbox.findProfile({ external_id: 'u1' })?.attributes ?? {};
      expect(attributes.note).toBe('n'.repeat(255));
      expect(attributes.home_city).toBe('c'.repeat(255));
      expect(attributes.country).toBe('AU');
      await track(sandbox, { attributes: [{ external_id: 'u1', country: 'Atlantis', time_zone: 'Mars/Base' }] });
      const after = sandbox.findProfile({ external_id: 'u1' })?.attributes ?? {};
      expect(after).not.toHaveProperty('country');
      expect(after).not.toHaveProperty('time_zone');
    });

    it('imports push tokens for an anonymous user once, and refuses an import with an external_id', async () => {
      const token = { app_id: 'app-1', token: 'tok-1', device_id: 'device-0001' };
      const first = await track(sandbox, { attributes: [{ push_token_import: true, push_tokens: [token] }] });
      const again = await track(sandbox, { attributes: [{ push_token_import: true, push_tokens: [token] }] });
      expect(first.status).toBe(201);
      expect(again.status).toBe(201);
      expect(sandbox.profiles()).toHaveLength(1);
      expect(sandbox.profiles()[0].attributes.push_tokens).toEqual([token]);
      const refused = await track(sandbox, {
        attributes: [
          { push_token_import: true, external_id: 'u1', push_tokens: [token] },
          { push_token_import: true, push_tokens: [{ app_id: 'app-1', token: 't', device_id: 'short' }] },
          ...users(1),
        ],
      });
      expect((refused.json.errors as Array<{ type: string }>).map((e) => e.type)).toEqual([
        'BAD_PUSH_TOKEN_IMPORT',
        'BAD_DEVICE_ID',
      ]);
      expect(sandbox.ledger().total).toBe(0);
    });

    it('passes an email subscription change on to other profiles with the same email', async () => {
      await track(sandbox, {
        attributes: [
          { external_id: 'twin-1', email: 'twin@example.com' },
          { external_id: 'twin-2', email: 'twin@example.com' },
        ],
      });
      await track(sandbox, { attributes: [{ external_id: 'twin-1', email_subscribe: 'unsubscribed' }] });
      expect(sandbox.findProfile({ external_id: 'twin-2' })?.attributes.email_subscribe).toBe('unsubscribed');
    });

    it('records events and purchases on the profile', async () => {
      await track(sandbox, {
        events: [
          { external_id: 'u1', name: 'played', time: '2026-01-01T00:00:00Z' },
          { external_id: 'u1', name: 'played', time: '2026-01-02T00:00:00Z' },
        ],
      });
      expect(sandbox.findProfile({ external_id: 'u1' })?.custom_events?.played).toEqual({
        count: 2,
        first: '2026-01-01T00:00:00Z',
        last: '2026-01-02T00:00:00Z',
      });
    });
  });

  describe('data-point ledger', () => {
    it('charges per key written, without dedup, and skips identifiers, flags and non-billable keys', async () => {
      const body = {
        attributes: [
          {
            external_id: 'u1',
            _update_existing_only: false,
            first_name: 'A',
            seg: true,
            email: 'a@example.com',
            email_subscribe: 'opted_in',
            tags: ['x', 'y'],
          },
        ],
      };
      await track(sandbox, body);
      expect(sandbox.ledger().total).toBe(4);
      await track(sandbox, body);
      const ledger = sandbox.ledger();
      expect(ledger.total).toBe(8);
      expect(ledger.byKey).toEqual({ first_name: 2, seg: 2, email: 2, tags: 2 });
      expect(ledger.keysSent).toBe(10);
      expect(ledger.keysChanged).toBe(5);
      const brazeId = sandbox.findProfile({ external_id: 'u1' })?.braze_id as string;
      expect(ledger.byUser).toEqual({ [brazeId]: 8 });
    });

    it('charges removals, each added element, each nested leaf, and nothing for skipped objects', async () => {
      await track(sandbox, { attributes: [{ external_id: 'u1', seg: null }] });
      expect(sandbox.ledger().total).toBe(1);
      await track(sandbox, { attributes: [{ external_id: 'u1', tags: { add: ['a', 'b', 'c'] } }] });
      expect(sandbox.ledger().total).toBe(4);
      await track(sandbox, { attributes: [{ external_id: 'u1', song: { year: 1, meta: { a: 1, b: 2 } } }] });
      expect(sandbox.ledger().total).toBe(7);
      await track(sandbox, {
        attributes: [
          { external_id: 'ghost', _update_existing_only: true, a: 1 },
          { user_alias: { alias_name: 'n', alias_label: 'l' }, a: 1 },
        ],
      });
      expect(sandbox.ledger().total).toBe(7);
      expect(sandbox.ledger().keysSent).toBe(3);
    });

    it('can leave out per-user totals', async () => {
      const lean = await startBrazeSandbox({ ledgerPerUser: false });
      try {
        await track(lean, { attributes: users(3, { seg: true }) });
        expect(lean.ledger().total).toBe(3);
        expect(lean.ledger().byUser).toBeUndefined();
      } finally {
        await lean.close();
      }
    });
  });
});

function eventsFor(n: number): Array<Record<string, unknown>> {
  return Array.from({ length: n }, (_, i) => ({ external_id: `u${i}`, name: 'e', time: '2026-01-01T00:00:00Z' }));
}
