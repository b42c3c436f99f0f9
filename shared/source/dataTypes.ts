import { CdmDataType, CellValue } from './types';

/**
 * CDM data type names as written by model.json (`dataType`) and entity documents (`dataFormat`), lower-cased, mapped
 * onto the types the reader converts. Narrower CDM formats read as their wider type.
 */
const DATA_TYPE_ALIASES: Record<string, CdmDataType> = {
  string: 'string',
  char: 'string',
  unclassified: 'string',
  int16: 'int64',
  int32: 'int64',
  int64: 'int64',
  integer: 'int64',
  byte: 'int64',
  float: 'double',
  double: 'double',
  decimal: 'decimal',
  datetime: 'datetime',
  datetimeoffset: 'datetimeoffset',
  boolean: 'boolean',
  guid: 'guid',
  json: 'json',
  date: 'date',
  time: 'time',
};

/** Maps a metadata data type to ours, case-insensitively; `unknown` (read as a string) when not recognised. */
export function normalizeDataType(raw: unknown): CdmDataType {
  if (typeof raw !== 'string') return 'unknown';
  return DATA_TYPE_ALIASES[raw.trim().toLowerCase()] ?? 'unknown';
}

/** Returned by a converter for a cell that does not parse as its type. */
export const INVALID = Symbol('invalid cell');
export type Converter = (text: string) => CellValue | typeof INVALID;

const MAX_SAFE_DIGITS = 15;
const CHAR_0 = 48;
const CHAR_9 = 57;
const CHAR_MINUS = 45;
const CHAR_PLUS = 43;
const CHAR_DOT = 46;

function isDigit(code: number): boolean {
  return code >= CHAR_0 && code <= CHAR_9;
}

const asString: Converter = (text) => text;

/** `-?\d+`; a number when it is a safe integer, else the exact text (a double would silently round it). */
const toInt64: Converter = (text) => {
  const start = text.charCodeAt(0) === CHAR_MINUS ? 1 : 0;
  const length = text.length;
  if (length === start) return INVALID;
  for (let i = start; i < length; i++) if (!isDigit(text.charCodeAt(i))) return INVALID;
  const value = Number(text);
  if (length - start <= MAX_SAFE_DIGITS || Number.isSafeInteger(value)) return value === 0 ? 0 : value;
  return text;
};

/** `.` decimal with an optional exponent; no hex, no `Infinity`, no spaces (which `Number()` would accept). */
const toDouble: Converter = (text) => {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (!isDigit(code) && code !== CHAR_DOT && code !== CHAR_MINUS && code !== CHAR_PLUS && (code | 32) !== 101) {
      return INVALID;
    }
  }
  const value = Number(text);
  return Number.isNaN(value) ? INVALID : value;
};

/**
 * `-?\d+(\.\d+)?`. A number when the double holds exactly the written decimal (always true up to 15 significant
 * digits), else the exact text, so money amounts are never rounded on the way.
 */
const toDecimal: Converter = (text) => {
  const length = text.length;
  let i = text.charCodeAt(0) === CHAR_MINUS ? 1 : 0;
  let digits = 0;
  let dot = -1;
  for (; i < length; i++) {
    const code = text.charCodeAt(i);
    if (isDigit(code)) digits++;
    else if (code === CHAR_DOT && dot === -1 && digits > 0) dot = i;
    else return INVALID;
  }
  if (digits === 0 || dot === length - 1) return INVALID;
  const value = Number(text);
  if (digits <= MAX_SAFE_DIGITS) return value === 0 ? 0 : value;
  return String(value) === canonicalDecimal(text) ? value : text;
};

/** The shortest form of a decimal: no leading zeros, no trailing fraction zeros, no `-0`. */
function canonicalDecimal(text: string): string {
  const negative = text.startsWith('-');
  let body = negative ? text.slice(1) : text;
  if (body.includes('.')) body = body.replace(/0+$/, '').replace(/\.$/, '');
  body = body.replace(/^0+(?=\d)/, '');
  return negative && body !== '0' ? `-${body}` : body;
}

const toBoolean: Converter = (text) => {
  switch (text) {
    case 'true':
    case 'True':
    case '1':
      return true;
    case 'false':
    case 'False':
    case '0':
      return false;
  }
  const lower = text.length <= 5 ? text.toLowerCase() : '';
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  return INVALID;
};

