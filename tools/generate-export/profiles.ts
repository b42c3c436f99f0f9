/**
 * Deterministic synthetic CI profiles: profile `i` at run `r` is a pure function of (seed, i, r), so any run of any
 * size can be regenerated without state, and two runs differ exactly by the configured churn and merges.
 */

export interface SegmentSpec {
  table: string;
  brazeSegmentApiId: string;
  /** Share of profiles that are members, 0..1; by default .5, .3, .15 by position, then .1. */
  share: number;
}

export interface ProfileOptions {
  profiles: number;
  seed: number;
  segments?: SegmentSpec[];
  churnPercent?: number;
  mergePercent?: number;
  externalIdMissingPercent?: number;
  emailMissingPercent?: number;
  repeatedCustomerIdPercent?: number;
}

export interface GeneratedProfile {
  customerId: string;
  previousCustomerIds: string[];
  brazeCustomerId: string | null;
  email: string | null;
  firstName: string;
  lastName: string;
  fullName: string;
  phone: string | null;
  city: string;
  country: string;
  /** `YYYY-MM-DD` (written to the CSV as a dateTime at midnight UTC). */
  dateOfBirth: string | null;
  lifetimeValue: number;
  loyaltyPoints: number;
  emailOptIn: boolean;
  /** Tables (segments) the profile is a member of at this run. */
  segments: string[];
}

export const DEFAULT_SEGMENTS: readonly SegmentSpec[] = Object.freeze([
  { table: 'HighValueSegment', brazeSegmentApiId: '3bbc4555-8fa0-4c9b-a5c0-4505edf3e064', share: 0.5 },
  { table: 'LoyalGold', brazeSegmentApiId: '7c1e2f4a-5b6d-4e8f-9a0b-1c2d3e4f5a6b', share: 0.3 },
  { table: 'ChurnRisk', brazeSegmentApiId: 'd4c3b2a1-0f9e-4d8c-b7a6-958473625140', share: 0.15 },
]);

const DEFAULTS = {
  churnPercent: 5,
  mergePercent: 0.5,
  externalIdMissingPercent: 10,
  emailMissingPercent: 5,
  repeatedCustomerIdPercent: 0,
};

export type ResolvedProfileOptions = Required<ProfileOptions>;

