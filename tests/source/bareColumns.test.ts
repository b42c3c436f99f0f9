import { ConfigError } from '../../shared/config/errors';
import { sampleColumnTypes, throwIfUntyped, typeBareColumns, type ColumnTyping } from '../../shared/source/bareColumns';

describe('types of a bare run folder', () => {
  it('samples what every non-empty value of a column looks like, leaving out a line cut by the sample', () => {
    const text = ['1,2.50,true,Anna,0042,1e3,', '-7,3,FALSE,Ben,17,2.5,', ',,,,,,', '12,9.9,tr'].join('\r\n');
    expect(sampleColumnTypes(text, ',', 7, true)).toEqual([
      'int64',
      'decimal',
      'boolean',
      undefined,
      'int64',
      'double',
      undefined,
    ]);
    // Not cut: the last line counts, and "tr" is no boolean.
    expect(sampleColumnTypes(text, ',', 7, false)[2]).toBeUndefined();
  });

  it('gives no sample when the rows cannot be parsed', () => {
    expect(sampleColumnTypes('"1,2\n', ',', 2, false)).toEqual([undefined, undefined]);
  });

  const typing: ColumnTyping = {
    types: { lifetimevalue: 'decimal', Flag: 'boolean' },
    tables: ['Gold'],
    attributeColumns: [
      { column: 'LifetimeValue', configKey: 'attributes.LifetimeValue' },
      { column: 'points', configKey: 'attributes.points' },
      { column: 'City', configKey: 'attributes.City' },
    ],
  };
  const columns = [
    { name: 'LifetimeValue', sampled: 'decimal' as const },
    { name: 'Points', sampled: 'int64' as const },
    { name: 'City', sampled: undefined },
    { name: 'Flag', sampled: 'boolean' as const },
  ];

  it('types columns from the config ignoring case, and refuses an untyped mapped column that looks numeric', () => {
    const problems: string[] = [];
    expect(typeBareColumns('Gold', columns, 'F/Gold/2025/03/10/0200/part_1.csv', typing, problems)).toEqual([
      { name: 'LifetimeValue', dataType: 'decimal' },
      { name: 'Points', dataType: 'string' },
      { name: 'City', dataType: 'string' },
      { name: 'Flag', dataType: 'boolean' },
    ]);
    expect(problems).toEqual([
      'table Gold: column Points (attributes.points) has no type, and its values at the start of ' +
        'F/Gold/2025/03/10/0200/part_1.csv look like whole numbers; without model.json it would be sent as text, and ' +
        `Braze fixes an attribute's type on its first write: add "columnTypes": { "Points": "int64" } to the export ` +
        'config (or "string" to send text)',
    ]);
    expect(() => throwIfUntyped('F', problems)).toThrow(ConfigError);
    expect(() => throwIfUntyped('F', [])).not.toThrow();
  });

  it('refuses nothing in a table the config does not read, or without a config', () => {
    const problems: string[] = [];
    typeBareColumns('Other', columns, 'b.csv', typing, problems);
    expect(typeBareColumns('Gold', columns, 'b.csv', undefined, problems).every((c) => c.dataType === 'string')).toBe(
      true,
    );
    expect(problems).toEqual([]);
  });
});
