import { hashPrefixedBytes, hashString } from './fingerprint';
import {
  checkPatchSlots,
  countSegmentMembers,
  type SnapshotPatch,
  type SnapshotSections,
  type SnapshotShape,
} from './snapshotSections';

// The section and patch types and the member count live in snapshotSections.ts; importers of snapshot.ts find them here.
export * from './snapshotSections';

export const MAX_SEGMENTS = 256;
const KEY_HASH_SEED = 0x2f6b1c3d;
const MAX_TABLE_LOAD = 0.7;
const EMPTY = -1;
const GROWTH_FACTOR = 1.5;
const MIN_CAPACITY = 16;
const MIN_KEY_BYTES = 1024;
// Key offsets are Uint32: 4 GiB of key bytes is far beyond 5 million identity strings.
const MAX_KEY_BYTES = 0xffffffff;

/** 32-bit hash of a user key, as stored per slot (signed, to fit an Int32Array). */
export function hashKey(key: string): number {
  return hashString(key, KEY_HASH_SEED) | 0;
}

const CHAR_COLON = 0x3a;

/**
 * `hashKey(prefix + ":" + id)` from the id's bytes, for ids whose bytes are all ASCII (one UTF-16 unit per byte), the
 * prefix being the char code of a key kind ('e', 'm', 'a'): what the delta planner uses to find a user without
 * decoding their row.
 */
export function hashRawKey(prefix: number, bytes: Uint8Array, start: number, end: number): number {
  return hashPrefixedBytes(prefix | (CHAR_COLON << 16), bytes, start, end, KEY_HASH_SEED) | 0;
}

/** Raw fingerprint of a user whose last row's bytes are not known (see `Snapshot.rawFingerprint`). */
export const NO_RAW_FINGERPRINT = 0;

function checkCount(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`Snapshot ${name} must be an integer from 0 to ${max}, got ${value}`);
  }
}

/** A table of `capacity` empty (hash, slot) pairs. */
function newTable(capacity: number): Int32Array {
  const table = new Int32Array(capacity * 2);
  for (let index = 1; index < table.length; index += 2) table[index] = EMPTY;
  return table;
}

function tableCapacityFor(users: number): number {
  let capacity = MIN_CAPACITY;
  while (capacity * MAX_TABLE_LOAD < users + 1) capacity *= 2;
  return capacity;
}

/**
 * What Braze has accepted, per user: segment memberships (a bitset of Uint32 words) and one fingerprint per mapped
 * attribute. Built for millions of users: everything lives in typed arrays and one byte arena for the keys, indexed
 * by an open-addressing hash table (linear probing) of slot numbers, so no per-user JS object or string stays alive.
 */
export class Snapshot {
  readonly segmentCount: number;
  attributeCount: number;
  private readonly segmentWords: number;
  private userCount = 0;
  private keyHashes: Int32Array;
  private keyOffsets: Uint32Array;
  private keyBytes: Buffer;
  private segments: Uint32Array;
  private attributes: Uint32Array;
  private rawFingerprints: Uint32Array;
  /**
   * Open-addressing table of (key hash, slot) pairs side by side: a probe reads the hash next to the slot, in the
   * same cache line, instead of jumping to `keyHashes[slot]` (a cache miss per probe at millions of users).
   */
  private table: Int32Array;
  private tableMask: number;
  /** While loading: the users from slot 0 whose key hashes are in the table (see `indexLoadedKeys`). */
  private usersIndexed = 0;
  /**
   * Keys of users whose identity changed (`rekey`), until the arena is rewritten (`compactKeys`). Rare: null while
   * there are none, so the per-row key comparisons pay one null check.
   */
  private rekeyed: Map<number, string> | null = null;
  /** Table entries left behind by `rekey` (their slot now has another key): they count towards the table's load. */
  private staleEntries = 0;

