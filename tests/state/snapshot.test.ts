import { NO_VALUE, fingerprintValue } from '../../shared/state/fingerprint';
import { ALIAS_KEY, EXTERNAL_ID_KEY } from '../../shared/mapping/profileMapper';
import { hashKey, hashRawKey, Snapshot } from '../../shared/state/snapshot';

/** Finds two different keys with the same 32-bit key hash, by brute force over many generated keys. */
function collidingKeys(): [string, string] {
  const seen = new Map<number, string>();
  for (let index = 0; ; index++) {
    const key = `e:user-${index}`;
    const hash = hashKey(key);
    const earlier = seen.get(hash);
    if (earlier !== undefined) return [earlier, key];
    seen.set(hash, key);
  }
}

describe('Snapshot keys', () => {
  it('finds what was inserted and nothing else', () => {
    const snapshot = Snapshot.create({ segmentCount: 1, attributeCount: 1 });
    expect(snapshot.size).toBe(0);
    expect(snapshot.find('e:1')).toBe(-1);
    expect(snapshot.insert('e:1')).toBe(0);
    expect(snapshot.insert('m:one@example.com')).toBe(1);
    expect(snapshot.insert('e:1')).toBe(0);
    expect(snapshot.size).toBe(2);
    expect(snapshot.find('e:1')).toBe(0);
    expect(snapshot.find('m:one@example.com')).toBe(1);
    for (const absent of ['e:', 'e:10', 'm:one@example.co', 'E:1', '', 'e:1 ']) expect(snapshot.find(absent)).toBe(-1);
    expect(snapshot.keyOf(1)).toBe('m:one@example.com');
  });

  it('round-trips non-ASCII keys and tells near-identical ones apart', () => {
    const keys = [
      '',
      'e:Zoë',
      'e:Zoe\u0308',
      'm:jürgen@例え.jp',
      'a:🎉',
      'a:🎉🎉',
      'a:😀',
      'e:ß',
      'e:ss',
      'e:\u0000',
      'e:\u07ff\u0800\uffff',
    ];
    const snapshot = Snapshot.create({ segmentCount: 1, attributeCount: 0 });
    keys.forEach((key, index) => expect(snapshot.insert(key)).toBe(index));
    keys.forEach((key, index) => {
      expect(snapshot.find(key)).toBe(index);
      expect(snapshot.keyOf(index)).toBe(key);
    });
    expect(snapshot.find('a:🎉🎉🎉')).toBe(-1);
    expect(snapshot.find('e:Zo')).toBe(-1);
  });

  it('distinguishes keys whose 32-bit hashes collide', () => {
    const [first, second] = collidingKeys();
    expect(first).not.toBe(second);
    expect(hashKey(first)).toBe(hashKey(second));
    const snapshot = Snapshot.create({ segmentCount: 1, attributeCount: 0 });
    expect(snapshot.find(second)).toBe(-1);
    const firstSlot = snapshot.insert(first);
    expect(snapshot.find(second)).toBe(-1);
    const secondSlot = snapshot.insert(second);
    expect(secondSlot).not.toBe(firstSlot);
    expect(snapshot.find(first)).toBe(firstSlot);
    expect(snapshot.find(second)).toBe(secondSlot);
    expect(snapshot.keyOf(secondSlot)).toBe(second);
  });

  it('grows from the smallest size to 300k users with dense slots and intact data', () => {
    const users = 300_000;
    const snapshot = Snapshot.create({ segmentCount: 3, attributeCount: 2 });
    const initialBytes = snapshot.byteLength;
    for (let index = 0; index < users; index++) {
      const slot = snapshot.insert(`e:${index}`);
      if (slot !== index) throw new Error(`key e:${index} inserted at slot ${slot}`);
      snapshot.setSegment(slot, index % 3, true);
      snapshot.setAttribute(slot, 1, index + 1);
    }
    expect(snapshot.size).toBe(users);
    expect(snapshot.byteLength).toBeGreaterThan(initialBytes * 100);
    for (let index = 0; index < users; index++) {
      const slot = snapshot.find(`e:${index}`);
      if (slot !== index) throw new Error(`key e:${index} found at slot ${slot}`);
      if (!snapshot.hasSegment(slot, index % 3) || snapshot.hasSegment(slot, (index + 1) % 3)) {
        throw new Error(`segments of slot ${slot} lost in growth`);
      }
      if (snapshot.attribute(slot, 1) !== index + 1 || snapshot.attribute(slot, 0) !== NO_VALUE) {
        throw new Error(`attributes of slot ${slot} lost in growth`);
      }
    }
    expect(snapshot.keyOf(users - 1)).toBe(`e:${users - 1}`);
    expect(snapshot.find(`e:${users}`)).toBe(-1);
  });

  it('finds a key from its bytes (ASCII ids): the same hash as hashKey, the same slot as find', () => {
    const snapshot = Snapshot.create({ segmentCount: 1, attributeCount: 1 });
    const ids = ['u1', 'abc', 'fb3c9e9e-6eb5-4f97-a3b1-e2a93d73c0dc', 'x', 'ab'.repeat(40)];
    for (const id of ids) snapshot.insert(`e:${id}`);
    snapshot.insert('a:u1');
    for (const id of ids) {
      const bytes = Buffer.from(`,${id},`, 'latin1');
      const hash = hashRawKey(EXTERNAL_ID_KEY, bytes, 1, bytes.length - 1);
      expect(hash).toBe(hashKey(`e:${id}`));
      expect(snapshot.findRawKey(EXTERNAL_ID_KEY, hash, bytes, 1, bytes.length - 1)).toBe(snapshot.find(`e:${id}`));
    }
    const alias = Buffer.from('u1');
    expect(snapshot.findRawKey(ALIAS_KEY, hashRawKey(ALIAS_KEY, alias, 0, 2), alias, 0, 2)).toBe(snapshot.find('a:u1'));
    const unknown = Buffer.from('u2');
    expect(snapshot.findRawKey(EXTERNAL_ID_KEY, hashRawKey(EXTERNAL_ID_KEY, unknown, 0, 2), unknown, 0, 2)).toBe(-1);
  });

  it('does not grow when sized up front', () => {
    const snapshot = Snapshot.create({ segmentCount: 3, attributeCount: 8, expectedUsers: 10_000 });
    const presizedBytes = snapshot.byteLength;
    for (let index = 0; index < 10_000; index++) snapshot.insert(`e:${index}`);
    expect(snapshot.byteLength).toBe(presizedBytes);
  });
});

