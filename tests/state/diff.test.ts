import { validateExportConfig } from '../../shared/config/exportConfig';
import type { BrazeValue, MappedRow } from '../../shared/mapping/profileMapper';
import { DeltaPlanner, type PlannedObject, type RowPlan } from '../../shared/state/diff';
import type { Snapshot } from '../../shared/state/snapshot';

const rawConfig = {
  identity: { externalId: 'X', email: 'E', whenExternalIdMissing: 'alias' },
  segments: [
    { table: 'Gold', brazeSegmentApiId: 'seg-gold' },
    { table: 'Churn', brazeSegmentApiId: 'seg-churn' },
  ],
  attributes: { F: 'first_name', L: 'ci_ltv' },
};
const attributeNames = ['email', 'first_name', 'ci_ltv'];
const segmentIds = ['seg-gold', 'seg-churn'];
const GOLD = 0;
const CHURN = 1;

const row = (key: string, values: BrazeValue[], previousCustomerIds: string[] = []): MappedRow => ({
  key,
  values,
  previousCustomerIds,
});

function planner(
  previous: Snapshot | null,
  options: { selected?: number[]; fullResync?: boolean; onLeave?: string } = {},
) {
  const config = validateExportConfig({ ...rawConfig, membership: { onLeave: options.onLeave ?? 'remove' } });
  const selected = new Set(options.selected ?? [GOLD, CHURN]);
  return new DeltaPlanner(config, attributeNames, segmentIds, selected, previous, options.fullResync ?? false);
}

const sent = (plan: RowPlan): Record<string, unknown> => {
  if (plan.kind !== 'send') throw new Error(`expected an object to send, got ${plan.kind}`);
  return plan.planned.object;
};
const removals = (p: DeltaPlanner) => [...p.planRemovals(new Set()).removals].map((r) => r.object);

/** Runs the first sync: u1 in Gold and Churn, u2 in Gold. */
function firstRun(): Snapshot {
  const p = planner(null);
  p.planRow(row('e:u1', ['u1@x.io', 'Ann', 10]), GOLD);
  p.planRow(row('e:u1', ['u1@x.io', 'Ann', 10]), CHURN);
  p.planRow(row('e:u2', ['u2@x.io', null, 5]), GOLD);
  expect(removals(p)).toEqual([]);
  return p.next;
}

