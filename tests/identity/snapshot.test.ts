import { validateExportConfig } from '../../shared/config/exportConfig';
import { DeltaPlanner, IDENTITY_WORDS } from '../../shared/state/diff';
import { Snapshot } from '../../shared/state/snapshot';

const config = validateExportConfig({
  identity: { externalId: 'X', email: 'E', whenExternalIdMissing: 'email' },
  segments: [{ table: 'Gold', brazeSegmentApiId: 'seg-gold' }],
  attributes: { F: 'first_name' },
});
const attributeNames = ['email', 'first_name'];

describe('snapshot identity memory', () => {
  it('rekeys a user in place: the new key finds the slot, the old one nothing, and the saved keys are the new ones', () => {
    const snapshot = Snapshot.create({ segmentCount: 1, attributeCount: 2 });
    const kept = snapshot.insert('e:keep');
    const moved = snapshot.insert('m:bob@example.com');
    snapshot.setSegment(moved, 0, true);
    snapshot.rekey(moved, 'e:E2');
    expect(snapshot.find('e:E2')).toBe(moved);
    expect(snapshot.find('m:bob@example.com')).toBe(-1);
    expect(snapshot.keyOf(moved)).toBe('e:E2');
    expect(snapshot.rekeyedBelow(2)).toBe(true);
    expect(() => snapshot.rekey(kept, 'e:E2')).toThrow('already');
    // A save rewrites the key arena: the sections hold the new key, and lookups still work.
    const { keyBytes, keyOffsets } = snapshot.sections();
    expect(Buffer.from(keyBytes.subarray(keyOffsets[moved], keyOffsets[moved + 1])).toString()).toBe('e:E2');
    expect(snapshot.find('e:E2')).toBe(moved);
    expect(snapshot.find('e:keep')).toBe(kept);
    expect(snapshot.hasSegment(moved, 0)).toBe(true);
  });

  it('widens a snapshot saved before identities were kept, and learns them from decoded rows', () => {
    const old = Snapshot.create({ segmentCount: 1, attributeCount: attributeNames.length });
    const slot = old.insert('e:E1');
    old.setAttribute(slot, 1, 1234);
    old.setSegment(slot, 0, true);
    const planner = new DeltaPlanner(config, attributeNames, ['seg-gold'], new Set([0]), old, false);
    expect(planner.next.attributeCount).toBe(attributeNames.length + IDENTITY_WORDS);
    expect(planner.next.attribute(slot, 1)).toBe(1234);
    expect(planner.needsWholeSave).toBe(true);
    // Rows are decoded once (not told apart from bytes), so their CustomerIds are learnt.
    const facts = {
      bytes: Buffer.from('E1'),
      idStart: 0,
      idEnd: 2,
      keyPrefix: 0x65,
      keyHash: 0,
      fingerprint: 0,
      valuesPresent: 0,
    };
    expect(planner.planRaw(facts, 0)).toBeNull();
    planner.planRow({ key: 'e:E1', values: [null, null], previousCustomerIds: [], customerId: 'c1' }, 0);
    expect(planner.next.attribute(slot, attributeNames.length)).not.toBe(0);
  });
});
