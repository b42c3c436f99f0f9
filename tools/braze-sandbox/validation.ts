/** Per-object checks of `POST /users/track` (braze-api.md §9.2 step 6). */

export type InputArray = 'attributes' | 'events' | 'purchases';

/**
 * Error texts. `code` is the documented Braze code where one exists; where Braze documents none, both styles use the
 * descriptive sentence (the first one is the sentence seen in public fixtures).
 */
const ERRORS = {
  missingIdentifier: { code: null, sentence: "'external_id' or 'braze_id' or 'user_alias' is required" },
  multiplePrimary: { code: null, sentence: "Only one of 'external_id', 'braze_id' or 'user_alias' may be provided" },
  badExternalId: { code: null, sentence: "'external_id' must be a non-empty string" },
  badBrazeId: { code: null, sentence: "'braze_id' must be a non-empty string" },
  aliasIncomplete: { code: null, sentence: "'user_alias' requires string 'alias_name' and 'alias_label'" },
  externalIdTooLarge: { code: 'EXTERNAL_USER_ID_TOO_LARGE', sentence: "'external_id' is longer than 987 bytes" },
  blocklisted: {
    code: 'BLACKLISTED_EXTERNAL_USER_ID',
    sentence: 'provided external_id is blacklisted and disallowed',
  },
  emailBadFormat: { code: 'EMAIL_BAD_FORMAT', sentence: "'email' is not a valid email address" },
  emailSubscription: {
    code: 'BAD_EMAIL_SUBSCRIPTION_STATE',
    sentence: "'email_subscribe' must be 'opted_in', 'subscribed' or 'unsubscribed'",
  },
  pushSubscription: {
    code: 'BAD_PUSH_SUBSCRIPTION_STATE',
    sentence: "'push_subscribe' must be 'opted_in', 'subscribed' or 'unsubscribed'",
  },
  subscriptionGroupArray: { code: 'BAD_SUBSCRIPTION_GROUP_ARRAY', sentence: "'subscription_groups' must be an array" },
  subscriptionGroupHash: {
    code: 'BAD_SUBSCRIPTION_GROUP_HASH',
    sentence: "each 'subscription_groups' entry must be an object",
  },
  subscriptionGroupId: {
    code: 'BAD_SUBSCRIPTION_GROUP_ID',
    sentence: "'subscription_group_id' must be a subscription group id",
  },
  subscriptionGroupState: {
    code: 'BAD_SUBSCRIPTION_GROUP_STATE',
    sentence: "'subscription_state' must be 'subscribed' or 'unsubscribed'",
  },
  location: {
    code: 'BAD_LOCATION_UPDATE',
    sentence: "'current_location' needs numeric 'longitude' and 'latitude' in range",
  },
  pushTokenImport: {
    code: 'BAD_PUSH_TOKEN_IMPORT',
    sentence: "push token import needs 'push_tokens' and no 'external_id' or 'braze_id'",
  },
  pushTokenAppId: { code: 'BAD_PUSH_TOKEN_APP_ID', sentence: "each push token needs a string 'app_id'" },
  pushTokenString: { code: 'BAD_PUSH_TOKEN_STRING', sentence: "each push token needs a string 'token'" },
  deviceId: { code: 'BAD_DEVICE_ID', sentence: "'device_id' must be 8 to 255 bytes" },
  attributeKey: {
    code: null,
    sentence: "custom attribute keys must not start with '$' and must be at most 255 characters",
  },
  notAnObject: { code: null, sentence: 'each entry must be a JSON object' },
  event: { code: null, sentence: "an event needs a string 'name' and a valid 'time'" },
  purchase: {
    code: null,
    sentence:
      "a purchase needs 'product_id' (at most 255 characters), a 3-letter 'currency', a numeric 'price' and a valid 'time'",
  },
} as const;

export type ErrorId = keyof typeof ERRORS;

export function errorType(id: ErrorId, style: 'sentence' | 'code'): string {
  const entry = ERRORS[id];
  return style === 'code' && entry.code ? entry.code : entry.sentence;
}

/** Keys that identify the user or steer processing; they are neither attributes nor billable. */
export const IDENTIFIER_AND_FLAG_KEYS = new Set([
  'external_id',
  'user_alias',
  'braze_id',
  '_update_existing_only',
  '_merge_objects',
  'push_token_import',
]);

