/** Fingerprint of "no value" (null): an attribute that is unset, or that was removed in Braze. */
export const NO_VALUE = 0;

// Distinct seeds per value type, so that the number 1, the string "1" and true fingerprint differently.
const STRING_SEED = 0x3c6ef372;
const NUMBER_SEED = 0x1b873593;
const BOOLEAN_SEED = 0x7f4a7c15;

// A module-level reference: under Jest's VM sandbox every lookup of the global `Math` is an order of magnitude slower.
const imul = Math.imul;

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

function mixWord(hash: number, word: number): number {
  let k = imul(word, C1);
  k = (k << 15) | (k >>> 17);
  k = imul(k, C2);
  const h = hash ^ k;
  return (imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
}

/** Spreads every input bit over the whole word (MurmurHash3's finaliser). */
function finalise(hash: number, length: number): number {
  let h = hash ^ length;
  h ^= h >>> 16;
  h = imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Unsigned 32-bit hash of a string's UTF-16 code units, two per round (MurmurHash3-style). Allocates nothing,
 * which matters because it runs once per key and per attribute value of every row.
 */
export function hashString(text: string, seed: number): number {
  const length = text.length;
  let hash = seed | 0;
  let index = 0;
  for (; index + 1 < length; index += 2) {
    hash = mixWord(hash, text.charCodeAt(index) | (text.charCodeAt(index + 1) << 16));
  }
  if (index < length) {
    let k = imul(text.charCodeAt(index), C1);
    k = (k << 15) | (k >>> 17);
    hash ^= imul(k, C2);
  }
  return finalise(hash, length);
}

/**
 * `hashString` of a string whose first two UTF-16 units are `prefixWord` (as `hashString` packs them: first unit in
 * the low half) and whose other units are the bytes `bytes[start..end)`, which must all be ASCII.
 */
export function hashPrefixedBytes(prefixWord: number, bytes: Uint8Array, start: number, end: number, seed: number) {
  let hash = mixWord(seed | 0, prefixWord);
  let index = start;
  for (; index + 1 < end; index += 2) hash = mixWord(hash, bytes[index] | (bytes[index + 1] << 16));
  if (index < end) {
    let k = imul(bytes[index], C1);
    k = (k << 15) | (k >>> 17);
    hash ^= imul(k, C2);
  }
  return finalise(hash, 2 + end - start);
}

const RANGE_MULTIPLIER = 0x9e3779b1;

/**
 * Hash of byte ranges, four bytes a round, each range's length mixed in first (so ranges "ab"+"c" and "a"+"bc"
 * differ): the raw fingerprint of a row's cells. Call `start`, then `add` per range, then `finish`.
 */
export class ByteRangeHash {
  private hash = 0;
  private length = 0;

  start(seed: number): void {
    this.hash = seed | 0;
    this.length = 0;
  }

  add(bytes: Uint8Array, start: number, end: number): void {
    // One multiply per word (the final avalanche of `finish` spreads the bits): this runs over every cell of every
    // row of a delta.
    let hash = imul(this.hash ^ (end - start), RANGE_MULTIPLIER);
    let index = start;
    for (; index + 3 < end; index += 4) {
      const word = bytes[index] | (bytes[index + 1] << 8) | (bytes[index + 2] << 16) | (bytes[index + 3] << 24);
      hash = imul(hash ^ word, RANGE_MULTIPLIER);
      hash ^= hash >>> 15;
    }
    let tail = 0;
    for (let shift = 0; index < end; index++, shift += 8) tail |= bytes[index] << shift;
    hash = imul(hash ^ tail, RANGE_MULTIPLIER);
    this.hash = hash ^ (hash >>> 15);
    this.length += end - start + 1;
  }

  /** The fingerprint, never 0 (0 means "none"). */
  finish(): number {
    const fingerprint = finalise(this.hash, this.length);
    return fingerprint === 0 ? 1 : fingerprint;
  }
}

// One reusable view to read a double's bits without allocating.
const numberScratch = new Float64Array(1);
const numberWords = new Uint32Array(numberScratch.buffer);

function hashNumber(value: number): number {
  // -0 equals 0, and every NaN (the one value not equal to itself) is the same non-number: they fingerprint alike.
  numberScratch[0] = value === 0 ? 0 : value !== value ? NaN : value;
  let hash = mixWord(NUMBER_SEED, numberWords[0]);
  hash = mixWord(hash, numberWords[1]);
  return finalise(hash, 8);
}

const TRUE_FINGERPRINT = finalise(mixWord(BOOLEAN_SEED, 1), 1);
const FALSE_FINGERPRINT = finalise(mixWord(BOOLEAN_SEED, 0), 1);

/**
 * 32-bit fingerprint of a normalised attribute value; `NO_VALUE` (0) is reserved for null. Type-aware: the number 1,
 * the string "1" and `true` differ; equal values give equal fingerprints. Distinct values collide with the odds of a
 * 32-bit hash (about 1 in 4 billion per pair), which the snapshot accepts: a collision only hides one change.
 */
export function fingerprintValue(value: string | number | boolean | null): number {
  let fingerprint: number;
  switch (typeof value) {
    case 'string':
      fingerprint = hashString(value, STRING_SEED);
      break;
    case 'number':
      fingerprint = hashNumber(value);
      break;
    case 'boolean':
      fingerprint = value ? TRUE_FINGERPRINT : FALSE_FINGERPRINT;
      break;
    default:
      if (value === null || value === undefined) return NO_VALUE;
      throw new TypeError(`fingerprintValue accepts a string, number, boolean or null, not a ${typeof value}`);
  }
  // Keep 0 free for "no value": a real value that hashes to 0 takes 1 instead.
  return fingerprint === NO_VALUE ? 1 : fingerprint;
}
