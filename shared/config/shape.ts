/**
 * A small description of a JSON document's shape: read with every problem named by its full path (unknown keys
 * with the near miss suggested), defaults filled, and written out as JSON Schema (draft 2020-12) for editors. One
 * description serves validation, defaults, the shipped schema file and the docs test, so they cannot drift.
 */
export type FieldSpec =
  | { kind: 'string'; doc: string; required?: true; default?: string | null; brazeKey?: true }
  /** `default` is left out only where a value is always given (the values of a map). */
  | { kind: 'enum'; doc: string; values: readonly string[]; default?: string }
  | { kind: 'boolean'; doc: string; default: boolean }
  | { kind: 'scalar'; doc: string; default: string | number | boolean }
  | ObjectSpec
  | { kind: 'list'; doc: string; items: ObjectSpec }
  /** Free keys (e.g. CI column names), each mapped to a string or to one of a few names. */
  | { kind: 'map'; doc: string; values: FieldSpec & { kind: 'string' | 'enum' } };

export interface ObjectSpec {
  kind: 'object';
  doc: string;
  /** An absent optional object reads as `{}`, so its fields get their defaults. */
  required?: true;
  fields: Record<string, FieldSpec>;
}

/** Braze's limit on attribute names; longer keys are refused rather than truncated by Braze. */
const MAX_BRAZE_KEY_LENGTH = 255;

type JsonObject = Record<string, unknown>;

/** A whole document read against its description (see `readShape`). */
export function readDocument(value: unknown, spec: ObjectSpec, problems: string[]): unknown {
  return readShape(value, spec, '', problems, spec);
}

/**
 * The value with defaults filled and strings trimmed, or `undefined` where it is unusable (the problem is then
 * in `problems`). Keys are checked at every level: an unknown key is a problem, never silently ignored.
 */
function readShape(value: unknown, spec: FieldSpec, path: string, problems: string[], root: ObjectSpec): unknown {
  switch (spec.kind) {
    case 'string':
      return readString(value, spec, path, problems);
    case 'enum':
      if (value === undefined) return spec.default;
      if (typeof value === 'string' && spec.values.includes(value)) return value;
      problems.push(`${path}: expected one of ${spec.values.map((v) => `"${v}"`).join(', ')}`);
      return undefined;
    case 'boolean':
      if (value === undefined) return spec.default;
      if (typeof value === 'boolean') return value;
      problems.push(`${path}: expected true or false`);
      return undefined;
    case 'scalar':
      if (value === undefined) return spec.default;
      if (['string', 'number', 'boolean'].includes(typeof value)) return value;
      problems.push(`${path}: expected a string, number or boolean`);
      return undefined;
    case 'object': {
      const object = value === undefined && !spec.required ? {} : objectAt(value, path, problems);
      if (!object) return undefined;
      const result: JsonObject = {};
      for (const key of Object.keys(object)) {
        if (!(key in spec.fields)) problems.push(unknownKey(join(path, key), key, spec, root));
      }
      for (const [key, field] of Object.entries(spec.fields)) {
        result[key] = readShape(object[key], field, join(path, key), problems, root);
      }
      return result;
    }
    case 'list':
      if (!Array.isArray(value) || value.length === 0) {
        const keys = Object.keys(spec.items.fields).map((key) => `"${key}"`);
        problems.push(`${path}: expected a non-empty array of { ${keys.join(', ')} }`);
        return undefined;
      }
      return value.map((item, index) => readShape(item, spec.items, `${path}[${index}]`, problems, root));
    case 'map': {
      const object = value === undefined ? {} : objectAt(value, path, problems);
      if (!object) return undefined;
      return Object.fromEntries(
        Object.entries(object).map(([key, entry]) => [
          key,
          readShape(entry, spec.values, `${path}.${key}`, problems, root),
        ]),
      );
    }
  }
}

