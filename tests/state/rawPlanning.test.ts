import { validateExportConfig, type ExportConfig } from '../../shared/config/exportConfig';
import {
  createProfileMapper,
  emptyRawRowFacts,
  mappedAttributeNames,
  type ProfileMapper,
} from '../../shared/mapping/profileMapper';
import { converterFor, INVALID } from '../../shared/source/dataTypes';
import { CsvRecordScanner, type ParsedRow } from '../../shared/source/fastCsv';
import { RawRowBlock, RawRowSplitter } from '../../shared/source/rawRows';
import type { CellValue, EntityDescriptor } from '../../shared/source/types';
import { DeltaPlanner, type RowPlan } from '../../shared/state/diff';
import type { Snapshot } from '../../shared/state/snapshot';
import { random, type Random } from '../helpers/random';

/**
 * The raw path (`ProfileMapper.readRaw` + `DeltaPlanner.planRaw`, rows left as bytes) must plan exactly what decoding
 * every row and `planRow` plan: the same objects, the same removals, the same next snapshot, run after run.
 */

const entity: EntityDescriptor = {
  name: 'Seg',
  partitions: [],
  columns: [
    { name: 'CustomerId', dataType: 'guid' },
    { name: 'BrazeCustomerId', dataType: 'string' },
    { name: 'PrimaryEmail', dataType: 'string' },
    { name: 'FirstName', dataType: 'string' },
    { name: 'Points', dataType: 'int64' },
    { name: 'PreviousCustomerId', dataType: 'string' },
    { name: 'Unused', dataType: 'string' },
  ],
};
const segmentIds = ['seg-gold', 'seg-churn'];

function configFor(whenExternalIdMissing: string): ExportConfig {
  return validateExportConfig({
    identity: { externalId: 'BrazeCustomerId', email: 'PrimaryEmail', whenExternalIdMissing },
    segments: [
      { table: 'Gold', brazeSegmentApiId: segmentIds[0] },
      { table: 'Churn', brazeSegmentApiId: segmentIds[1] },
    ],
    attributes: { FirstName: 'first_name', Points: 'ci_points' },
  });
}

interface User {
  guid: string;
  externalId: string;
  email: string;
  firstName: string;
  points: string;
  previousIds: string;
}

const hex = (rng: Random, length: number) => Array.from({ length }, () => rng.pick([...'0123456789abcdef'])).join('');
const guidOf = (rng: Random) => [8, 4, 4, 4, 12].map((length) => hex(rng, length)).join('-');

function newUser(rng: Random, index: number): User {
  return {
    // Upper-case GUIDs are lower-cased by the reader: their rows never match a key as bytes.
    guid: rng.next() < 0.1 ? guidOf(rng).toUpperCase() : guidOf(rng),
    // Mostly plain ids; some absent (alias or email identity), non-ASCII, padded, or too long.
    externalId: rng.next() < 0.7 ? `u${index}` : rng.pick(['', '', `ü${index}`, ` u${index} `, 'x'.repeat(990)]),
    email: rng.next() < 0.7 ? `u${index}@x.io` : rng.pick(['', `Zoë${index}@x.io`]),
    firstName: rng.next() < 0.8 ? rng.pick(['Ann', 'Bo', 'Győr', 'Smith, Jr', '']) : 'x'.repeat(300),
    points: rng.next() < 0.9 ? rng.pick(['1', '20', '007', '']) : 'lots',
    previousIds: '',
  };
}

function mutate(rng: Random, user: User): void {
  const field = rng.int(5);
  if (field === 0) user.firstName = rng.pick(['Ann', 'Cy', 'Dee', '', 'Győr']);
  else if (field === 1) user.points = String(rng.int(100));
  else if (field === 2) user.email = rng.pick([`${user.email}x`, '']);
  else if (field === 3) {
    // A merge: the profile gets a new CustomerId and names the old one (which alias users are known by).
    user.previousIds = user.guid;
    user.guid = guidOf(rng);
  } else user.guid = rng.next() < 0.5 ? user.guid.toUpperCase() : user.guid.toLowerCase();
}

/** A cell as CI writes it: quoted when it must be, and now and then when it need not be. */
function cell(rng: Random, value: string): string {
  return value.includes(',') || value.includes('"') || rng.next() < 0.2 ? `"${value.replace(/"/g, '""')}"` : value;
}

function csvOf(rng: Random, users: User[]): Buffer {
  const lines = users.map((user) =>
    [user.guid, user.externalId, user.email, user.firstName, user.points, user.previousIds, hex(rng, 4)]
      .map((value) => cell(rng, value))
      .join(','),
  );
  return Buffer.from(lines.join('\n') + '\n', 'utf8');
}

/** The file's rows, as blocks of bytes and scanner records, in order. */
function readRows(bytes: Buffer, rng: Random): Array<ParsedRow | RawRowBlock> {
  const scanner = new CsvRecordScanner(',', 'Seg/Seg_1.csv');
  const splitter = new RawRowSplitter(scanner, ',', entity.columns.length, 16 * 1024 * 1024);
  const out: Array<ParsedRow | RawRowBlock> = [];
  for (let at = 0; at < bytes.length;) {
    const size = 1 + rng.int(300);
    out.push(...splitter.write(bytes.subarray(at, at + size)));
    at += size;
  }
  out.push(...splitter.end());
  return out;
}

