import { redactValues, scrubSecrets } from '../telemetry/scrub';

/**
 * Reading `/users/track` answers: whether a 2xx is Braze's JSON at all, the per-row errors, and Braze's texts
 * reduced to something safe to store and print (Braze quotes ids, names and phone numbers in its messages).
 */

export interface BrazeResponseBody {
  message?: unknown;
  errors?: unknown;
}

const MAX_REASON_CHARS = 200;

export function parseBrazeBody(text: string): BrazeResponseBody | null {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
}

/**
 * Braze's answer to `/users/track`: a JSON object with a string `message` (`"success"`, with `errors` an array when
 * present), or `{}` (seen in public fixtures). Anything else on a 2xx (an HTML page or JSON of its own from a proxy,
 * an empty body) does not prove that Braze applied the request.
 */
export function isBrazeAnswer(body: BrazeResponseBody | null): boolean {
  if (body === null) return false;
  if (typeof body.message !== 'string') return Object.keys(body).length === 0;
  return body.errors === undefined || Array.isArray(body.errors);
}

/**
 * Reduces Braze's text about one request to what may be stored and printed: a documented code (`EMAIL_BAD_FORMAT`)
 * stays; otherwise the values the request carried and anything else that looks like personal data are replaced
 * (`redactValues`), and the text is cut to one short line. Braze's own sentences quote field names only
 * ('external_id'), which survive.
 */
export class BrazeTextRedactor {
  constructor(private readonly apiKey: string) {}

  /** `sentValues`: the string and number values of the objects the text may quote (from `valuesOf`). */
  redact(text: string, sentValues: readonly string[]): string {
    const line = scrubSecrets(text, [this.apiKey]).replace(/\s+/g, ' ').trim();
    if (/^[A-Z][A-Z0-9_]{2,}$/.test(line)) return line;
    const result = redactValues(line, sentValues);
    return result.length > MAX_REASON_CHARS ? `${result.slice(0, MAX_REASON_CHARS)}…` : result;
  }
}

/** Every string and large number in serialised objects (identifiers, emails, names, phones, attribute values). */
export function valuesOf(pieces: readonly string[]): string[] {
  const values = new Set<string>();
  const visit = (value: unknown): void => {
    if (typeof value === 'string') values.add(value);
    // Small numbers (points, ages) would blank out Braze's own limits ("at most 255 characters").
    else if (typeof value === 'number' && Math.abs(value) >= 10_000) values.add(String(value));
    else if (Array.isArray(value)) value.forEach(visit);
    else if (typeof value === 'object' && value !== null) Object.values(value).forEach(visit);
  };
  for (const piece of pieces) visit(JSON.parse(piece));
  return [...values];
}

/**
 * Per-row errors of a response (`errors[].index` is 0-based within the `attributes` array), each reduced to Braze's
 * error type with the row's own values redacted.
 */
export function rowErrors(
  body: BrazeResponseBody | null,
  pieces: readonly string[],
  redactor: BrazeTextRedactor,
): Map<number, string> {
  const reasons = new Map<number, string>();
  if (!Array.isArray(body?.errors)) return reasons;
  for (const entry of body.errors as unknown[]) {
    if (typeof entry !== 'object' || entry === null) continue;
    const { index, input_array: inputArray, type } = entry as Record<string, unknown>;
    if (inputArray !== undefined && inputArray !== 'attributes') continue;
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= pieces.length) continue;
    const text =
      typeof type === 'string' && type !== '' ? redactor.redact(type, valuesOf([pieces[index]])) : 'rejected by Braze';
    const previous = reasons.get(index);
    reasons.set(index, previous === undefined || previous === text ? text : `${previous}; ${text}`);
  }
  return reasons;
}

/** "HTTP 400: <Braze message, redacted>" or "HTTP 502, non-JSON body": never the key, an id or a value. */
export function describeResponse(
  status: number,
  text: string,
  pieces: readonly string[],
  redactor: BrazeTextRedactor,
): string {
  const body = parseBrazeBody(text);
  if (body === null) return `HTTP ${status}, ${text.trim() === '' ? 'empty' : 'non-JSON'} body`;
  return typeof body.message === 'string' && body.message !== ''
    ? `HTTP ${status}: ${redactor.redact(body.message, valuesOf(pieces))}`
    : `HTTP ${status}`;
}