/** The number of the two digits at `text[at..at + 2)`, or -1. */
function twoDigits(text: string, at: number): number {
  const tens = text.charCodeAt(at) - 48;
  const ones = text.charCodeAt(at + 1) - 48;
  return tens >= 0 && tens <= 9 && ones >= 0 && ones <= 9 ? tens * 10 + ones : -1;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Checks `YYYY-MM-DD` at the start of `text` and that the day exists in that month (Date would roll it over).
 * Arithmetic on char codes: it runs for every date cell of a full sync.
 */
function hasValidDatePart(text: string): boolean {
  if (text.length < 10 || text.charCodeAt(4) !== CHAR_MINUS || text.charCodeAt(7) !== CHAR_MINUS) return false;
  const century = twoDigits(text, 0);
  const yearOfCentury = twoDigits(text, 2);
  const month = twoDigits(text, 5);
  const day = twoDigits(text, 8);
  if (century < 0 || yearOfCentury < 0 || month < 1 || month > 12 || day < 1) return false;
  if (day <= DAYS_IN_MONTH[month - 1]) return true;
  const year = century * 100 + yearOfCentury;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return month === 2 && day === 29 && leap;
}

/** True when an ISO time part ends with `Z` or a `±hh:mm` / `±hhmm` / `±hh` offset. */
function hasZone(text: string): boolean {
  const last = text.charCodeAt(text.length - 1);
  if ((last | 32) === 122) return true; // z or Z
  for (let i = text.length - 1; i > 10; i--) {
    const code = text.charCodeAt(i);
    if (code === CHAR_PLUS || code === CHAR_MINUS) return true;
    if (code === 58 || isDigit(code)) continue; // ':' or digit: still inside a possible offset
    return false;
  }
  return false;
}

/** `HH:MM:SS` at `start` with hours < 24, minutes and seconds < 60. */
function hasValidTimePart(text: string, start: number): boolean {
  if (text.charCodeAt(start + 2) !== 58 || text.charCodeAt(start + 5) !== 58) return false; // ':'
  const hours = twoDigits(text, start);
  const minutes = twoDigits(text, start + 3);
  const seconds = twoDigits(text, start + 6);
  return hours >= 0 && hours < 24 && minutes >= 0 && minutes < 60 && seconds >= 0 && seconds < 60;
}

/** ISO-8601 date-time, `T` or space separated; no offset means UTC (never the machine's time zone). */
const toInstant: Converter = (text) => {
  if (!hasValidDatePart(text)) return INVALID;
  // Fast paths for the two shapes CDM writers use: a date, and `YYYY-MM-DDTHH:MM:SSZ`.
  if (text.length === 10) return `${text}T00:00:00.000Z`;
  if (text.length === 20 && text.charCodeAt(10) === 84 && text.charCodeAt(19) === 90 && hasValidTimePart(text, 11)) {
    return `${text.slice(0, 19)}.000Z`;
  }
  const separator = text.charCodeAt(10);
  if (separator !== 84 && separator !== 32 && separator !== 116) return INVALID; // T, space, t
  let iso = separator === 84 ? text : `${text.slice(0, 10)}T${text.slice(11)}`;
  if (!hasZone(iso)) iso += 'Z';
  const time = Date.parse(iso);
  return Number.isNaN(time) ? INVALID : new Date(time).toISOString();
};

/** `YYYY-MM-DD`, also from a date-time (CDM writers emit `dateTime` for dates): the date as written. */
const toDate: Converter = (text) => {
  if (!hasValidDatePart(text)) return INVALID;
  if (text.length === 10) return text;
  return toInstant(text) === INVALID ? INVALID : text.slice(0, 10);
};

/** 8-4-4-4-12 hex digits, optionally in braces; lower-cased (a new string only when there are upper-case digits). */
const toGuid: Converter = (text) => {
  const braced = text.length === 38 && text.charCodeAt(0) === 123 && text.charCodeAt(37) === 125; // { }
  if (!braced && text.length !== 36) return INVALID;
  const start = braced ? 1 : 0;
  let upper = false;
  for (let i = 0; i < 36; i++) {
    const code = text.charCodeAt(start + i);
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (code !== CHAR_MINUS) return INVALID;
    } else if (code >= 65 && code <= 70)
      upper = true; // A-F
    else if (!isDigit(code) && (code < 97 || code > 102)) return INVALID;
  }
  const body = braced ? text.slice(1, 37) : text;
  return upper ? body.toLowerCase() : body;
};

const CONVERTERS: Record<CdmDataType, Converter> = {
  string: asString,
  int64: toInt64,
  double: toDouble,
  decimal: toDecimal,
  datetime: toInstant,
  datetimeoffset: toInstant,
  boolean: toBoolean,
  guid: toGuid,
  json: asString,
  date: toDate,
  time: asString,
  unknown: asString,
};

export function converterFor(dataType: CdmDataType): Converter {
  return CONVERTERS[dataType];
}

/** True when a cell of this type is read as its text, unchanged. */
export function readsAsText(dataType: CdmDataType): boolean {
  return CONVERTERS[dataType] === asString;
}

/** Reason for a rejected cell: names the expected type only, never the cell's text. */
export function invalidCellReason(dataType: CdmDataType): string {
  return `not a valid ${dataType} value`;
}