  private constructor(shape: SnapshotShape, capacity: number, keyByteCapacity: number) {
    checkCount('segmentCount', shape.segmentCount, MAX_SEGMENTS);
    checkCount('attributeCount', shape.attributeCount, 0xffff);
    this.segmentCount = shape.segmentCount;
    this.attributeCount = shape.attributeCount;
    this.segmentWords = Math.ceil(shape.segmentCount / 32);
    this.keyHashes = new Int32Array(capacity);
    this.keyOffsets = new Uint32Array(capacity + 1);
    this.keyBytes = Buffer.allocUnsafeSlow(keyByteCapacity);
    this.segments = new Uint32Array(capacity * this.segmentWords);
    this.attributes = new Uint32Array(capacity * this.attributeCount);
    this.rawFingerprints = new Uint32Array(capacity);
    this.table = newTable(tableCapacityFor(capacity));
    this.tableMask = this.table.length / 2 - 1;
  }

  static create(options: { segmentCount: number; attributeCount: number; expectedUsers?: number }): Snapshot {
    const expectedUsers = options.expectedUsers ?? 0;
    checkCount('expectedUsers', expectedUsers, 0x7ffffffe);
    const capacity = Math.max(MIN_CAPACITY, expectedUsers);
    // Identity keys are short ("e:" + an id or an email): 32 bytes each is a fair first guess; the arena grows.
    return new Snapshot(options, capacity, Math.max(MIN_KEY_BYTES, capacity * 32));
  }

  /**
   * For the store's loader: a snapshot of `users` users (with room for `extraUsers` more) whose sections (see
   * `sections()`) the caller fills before calling `finishIndex()`. Lookups are invalid until then.
   */
  static allocateForLoad(
    shape: SnapshotShape & { users: number; keyByteLength: number; extraUsers?: number; extraKeyBytes?: number },
  ): Snapshot {
    checkCount('users', shape.users, 0x7ffffffe);
    checkCount('key byte length', shape.keyByteLength, MAX_KEY_BYTES);
    const extraUsers = shape.extraUsers ?? 0;
    checkCount('extraUsers', extraUsers, 0x7ffffffe - shape.users);
    // Identity keys are short: 32 bytes each is a fair guess when the caller does not know.
    const extraKeyBytes = shape.extraKeyBytes ?? extraUsers * 32;
    const capacity = Math.max(MIN_CAPACITY, shape.users + extraUsers);
    const keyByteCapacity = Math.min(MAX_KEY_BYTES, Math.max(MIN_KEY_BYTES, shape.keyByteLength + extraKeyBytes));
    const snapshot = new Snapshot(shape, capacity, keyByteCapacity);
    snapshot.userCount = shape.users;
    // So that `sections()` spans the loaded keys before the offsets are read in.
    snapshot.keyOffsets[shape.users] = shape.keyByteLength;
    return snapshot;
  }

  get size(): number {
    return this.userCount;
  }

  /**
   * Slot of the user with this key, or -1. Keys are identity strings like "e:<external_id>", "m:<email>". `hash` is
   * `hashKey(key)`: a caller that looks the same key up in several snapshots computes it once.
   */
  find(key: string, hash = hashKey(key)): number {
    const table = this.table;
    const mask = this.tableMask;
    for (let index = hash & mask; ; index = (index + 1) & mask) {
      const slot = table[2 * index + 1];
      if (slot === EMPTY) return -1;
      if (table[2 * index] === hash && this.keyEquals(slot, key)) return slot;
    }
  }