describe('Snapshot segments and attributes', () => {
  it('keeps a bitset of up to 256 segments per user', () => {
    const snapshot = Snapshot.create({ segmentCount: 256, attributeCount: 0 });
    const alice = snapshot.insert('e:alice');
    const bob = snapshot.insert('e:bob');
    const words = (slot: number) => Array.from({ length: 8 }, (_, word) => snapshot.segmentWord(slot, word));
    expect(words(alice)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    for (const segment of [0, 31, 32, 33, 100, 255]) snapshot.setSegment(alice, segment, true);
    for (let segment = 0; segment < 256; segment++) {
      expect(snapshot.hasSegment(alice, segment)).toBe([0, 31, 32, 33, 100, 255].includes(segment));
      expect(snapshot.hasSegment(bob, segment)).toBe(false);
    }
    // Lowest bit first: segment 31 is the sign bit of word 0; 32 and 33 are bits 0 and 1 of word 1.
    expect(words(alice)).toEqual([2 ** 31 + 1, 3, 0, 1 << 4, 0, 0, 0, 2 ** 31]);
    expect(words(bob)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(() => snapshot.segmentWord(alice, 8)).toThrow('segment word 8 is out of range');
    snapshot.setSegment(alice, 31, false);
    expect(snapshot.hasSegment(alice, 31)).toBe(false);
    expect(snapshot.hasSegment(alice, 32)).toBe(true);
    for (const segment of [0, 32, 33, 100, 255]) snapshot.setSegment(alice, segment, false);
    expect(words(alice)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('counts members per segment', () => {
    const snapshot = Snapshot.create({ segmentCount: 40, attributeCount: 0 });
    for (let index = 0; index < 100; index++) {
      const slot = snapshot.insert(`e:${index}`);
      if (index % 2 === 0) snapshot.setSegment(slot, 0, true);
      if (index % 10 === 0) snapshot.setSegment(slot, 39, true);
    }
    const counts = snapshot.segmentMemberCounts();
    expect(counts).toHaveLength(40);
    expect(counts[0]).toBe(50);
    expect(counts[39]).toBe(10);
    expect(counts.slice(1, 39).every((count) => count === 0)).toBe(true);
  });

  it('stores attribute fingerprints, NO_VALUE when unset', () => {
    const snapshot = Snapshot.create({ segmentCount: 1, attributeCount: 8 });
    const slot = snapshot.insert('e:1');
    const other = snapshot.insert('e:2');
    expect(snapshot.attribute(slot, 7)).toBe(NO_VALUE);
    snapshot.setAttribute(slot, 7, fingerprintValue('Ada'));
    snapshot.setAttribute(slot, 0, fingerprintValue(42));
    expect(snapshot.attribute(slot, 7)).toBe(fingerprintValue('Ada'));
    expect(snapshot.attribute(slot, 0)).toBe(fingerprintValue(42));
    expect(snapshot.attribute(other, 0)).toBe(NO_VALUE);
    const highBit = 0xfffffffe;
    snapshot.setAttribute(slot, 3, highBit);
    expect(snapshot.attribute(slot, 3)).toBe(highBit);
    snapshot.setAttribute(slot, 7, NO_VALUE);
    expect(snapshot.attribute(slot, 7)).toBe(NO_VALUE);
  });

  it('rejects out-of-range slots, segments, attributes and shapes', () => {
    const snapshot = Snapshot.create({ segmentCount: 33, attributeCount: 2 });
    snapshot.insert('e:1');
    expect(() => snapshot.hasSegment(1, 0)).toThrow('slot 1 is out of range (size 1)');
    expect(() => snapshot.setSegment(-1, 0, true)).toThrow('slot -1');
    expect(() => snapshot.setSegment(0, 33, true)).toThrow('segment 33 is out of range');
    expect(() => snapshot.attribute(0, 2)).toThrow('attribute 2 is out of range');
    expect(() => snapshot.keyOf(5)).toThrow('slot 5');
    expect(() => Snapshot.create({ segmentCount: 257, attributeCount: 0 })).toThrow('segmentCount must be');
    expect(() => Snapshot.create({ segmentCount: 1, attributeCount: -1 })).toThrow('attributeCount must be');
  });

  it('handles snapshots without segments or attributes', () => {
    const snapshot = Snapshot.create({ segmentCount: 0, attributeCount: 0 });
    const slot = snapshot.insert('e:1');
    expect(() => snapshot.segmentWord(slot, 0)).toThrow('out of range');
    expect(snapshot.segmentMemberCounts()).toEqual([]);
  });
});