function readString(value: unknown, spec: FieldSpec & { kind: 'string' }, path: string, problems: string[]) {
  if (value === undefined || value === null) {
    if (spec.required) problems.push(`${path}: required, expected a non-empty string`);
    return spec.default;
  }
  if (typeof value !== 'string' || value.trim() === '') {
    problems.push(`${path}: expected a non-empty string`);
    return undefined;
  }
  const text = value.trim();
  if (spec.brazeKey && text.startsWith('$')) problems.push(`${path}: Braze attribute names must not start with "$"`);
  if (spec.brazeKey && text.length > MAX_BRAZE_KEY_LENGTH) {
    problems.push(`${path}: longer than ${MAX_BRAZE_KEY_LENGTH} characters`);
  }
  return text;
}

function objectAt(value: unknown, path: string, problems: string[]): JsonObject | null {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as JsonObject;
  problems.push(`${path || '(root)'}: expected an object`);
  return null;
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/**
 * `identity.whenExternalIDMissing: unknown key; did you mean identity.whenExternalIdMissing?`: the sibling that
 * differs only in case or by at most two edits, else a key of that name at another level of the document.
 */
function unknownKey(path: string, key: string, parent: ObjectSpec, root: ObjectSpec): string {
  const parentPath = path.slice(0, path.length - key.length);
  const sibling = nearestKey(key, Object.keys(parent.fields));
  if (sibling !== undefined) return `${path}: unknown key; did you mean ${parentPath}${sibling}?`;
  const elsewhere = knownPaths(root).find((known) => lastKey(known).toLowerCase() === key.toLowerCase());
  if (elsewhere !== undefined) return `${path}: unknown key; did you mean ${elsewhere}?`;
  return `${path}: unknown key`;
}

function nearestKey(key: string, candidates: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const caseOnly = candidates.find((candidate) => candidate.toLowerCase() === lower);
  if (caseOnly !== undefined) return caseOnly;
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance <= 2 && (best === undefined || distance < best.distance)) best = { candidate, distance };
  }
  return best?.candidate;
}

/** Levenshtein distance: insertions, deletions and substitutions of one character each count one. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

function lastKey(path: string): string {
  return path.slice(path.lastIndexOf('.') + 1);
}

/** Every key the description knows, as documented: `identity.email`, `segments[].table`, `attributes`. */
export function knownPaths(spec: ObjectSpec, prefix = ''): string[] {
  return Object.entries(spec.fields).flatMap(([key, field]) => {
    const path = prefix + key;
    if (field.kind === 'object') return knownPaths(field, `${path}.`);
    if (field.kind === 'list') return knownPaths(field.items, `${path}[].`);
    return [path];
  });
}

/** The description as JSON Schema draft 2020-12: `additionalProperties: false` on every object with fixed keys. */
export function toJsonSchema(spec: FieldSpec): JsonObject {
  const described = (schema: JsonObject): JsonObject => ({ description: spec.doc, ...schema });
  switch (spec.kind) {
    case 'string': {
      // Not blank; a Braze key also must not start with "$" (after the spaces the validator trims).
      const text = spec.brazeKey
        ? { type: 'string', pattern: '^\\s*[^\\s$]', maxLength: MAX_BRAZE_KEY_LENGTH }
        : { type: 'string', pattern: '\\S' };
      if (spec.required) return described(text);
      const withNull = { ...text, type: ['string', 'null'] };
      return described(spec.default === undefined ? withNull : { ...withNull, default: spec.default });
    }
    case 'enum':
      return described(
        spec.default === undefined ? { enum: spec.values } : { enum: spec.values, default: spec.default },
      );
    case 'boolean':
      return described({ type: 'boolean', default: spec.default });
    case 'scalar':
      return described({ type: ['string', 'number', 'boolean'], default: spec.default });
    case 'object': {
      const required = Object.entries(spec.fields).filter(([, field]) => isRequired(field));
      return described({
        type: 'object',
        properties: Object.fromEntries(Object.entries(spec.fields).map(([key, field]) => [key, toJsonSchema(field)])),
        ...(required.length > 0 ? { required: required.map(([key]) => key) } : {}),
        additionalProperties: false,
      });
    }
    case 'list':
      return described({ type: 'array', minItems: 1, items: toJsonSchema(spec.items) });
    case 'map':
      return described({ type: 'object', additionalProperties: toJsonSchema(spec.values), default: {} });
  }
}

function isRequired(field: FieldSpec): boolean {
  return field.kind === 'list' || ((field.kind === 'string' || field.kind === 'object') && field.required === true);
}
