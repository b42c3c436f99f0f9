import { IdentityDelivery } from '../../shared/braze/identity';
import type { IdentityChange } from '../../shared/state/diff';
import { BrazeSandbox, startBrazeSandbox } from '../../tools/braze-sandbox/server';
import { track } from '../sandbox/http';

const change = (kind: IdentityChange['kind'], from: string, to: string): IdentityChange => ({
  kind,
  from,
  to,
  slot: 0,
  foldedSlot: -1,
});

describe('IdentityDelivery against the Braze sandbox', () => {
  let sandbox: BrazeSandbox;

  beforeAll(async () => {
    sandbox = await startBrazeSandbox({
      rateLimit: null,
      apiKeys: [{ key: 'all' }, { key: 'no-merge', permissions: ['users.track', 'users.external_ids.rename'] }],
    });
  });
  afterAll(async () => sandbox.close());
  beforeEach(() => sandbox.reset('all'));

  it('sends at most 50 changes per request and identifies every email-only profile', async () => {
    const emails = Array.from({ length: 120 }, (_, i) => `p${i}@example.com`);
    await track(sandbox, { attributes: emails.slice(0, 75).map((email) => ({ email })) }, { apiKey: 'all' });
    await track(sandbox, { attributes: emails.slice(75).map((email) => ({ email })) }, { apiKey: 'all' });
    const delivery = new IdentityDelivery({ endpoint: new URL(sandbox.url), apiKey: 'all' });
    const verdicts = Promise.all(emails.map((email, i) => delivery.push(change('identify', `m:${email}`, `e:E${i}`))));
    await delivery.flush();
    delivery.close();
    expect((await verdicts).every((v) => v.status === 'accepted')).toBe(true);
    const identify = sandbox.requests().filter((r) => r.path === '/users/identify');
    expect(identify.map((r) => r.objectCount)).toEqual([50, 50, 20]);
    expect(sandbox.profiles().every((p, i) => p.external_id === `E${i}`)).toBe(true);
  });

  it('merges when a rename is refused because the new id exists', async () => {
    await track(
      sandbox,
      { attributes: [{ external_id: 'A', first_name: 'Ann' }, { external_id: 'B' }] },
      { apiKey: 'all' },
    );
    const delivery = new IdentityDelivery({ endpoint: new URL(sandbox.url), apiKey: 'all' });
    const verdict = delivery.push(change('rename', 'e:A', 'e:B'));
    await delivery.flush();
    delivery.close();
    expect(await verdict).toEqual({ status: 'accepted' });
    expect(sandbox.requests().map((r) => r.path)).toEqual([
      '/users/track',
      '/users/external_ids/rename',
      '/users/merge',
    ]);
    expect(sandbox.profiles()).toEqual([
      expect.objectContaining({ external_id: 'B', attributes: { first_name: 'Ann' } }),
    ]);
  });

  it('stops with a message naming the missing permission', async () => {
    const delivery = new IdentityDelivery({ endpoint: new URL(sandbox.url), apiKey: 'no-merge' });
    const verdict = delivery.push(change('merge', 'e:A', 'e:B'));
    await delivery.flush();
    delivery.close();
    await expect(verdict).rejects.toThrow('lacks the users.merge permission');
  });
});
