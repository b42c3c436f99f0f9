import { ALIAS_LABEL } from '../../shared/mapping/profileMapper';
import type { BrazeSandbox, SandboxProfile } from '../braze-sandbox/server';
import { mapCountry } from '../braze-sandbox/store';
import { profilesAtRun, type GeneratedProfile, type GeneratorOptions } from '../generate-export/generator';

/**
 * What Braze should hold after syncing run `run` of a generated export with `sampleExportConfig`: computed from
 * the generator's model, independently of the pipeline, so tests and the demo can check the sandbox against it.
 */
export interface ExpectedUser {
  identity: { external_id: string } | { alias_name: string };
  email: string | null;
  attributes: Record<string, unknown>;
  /** Braze segment ids the user is a member of now. */
  memberships: string[];
}

export interface ExpectedState {
  users: ExpectedUser[];
  /** Users synced at an earlier run who are in no segment now: they must hold no membership attribute. */
  formerMembers: ExpectedUser['identity'][];
}

export function expectedState(options: GeneratorOptions, run: number): ExpectedState {
  const segmentIdOf = new Map((options.segments ?? []).map((s) => [s.table, s.brazeSegmentApiId]));
  // Alias-identified profiles keep the alias they were first synced with across merges (PreviousCustomerId).
  const aliasOf = new Map<string, string>();
  const everSynced = new Map<string, ExpectedUser['identity']>();
  let users: ExpectedUser[] = [];
  for (let r = 0; r <= run; r++) {
    const current = new Map<string, ExpectedUser['identity']>();
    users = [];
    for (const profile of profilesAtRun(options, r)) {
      if (profile.segments.length === 0) continue;
      const identity = identityOf(profile, aliasOf);
      const key = JSON.stringify(identity);
      current.set(key, identity);
      if (r === run) {
        users.push({
          identity,
          email: profile.email,
          attributes: attributesOf(profile),
          memberships: profile.segments.map((table) => segmentIdOf.get(table) ?? table),
        });
      }
    }
    for (const [key, identity] of current) everSynced.set(key, identity);
    if (r === run) {
      const formerMembers = [...everSynced].filter(([key]) => !current.has(key)).map(([, identity]) => identity);
      return { users, formerMembers };
    }
  }
  throw new Error(`run must be 0 or more, got ${run}`);
}

function identityOf(profile: GeneratedProfile, aliasOf: Map<string, string>): ExpectedUser['identity'] {
  if (profile.brazeCustomerId) return { external_id: profile.brazeCustomerId };
  const inherited = profile.previousCustomerIds.map((id) => aliasOf.get(id)).find((alias) => alias !== undefined);
  const alias = aliasOf.get(profile.customerId) ?? inherited ?? profile.customerId;
  aliasOf.set(profile.customerId, alias);
  return { alias_name: alias };
}

const MAPPED_ATTRIBUTES = [
  'first_name',
  'last_name',
  'home_city',
  'country',
  'dob',
  'ci_lifetime_value',
  'ci_loyalty_points',
  'ci_email_opt_in',
];

function attributesOf(profile: GeneratedProfile): Record<string, unknown> {
  const values: Record<string, unknown> = {
    first_name: profile.firstName,
    last_name: profile.lastName,
    home_city: profile.city,
    // Braze maps country names to ISO codes best-effort and stores nothing for names it does not know.
    country: mapCountry(profile.country),
    dob: profile.dateOfBirth ? profile.dateOfBirth.slice(0, 10) : null,
    ci_lifetime_value: profile.lifetimeValue,
    ci_loyalty_points: profile.loyaltyPoints,
    ci_email_opt_in: profile.emailOptIn,
  };
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== null && value !== ''));
}

export interface Comparison {
  expectedUsers: number;
  matchingUsers: number;
  /** The first few differences, naming attributes and counts, never values. */
  differences: string[];
}

/** Compares the sandbox's profiles with the expected state. */
export function compareWithSandbox(sandbox: BrazeSandbox, expected: ExpectedState): Comparison {
  const differences: string[] = [];
  let matchingUsers = 0;
  const allSegmentIds = new Set(expected.users.flatMap((u) => u.memberships));
  for (const user of expected.users) {
    const profile = find(sandbox, user.identity);
    const problems = profile ? differencesOf(profile, user, allSegmentIds) : ['profile missing'];
    if (problems.length === 0) matchingUsers++;
    else if (differences.length < 10) differences.push(`${describe(user.identity)}: ${problems.join(', ')}`);
  }
  for (const identity of expected.formerMembers) {
    const profile = find(sandbox, identity);
    const left = profile ? [...allSegmentIds].filter((id) => profile.attributes[id] != null) : [];
    if (left.length > 0 && differences.length < 10) {
      differences.push(`${describe(identity)}: still a member of ${left.join(', ')} after leaving`);
    }
  }
  return { expectedUsers: expected.users.length, matchingUsers, differences };
}

function find(sandbox: BrazeSandbox, identity: ExpectedUser['identity']): SandboxProfile | undefined {
  return 'external_id' in identity
    ? sandbox.findProfile({ external_id: identity.external_id })
    : sandbox.findProfile({ alias: { alias_name: identity.alias_name, alias_label: ALIAS_LABEL } });
}

function differencesOf(profile: SandboxProfile, user: ExpectedUser, segmentIds: Set<string>): string[] {
  const problems: string[] = [];
  if ((profile.email ?? null) !== user.email) problems.push('email differs');
  for (const name of MAPPED_ATTRIBUTES) {
    // An attribute that became empty must be gone from the profile (Braze removes it on null).
    if (profile.attributes[name] !== user.attributes[name]) problems.push(`${name} differs`);
  }
  for (const id of segmentIds) {
    const member = profile.attributes[id] === true;
    if (member !== user.memberships.includes(id)) problems.push(`membership ${id} ${member ? 'extra' : 'missing'}`);
  }
  return problems;
}

function describe(identity: ExpectedUser['identity']): string {
  return 'external_id' in identity ? 'a user with an external id' : 'an alias-identified user';
}
