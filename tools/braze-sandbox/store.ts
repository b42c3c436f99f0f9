/** Profiles, their lookup indexes, attribute semantics (braze-api.md §3, §9.3) and the data-point ledger (§9.4). */
import type { Ledger, ProfileQuery, SandboxProfile, UserAlias } from './types';
import { IDENTIFIER_AND_FLAG_KEYS, isPlainObject } from './validation';

const MAX_STRING_LENGTH = 255;
/** Keys Braze does not bill (dp). */
const NON_BILLABLE_KEYS = new Set(['email_subscribe', 'push_subscribe', 'subscription_groups', 'push_tokens']);
const GENDERS = new Set(['M', 'F', 'O', 'N', 'P']);
const SUBSCRIPTION_KEYS = new Set(['email_subscribe', 'push_subscribe']);
/** Best-effort country names → ISO-3166 alpha-2, as Braze maps a few common names (a sample, not the full table). */
const COUNTRY_NAMES: Record<string, string> = {
  australia: 'AU',
  austria: 'AT',
  belgium: 'BE',
  brazil: 'BR',
  canada: 'CA',
  china: 'CN',
  "côte d'ivoire": 'CI',
  denmark: 'DK',
  france: 'FR',
  germany: 'DE',
  hungary: 'HU',
  india: 'IN',
  ireland: 'IE',
  italy: 'IT',
  japan: 'JP',
  mexico: 'MX',
  netherlands: 'NL',
  'new zealand': 'NZ',
  norway: 'NO',
  poland: 'PL',
  portugal: 'PT',
  spain: 'ES',
  sweden: 'SE',
  switzerland: 'CH',
  'united kingdom': 'GB',
  'united states': 'US',
  'united states of america': 'US',
  usa: 'US',
};
let timeZones: Set<string> | undefined;

function isTimeZone(value: unknown): boolean {
  timeZones ??= new Set([...Intl.supportedValuesOf('timeZone'), 'UTC', 'Etc/UTC']);
  return typeof value === 'string' && timeZones.has(value);
}

/** Braze-style country mapping: ISO codes as given, known names to their code, anything else to null. */
export function mapCountry(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const trimmed = value.trim();
  if (/^[A-Za-z]{2}$/.test(trimmed)) return trimmed.toUpperCase();
  return COUNTRY_NAMES[trimmed.toLowerCase()] ?? null;
}

