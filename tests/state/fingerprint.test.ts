import { fingerprintValue, hashString, NO_VALUE } from '../../shared/state/fingerprint';

function countCollisions(fingerprints: Uint32Array): number {
  const sorted = fingerprints.slice().sort();
  let collisions = 0;
  for (let index = 1; index < sorted.length; index++) if (sorted[index] === sorted[index - 1]) collisions++;
  return collisions;
}

describe('fingerprintValue', () => {
  it('reserves NO_VALUE for null only', () => {
    expect(NO_VALUE).toBe(0);
    expect(fingerprintValue(null)).toBe(NO_VALUE);
    for (const value of ['', 0, false, 'null', -0, NaN]) expect(fingerprintValue(value)).not.toBe(NO_VALUE);
  });

  it('tells values of different types apart', () => {
    const distinct = [1, '1', true, 0, '0', false, '', 'true', 'false'].map(fingerprintValue);
    expect(new Set(distinct).size).toBe(distinct.length);
  });

  it('gives equal values equal fingerprints and different values different ones', () => {
    const date = new Date(Date.UTC(2024, 1, 29, 8, 30)).toISOString();
    expect(fingerprintValue(date)).toBe(fingerprintValue('2024-02-29T08:30:00.000Z'));
    expect(fingerprintValue(date)).not.toBe(fingerprintValue('2024-02-29T08:30:00.001Z'));
    expect(fingerprintValue(12.5)).toBe(fingerprintValue(25 / 2));
    expect(fingerprintValue(12.5)).not.toBe(fingerprintValue(12.500000000000002));
    expect(fingerprintValue(0)).toBe(fingerprintValue(-0));
    expect(fingerprintValue(NaN)).toBe(fingerprintValue(Number('x')));
    expect(fingerprintValue(true)).toBe(fingerprintValue(true));
    expect(fingerprintValue(true)).not.toBe(fingerprintValue(false));
    expect(fingerprintValue('Zoë 🎉')).toBe(fingerprintValue('Zo' + 'ë 🎉'));
    expect(fingerprintValue('ab')).not.toBe(fingerprintValue('ba'));
    expect(fingerprintValue('abc')).not.toBe(fingerprintValue('abc\u0000'));
  });

  it('returns unsigned 32-bit integers', () => {
    for (const value of ['x', 'a longer string value', 3.25, -7, 2 ** 40, true]) {
      const fingerprint = fingerprintValue(value);
      expect(Number.isInteger(fingerprint)).toBe(true);
      expect(fingerprint).toBeGreaterThanOrEqual(0);
      expect(fingerprint).toBeLessThanOrEqual(0xffffffff);
    }
  });

  it('rejects values that are not attribute values', () => {
    expect(() => fingerprintValue({} as unknown as string)).toThrow('not a object');
  });

  it('collides rarely on 1M distinct values of each kind', () => {
    const users = 1_000_000;
    // A 32-bit hash is expected to give about n^2 / 2^33 = 116 colliding pairs among 1M distinct values.
    const bound = 250;
    const strings = new Uint32Array(users);
    const emails = new Uint32Array(users);
    const numbers = new Uint32Array(users);
    for (let index = 0; index < users; index++) {
      strings[index] = fingerprintValue(String(index));
      emails[index] = fingerprintValue(`first.last${index}@example.com`);
      numbers[index] = fingerprintValue(index * 0.01);
    }
    for (const fingerprints of [strings, emails, numbers]) expect(countCollisions(fingerprints)).toBeLessThan(bound);
  });
});

describe('hashString', () => {
  it('depends on the seed and on every code unit', () => {
    expect(hashString('abc', 1)).not.toBe(hashString('abc', 2));
    expect(hashString('abcd', 1)).not.toBe(hashString('abce', 1));
    expect(hashString('', 1)).toBe(hashString('', 1));
  });
});