  /** Adds a user (or returns the existing slot). Slots are dense, 0..size-1, in insertion order. */
  insert(key: string, hash = hashKey(key)): number {
    if (this.userCount + this.staleEntries + 1 > (this.tableMask + 1) * MAX_TABLE_LOAD) this.growTable();
    const table = this.table;
    const mask = this.tableMask;
    let index = hash & mask;
    for (; ; index = (index + 1) & mask) {
      const slot = table[2 * index + 1];
      if (slot === EMPTY) break;
      if (table[2 * index] === hash && this.keyEquals(slot, key)) return slot;
    }
    const slot = this.userCount;
    if (slot === this.keyHashes.length) this.growSlots(slot + 1);
    const start = this.keyOffsets[slot];
    // A UTF-16 code unit takes at most 3 UTF-8 bytes (a surrogate pair: 4 bytes for 2 units).
    this.ensureKeyBytes(start + key.length * 3);
    const written = this.keyBytes.write(key, start, 'utf8');
    this.keyOffsets[slot + 1] = start + written;
    this.keyHashes[slot] = hash;
    table[2 * index] = hash;
    table[2 * index + 1] = slot;
    this.userCount = slot + 1;
    return slot;
  }

  /** `find` for the key `prefix` + ":" + the ASCII bytes `bytes[start..end)`, `hash` being `hashRawKey` of them. */
  findRawKey(prefix: number, hash: number, bytes: Uint8Array, start: number, end: number): number {
    const table = this.table;
    const mask = this.tableMask;
    for (let index = hash & mask; ; index = (index + 1) & mask) {
      const slot = table[2 * index + 1];
      if (slot === EMPTY) return -1;
      if (table[2 * index] === hash && this.rawKeyEquals(slot, prefix, bytes, start, end)) return slot;
    }
  }

  /** `hashKey` of the user's key, without allocating it. */
  keyHashOf(slot: number): number {
    this.checkSlot(slot);
    return this.keyHashes[slot];
  }

  /** The user's key. Allocates a string: meant for removals and reports, not the per-row path. */
  keyOf(slot: number): string {
    this.checkSlot(slot);
    const rekeyed = this.rekeyed?.get(slot);
    if (rekeyed !== undefined) return rekeyed;
    return this.keyBytes.toString('utf8', this.keyOffsets[slot], this.keyOffsets[slot + 1]);
  }

  /**
   * Gives a user another key (their Braze identity changed: identified, renamed): the slot and its state stay, the old
   * key no longer finds it. The key must not be another user's.
   */
  rekey(slot: number, key: string, hash = hashKey(key)): void {
    this.checkSlot(slot);
    if (this.find(key, hash) >= 0) throw new RangeError("Snapshot rekey: the key is already another user's");
    // The old entry stays in the table: its key no longer matches the slot's, so lookups pass over it.
    this.staleEntries++;
    (this.rekeyed ??= new Map()).set(slot, key);
    this.keyHashes[slot] = hash;
    if (this.userCount + this.staleEntries + 1 > (this.tableMask + 1) * MAX_TABLE_LOAD) this.growTable();
    else this.indexSlots(slot, slot + 1);
  }

  /** True when a user below `slot` changed key since the load: a patch cannot say so, the save must be whole. */
  rekeyedBelow(slot: number): boolean {
    for (const rekeyedSlot of this.rekeyed?.keys() ?? []) if (rekeyedSlot < slot) return true;
    return false;
  }

  /**
   * Adds `extra` attribute fingerprints (NO_VALUE) to every user: for a snapshot saved before the planner kept more
   * per user. Copies the attributes once.
   */
  widenAttributes(extra: number): void {
    const count = this.attributeCount + extra;
    checkCount('attributeCount', count, 0xffff);
    const capacity = this.keyHashes.length;
    const widened = new Uint32Array(capacity * count);
    for (let slot = 0; slot < this.userCount; slot++) {
      widened.set(this.attributes.subarray(slot * this.attributeCount, (slot + 1) * this.attributeCount), slot * count);
    }
    this.attributes = widened;
    this.attributeCount = count;
  }

  hasSegment(slot: number, segment: number): boolean {
    this.checkSlot(slot);
    this.checkSegment(segment);
    return (this.segments[slot * this.segmentWords + (segment >>> 5)] & (1 << (segment & 31))) !== 0;
  }

