import { INVALID, converterFor, normalizeDataType } from '../../shared/source/dataTypes';

describe('CDM data types', () => {
  it('normalises data type names case-insensitively, unknown ones to "unknown"', () => {
    expect(
      ['GUID', 'dateTime', 'DateTimeOffset', 'Int32', 'Float', 'Unclassified', 'geography', undefined].map(
        normalizeDataType,
      ),
    ).toEqual(['guid', 'datetime', 'datetimeoffset', 'int64', 'double', 'string', 'unknown', 'unknown']);
  });

  it.each([
    ['int64', '9007199254740991', 9007199254740991],
    ['int64', '9007199254740992', '9007199254740992'],
    ['int64', '-9007199254740993', '-9007199254740993'],
    ['int64', '007', 7],
    ['int64', '+7', INVALID],
    ['int64', '1 ', INVALID],
    ['double', '-1.5E-3', -0.0015],
    ['double', '0x10', INVALID],
    ['double', 'Infinity', INVALID],
    ['decimal', '0.1', 0.1],
    ['decimal', '1234567890.123456789', '1234567890.123456789'],
    ['decimal', '1234567890123456.5', 1234567890123456.5],
    ['decimal', '10000000000000000000', 10000000000000000000],
    ['decimal', '1,5', INVALID],
    ['decimal', '1.', INVALID],
    ['boolean', 'TRUE', true],
    ['boolean', 'fAlSe', false],
    ['boolean', 'yes', INVALID],
    ['datetime', '2025-03-10T23:59:59Z', '2025-03-10T23:59:59.000Z'],
    ['datetime', '2025-03-10T25:00:00Z', INVALID],
    ['datetime', '2025-03-10T02:00:00.1234567-05:30', '2025-03-10T07:30:00.123Z'],
    ['datetime', '2024-02-29', '2024-02-29T00:00:00.000Z'],
    ['datetime', '2025-02-29', INVALID],
    ['datetime', '2000-02-29T12:00:00Z', '2000-02-29T12:00:00.000Z'],
    ['datetime', '1900-02-29', INVALID],
    ['datetime', '2025-04-31', INVALID],
    ['datetime', '2025-12-31T23:59:59Z', '2025-12-31T23:59:59.000Z'],
    ['datetime', '2025-01-00', INVALID],
    ['datetime', '2025-1a-10', INVALID],
    ['datetime', '2025-03-10T23:60:00Z', INVALID],
    // ISO 8601's end of day.
    ['datetime', '2025-03-10T24:00:00Z', '2025-03-11T00:00:00.000Z'],
    ['datetime', '2025-03-10T1x:00:00Z', INVALID],
    ['datetime', '03/10/2025', INVALID],
    ['date', '2025-03-10T23:00:00-05:00', '2025-03-10'],
    ['date', '2025-13-01', INVALID],
    ['guid', '{A0E4B7D9-1C3F-4E62-8B5A-9D7C2E1F0A68}', 'a0e4b7d9-1c3f-4e62-8b5a-9d7c2e1f0a68'],
    ['guid', 'a0e4b7d9x1c3f-4e62-8b5a-9d7c2e1f0a68', INVALID],
    ['guid', 'a0e4b7d9-1c3f-4e62-8B5A-9d7c2e1f0a68', 'a0e4b7d9-1c3f-4e62-8b5a-9d7c2e1f0a68'],
    ['guid', '{a0e4b7d9-1c3f-4e62-8b5a-9d7c2e1f0a68', INVALID],
    ['guid', 'a0e4b7d9-1c3f-4e62-8b5a-9d7c2e1f0a6g', INVALID],
    ['json', '{"a":[1]}', '{"a":[1]}'],
    ['time', '25:99', '25:99'],
  ] as const)('%s %j -> %j', (dataType, text, expected) => {
    expect(converterFor(dataType)(text)).toBe(expected);
  });
});
