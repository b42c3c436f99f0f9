/** The shape, sections and patches of a snapshot (snapshot.ts), and checks and counts made on its sections. */
export interface SnapshotShape {
  segmentCount: number;
  attributeCount: number;
}

/** Views of a snapshot's arrays trimmed to its users, for the store to write or fill. No copies. */
export interface SnapshotSections {
  keyHashes: Int32Array;
  /** size + 1 entries: key of slot i is keyBytes[keyOffsets[i] .. keyOffsets[i + 1]). */
  keyOffsets: Uint32Array;
  keyBytes: Uint8Array;
  segments: Uint32Array;
  attributes: Uint32Array;
  rawFingerprints: Uint32Array;
}

/**
 * What changed in a snapshot since it was loaded, for an incremental save: the records (segments, attributes, raw
 * fingerprint) of the changed known users, then of the users added since, and the added users' keys.
 */
export interface SnapshotPatch {
  /** Users the snapshot had when loaded: the added users are the slots from here on. */
  usersBefore: number;
  /** Known slots (below `usersBefore`) whose records follow, ascending. */
  changedSlots: Uint32Array;
  /** Added users' key hashes. */
  addedKeyHashes: Int32Array;
  /** Added users + 1 entries, from 0: key of added user i is addedKeyBytes[offsets[i] .. offsets[i + 1]). */
  addedKeyOffsets: Uint32Array;
  addedKeyBytes: Uint8Array;
  /** Per record (changed users, then added users): segment words, attribute fingerprints, raw fingerprint. */
  segments: Uint32Array;
  attributes: Uint32Array;
  rawFingerprints: Uint32Array;
}

/** Members per segment of a segment bitset section (`segmentWords` words per user, lowest bit first). */
export function countSegmentMembers(segments: Uint32Array, segmentCount: number): number[] {
  const segmentWords = Math.ceil(segmentCount / 32);
  const counts = new Array<number>(segmentCount).fill(0);
  for (let word = 0; word < segments.length; word++) {
    let bits = segments[word];
    const first = (word % segmentWords) * 32;
    while (bits !== 0) {
      // Count and clear the lowest set bit.
      counts[first + (31 - Math.clz32(bits & -bits))]++;
      bits &= bits - 1;
    }
  }
  return counts;
}

/** Throws unless a patch's changed slots ascend below `usersBefore`. */
export function checkPatchSlots(slots: Uint32Array, usersBefore: number): void {
  for (let index = 0; index < slots.length; index++) {
    if (slots[index] >= usersBefore || (index > 0 && slots[index] <= slots[index - 1])) {
      throw new RangeError(`Snapshot patch slots must ascend below ${usersBefore}; entry ${index} is ${slots[index]}`);
    }
  }
}