  setSegment(slot: number, segment: number, member: boolean): void {
    this.checkSlot(slot);
    this.checkSegment(segment);
    const word = slot * this.segmentWords + (segment >>> 5);
    const bit = 1 << (segment & 31);
    this.segments[word] = member ? this.segments[word] | bit : this.segments[word] & ~bit;
  }

  /** Word `word` of the user's segment bitset (segments 32 × word to 32 × word + 31, lowest bit first). */
  segmentWord(slot: number, word: number): number {
    this.checkSlot(slot);
    if (!(word >= 0 && word < this.segmentWords)) throw new RangeError(`Snapshot segment word ${word} is out of range`);
    return this.segments[slot * this.segmentWords + word];
  }

  /** The attribute's fingerprint, `NO_VALUE` when unset. */
  attribute(slot: number, attribute: number): number {
    this.checkSlot(slot);
    this.checkAttribute(attribute);
    return this.attributes[slot * this.attributeCount + attribute];
  }

  setAttribute(slot: number, attribute: number, fingerprint: number): void {
    this.checkSlot(slot);
    this.checkAttribute(attribute);
    this.attributes[slot * this.attributeCount + attribute] = fingerprint;
  }

  /**
   * Fingerprint of the bytes of the user's last row (`ProfileMapper.readRaw`) whose values the attribute fingerprints
   * hold, or `NO_RAW_FINGERPRINT`. A row with the same raw fingerprint maps to the same values: it needs no decoding.
   */
  rawFingerprint(slot: number): number {
    this.checkSlot(slot);
    return this.rawFingerprints[slot];
  }

  setRawFingerprint(slot: number, fingerprint: number): void {
    this.checkSlot(slot);
    this.rawFingerprints[slot] = fingerprint;
  }

  /** Members per segment (index = segment number), e.g. for `SnapshotMeta.segmentMembers` and shrink checks. */
  segmentMemberCounts(): number[] {
    return countSegmentMembers(this.sections().segments, this.segmentCount);
  }

  /** Approximate bytes held (typed arrays + key arena), for reports and the bench. */
  get byteLength(): number {
    return (
      this.keyHashes.byteLength +
      this.keyOffsets.byteLength +
      this.keyBytes.length +
      this.segments.byteLength +
      this.attributes.byteLength +
      this.rawFingerprints.byteLength +
      this.table.byteLength
    );
  }

  /** For the store: views of the arrays trimmed to `size`. The snapshot must not change while they are in use. */
  sections(): SnapshotSections {
    if (this.rekeyed) this.compactKeys();
    const users = this.userCount;
    return {
      keyHashes: this.keyHashes.subarray(0, users),
      keyOffsets: this.keyOffsets.subarray(0, users + 1),
      keyBytes: this.keyBytes.subarray(0, this.keyOffsets[users]),
      segments: this.segments.subarray(0, users * this.segmentWords),
      attributes: this.attributes.subarray(0, users * this.attributeCount),
      rawFingerprints: this.rawFingerprints.subarray(0, users),
    };
  }

