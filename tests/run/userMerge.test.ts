import type { PlannedObject } from '../../shared/state/diff';
import { hashKey } from '../../shared/state/snapshot';
import { LastTableIndex } from '../../shared/run/lastTables';
import { UserMerge } from '../../shared/run/userMerge';

const keys = ['e:ann', 'e:bob', 'e:cy'];

function row(slot: number, segment: number, fields: Record<string, unknown>, attributesChanged: number): PlannedObject {
  return {
    object: { external_id: keys[slot].slice(2), ...fields },
    slot,
    segment,
    attributesChanged,
    membershipsAdded: 1,
    removedSegments: [],
  };
}

describe('LastTableIndex', () => {
  it('keeps the highest table noted per key hash, and -1 for keys never noted', () => {
    const index = new LastTableIndex();
    index.note(hashKey('e:ann'), 1);
    index.note(hashKey('e:ann'), 3);
    index.note(hashKey('e:ann'), 2);
    index.note(hashKey('e:bob'), 1);
    expect(index.lastTable(hashKey('e:ann'))).toBe(3);
    expect(index.lastTable(hashKey('e:bob'))).toBe(1);
    expect(index.lastTable(hashKey('e:cy'))).toBe(-1);
    expect(index.size).toBe(2);
  });

  it('grows past its first capacity without losing entries (100,000 keys)', () => {
    const index = new LastTableIndex();
    for (let i = 0; i < 100_000; i++) index.note(hashKey(`e:user-${i}`), i % 7);
    expect(index.size).toBeGreaterThan(99_990); // a few 32-bit hashes may coincide
    for (let i = 0; i < 100_000; i += 997)
      expect(index.lastTable(hashKey(`e:user-${i}`))).toBeGreaterThanOrEqual(i % 7);
    expect(index.byteLength).toBeLessThan(2_000_000);
  });
});

describe('UserMerge', () => {
  const lastTables = new Map([
    [0, 2], // ann: tables 0, 1, 2
    [1, 0], // bob: table 0 only
    [2, 1], // cy: tables 0 and 1, but her row in 1 maps to nothing
  ]);
  const merge = () => new UserMerge((slot) => lastTables.get(slot) ?? -1);

  it("holds a user's objects until their last table, then gives one object with every membership", () => {
    const users = merge();
    expect(users.take(row(0, 0, { first_name: 'Ann', seg0: true }, 1), 0)).toBeNull();
    const bob = users.take(row(1, 0, { first_name: 'Bob', seg0: true }, 1), 0);
    expect(bob?.object).toEqual({ external_id: 'bob', first_name: 'Bob', seg0: true });
    expect(users.take(row(0, 1, { seg1: true }, 0), 1)).toBeNull();
    const ann = users.take(row(0, 2, { seg2: true }, 0), 2);
    expect(ann?.object).toEqual({ external_id: 'ann', first_name: 'Ann', seg0: true, seg1: true, seg2: true });
    expect(ann).toMatchObject({
      slot: 0,
      segment: 2,
      attributesChanged: 1,
      membershipsAdded: 3,
      addedSegments: [0, 1, 2],
    });
    expect(users.heldUsers).toBe(0);
  });

  it('counts a value two rows both set once, with the later value (as Braze applies them in order)', () => {
    const users = merge();
    users.take(row(0, 0, { first_name: 'Ann', points: 1, seg0: true }, 2), 0);
    users.take(row(0, 1, { points: 2, seg1: true }, 1), 1);
    const ann = users.take(row(0, 2, { seg2: true }, 0), 2);
    expect(ann?.object).toMatchObject({ first_name: 'Ann', points: 2 });
    expect(ann?.attributesChanged).toBe(2);
  });

  it('gives back, when drained, what no later row released, in the order first held', () => {
    const users = merge();
    users.take(row(2, 0, { seg0: true }, 0), 0);
    users.take(row(0, 0, { seg0: true }, 0), 0);
    expect([...users.drain()].map((object) => object.slot)).toEqual([2, 0]);
    expect(users.heldUsers).toBe(0);
  });
});