export function resolveProfileOptions(options: ProfileOptions): ResolvedProfileOptions {
  const resolved = {
    ...DEFAULTS,
    segments: DEFAULT_SEGMENTS.map((s) => ({ ...s })),
    ...withoutUndefined(options),
  } as ResolvedProfileOptions;
  // Segments given without a share (e.g. taken from an export config) get the default shares by position.
  resolved.segments = resolved.segments.map((segment, index) => ({
    ...segment,
    share: segment.share ?? DEFAULT_SEGMENTS[index]?.share ?? 0.1,
  }));
  if (!Number.isInteger(resolved.profiles) || resolved.profiles < 0) {
    throw new Error('profiles: expected an integer >= 0');
  }
  if (!Number.isInteger(resolved.seed)) throw new Error('seed: expected an integer');
  return resolved;
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

// Salts that keep each field's random stream independent.
const enum Salt {
  Id = 1,
  Churn,
  Merge,
  ExternalIdMissing,
  EmailMissing,
  FirstName,
  LastName,
  Phone,
  City,
  BirthDate,
  LifetimeValue,
  Loyalty,
  OptIn,
  Repeat,
  Crm,
  Style,
  Segment = 100,
}

/** A 32-bit avalanche mix (murmur3 finaliser). */
function mix(value: number): number {
  let h = value;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export function hash(seed: number, index: number, salt: number, run = 0): number {
  return mix(mix(mix(mix(seed ^ 0x9e3779b9) ^ index) ^ salt) ^ run);
}

/** Uniform in [0, 1). */
export function unit(seed: number, index: number, salt: number, run = 0): number {
  return hash(seed, index, salt, run) / 4294967296;
}

function pick<T>(list: readonly T[], seed: number, index: number, salt: number, run = 0): T {
  return list[hash(seed, index, salt, run) % list.length];
}

function hex8(value: number): string {
  return value.toString(16).padStart(8, '0');
}

/** A version-4 style GUID drawn from (seed, index, salt, generation). */
export function guid(seed: number, index: number, salt: number, generation: number): string {
  const a = hex8(hash(seed, index, salt, generation));
  const b = hex8(hash(seed, index, salt + 1000, generation));
  const c = hex8(hash(seed, index, salt + 2000, generation));
  const d = hex8(hash(seed, index, salt + 3000, generation));
  const variant = ((parseInt(c[0], 16) & 0x3) | 0x8).toString(16);
  return `${a}-${b.slice(0, 4)}-4${b.slice(5, 8)}-${variant}${c.slice(1, 4)}-${c.slice(4)}${d}`;
}

const FIRST_NAMES = [
  'Liam',
  'Emma',
  'Noah',
  'Olivia',
  'Mária',
  'Zoë',
  'Søren',
  'José',
  'Łukasz',
  'Aoife',
  'Chloé',
  'Björn',
  'Ana',
  'Mateo',
  'Sofia',
  'Hiroshi',
  'Fatima',
  'Oliver',
  'Amélie',
  'Jürgen',
  'Ngozi',
  'Priya',
  'Lucas',
  'Ingrid',
];
const LAST_NAMES = [
  'Byrne',
  'Kovács',
  'Müller',
  'Nguyễn',
  'García',
  'Smith',
  'Johansson',
  'Dubois',
  'Nowak',
  'Rossi',
  'Jensen',
  'Ørsted',
  'Silva',
  'Tanaka',
  'Okafor',
  'Patel',
  'Brown',
  'Larsen',
  'Fernández',
  'Murphy',
  'Schäfer',
  'Wilson',
];
const PLACES: ReadonlyArray<[string, string]> = [
  ['Győr', 'Hungary'],
  ['Cork', 'Ireland'],
  ['Oslo', 'Norway'],
  ['München', 'Germany'],
  ['Kraków', 'Poland'],
  ['Lyon', 'France'],
  ['Seattle', 'United States'],
  ['São Paulo', 'Brazil'],
  ['Malmö', 'Sweden'],
  ['Zürich', 'Switzerland'],
  ['Abidjan', "Côte d'Ivoire"],
  ['Toronto', 'Canada'],
];
/** Values that exercise CSV quoting: embedded delimiters, quotes and line breaks. */
const EDGE_CITIES = ['Cork, Munster', 'Saint-Denis\nÎle-de-France', 'Bergen; Vestland', 'Tab\tTown'];

/** Last run in 1..run at which the profile changed (0 = never): its field values are drawn for that version. */
function lastChange(seed: number, index: number, run: number, churnShare: number): number {
  for (let r = run; r >= 1; r--) if (unit(seed, index, Salt.Churn, r) < churnShare) return r;
  return 0;
}

/** Runs in 1..run at which the profile was merged into a new CustomerId. */
function generation(seed: number, index: number, run: number, mergeShare: number): number {
  let count = 0;
  for (let r = 1; r <= run; r++) if (unit(seed, index, Salt.Merge, r) < mergeShare) count++;
  return count;
}

/** The profile `index` as it stands at `run`. */
export function profileAt(
  options: ResolvedProfileOptions,
  index: number,
  run: number,
  edgeCases = false,
): GeneratedProfile {
  const { seed } = options;
  const version = lastChange(seed, index, run, options.churnPercent / 100);
  const merges = generation(seed, index, run, options.mergePercent / 100);
  const previousCustomerIds: string[] = [];
  for (let g = 0; g < merges; g++) previousCustomerIds.push(guid(seed, index, Salt.Id, g));
  let firstName = pick(FIRST_NAMES, seed, index, Salt.FirstName);
  const lastName = pick(LAST_NAMES, seed, index, Salt.LastName);
  if (edgeCases && unit(seed, index, Salt.Style) < 0.05) firstName = `${firstName} "Red"`;
  const [homeCity, country] = pick(PLACES, seed, index, Salt.City, version);
  const city =
    edgeCases && unit(seed, index, Salt.Style, 1) < 0.05 ? pick(EDGE_CITIES, seed, index, Salt.City) : homeCity;
  const emailMissing = unit(seed, index, Salt.EmailMissing) < options.emailMissingPercent / 100;
  const externalIdMissing = unit(seed, index, Salt.ExternalIdMissing) < options.externalIdMissingPercent / 100;
  const birth = hash(seed, index, Salt.BirthDate);
  const segments: string[] = [];
  options.segments.forEach((segment, s) => {
    if (unit(seed, index, Salt.Segment + s, version) < segment.share) segments.push(segment.table);
  });
  return {
    customerId: guid(seed, index, Salt.Id, merges),
    previousCustomerIds,
    brazeCustomerId: externalIdMissing ? null : `BZ-${seed}-${index}`,
    email: emailMissing ? null : `${asciiLocalPart(firstName)}.${asciiLocalPart(lastName)}.${index}@example.com`,
    firstName,
    lastName,
    fullName: `${firstName} ${lastName}`,
    phone:
      hash(seed, index, Salt.Phone) % 5 === 0
        ? null
        : `+1 555 ${String(hash(seed, index, Salt.Phone, 1) % 10_000_000).padStart(7, '0')}`,
    city,
    country,
    dateOfBirth:
      birth % 10 === 0
        ? null
        : `${1940 + (birth % 65)}-${String(1 + ((birth >>> 8) % 12)).padStart(2, '0')}-${String(1 + ((birth >>> 16) % 28)).padStart(2, '0')}`,
    lifetimeValue: (hash(seed, index, Salt.LifetimeValue, version) % 1_000_000) / 100,
    loyaltyPoints: hash(seed, index, Salt.Loyalty, version) % 100_000,
    emailOptIn: unit(seed, index, Salt.OptIn, version) < 0.7,
    segments,
  };
}

const localParts = new Map<string, string>();

/** Email-safe form of a name: accents dropped, anything else removed (memoised: names come from short lists). */
function asciiLocalPart(name: string): string {
  let part = localParts.get(name);
  if (part === undefined) {
    part = name
      .normalize('NFD')
      .replace(/[^A-Za-z]/g, '')
      .toLowerCase();
    localParts.set(name, part);
  }
  return part;
}

/** Whether profile `index` is in segment number `segmentIndex` at `run`: cheaper than building the profile. */
export function isMemberAt(options: ResolvedProfileOptions, index: number, run: number, segmentIndex: number): boolean {
  const version = lastChange(options.seed, index, run, options.churnPercent / 100);
  return unit(options.seed, index, Salt.Segment + segmentIndex, version) < options.segments[segmentIndex].share;
}

/** How many times the profile's row appears in a segment table (projected-attribute style repeats). */
export function rowRepeats(options: ResolvedProfileOptions, index: number, run: number): number {
  return unit(options.seed, index, Salt.Repeat, run) < options.repeatedCustomerIdPercent / 100 ? 2 : 1;
}

/** The CRM contact key column, stable per profile. */
export function crmContactId(options: ResolvedProfileOptions, index: number): string {
  return guid(options.seed, index, Salt.Crm, 0);
}

/** A per-row draw for how a cell is spelled (quoting, boolean casing), when edge cases are on. */
export function styleDraw(options: ResolvedProfileOptions, index: number, run: number): number {
  return hash(options.seed, index, Salt.Style + 7, run);
}

/** Every profile at `run`, in index order. Pure and deterministic for (options, run). */
export function* profilesAtRun(
  options: ProfileOptions & { edgeCases?: boolean },
  run: number,
): Generator<GeneratedProfile> {
  const resolved = resolveProfileOptions(options);
  for (let index = 0; index < resolved.profiles; index++)
    yield profileAt(resolved, index, run, options.edgeCases ?? false);
}