function truncate(value: string): string {
  return value.length > MAX_STRING_LENGTH ? value.slice(0, MAX_STRING_LENGTH) : value;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Nested values as stored: `{"$time": d}` becomes the date string, strings are truncated. */
function normalizeNested(value: unknown): unknown {
  if (typeof value === 'string') return truncate(value);
  if (Array.isArray(value)) return value.map(normalizeNested);
  if (!isPlainObject(value)) return value;
  const keys = Object.keys(value);
  if (keys.length === 1 && keys[0] === '$time') return value.$time;
  const result: Record<string, unknown> = {};
  for (const key of keys) result[key] = normalizeNested(value[key]);
  return result;
}

function deepMerge(target: unknown, patch: Record<string, unknown>): Record<string, unknown> {
  const base: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  for (const key of Object.keys(patch)) {
    const next = patch[key];
    base[key] = isPlainObject(next) && isPlainObject(base[key]) ? deepMerge(base[key], next) : next;
  }
  return base;
}

/** Data points of a nested write: every leaf key counts once (dp: "every key counts"). */
function countLeafKeys(value: unknown): number {
  if (!isPlainObject(value)) return 1;
  let count = 0;
  for (const key of Object.keys(value)) count += isPlainObject(value[key]) ? countLeafKeys(value[key]) : 1;
  return Math.max(count, 1);
}

function isStringArray(value: unknown[]): value is string[] {
  return value.every((element) => typeof element === 'string');
}

function aliasKey(alias: UserAlias): string {
  return `${alias.alias_label}\u0000${alias.alias_name}`;
}

export interface ApplyContext {
  arrayMaxLength: number;
  /** An invalid nested value somewhere in the request drops all nested updates of that request. */
  dropNestedUpdates: boolean;
  ledgerPerUser: boolean;
}

/** Sequence of a profile's last update (decides the shared-email rule); a symbol, so clones and JSON leave it out. */
const LAST_UPDATE = Symbol('lastUpdate');
/** Set on a profile merged into another: it keeps its braze_id position but is gone from every lookup. */
const REMOVED = Symbol('removed');
type StoredProfile = SandboxProfile & { [LAST_UPDATE]: number; [REMOVED]?: true };

/** How `/users/identify`, `/users/merge` and `/users/delete` pick among profiles sharing an email (spec §7). */
export type Prioritization = Array<'identified' | 'unidentified' | 'most_recently_updated'>;

/** An identifier of `/users/merge` (spec §7): external_id, user_alias, or email with prioritization. */
export interface MergeIdentifier {
  external_id?: string;
  user_alias?: UserAlias;
  email?: string;
  prioritization?: Prioritization;
}

/** Outcome of one identify or merge entry; `skipped` says why nothing happened. */
export type IdentityOutcome = { done: 'identified' | 'merged' | 'aliasAdded' } | { skipped: string };
/** Secondary indexes hold one profile, or a set once several share the value (rare), to keep memory low. */
type SecondaryIndex = Map<string, StoredProfile | Set<StoredProfile>>;
/** Shared by profiles without aliases until one is added; replaced, never mutated. */
const NO_ALIASES: UserAlias[] = [];
const BRAZE_ID_PATTERN = /^5b[0-9a-f]{22}$/;

export class ProfileStore {
  /** Profiles in creation order; a braze_id encodes its position, so lookups by braze_id need no map. */
  private all: StoredProfile[] = [];
  private readonly byExternalId = new Map<string, StoredProfile>();
  /** Ids renamed away (`/users/external_ids/rename`): they keep resolving to their profile. */
  private readonly byDeprecatedExternalId = new Map<string, StoredProfile>();
  private readonly byAlias = new Map<string, StoredProfile>();
  /**
   * Email and phone indexes are built on first use and maintained from then on: a sync that identifies users by
   * external_id never pays for them (the benchmark sends an email with every object).
   */
  private emailIndex: SecondaryIndex | null = null;
  private phoneIndex: SecondaryIndex | null = null;
  private readonly byPushToken = new Map<string, StoredProfile>();
  private updateSeq = 0;

  private ledgerTotal = 0;
  private ledgerByKey = new Map<string, number>();
  private ledgerByUser = new Map<string, number>();
  private keysSent = 0;
  private keysChanged = 0;

  profiles(): SandboxProfile[] {
    return this.all.filter((profile) => !profile[REMOVED]).map((profile) => structuredClone(profile));
  }

  /** Emails held by more than one profile, each with the braze_ids holding it (what a sync must never cause). */
  sharedEmails(): Array<{ email: string; braze_ids: string[] }> {
    const shared: Array<{ email: string; braze_ids: string[] }> = [];
    for (const [email, entry] of this.byEmail) {
      if (entry instanceof Set) shared.push({ email, braze_ids: [...entry].map((p) => p.braze_id) });
    }
    return shared;
  }

  find(query: ProfileQuery): SandboxProfile | undefined {
    const profile = this.lookup(query);
    return profile ? structuredClone(profile) : undefined;
  }

  private lookup(query: ProfileQuery): StoredProfile | undefined {
    if (query.external_id !== undefined) return this.byExternalIdOrDeprecated(query.external_id);
    if (query.alias) return this.byAlias.get(aliasKey(query.alias));
    if (query.braze_id !== undefined) return this.byBrazeId(query.braze_id);
    if (query.email !== undefined) return pickShared(this.byEmail.get(query.email.toLowerCase()));
    return undefined;
  }

  private byExternalIdOrDeprecated(externalId: string): StoredProfile | undefined {
    return this.byExternalId.get(externalId) ?? this.byDeprecatedExternalId.get(externalId);
  }

  private get byEmail(): SecondaryIndex {
    this.emailIndex ??= this.buildIndex((profile) => profile.email?.toLowerCase());
    return this.emailIndex;
  }

  private get byPhone(): SecondaryIndex {
    this.phoneIndex ??= this.buildIndex((profile) => profile.phone);
    return this.phoneIndex;
  }

  private buildIndex(keyOf: (profile: StoredProfile) => string | undefined): SecondaryIndex {
    const index: SecondaryIndex = new Map();
    for (const profile of this.all) reindex(index, profile, undefined, keyOf(profile));
    return index;
  }

  private byBrazeId(brazeId: string): StoredProfile | undefined {
    if (!BRAZE_ID_PATTERN.test(brazeId)) return undefined;
    const profile = this.all[Number.parseInt(brazeId.slice(2), 16) - 1];
    return profile?.[REMOVED] ? undefined : profile;
  }

  /** Every profile holding this email (export by `email_address` returns all of them). */
  findAllByEmail(email: string): SandboxProfile[] {
    const entry = this.byEmail.get(email.toLowerCase());
    const matches = entry === undefined ? [] : entry instanceof Set ? [...entry] : [entry];
    return matches.map((profile) => structuredClone(profile));
  }

  ledger(includeUsers: boolean): Ledger {
    const ledger: Ledger = {
      total: this.ledgerTotal,
      byKey: Object.fromEntries(this.ledgerByKey),
      keysSent: this.keysSent,
      keysChanged: this.keysChanged,
    };
    if (includeUsers) ledger.byUser = Object.fromEntries(this.ledgerByUser);
    return ledger;
  }

  resetProfiles(): void {
    this.all = [];
    for (const map of [this.byExternalId, this.byDeprecatedExternalId, this.byAlias, this.byPushToken]) map.clear();
    this.emailIndex = null;
    this.phoneIndex = null;
  }

  resetLedger(): void {
    this.ledgerTotal = 0;
    this.ledgerByKey = new Map();
    this.ledgerByUser = new Map();
    this.keysSent = 0;
    this.keysChanged = 0;
  }

  /**
   * Finds or creates the user an object addresses (§3.2). Returns undefined when the object is skipped: update-only
   * for an unknown user, an unknown braze_id, or a push token that already exists.
   */
  resolve(o: Record<string, unknown>): SandboxProfile | undefined {
    const updateOnlyFlag = o._update_existing_only;
    if (typeof o.external_id === 'string') {
      const existing = this.byExternalIdOrDeprecated(o.external_id);
      if (existing !== undefined) return existing;
      if (updateOnlyFlag === true) return undefined;
      const profile = this.create();
      profile.external_id = o.external_id;
      this.byExternalId.set(o.external_id, profile);
      return profile;
    }
    if (isPlainObject(o.user_alias)) {
      const alias = { alias_name: String(o.user_alias.alias_name), alias_label: String(o.user_alias.alias_label) };
      const existing = this.byAlias.get(aliasKey(alias));
      if (existing !== undefined) return existing;
      // With an alias, Braze defaults to update-only; only an explicit false creates an alias-only user.
      if (updateOnlyFlag !== false) return undefined;
      const profile = this.create();
      profile.user_aliases = [alias];
      this.byAlias.set(aliasKey(alias), profile);
      return profile;
    }
    if (typeof o.braze_id === 'string') return this.byBrazeId(o.braze_id);
    if (o.push_token_import === true) return this.resolvePushTokenImport(o.push_tokens as Array<{ token: string }>);
    if (typeof o.email === 'string') {
      return this.resolveSecondary(this.byEmail, o.email.toLowerCase(), updateOnlyFlag === true, (p) =>
        this.setEmail(p, o.email as string),
      );
    }
    if (typeof o.phone === 'string') {
      return this.resolveSecondary(this.byPhone, o.phone, updateOnlyFlag === true, (p) =>
        this.setPhone(p, o.phone as string),
      );
    }
    return undefined;
  }

  private resolveSecondary(
    index: SecondaryIndex,
    key: string,
    updateOnly: boolean,
    initialize: (profile: StoredProfile) => void,
  ): SandboxProfile | undefined {
    const existing = pickShared(index.get(key));
    if (existing !== undefined) return existing;
    if (updateOnly) return undefined;
    const profile = this.create();
    initialize(profile);
    return profile;
  }

  private resolvePushTokenImport(tokens: Array<{ token: string }>): SandboxProfile | undefined {
    if (tokens.some((t) => this.byPushToken.has(t.token))) return undefined;
    return this.create();
  }

  private create(): StoredProfile {
    const brazeId = `5b${(this.all.length + 1).toString(16).padStart(22, '0')}`;
    const profile: StoredProfile = { braze_id: brazeId, user_aliases: NO_ALIASES, attributes: {}, [LAST_UPDATE]: 0 };
    this.all.push(profile);
    return profile;
  }

  private setEmail(profile: SandboxProfile, email: string | null): void {
    const stored = profile as StoredProfile;
    if (this.emailIndex) reindex(this.emailIndex, stored, profile.email?.toLowerCase(), email?.toLowerCase());
    if (email === null) delete profile.email;
    else profile.email = email;
  }

  private setPhone(profile: SandboxProfile, phone: string | null): void {
    if (this.phoneIndex) reindex(this.phoneIndex, profile as StoredProfile, profile.phone, phone ?? undefined);
    if (phone === null) delete profile.phone;
    else profile.phone = phone;
  }

  private charge(profile: SandboxProfile, key: string, points: number, ctx: ApplyContext): void {
    if (points === 0) return;
    this.ledgerTotal += points;
    this.ledgerByKey.set(key, (this.ledgerByKey.get(key) ?? 0) + points);
    if (ctx.ledgerPerUser)
      this.ledgerByUser.set(profile.braze_id, (this.ledgerByUser.get(profile.braze_id) ?? 0) + points);
  }

  private touch(profile: SandboxProfile): void {
    (profile as StoredProfile)[LAST_UPDATE] = ++this.updateSeq;
  }

  /** Applies one valid attributes object to its (already resolved) profile. */
  applyAttributes(profile: SandboxProfile, o: Record<string, unknown>, ctx: ApplyContext): void {
    const usedAsIdentifier = o.external_id === undefined && o.user_alias === undefined && o.braze_id === undefined;
    const secondaryKey = !usedAsIdentifier ? undefined : typeof o.email === 'string' ? 'email' : 'phone';
    const mergeObjects = o._merge_objects === true;
    for (const key in o) {
      if (IDENTIFIER_AND_FLAG_KEYS.has(key) || key === secondaryKey) continue;
      const result = this.applyKey(profile, key, o[key], mergeObjects, ctx);
      if (!result) continue;
      this.keysSent++;
      if (result.changed) this.keysChanged++;
      this.charge(profile, key, NON_BILLABLE_KEYS.has(key) ? 0 : result.points, ctx);
    }
    this.touch(profile);
  }

  /** Returns undefined when the write is ignored (invalid standard value, dropped nested update). */
  private applyKey(
    profile: SandboxProfile,
    key: string,
    value: unknown,
    mergeObjects: boolean,
    ctx: ApplyContext,
  ): { points: number; changed: boolean } | undefined {
    const attributes = profile.attributes;
    switch (key) {
      case 'email': {
        const changed = profile.email !== (value ?? undefined);
        this.setEmail(profile, value as string | null);
        return { points: 1, changed };
      }
      case 'phone': {
        if (value !== null && typeof value !== 'string') return undefined;
        const changed = profile.phone !== (value ?? undefined);
        this.setPhone(profile, value);
        return { points: 1, changed };
      }
      case 'country':
        return this.set(attributes, key, value === null ? null : mapCountry(value));
      case 'gender':
        if (value !== null && !(typeof value === 'string' && GENDERS.has(value.toUpperCase()))) return undefined;
        return this.set(attributes, key, value === null ? null : (value as string).toUpperCase());
      case 'time_zone':
        if (value !== null && !isTimeZone(value)) return undefined;
        return this.set(attributes, key, value);
      case 'subscription_groups':
        return this.mergeSubscriptionGroups(attributes, value as Array<Record<string, unknown>>);
      case 'push_tokens':
        return this.addPushTokens(profile, value as Array<{ app_id: string; token: string }>);
    }
    if (SUBSCRIPTION_KEYS.has(key)) {
      const result = this.set(attributes, key, value);
      this.propagateSubscription(profile, key, value);
      return result;
    }
    if (value === null || typeof value !== 'object') {
      return this.set(attributes, key, typeof value === 'string' ? truncate(value) : value);
    }
    if (Array.isArray(value)) {
      if (isStringArray(value)) return this.set(attributes, key, this.capArray(dedupe(value.map(truncate)), ctx));
      if (ctx.dropNestedUpdates) return undefined;
      return this.set(attributes, key, normalizeNested(value));
    }
    return this.applyObjectValue(attributes, key, value as Record<string, unknown>, mergeObjects, ctx);
  }

  private applyObjectValue(
    attributes: Record<string, unknown>,
    key: string,
    value: Record<string, unknown>,
    mergeObjects: boolean,
    ctx: ApplyContext,
  ): { points: number; changed: boolean } | undefined {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === 'inc' && typeof value.inc === 'number') {
      const current = typeof attributes[key] === 'number' ? (attributes[key] as number) : 0;
      return this.set(attributes, key, current + value.inc);
    }
    if (
      keys.length > 0 &&
      keys.every((k) => k === 'add' || k === 'remove') &&
      keys.every((k) => Array.isArray(value[k]))
    ) {
      return this.applyArrayOperations(attributes, key, value as { add?: unknown[]; remove?: unknown[] }, ctx);
    }
    if (keys.length === 1 && keys[0] === '$time') return this.set(attributes, key, value.$time);
    if (ctx.dropNestedUpdates) return undefined;
    if (keys.length > 0 && keys.every((k) => k === '$add' || k === '$remove' || k === '$update')) {
      return this.applyObjectArrayOperations(attributes, key, value, mergeObjects);
    }
    const normalized = normalizeNested(value) as Record<string, unknown>;
    const next = mergeObjects ? deepMerge(attributes[key], normalized) : normalized;
    const result = this.set(attributes, key, next);
    return { points: countLeafKeys(value), changed: result.changed };
  }

  private set(attributes: Record<string, unknown>, key: string, value: unknown): { points: number; changed: boolean } {
    const before = attributes[key];
    if (value === null || value === undefined) delete attributes[key];
    else attributes[key] = value;
    return { points: 1, changed: !sameValue(before, value ?? undefined) };
  }

  private capArray(values: string[], ctx: ApplyContext): string[] {
    return values.length > ctx.arrayMaxLength ? values.slice(values.length - ctx.arrayMaxLength) : values;
  }

  /** `add` moves an existing element to the end; each added or removed element is one data point. */
  private applyArrayOperations(
    attributes: Record<string, unknown>,
    key: string,
    ops: { add?: unknown[]; remove?: unknown[] },
    ctx: ApplyContext,
  ): { points: number; changed: boolean } {
    const before = Array.isArray(attributes[key]) ? (attributes[key] as unknown[]).map(String) : [];
    let next = before;
    const added = (ops.add ?? []).map((v) => truncate(String(v)));
    if (added.length > 0) {
      const addedSet = new Set(added);
      next = [...next.filter((v) => !addedSet.has(v)), ...dedupe(added)];
    }
    if (ops.remove && ops.remove.length > 0) {
      const removed = new Set(ops.remove.map(String));
      next = next.filter((v) => !removed.has(v));
    }
    next = this.capArray(next, ctx);
    const changed = !sameValue(before, next);
    if (next.length === 0) delete attributes[key];
    else attributes[key] = next;
    return { points: added.length + (ops.remove?.length ?? 0), changed };
  }

  /** Arrays of objects: `$add`, then `$remove`, then `$update` (aoo); one data point per item operated on. */
  private applyObjectArrayOperations(
    attributes: Record<string, unknown>,
    key: string,
    ops: Record<string, unknown>,
    mergeObjects: boolean,
  ): { points: number; changed: boolean } {
    const before = Array.isArray(attributes[key]) ? (attributes[key] as unknown[]) : [];
    let next = [...before];
    const adds = (ops.$add as unknown[] | undefined) ?? [];
    const removes = (ops.$remove as Array<Record<string, unknown>> | undefined) ?? [];
    const updates = (ops.$update as Array<Record<string, unknown>> | undefined) ?? [];
    next.push(...adds.map(normalizeNested));
    for (const rule of removes) {
      next = next.filter(
        (item) => !(isPlainObject(item) && item[String(rule.$identifier_key)] === rule.$identifier_value),
      );
    }
    for (const rule of updates) {
      const replacement = normalizeNested(rule.$new_object);
      if (!isPlainObject(replacement)) continue;
      next = next.map((item) =>
        isPlainObject(item) && item[String(rule.$identifier_key)] === rule.$identifier_value
          ? mergeObjects
            ? deepMerge(item, replacement)
            : replacement
          : item,
      );
    }
    const changed = !sameValue(before, next);
    attributes[key] = next;
    return { points: adds.length + removes.length + updates.length, changed };
  }

  private mergeSubscriptionGroups(
    attributes: Record<string, unknown>,
    groups: Array<Record<string, unknown>>,
  ): { points: number; changed: boolean } {
    const current = new Map<string, unknown>(
      ((attributes.subscription_groups as Array<Record<string, unknown>> | undefined) ?? []).map((g) => [
        String(g.subscription_group_id),
        g.subscription_state,
      ]),
    );
    const before = JSON.stringify([...current]);
    for (const group of groups) current.set(String(group.subscription_group_id), group.subscription_state);
    attributes.subscription_groups = [...current].map(([id, state]) => ({
      subscription_group_id: id,
      subscription_state: state,
    }));
    return { points: 0, changed: before !== JSON.stringify([...current]) };
  }

  private addPushTokens(
    profile: SandboxProfile,
    tokens: Array<{ app_id: string; token: string }>,
  ): { points: number; changed: boolean } {
    const stored = (profile.attributes.push_tokens as Array<{ app_id: string; token: string }> | undefined) ?? [];
    let changed = false;
    for (const token of tokens) {
      if (this.byPushToken.has(token.token)) continue;
      stored.push(token);
      this.byPushToken.set(token.token, profile as StoredProfile);
      changed = true;
    }
    profile.attributes.push_tokens = stored;
    return { points: 0, changed };
  }

  /** A subscription state change reaches every profile with the same email (track). */
  private propagateSubscription(profile: SandboxProfile, key: string, value: unknown): void {
    if (key !== 'email_subscribe' || profile.email === undefined) return;
    const entry = this.byEmail.get(profile.email.toLowerCase());
    if (!(entry instanceof Set)) return;
    for (const other of entry) if (other !== profile) other.attributes[key] = value;
  }

  /**
   * `/users/identify` with `aliases_to_identify` (spec §7): the alias-only profile gets the external id, or, when that
   * id exists, is merged into it (fields only it has are copied, its alias added). No merge when the identified user
   * already has an alias with the same label.
   */
  identifyAlias(externalId: string, alias: UserAlias): IdentityOutcome {
    const anonymous = this.byAlias.get(aliasKey(alias));
    const identified = this.byExternalIdOrDeprecated(externalId);
    if (identified !== undefined) {
      if (anonymous === identified) return { skipped: 'already identified' };
      if (identified.user_aliases.some((a) => a.alias_label === alias.alias_label)) {
        return { skipped: 'identified user already has an alias with this label' };
      }
      if (anonymous === undefined) {
        this.addAlias(identified, alias);
        return { done: 'aliasAdded' };
      }
      if (anonymous.external_id !== undefined) return { skipped: 'alias belongs to an identified user' };
      this.mergeInto(anonymous, identified);
      return { done: 'merged' };
    }
    if (anonymous === undefined) return { skipped: 'no profile with this alias' };
    if (anonymous.external_id !== undefined) return { skipped: 'alias belongs to an identified user' };
    this.setExternalId(anonymous, externalId);
    return { done: 'identified' };
  }

  /** `/users/identify` with `emails_to_identify`: as for an alias, for the email-only profile `prioritization` picks. */
  identifyEmail(externalId: string, email: string, prioritization: Prioritization): IdentityOutcome {
    const anonymous = this.pickByEmail(email, prioritization);
    if (anonymous === undefined || anonymous.external_id !== undefined) {
      return { skipped: 'no email-only profile with this email' };
    }
    const identified = this.byExternalIdOrDeprecated(externalId);
    if (identified === undefined) {
      this.setExternalId(anonymous, externalId);
      return { done: 'identified' };
    }
    this.mergeInto(anonymous, identified);
    return { done: 'merged' };
  }

  /**
   * `/users/external_ids/rename`: returns the refusal, or undefined when done. The current id must be a primary id and
   * the new one unknown (primary or deprecated); the current id becomes deprecated and still resolves.
   */
  renameExternalId(current: string, next: string): string | undefined {
    const profile = this.byExternalId.get(current);
    if (profile === undefined) return 'current_external_id is not a primary external id';
    if (this.byExternalIdOrDeprecated(next) !== undefined) return 'new_external_id already exists';
    this.byExternalId.delete(current);
    this.byDeprecatedExternalId.set(current, profile);
    profile.external_id = next;
    this.byExternalId.set(next, profile);
    this.touch(profile);
    return undefined;
  }

  /** `/users/merge`: fields only the merged profile has are copied to the kept one; the merged profile is removed. */
  merge(toMerge: MergeIdentifier, toKeep: MergeIdentifier): IdentityOutcome {
    const source = this.lookupMergeIdentifier(toMerge);
    const target = this.lookupMergeIdentifier(toKeep);
    if (source === undefined) return { skipped: 'identifier_to_merge not found' };
    if (target === undefined) return { skipped: 'identifier_to_keep not found' };
    if (source === target) return { skipped: 'both identifiers name the same profile' };
    this.mergeInto(source, target);
    return { done: 'merged' };
  }

  private lookupMergeIdentifier(identifier: MergeIdentifier): StoredProfile | undefined {
    if (identifier.external_id !== undefined) return this.byExternalIdOrDeprecated(identifier.external_id);
    if (identifier.user_alias !== undefined) return this.byAlias.get(aliasKey(identifier.user_alias));
    if (identifier.email !== undefined) return this.pickByEmail(identifier.email, identifier.prioritization ?? []);
    return undefined;
  }

  /** The profile with this email that `prioritization` ranks first; ties go to the most recently updated. */
  private pickByEmail(email: string, prioritization: Prioritization): StoredProfile | undefined {
    const entry = this.byEmail.get(email.toLowerCase());
    const candidates = entry === undefined ? [] : entry instanceof Set ? [...entry] : [entry];
    const wantsIdentified = prioritization.find((p) => p === 'identified' || p === 'unidentified');
    const ranked = wantsIdentified
      ? candidates.filter((p) => (p.external_id !== undefined) === (wantsIdentified === 'identified'))
      : candidates;
    const pool = ranked.length > 0 ? ranked : candidates;
    let best: StoredProfile | undefined;
    for (const candidate of pool)
      if (best === undefined || candidate[LAST_UPDATE] > best[LAST_UPDATE]) best = candidate;
    return best;
  }

  private setExternalId(profile: StoredProfile, externalId: string): void {
    profile.external_id = externalId;
    this.byExternalId.set(externalId, profile);
    this.touch(profile);
  }

  private addAlias(profile: StoredProfile, alias: UserAlias): void {
    profile.user_aliases = [...profile.user_aliases, alias];
    this.byAlias.set(aliasKey(alias), profile);
  }

  /** Copies what only `source` has onto `target` (attributes, email, phone, aliases, events), then removes `source`. */
  private mergeInto(source: StoredProfile, target: StoredProfile): void {
    for (const key of Object.keys(source.attributes)) {
      if (!(key in target.attributes)) target.attributes[key] = source.attributes[key];
    }
    const email = source.email;
    const phone = source.phone;
    this.forget(source);
    if (target.email === undefined && email !== undefined) this.setEmail(target, email);
    if (target.phone === undefined && phone !== undefined) this.setPhone(target, phone);
    for (const alias of source.user_aliases) {
      if (!target.user_aliases.some((a) => a.alias_label === alias.alias_label)) this.addAlias(target, alias);
    }
    if (source.custom_events) target.custom_events = addCounts(target.custom_events, source.custom_events);
    if (source.purchases) target.purchases = addCounts(target.purchases, source.purchases);
    this.touch(target);
  }

  /** Takes a profile out of every lookup; its braze_id no longer resolves. */
  private forget(profile: StoredProfile): void {
    if (profile.external_id !== undefined) this.byExternalId.delete(profile.external_id);
    for (const [id, owner] of this.byDeprecatedExternalId)
      if (owner === profile) this.byDeprecatedExternalId.delete(id);
    for (const alias of profile.user_aliases) this.byAlias.delete(aliasKey(alias));
    for (const [token, owner] of this.byPushToken) if (owner === profile) this.byPushToken.delete(token);
    this.setEmail(profile, null);
    this.setPhone(profile, null);
    profile[REMOVED] = true;
  }

  applyEvent(profile: SandboxProfile, event: Record<string, unknown>, ctx: ApplyContext): void {
    profile.custom_events ??= {};
    record(profile.custom_events, String(event.name), String(event.time));
    this.charge(profile, '$events', 1, ctx);
    this.touch(profile);
  }

  applyPurchase(profile: SandboxProfile, purchase: Record<string, unknown>, ctx: ApplyContext): void {
    profile.purchases ??= {};
    record(profile.purchases, String(purchase.product_id), String(purchase.time));
    this.charge(profile, '$purchases', 1, ctx);
    this.touch(profile);
  }
}