  /**
   * The records of `changedSlots` (known users, ascending, below `usersBefore`) and of every user from `usersBefore`
   * on, with the added users' keys: what an incremental save writes. Copies the records, views the keys.
   */
  patchSince(usersBefore: number, changedSlots: Uint32Array): SnapshotPatch {
    checkCount('usersBefore', usersBefore, this.userCount);
    if (this.rekeyedBelow(usersBefore)) throw new RangeError('Snapshot patch cannot hold users whose key changed');
    if (this.rekeyed) this.compactKeys();
    checkPatchSlots(changedSlots, usersBefore);
    const added = this.userCount - usersBefore;
    const records = changedSlots.length + added;
    const words = this.segmentWords;
    const count = this.attributeCount;
    const segments = new Uint32Array(records * words);
    const attributes = new Uint32Array(records * count);
    const rawFingerprints = new Uint32Array(records);
    for (let record = 0; record < records; record++) {
      const slot = record < changedSlots.length ? changedSlots[record] : usersBefore + record - changedSlots.length;
      segments.set(this.segments.subarray(slot * words, (slot + 1) * words), record * words);
      attributes.set(this.attributes.subarray(slot * count, (slot + 1) * count), record * count);
      rawFingerprints[record] = this.rawFingerprints[slot];
    }
    const keyStart = this.keyOffsets[usersBefore];
    const addedKeyOffsets = this.keyOffsets.slice(usersBefore, this.userCount + 1);
    for (let index = 0; index < addedKeyOffsets.length; index++) addedKeyOffsets[index] -= keyStart;
    return {
      usersBefore,
      changedSlots,
      addedKeyHashes: this.keyHashes.subarray(usersBefore, this.userCount),
      addedKeyOffsets,
      addedKeyBytes: this.keyBytes.subarray(keyStart, this.keyOffsets[this.userCount]),
      segments,
      attributes,
      rawFingerprints,
    };
  }

  /**
   * For the store's loader, after filling the sections and before `finishIndex`: applies a patch written by
   * `patchSince` on a snapshot of `patch.usersBefore` users.
   */
  applyPatch(patch: SnapshotPatch): void {
    const usersBefore = this.userCount;
    const added = patch.addedKeyHashes.length;
    const records = patch.changedSlots.length + added;
    const words = this.segmentWords;
    const count = this.attributeCount;
    if (
      patch.usersBefore !== usersBefore ||
      patch.addedKeyOffsets.length !== added + 1 ||
      patch.addedKeyOffsets[0] !== 0 ||
      patch.addedKeyOffsets[added] !== patch.addedKeyBytes.length ||
      patch.segments.length !== records * words ||
      patch.attributes.length !== records * count ||
      patch.rawFingerprints.length !== records
    ) {
      throw new RangeError(`Snapshot patch does not fit a snapshot of ${usersBefore} users and this shape`);
    }
    checkPatchSlots(patch.changedSlots, usersBefore);
    if (usersBefore + added > this.keyHashes.length) this.growSlots(usersBefore + added);
    const keyStart = this.keyOffsets[usersBefore];
    this.ensureKeyBytes(keyStart + patch.addedKeyBytes.length);
    this.keyBytes.set(patch.addedKeyBytes, keyStart);
    this.keyHashes.set(patch.addedKeyHashes, usersBefore);
    for (let index = 0; index <= added; index++) {
      this.keyOffsets[usersBefore + index] = keyStart + patch.addedKeyOffsets[index];
    }
    for (let record = 0; record < records; record++) {
      const slot =
        record < patch.changedSlots.length
          ? patch.changedSlots[record]
          : usersBefore + record - patch.changedSlots.length;
      this.segments.set(patch.segments.subarray(record * words, (record + 1) * words), slot * words);
      this.attributes.set(patch.attributes.subarray(record * count, (record + 1) * count), slot * count);
      this.rawFingerprints[slot] = patch.rawFingerprints[record];
    }
    this.userCount = usersBefore + added;
  }

  /**
   * For the store's loader, once the key hashes of the loaded users are in: adds up to `count` more of them to the
   * index, from the stored hashes (cheaper than hashing the keys). Called as the rest of the data streams in, so the
   * index is mostly built while waiting for bytes; `finishIndex` adds the rest.
   */
  indexLoadedKeys(count: number): void {
    const end = Math.min(this.userCount, this.usersIndexed + count);
    this.indexSlots(this.usersIndexed, end);
    this.usersIndexed = end;
  }

