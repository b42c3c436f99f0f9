import { SourceError } from './errors';
import { CsvSettings } from './types';

/** CDM defaults ([cdm/model-json]): no header row, comma, quoted line breaks belong to the value, UTF-8. */
export const DEFAULT_CSV_SETTINGS: CsvSettings = Object.freeze({
  columnHeaders: false,
  delimiter: ',',
  quoteStyle: 'csv',
  csvStyle: 'quoteAlways',
});

/**
 * Raw CSV settings as found in metadata: model.json `fileFormatSettings` (JSON booleans) or the arguments of a
 * manifest's `is.partition.format.CSV` trait (string booleans). Keys are matched case-insensitively.
 */
export type RawCsvSettings = Record<string, unknown>;

/**
 * Validates and normalises CSV settings. Errors name the metadata blob, the partition and the setting to fix.
 */
export function parseCsvSettings(
  raw: RawCsvSettings | undefined,
  metadataBlob: string,
  partitionBlob: string,
): CsvSettings {
  const where = metadataBlob;
  const setting = (key: string) => `partition ${partitionBlob}: setting ${key}`;
  const settings: CsvSettings = { ...DEFAULT_CSV_SETTINGS };
  if (!raw) return settings;
  for (const [key, value] of Object.entries(raw)) {
    if (value === null || value === undefined) continue;
    switch (key.toLowerCase()) {
      case 'columnheaders':
        settings.columnHeaders = parseBoolean(value, where, setting(key));
        break;
      case 'delimiter':
        if (typeof value !== 'string' || value.length === 0 || /["\r\n]/.test(value)) {
          throw new SourceError(
            where,
            `${setting(key)}: expected a non-empty delimiter other than a quote or line break`,
          );
        }
        settings.delimiter = value;
        break;
      case 'quotestyle':
        settings.quoteStyle = oneOf(value, where, setting(key), { 'quotestyle.csv': 'csv', 'quotestyle.none': 'none' });
        break;
      case 'csvstyle':
        settings.csvStyle = oneOf(value, where, setting(key), {
          'csvstyle.quotealways': 'quoteAlways',
          'csvstyle.quoteafterdelimiter': 'quoteAfterDelimiter',
        });
        break;
      case 'encoding': {
        const encoding = String(value).trim().toLowerCase();
        if (encoding !== 'utf-8' && encoding !== 'utf8' && encoding !== '65001') {
          throw new SourceError(where, `${setting(key)}: only UTF-8 (or code page 65001) is supported`);
        }
        break;
      }
    }
  }
  return settings;
}

function parseBoolean(value: unknown, where: string, setting: string): boolean {
  if (typeof value === 'boolean') return value;
  const text = String(value).trim().toLowerCase();
  if (text === 'true') return true;
  if (text === 'false') return false;
  throw new SourceError(where, `${setting}: expected true or false`);
}

function oneOf<T extends string>(value: unknown, where: string, setting: string, allowed: Record<string, T>): T {
  const match = allowed[String(value).trim().toLowerCase()];
  if (match === undefined) {
    throw new SourceError(where, `${setting}: expected one of ${Object.keys(allowed).join(', ')}`);
  }
  return match;
}
