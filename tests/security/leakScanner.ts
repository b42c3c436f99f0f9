import type { GeneratedProfile } from '../../tools/generate-export/generator';

/** What must never appear in a log line, an error message or a stored report (design §9). */
export interface SensitiveData {
  secrets: string[];
  /** External ids, CI customer ids (current and merged), phone numbers. */
  ids: Set<string>;
  fullNames: Set<string>;
  /** First and last names of 4+ letters, matched as whole words. */
  nameWords: Set<string>;
}

export function sensitiveDataOf(profiles: Iterable<GeneratedProfile>, secrets: string[]): SensitiveData {
  const data: SensitiveData = {
    secrets,
    ids: new Set(),
    fullNames: new Set(),
    nameWords: new Set(),
  };
  for (const profile of profiles) {
    for (const id of [profile.customerId, profile.brazeCustomerId, profile.phone, ...profile.previousCustomerIds]) {
      if (id) data.ids.add(id);
    }
    data.fullNames.add(profile.fullName);
    for (const name of [profile.firstName, profile.lastName]) if (name.length >= 4) data.nameWords.add(name);
  }
  return data;
}

/** Adds ids and names planted by hand (a bad-input fixture's rows). */
export function withExtra(data: SensitiveData, extra: { ids?: string[]; names?: string[] }): SensitiveData {
  for (const id of extra.ids ?? []) data.ids.add(id);
  for (const name of extra.names ?? []) data.nameWords.add(name);
  return data;
}

export interface Leak {
  kind: 'secret' | 'email' | 'id' | 'name';
  /** Where in the text, so a failing test points at the line without repeating the value. */
  at: number;
}

const EMAIL_LIKE = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+/g;
const ID_TOKEN = /[A-Za-z0-9_-]+/g;
const NAME_TOKEN = /\p{L}+/gu;
const PHONE_LIKE = /\+\d{1,3}(?: ?\d){6,14}/g;

/**
 * Finds secrets, emails, raw ids and names in `text`. Any email-shaped text counts, known or not (so emails need no
 * list); ids and names count when they belong to the data set. Tokens are looked up in sets, so a 100k-profile data set scans fast.
 */
export function findLeaks(text: string, data: SensitiveData): Leak[] {
  const leaks: Leak[] = [];
  for (const secret of data.secrets) {
    for (let at = text.indexOf(secret); at !== -1; at = text.indexOf(secret, at + 1))
      leaks.push({ kind: 'secret', at });
  }
  for (const match of text.matchAll(EMAIL_LIKE)) leaks.push({ kind: 'email', at: match.index });
  for (const pattern of [ID_TOKEN, PHONE_LIKE]) {
    for (const match of text.matchAll(pattern)) if (data.ids.has(match[0])) leaks.push({ kind: 'id', at: match.index });
  }
  for (const match of text.matchAll(NAME_TOKEN)) {
    if (data.nameWords.has(match[0])) leaks.push({ kind: 'name', at: match.index });
  }
  for (const name of data.fullNames) if (text.includes(name)) leaks.push({ kind: 'name', at: text.indexOf(name) });
  return leaks;
}

/** A readable failure: the kind of each leak and the 60 characters before it (never the leaked value itself). */
export function describeLeaks(text: string, leaks: Leak[]): string[] {
  return leaks.slice(0, 10).map((leak) => `${leak.kind} after "${text.slice(Math.max(0, leak.at - 60), leak.at)}"`);
}