  /**
   * For the store's loader, after filling the sections (and applying patches): checks that the key offsets cover the
   * `keyByteLength` key bytes loaded and indexes the users not indexed yet. Lookups work from here.
   */
  finishIndex(keyByteLength: number): void {
    const users = this.userCount;
    if (this.keyOffsets[0] !== 0 || this.keyOffsets[users] !== keyByteLength) {
      throw new RangeError('Snapshot key offsets do not cover the key bytes');
    }
    for (let slot = 0; slot < users; slot++) {
      if (this.keyOffsets[slot + 1] < this.keyOffsets[slot]) {
        throw new RangeError(`Snapshot key offsets decrease at slot ${slot}`);
      }
    }
    // Patches may have added more users than the load made room for.
    if (users + 1 > (this.tableMask + 1) * MAX_TABLE_LOAD) this.rehash(tableCapacityFor(users));
    else this.indexLoadedKeys(users - this.usersIndexed);
  }

  /** Writes the arena anew with the keys `rekey` gave, so that every key sits in it again (and stale entries go). */
  private compactKeys(): void {
    const rekeyed = this.rekeyed!;
    let length = this.keyOffsets[this.userCount];
    for (const [slot, key] of rekeyed)
      length += Buffer.byteLength(key) - (this.keyOffsets[slot + 1] - this.keyOffsets[slot]);
    const keyBytes = Buffer.allocUnsafeSlow(
      Math.max(MIN_KEY_BYTES, length + (this.keyBytes.length - this.keyOffsets[this.userCount])),
    );
    let at = 0;
    for (let slot = 0; slot < this.userCount; slot++) {
      const key = rekeyed.get(slot);
      const start = at;
      if (key === undefined) at += this.keyBytes.copy(keyBytes, at, this.keyOffsets[slot], this.keyOffsets[slot + 1]);
      else at += keyBytes.write(key, at, 'utf8');
      this.keyOffsets[slot] = start;
    }
    this.keyOffsets[this.userCount] = at;
    this.keyBytes = keyBytes;
    this.rekeyed = null;
    this.rehash(this.tableMask + 1);
  }

  private growTable(): void {
    this.rehash((this.tableMask + 1) * 2);
  }

  private rehash(capacity: number): void {
    this.staleEntries = 0;
    this.table = newTable(capacity);
    this.tableMask = capacity - 1;
    this.indexSlots(0, this.userCount);
  }

  /** Adds slots `from` to `to` (exclusive) to the table, from their stored hashes; their keys are distinct. */
  private indexSlots(from: number, to: number): void {
    const table = this.table;
    const mask = this.tableMask;
    for (let slot = from; slot < to; slot++) {
      const hash = this.keyHashes[slot];
      let index = hash & mask;
      while (table[2 * index + 1] !== EMPTY) index = (index + 1) & mask;
      table[2 * index] = hash;
      table[2 * index + 1] = slot;
    }
  }

  private growSlots(minimum: number): void {
    const capacity = Math.max(minimum, Math.ceil(this.keyHashes.length * GROWTH_FACTOR));
    const keyHashes = new Int32Array(capacity);
    keyHashes.set(this.keyHashes);
    this.keyHashes = keyHashes;
    const keyOffsets = new Uint32Array(capacity + 1);
    keyOffsets.set(this.keyOffsets);
    this.keyOffsets = keyOffsets;
    const segments = new Uint32Array(capacity * this.segmentWords);
    segments.set(this.segments);
    this.segments = segments;
    const attributes = new Uint32Array(capacity * this.attributeCount);
    attributes.set(this.attributes);
    this.attributes = attributes;
    const rawFingerprints = new Uint32Array(capacity);
    rawFingerprints.set(this.rawFingerprints);
    this.rawFingerprints = rawFingerprints;
  }

  private ensureKeyBytes(minimum: number): void {
    if (minimum <= this.keyBytes.length) return;
    if (minimum > MAX_KEY_BYTES) throw new RangeError('Snapshot keys exceed 4 GiB');
    const length = Math.min(MAX_KEY_BYTES, Math.max(minimum, Math.ceil(this.keyBytes.length * GROWTH_FACTOR)));
    const keyBytes = Buffer.allocUnsafeSlow(length);
    this.keyBytes.copy(keyBytes, 0, 0, this.keyOffsets[this.userCount]);
    this.keyBytes = keyBytes;
  }