/** Documented standard profile fields (uao); everything else is a custom attribute. */
export const STANDARD_FIELDS = new Set([
  'first_name',
  'last_name',
  'home_city',
  'email',
  'phone',
  'country',
  'language',
  'dob',
  'gender',
  'time_zone',
  'email_subscribe',
  'push_subscribe',
  'subscription_groups',
  'current_location',
  'date_of_first_session',
  'date_of_last_session',
  'marked_email_as_spam_at',
  'email_open_tracking_disabled',
  'email_click_tracking_disabled',
  'push_tokens',
  'facebook',
  'twitter',
]);

const SUBSCRIBE_STATES = new Set(['opted_in', 'subscribed', 'unsubscribed']);
/**
 * Braze's email syntax (spec §3.4): no whitespace, one `@`, `.` only between characters; the local part takes Unicode
 * letters and digits and the usual specials; the domain is ASCII (a non-ASCII domain must come as Punycode), labels of
 * letters, digits and inner hyphens, at least two of them.
 */
const EMAIL_LOCAL_PATTERN = /^[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+(\.[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+)*$/u;
const EMAIL_DOMAIN_PATTERN = /^([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$/;
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_EXTERNAL_ID_BYTES = 987;
const MAX_KEY_LENGTH = 255;

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function isValidEmail(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  const at = value.lastIndexOf('@');
  if (at < 0) return false;
  return EMAIL_LOCAL_PATTERN.test(value.slice(0, at)) && EMAIL_DOMAIN_PATTERN.test(value.slice(at + 1));
}

function isValidTime(value: unknown): boolean {
  return typeof value === 'string' && !Number.isNaN(Date.parse(value));
}

function checkIdentifiers(o: Record<string, unknown>, blocklist: ReadonlySet<string>): ErrorId | null {
  const hasExternalId = o.external_id !== undefined && o.external_id !== null;
  const hasAlias = o.user_alias !== undefined && o.user_alias !== null;
  const hasBrazeId = o.braze_id !== undefined && o.braze_id !== null;
  const primaries = Number(hasExternalId) + Number(hasAlias) + Number(hasBrazeId);
  if (primaries > 1) return 'multiplePrimary';
  if (hasExternalId) {
    if (typeof o.external_id !== 'string' || o.external_id === '') return 'badExternalId';
    if (Buffer.byteLength(o.external_id, 'utf8') > MAX_EXTERNAL_ID_BYTES) return 'externalIdTooLarge';
    if (blocklist.has(o.external_id)) return 'blocklisted';
  }
  if (hasAlias) {
    const alias = o.user_alias;
    if (
      !isPlainObject(alias) ||
      typeof alias.alias_name !== 'string' ||
      alias.alias_name === '' ||
      typeof alias.alias_label !== 'string' ||
      alias.alias_label === ''
    ) {
      return 'aliasIncomplete';
    }
  }
  if (hasBrazeId && (typeof o.braze_id !== 'string' || o.braze_id === '')) return 'badBrazeId';
  if (primaries === 0) {
    const hasEmail = o.email !== undefined && o.email !== null;
    const hasPhone = typeof o.phone === 'string' && o.phone !== '';
    if (!hasEmail && !hasPhone) return 'missingIdentifier';
  }
  return null;
}

function checkPushTokenImport(o: Record<string, unknown>): ErrorId | null {
  if (o.external_id !== undefined || o.braze_id !== undefined) return 'pushTokenImport';
  if (!Array.isArray(o.push_tokens) || o.push_tokens.length === 0) return 'pushTokenImport';
  return checkPushTokens(o.push_tokens);
}

function checkPushTokens(tokens: unknown[]): ErrorId | null {
  for (const token of tokens) {
    if (!isPlainObject(token)) return 'pushTokenImport';
    if (typeof token.app_id !== 'string' || token.app_id === '') return 'pushTokenAppId';
    if (typeof token.token !== 'string' || token.token === '') return 'pushTokenString';
    if (token.device_id !== undefined) {
      const bytes = typeof token.device_id === 'string' ? Buffer.byteLength(token.device_id, 'utf8') : 0;
      if (bytes < 8 || bytes > 255) return 'deviceId';
    }
  }
  return null;
}

function checkSubscriptionGroups(value: unknown): ErrorId | null {
  if (!Array.isArray(value)) return 'subscriptionGroupArray';
  for (const group of value) {
    if (!isPlainObject(group)) return 'subscriptionGroupHash';
    if (typeof group.subscription_group_id !== 'string' || !UUID_PATTERN.test(group.subscription_group_id)) {
      return 'subscriptionGroupId';
    }
    if (group.subscription_state !== 'subscribed' && group.subscription_state !== 'unsubscribed') {
      return 'subscriptionGroupState';
    }
  }
  return null;
}

function checkLocation(value: unknown): ErrorId | null {
  if (value === null) return null;
  if (!isPlainObject(value)) return 'location';
  const { longitude, latitude } = value;
  if (typeof longitude !== 'number' || typeof latitude !== 'number') return 'location';
  if (Math.abs(longitude) > 180 || Math.abs(latitude) > 90) return 'location';
  return null;
}

export function checkAttributesObject(o: unknown, blocklist: ReadonlySet<string>): ErrorId | null {
  if (!isPlainObject(o)) return 'notAnObject';
  const identifierError = o.push_token_import === true ? checkPushTokenImport(o) : checkIdentifiers(o, blocklist);
  if (identifierError) return identifierError;
  for (const key in o) {
    const value = o[key];
    if (IDENTIFIER_AND_FLAG_KEYS.has(key)) continue;
    switch (key) {
      case 'email':
        if (value !== null && !isValidEmail(value)) return 'emailBadFormat';
        continue;
      case 'email_subscribe':
        if (typeof value !== 'string' || !SUBSCRIBE_STATES.has(value)) return 'emailSubscription';
        continue;
      case 'push_subscribe':
        if (typeof value !== 'string' || !SUBSCRIBE_STATES.has(value)) return 'pushSubscription';
        continue;
      case 'subscription_groups': {
        const groupError = checkSubscriptionGroups(value);
        if (groupError) return groupError;
        continue;
      }
      case 'current_location': {
        const locationError = checkLocation(value);
        if (locationError) return locationError;
        continue;
      }
      case 'push_tokens': {
        const tokenError = Array.isArray(value) ? checkPushTokens(value) : 'pushTokenImport';
        if (tokenError) return tokenError;
        continue;
      }
    }
    if (!STANDARD_FIELDS.has(key) && (key.startsWith('$') || key.length > MAX_KEY_LENGTH || key === '')) {
      return 'attributeKey';
    }
  }
  return null;
}

export function checkEventObject(o: unknown, blocklist: ReadonlySet<string>): ErrorId | null {
  if (!isPlainObject(o)) return 'notAnObject';
  const identifierError = checkIdentifiers(o, blocklist);
  if (identifierError) return identifierError;
  if (typeof o.name !== 'string' || o.name === '' || !isValidTime(o.time)) return 'event';
  return null;
}

export function checkPurchaseObject(o: unknown, blocklist: ReadonlySet<string>): ErrorId | null {
  if (!isPlainObject(o)) return 'notAnObject';
  const identifierError = checkIdentifiers(o, blocklist);
  if (identifierError) return identifierError;
  const validProduct = typeof o.product_id === 'string' && o.product_id !== '' && o.product_id.length <= MAX_KEY_LENGTH;
  const validCurrency = typeof o.currency === 'string' && /^[A-Za-z]{3}$/.test(o.currency);
  if (!validProduct || !validCurrency || typeof o.price !== 'number' || !isValidTime(o.time)) return 'purchase';
  return null;
}

const ARRAY_OF_OBJECTS_OPERATORS = new Set(['$add', '$remove', '$update']);

/**
 * A nested custom attribute value Braze would refuse: a key with a space, `.` or `$` (other than `$time`), a null
 * inside, or a `$time` that is not a date. One such value drops every nested update of the request.
 */
export function isInvalidNestedValue(value: unknown): boolean {
  if (value === null) return true;
  if (Array.isArray(value)) return value.some(isInvalidNestedValue);
  if (!isPlainObject(value)) return false;
  const keys = Object.keys(value);
  if (keys.length === 1 && keys[0] === '$time') return !isValidTime(value.$time);
  for (const key of keys) {
    if (ARRAY_OF_OBJECTS_OPERATORS.has(key)) {
      if (!Array.isArray(value[key]) || isInvalidNestedValue(value[key])) return true;
      continue;
    }
    if (key.startsWith('$identifier_')) continue;
    if (key === '$new_object') {
      if (isInvalidNestedValue(value[key])) return true;
      continue;
    }
    if (key === '' || key.length > MAX_KEY_LENGTH || /[\s.$]/.test(key)) return true;
    if (isInvalidNestedValue(value[key])) return true;
  }
  return false;
}
