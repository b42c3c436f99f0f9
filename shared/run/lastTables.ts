import type { ContainerClient } from '@azure/storage-blob';
import type { ProfileMapper, RawRowFacts } from '../mapping/profileMapper';
import { emptyRawRowFacts } from '../mapping/profileMapper';
import type { EntityDescriptor, SourceRecord } from '../source';
import { readPartitionBatches } from '../source/readPartition';
import { hashKey } from '../state/snapshot';

const EMPTY = 0;
const MAX_LOAD = 0.5;
const MIN_CAPACITY = 1024;
/** Stored as index + 1 in a byte (0 marks an empty entry). */
export const MAX_TABLE_INDEX = 254;

/**
 * The last segment table (index in read order) each user appears in, by 32-bit key hash (`hashKey`): an
 * open-addressing table of (hash, index + 1) pairs, 5 bytes per entry, no per-user objects (about 10 MB at a million
 * users). Two keys with the same hash share the later index: their objects are then held longer than needed, never
 * lost (see `UserMerge`).
 */
export class LastTableIndex {
  private hashes = new Int32Array(MIN_CAPACITY);
  private tables = new Uint8Array(MIN_CAPACITY);
  private count = 0;

  get size(): number {
    return this.count;
  }

  get byteLength(): number {
    return this.hashes.byteLength + this.tables.byteLength;
  }

  /** Records that the user of `hash` has a row in `table`; the highest table wins. */
  note(hash: number, table: number): void {
    if (table < 0 || table > MAX_TABLE_INDEX) throw new RangeError(`table index ${table} out of 0..${MAX_TABLE_INDEX}`);
    const at = this.probe(hash);
    if (this.tables[at] === EMPTY) {
      this.hashes[at] = hash;
      this.tables[at] = table + 1;
      if (++this.count > this.hashes.length * MAX_LOAD) this.grow();
    } else if (this.tables[at] < table + 1) this.tables[at] = table + 1;
  }

  /** The last table noted for `hash`, or -1. */
  lastTable(hash: number): number {
    return this.tables[this.probe(hash)] - 1;
  }

  private probe(hash: number): number {
    const mask = this.hashes.length - 1;
    let at = (Math.imul(hash, 0x9e3779b1) >>> 0) & mask;
    while (this.tables[at] !== EMPTY && this.hashes[at] !== hash) at = (at + 1) & mask;
    return at;
  }

  private grow(): void {
    const { hashes, tables } = this;
    this.hashes = new Int32Array(hashes.length * 2);
    this.tables = new Uint8Array(tables.length * 2);
    for (let at = 0; at < hashes.length; at++) {
      if (tables[at] === EMPTY) continue;
      const to = this.probe(hashes[at]);
      this.hashes[to] = hashes[at];
      this.tables[to] = tables[at];
    }
  }
}

export interface TableToIndex {
  entity: EntityDescriptor;
  mapper: ProfileMapper;
  maxCellSizeInBytes?: number;
}

/**
 * The pre-pass of a full sync: reads the users' ids from every table after the first (the first can be nobody's
 * later table) and notes each user's last table. Rows are left as bytes where the mapper can hash their id from
 * them; the others are decoded and mapped. Rows that map to no user are passed over (the sync reports them).
 */
export async function indexLastTables(
  container: ContainerClient,
  tables: readonly TableToIndex[],
): Promise<LastTableIndex> {
  const index = new LastTableIndex();
  const facts: RawRowFacts = emptyRawRowFacts();
  for (let table = 1; table < tables.length; table++) {
    const { entity, mapper, maxCellSizeInBytes } = tables[table];
    for (const partition of entity.partitions) {
      const batches = readPartitionBatches(container, entity, partition, {
        columns: mapper.columnsRead,
        rawRows: true,
        maxCellSizeInBytes,
      });
      for await (const batch of batches) {
        for (const record of batch) {
          if (record.kind === 'raw') {
            for (let row = 0; row < record.rows.rowCount; row++) {
              if (mapper.readRaw(record.rows, row, facts)) index.note(facts.keyHash, table);
              else noteDecoded(index, mapper, record.decode(row), table);
            }
          } else noteDecoded(index, mapper, record, table);
        }
      }
    }
  }
  return index;
}

function noteDecoded(index: LastTableIndex, mapper: ProfileMapper, record: SourceRecord, table: number): void {
  if (record.kind !== 'row') return;
  const outcome = mapper.map(record.values);
  if (outcome.kind === 'mapped') index.note(hashKey(outcome.row.key), table);
}