describe('DeltaPlanner', () => {
  it('sends a new user once with attributes, and each new membership once', () => {
    const p = planner(null);
    expect(sent(p.planRow(row('e:u1', ['u1@x.io', 'Ann', 10]), GOLD))).toEqual({
      external_id: 'u1',
      email: 'u1@x.io',
      first_name: 'Ann',
      ci_ltv: 10,
      'seg-gold': true,
    });
    expect(sent(p.planRow(row('e:u1', ['u1@x.io', 'Ann', 10]), CHURN))).toEqual({
      external_id: 'u1',
      'seg-churn': true,
    });
    expect(p.planRow(row('e:u1', ['u1@x.io', 'Ann', 10]), CHURN).kind).toBe('duplicate');
  });

  it('sends nothing for an unchanged export', () => {
    const p = planner(firstRun());
    expect(p.planRow(row('e:u1', ['u1@x.io', 'Ann', 10]), GOLD).kind).toBe('unchanged');
    expect(p.planRow(row('e:u1', ['u1@x.io', 'Ann', 10]), CHURN).kind).toBe('unchanged');
    expect(p.planRow(row('e:u2', ['u2@x.io', null, 5]), GOLD).kind).toBe('unchanged');
    expect(removals(p)).toEqual([]);
  });

  it('sends only changed values, null for a value that became empty, and is type-aware', () => {
    const p = planner(firstRun());
    expect(sent(p.planRow(row('e:u1', ['u1@x.io', null, '10']), GOLD))).toEqual({
      external_id: 'u1',
      first_name: null,
      ci_ltv: '10',
    });
  });

  it('removes memberships of leavers without creating profiles, and honours onLeave false', () => {
    const p = planner(firstRun());
    p.planRow(row('e:u1', ['u1@x.io', 'Ann', 10]), GOLD);
    expect(removals(p)).toEqual([
      { external_id: 'u1', _update_existing_only: true, 'seg-churn': null },
      { external_id: 'u2', _update_existing_only: true, 'seg-gold': null },
    ]);
    const q = planner(firstRun(), { onLeave: 'false' });
    q.planRow(row('e:u1', ['u1@x.io', 'Ann', 10]), GOLD);
    q.planRow(row('e:u2', ['u2@x.io', null, 5]), GOLD);
    expect(removals(q)).toEqual([{ external_id: 'u1', _update_existing_only: true, 'seg-churn': false }]);
  });

  it('keeps members of a held segment and remembers them', () => {
    const p = planner(firstRun());
    p.planRow(row('e:u1', ['u1@x.io', 'Ann', 10]), CHURN);
    const { heldMembers, removals: held } = p.planRemovals(new Set([GOLD]));
    expect(heldMembers).toEqual([2, 0]);
    expect([...held]).toEqual([]);
    expect(p.next.hasSegment(p.next.find('e:u2'), GOLD)).toBe(true);
  });

  it('puts a rejected user back to what Braze had, so the next run resends', () => {
    const previous = firstRun();
    const p = planner(previous);
    const plan = p.planRow(row('e:u1', ['u1@x.io', 'Bob', 10]), GOLD);
    if (plan.kind !== 'send') throw new Error('expected send');
    p.reject(plan.planned);
    const retry = planner(p.next);
    expect(sent(retry.planRow(row('e:u1', ['u1@x.io', 'Bob', 10]), GOLD))).toEqual({
      external_id: 'u1',
      first_name: 'Bob',
    });

    const fresh = planner(null);
    const created = fresh.planRow(row('e:new', ['n@x.io', 'N', 1]), GOLD) as { planned: PlannedObject };
    fresh.reject(created.planned);
    expect(fresh.next.segmentWord(fresh.next.find('e:new'), 0)).toBe(0);
    expect(sent(planner(fresh.next).planRow(row('e:new', ['n@x.io', 'N', 1]), GOLD))).toMatchObject({
      'seg-gold': true,
    });
  });

  it('removes every segment a user left in one object, and restores them all when Braze rejects it', () => {
    const p = planner(firstRun());
    const removals = [...p.planRemovals(new Set()).removals];
    expect(removals.map((removal) => removal.object)).toEqual([
      { external_id: 'u1', _update_existing_only: true, 'seg-gold': null, 'seg-churn': null },
      { external_id: 'u2', _update_existing_only: true, 'seg-gold': null },
    ]);
    expect(removals.map((removal) => removal.removedSegments)).toEqual([[GOLD, CHURN], [GOLD]]);
    p.reject(removals[0]);
    expect(p.next.hasSegment(removals[0].slot, GOLD)).toBe(true);
    expect(p.next.hasSegment(removals[0].slot, CHURN)).toBe(true);
    expect(p.next.hasSegment(removals[1].slot, GOLD)).toBe(false);
  });

  it('keeps the Braze alias of a profile merged into a new CustomerId (decided once every row is read)', () => {
    const first = planner(null);
    first.planRow(row('a:old-1', [null, 'Liam', 3]), GOLD);
    const p = planner(first.next);
    const merged = { ...row('a:new-9', [null, 'Liam', 3], ['old-1']), customerId: 'new-9' };
    expect(p.planRow(merged, GOLD).kind).toBe('deferred');
    expect(p.planRow(merged, CHURN).kind).toBe('deferred');
    p.finishReading();
    expect(p.planDeferred(merged, GOLD).kind).toBe('unchanged');
    expect(sent(p.planDeferred(merged, CHURN))).toEqual({
      user_alias: { alias_name: 'old-1', alias_label: 'ci_customer_id' },
      _update_existing_only: false,
      'seg-churn': true,
    });
    expect(removals(p)).toEqual([]);
  });

  it('full resync sends every value and membership once, clears emptied values, and still removes leavers', () => {
    const p = planner(firstRun(), { fullResync: true });
    expect(sent(p.planRow(row('e:u1', ['u1@x.io', 'Ann', 10]), GOLD))).toEqual({
      external_id: 'u1',
      email: 'u1@x.io',
      first_name: 'Ann',
      ci_ltv: 10,
      'seg-gold': true,
    });
    expect(sent(p.planRow(row('e:u1', ['u1@x.io', 'Ann', 10]), CHURN))).toEqual({
      external_id: 'u1',
      'seg-churn': true,
    });
    expect(removals(p)).toEqual([{ external_id: 'u2', _update_existing_only: true, 'seg-gold': null }]);
  });

  it('a run over some segments carries the others over untouched', () => {
    const p = planner(firstRun(), { selected: [CHURN] });
    expect(removals(p)).toEqual([{ external_id: 'u1', _update_existing_only: true, 'seg-churn': null }]);
    expect(p.next.hasSegment(p.next.find('e:u1'), GOLD)).toBe(true);
    expect(p.next.hasSegment(p.next.find('e:u2'), GOLD)).toBe(true);
    expect(p.next.size).toBe(2);
  });

  it('lists the known users whose state changed, for an incremental save', () => {
    const first = planner(null);
    const users = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6'];
    for (const user of users) first.planRow(row(`e:${user}`, [`${user}@x.io`, 'Ann', 10]), GOLD, 7);
    const previous = first.next;
    const stateOf = (snapshot: Snapshot, slot: number) =>
      [snapshot.segmentWord(slot, 0), snapshot.rawFingerprint(slot)].concat(
        attributeNames.map((_, attribute) => snapshot.attribute(slot, attribute)),
      );
    const before = users.map((_, slot) => stateOf(previous, slot));

    const p = planner(previous);
    p.planRow(row('e:u1', ['u1@x.io', 'Ann', 10]), GOLD, 7); // unchanged
    p.planRow(row('e:u2', ['u2@x.io', 'Bob', 10]), GOLD, 8); // a value changed
    // u3 left Gold (no row)
    p.planRow(row('e:u4', ['u4@x.io', 'Ann', 10]), GOLD, 7);
    p.planRow(row('e:u4', ['u4@x.io', 'Ann', 10]), CHURN, 7); // joined Churn
    p.planRow(row('e:u5', ['u5@x.io', 'Ann', 10]), GOLD, 9); // same values, other row bytes
    const joined = p.planRow(row('e:u6', ['u6@x.io', 'Ann', 10]), CHURN, 7); // moved, but Braze rejects it
    p.planRow(row('e:u6', ['u6@x.io', 'Ann', 10]), GOLD, 7);
    p.planRow(row('e:u7', ['u7@x.io', 'New', 1]), GOLD); // added: not a known user
    p.planRemovals(new Set());
    p.reject((joined as { planned: PlannedObject }).planned);

    const changed = [...p.changedSlots()];
    expect(changed.map((slot) => users[slot])).toEqual(['u2', 'u3', 'u4', 'u5']);
    // Every user left out is as they were.
    for (let slot = 0; slot < users.length; slot++) {
      if (!changed.includes(slot)) expect(stateOf(p.next, slot)).toEqual(before[slot]);
    }
  });
});