  /** True when the stored key is `prefix` + ":" followed by exactly `bytes[start..end)`. */
  private rawKeyEquals(slot: number, prefix: number, bytes: Uint8Array, start: number, end: number): boolean {
    const rekeyed = this.rekeyed?.get(slot);
    if (rekeyed !== undefined)
      return (
        rekeyed === String.fromCharCode(prefix, CHAR_COLON) + Buffer.from(bytes.subarray(start, end)).toString('latin1')
      );
    const stored = this.keyBytes;
    const keyStart = this.keyOffsets[slot];
    if (this.keyOffsets[slot + 1] - keyStart !== end - start + 2) return false;
    if (stored[keyStart] !== prefix || stored[keyStart + 1] !== CHAR_COLON) return false;
    for (let at = start, position = keyStart + 2; at < end; at++, position++) {
      if (stored[position] !== bytes[at]) return false;
    }
    return true;
  }

  /** Compares a stored key's UTF-8 bytes with a string, encoding on the fly so nothing is allocated. */
  private keyEquals(slot: number, key: string): boolean {
    const rekeyed = this.rekeyed?.get(slot);
    if (rekeyed !== undefined) return rekeyed === key;
    const bytes = this.keyBytes;
    let position = this.keyOffsets[slot];
    const end = this.keyOffsets[slot + 1];
    const length = key.length;
    for (let index = 0; index < length; index++) {
      let code = key.charCodeAt(index);
      if (code < 0x80) {
        if (position >= end || bytes[position++] !== code) return false;
        continue;
      }
      if (code < 0x800) {
        if (position + 2 > end) return false;
        if (bytes[position++] !== (0xc0 | (code >>> 6))) return false;
        if (bytes[position++] !== (0x80 | (code & 0x3f))) return false;
        continue;
      }
      if (code >= 0xd800 && code <= 0xdfff) {
        const next = index + 1 < length ? key.charCodeAt(index + 1) : 0;
        if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          const point = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
          index++;
          if (position + 4 > end) return false;
          if (bytes[position++] !== (0xf0 | (point >>> 18))) return false;
          if (bytes[position++] !== (0x80 | ((point >>> 12) & 0x3f))) return false;
          if (bytes[position++] !== (0x80 | ((point >>> 6) & 0x3f))) return false;
          if (bytes[position++] !== (0x80 | (point & 0x3f))) return false;
          continue;
        }
        // Buffer.write stores a lone surrogate as U+FFFD; compare the same way.
        code = 0xfffd;
      }
      if (position + 3 > end) return false;
      if (bytes[position++] !== (0xe0 | (code >>> 12))) return false;
      if (bytes[position++] !== (0x80 | ((code >>> 6) & 0x3f))) return false;
      if (bytes[position++] !== (0x80 | (code & 0x3f))) return false;
    }
    return position === end;
  }

  private checkSlot(slot: number): void {
    if (!(slot >= 0 && slot < this.userCount && slot === (slot | 0))) {
      throw new RangeError(`Snapshot slot ${slot} is out of range (size ${this.userCount})`);
    }
  }

  private checkSegment(segment: number): void {
    if (!(segment >= 0 && segment < this.segmentCount && segment === (segment | 0))) {
      throw new RangeError(`Snapshot segment ${segment} is out of range (segmentCount ${this.segmentCount})`);
    }
  }

  private checkAttribute(attribute: number): void {
    if (!(attribute >= 0 && attribute < this.attributeCount && attribute === (attribute | 0))) {
      throw new RangeError(`Snapshot attribute ${attribute} is out of range (attributeCount ${this.attributeCount})`);
    }
  }
}