/** The reader's conversion of a record: typed cells, or null for a cell that does not parse. */
function typed(record: ParsedRow): CellValue[] | null {
  const values: CellValue[] = [];
  for (let i = 0; i < entity.columns.length; i++) {
    if (record[i] === '') values.push(null);
    else {
      const value = converterFor(entity.columns[i].dataType)(record[i]);
      if (value === INVALID) return null;
      values.push(value);
    }
  }
  return values;
}

type Planned = { kind: string; object?: Record<string, unknown> };

/**
 * What became of a planned row. Braze turns down some objects (by their length, so the same ones on both sides):
 * the planner puts those users back, as the pipeline does on a rejection.
 */
function settle(planner: DeltaPlanner, plan: RowPlan): Planned {
  if (plan.kind !== 'send') return { kind: plan.kind };
  if (JSON.stringify(plan.planned.object).length % 7 === 0) planner.reject(plan.planned);
  return { kind: 'send', object: plan.planned.object };
}

/** Plans a decoded row as the pipeline does. */
function planDecoded(planner: DeltaPlanner, mapper: ProfileMapper, record: ParsedRow, segment: number, raw: number) {
  const values = typed(record);
  if (!values) return { kind: 'unreadable' };
  const outcome = mapper.map(values);
  if (outcome.kind === 'skipped') return { kind: 'skipped' };
  if (outcome.kind === 'rejected') {
    return { kind: `rejected ${outcome.key !== undefined && planner.keepPrevious(outcome.key, segment)}` };
  }
  return settle(planner, planner.planRow(outcome.row, segment, raw));
}

function contents(snapshot: Snapshot, attributes: number) {
  return Array.from({ length: snapshot.size }, (_, slot) => ({
    key: snapshot.keyOf(slot),
    segments: segmentIds.map((_, s) => snapshot.hasSegment(slot, s)),
    attributes: Array.from({ length: attributes }, (_, a) => snapshot.attribute(slot, a)),
  }));
}

describe('planning rows from their bytes', () => {
  it.each(['alias', 'email', 'skip'])(
    'plans what decoding every row plans, over runs of churn (whenExternalIdMissing: %s)',
    (whenExternalIdMissing) => {
      const rng = random(whenExternalIdMissing.length);
      const config = configFor(whenExternalIdMissing);
      const mapper = createProfileMapper(config, entity);
      const attributeNames = mappedAttributeNames(config);
      const users = Array.from({ length: 80 }, (_, i) => newUser(rng, i));
      let previousRaw: Snapshot | null = null;
      let previousDecoded: Snapshot | null = null;
      let plannedFromBytes = 0;
      let rows = 0;
      for (let run = 0; run < 8; run++) {
        const selected = new Set(run === 5 ? [0] : [0, 1]);
        const fullResync = run === 6;
        const raw: DeltaPlanner = new DeltaPlanner(
          config,
          attributeNames,
          segmentIds,
          selected,
          previousRaw,
          fullResync,
        );
        const decoded: DeltaPlanner = new DeltaPlanner(
          config,
          attributeNames,
          segmentIds,
          selected,
          previousDecoded,
          fullResync,
        );
        for (const user of users) if (run > 0 && rng.next() < 0.15) mutate(rng, user);
        for (const segment of selected) {
          const members = users.filter(() => rng.next() < 0.7);
          if (members.length > 0 && rng.next() < 0.5) members.push(rng.pick(members)); // a repeated row
          const facts = emptyRawRowFacts();
          for (const item of readRows(csvOf(rng, members), rng)) {
            const records = item instanceof RawRowBlock ? Array.from({ length: item.rowCount }, (_, r) => r) : [-1];
            for (const r of records) {
              rows++;
              const record = item instanceof RawRowBlock ? item.decode(r) : item;
              let fromBytes: Planned | null = null;
              let rawFingerprint = 0;
              if (item instanceof RawRowBlock && mapper.readRaw(item, r, facts)) {
                const plan = raw.planRaw(facts, segment);
                if (plan) {
                  plannedFromBytes++;
                  fromBytes = settle(raw, plan);
                } else rawFingerprint = facts.fingerprint;
              }
              fromBytes ??= planDecoded(raw, mapper, record, segment, rawFingerprint);
              const expected = planDecoded(decoded, mapper, record, segment, 0);
              expect({ run, segment, line: record.line, plan: fromBytes }).toEqual({
                run,
                segment,
                line: record.line,
                plan: expected,
              });
            }
          }
        }
        const removalsOf = (planner: DeltaPlanner) =>
          [...planner.planRemovals(new Set()).removals].map((removal) => removal.object);
        expect(removalsOf(raw)).toEqual(removalsOf(decoded));
        expect(contents(raw.next, attributeNames.length)).toEqual(contents(decoded.next, attributeNames.length));
        previousRaw = raw.next;
        previousDecoded = decoded.next;
      }
      // Most rows of the later runs were planned from their bytes, so the comparison above covered that path.
      expect(plannedFromBytes).toBeGreaterThan(rows * 0.3);
    },
  );
});
