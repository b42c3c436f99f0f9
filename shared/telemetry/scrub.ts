import { createHash } from 'node:crypto';

/**
 * The one redaction module (design §9: no key, no email, no id in output). Logs, error descriptions, run records and
 * reports, the CLI and the Braze sandbox's request log all use it; no other module carries a redaction pattern.
 */

const REDACTED = '[redacted]';

/**
 * Short, stable pseudonym of an identifier (external id, email, customer id) for logs and reports, so an
 * operator can correlate lines about the same user without the log holding the identifier itself.
 */
export function hashId(value: string): string {
  return createHash('sha256').update(value).digest('hex').slice(0, 12);
}

/** Secret-bearing patterns, each keeping its name and dropping its value. */
const SECRET_PATTERNS: ReadonlyArray<[RegExp, string]> = [
  // Authorization / api key headers, as `name: value`, `name=value` or JSON (`"name":"value"`).
  [/(\b(?:authorization|x-api-key|api[_-]key)["']?\s*[:=]\s*["']?)(bearer\s+)?[^"',;&\s}]+/gi, `$1${REDACTED}`],
  [/\bbearer\s+[A-Za-z0-9._~+/=-]+/gi, `Bearer ${REDACTED}`],
  // A SAS token's signature (in a URL or a connection string's SharedAccessSignature).
  [/([?&;]sig=)[^&;\s"']+/gi, `$1${REDACTED}`],
  // A storage connection string's account key.
  [/(AccountKey=)[^;\s"']+/gi, `$1${REDACTED}`],
];

/**
 * Removes secrets from text before it can reach a log, an error message or a stored report: Authorization, api key
 * headers, SAS signatures, account keys, and each of `secrets` (e.g. the Braze API key) wherever it appears. HTTP and
 * storage client errors often embed request headers or URLs; this is the last line of defence behind never putting
 * them there.
 */
export function scrubSecrets(text: string, secrets: readonly string[] = []): string {
  let result = text;
  for (const [pattern, replacement] of SECRET_PATTERNS) result = result.replace(pattern, replacement);
  for (const secret of secrets) {
    if (secret.length >= 4) result = result.split(secret).join(REDACTED);
  }
  return result;
}

/** Request headers for a log: the values of Authorization and api key headers (and cookies) are redacted. */
export function redactHeaders(raw: Record<string, string | string[] | undefined>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name in raw) {
    const value = raw[name];
    if (value === undefined) continue;
    headers[name] = SECRET_HEADERS.test(name) ? REDACTED : Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

const SECRET_HEADERS = /^(authorization|proxy-authorization|x-api-key|api[_-]key|cookie|set-cookie)$/i;

const EMAIL = /[^\s@"'<>(),;:]+@[^\s@"'<>(),;:]+/g;

/** Replaces anything shaped like an email address. */
export function redactEmails(text: string): string {
  return text.replace(EMAIL, '[email]');
}

/**
 * Removes personal data from free text that quotes it (a third party's error message): every known value (matched
 * ignoring case, longest first), emails, quoted text other than a field name (`'external_id'` stays), id-like tokens
 * (letters with digits, 6+ characters) and long numbers (phones).
 */
export function redactValues(text: string, knownValues: readonly string[]): string {
  let result = text;
  for (const value of [...knownValues].sort((a, b) => b.length - a.length)) {
    if (value.length >= 3) result = replaceIgnoringCase(result, value, '[value]');
  }
  return redactEmails(result)
    .replace(/(["'`])((?:(?!\1).)*)\1/g, (quoted, mark: string, inner: string) =>
      /^[a-z_][a-z0-9_.]*$/.test(inner) || inner === '[value]' ? quoted : `${mark}[value]${mark}`,
    )
    .replace(/\b(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[\w-]{6,}\b/g, '[id]')
    .replace(/\+?\d[\d ().-]{4,}\d/g, '[number]');
}

function replaceIgnoringCase(text: string, value: string, replacement: string): string {
  const lowerText = text.toLowerCase();
  const lowerValue = value.toLowerCase();
  if (!lowerText.includes(lowerValue)) return text;
  let result = '';
  let from = 0;
  for (let at = lowerText.indexOf(lowerValue); at !== -1; at = lowerText.indexOf(lowerValue, from)) {
    result += text.slice(from, at) + replacement;
    from = at + value.length;
  }
  return result + text.slice(from);
}