/** Shared email/phone: the most recently updated profile with an external_id, else the most recently updated. */
function pickShared(entry: StoredProfile | Set<StoredProfile> | undefined): StoredProfile | undefined {
  if (!(entry instanceof Set)) return entry;
  let best: StoredProfile | undefined;
  for (const candidate of entry) {
    if (best === undefined) {
      best = candidate;
      continue;
    }
    const candidateIdentified = candidate.external_id !== undefined;
    const bestIdentified = best.external_id !== undefined;
    if (candidateIdentified !== bestIdentified) {
      if (candidateIdentified) best = candidate;
    } else if (candidate[LAST_UPDATE] > best[LAST_UPDATE]) {
      best = candidate;
    }
  }
  return best;
}

function reindex(
  index: SecondaryIndex,
  profile: StoredProfile,
  oldKey: string | undefined,
  newKey: string | undefined,
) {
  if (oldKey === newKey) return;
  if (oldKey !== undefined) {
    const entry = index.get(oldKey);
    if (entry === profile) index.delete(oldKey);
    else if (entry instanceof Set) {
      entry.delete(profile);
      if (entry.size === 1) index.set(oldKey, entry.values().next().value as StoredProfile);
    }
  }
  if (newKey === undefined) return;
  const entry = index.get(newKey);
  if (entry === undefined) index.set(newKey, profile);
  else if (entry instanceof Set) entry.add(profile);
  else if (entry !== profile) index.set(newKey, new Set([entry, profile]));
}

type Counts = Record<string, { count: number; first: string; last: string }>;

function addCounts(kept: Counts | undefined, merged: Counts): Counts {
  const result: Counts = { ...kept };
  for (const [name, entry] of Object.entries(merged)) {
    const existing = result[name];
    result[name] = existing ? { ...existing, count: existing.count + entry.count } : entry;
  }
  return result;
}

function dedupe(values: string[]): string[] {
  return [...new Set(values)];
}

function record(target: Record<string, { count: number; first: string; last: string }>, name: string, time: string) {
  const entry = target[name];
  if (entry) {
    entry.count++;
    entry.last = time;
  } else {
    target[name] = { count: 1, first: time, last: time };
  }
}
