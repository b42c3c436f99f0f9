import { readFileSync } from 'node:fs';
import path from 'node:path';
import { EXPORT_CONFIG_SHAPE, exportConfigJsonSchema, validateExportConfig } from '../../shared/config/exportConfig';
import { ConfigError } from '../../shared/config/errors';
import { knownPaths } from '../../shared/config/shape';

const ROOT = path.join(__dirname, '..', '..');
const readJson = (file: string) => JSON.parse(readFileSync(path.join(ROOT, file), 'utf8'));
const shipped = readJson('export.config.schema.json');
const sample = readJson('export.config.sample.json');

type Schema = { type?: unknown; properties?: Record<string, Schema>; items?: Schema; additionalProperties?: unknown };

/** Every object level of a JSON Schema with fixed keys, with the config path it describes and its keys. */
function objectLevels(schema: Schema, at: string): Array<{ at: string; schema: Schema }> {
  if (schema.items) return objectLevels(schema.items, `${at}[]`);
  if (!schema.properties) return [];
  return [
    { at, schema },
    ...Object.entries(schema.properties).flatMap(([key, child]) => objectLevels(child, at ? `${at}.${key}` : key)),
  ];
}

/** Keys of a JSON Schema as the docs write them: `identity.email`, `segments[].table`, `attributes`. */
function schemaPaths(schema: Schema, prefix = ''): string[] {
  return Object.entries(schema.properties ?? {}).flatMap(([key, child]) => {
    if (child.properties) return schemaPaths(child, `${prefix}${key}.`);
    if (child.items?.properties) return schemaPaths(child.items, `${prefix}${key}[].`);
    return [prefix + key];
  });
}

/** A copy of the sample with `key` added to the object at `at` (`[]` means the first element). */
function withKeyAt(at: string, key: string): unknown {
  const config = structuredClone(sample);
  let target: Record<string, unknown> = config;
  for (const step of at.split('.').filter(Boolean)) {
    const list = step.endsWith('[]');
    target = target[list ? step.slice(0, -2) : step] as Record<string, unknown>;
    if (list) target = (target as unknown as Array<Record<string, unknown>>)[0];
  }
  target[key] = 'x';
  return config;
}

describe('export.config.schema.json', () => {
  it("is the schema generated from the validator's description (regenerate: see docs/configuration.md)", () => {
    expect(shipped).toEqual(exportConfigJsonSchema());
    expect(shipped.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
  });

  it('forbids unknown keys on every object with fixed keys; attributes maps free column names to strings', () => {
    const levels = objectLevels(shipped, '');
    expect(levels.map((level) => level.at)).toEqual(['', 'identity', 'segments[]', 'membership']);
    expect(levels.map((level) => [level.at, level.schema.additionalProperties])).toEqual(
      levels.map((level) => [level.at, false]),
    );
    expect(shipped.properties.attributes).toMatchObject({ type: 'object', additionalProperties: { type: 'string' } });
  });

  it('knows the same keys as the validator, which refuses a key the schema does not know at every level', () => {
    expect(schemaPaths(shipped).sort()).toEqual(knownPaths(EXPORT_CONFIG_SHAPE).sort());
    for (const { at } of objectLevels(shipped, '')) {
      let problems: readonly string[] = [];
      try {
        validateExportConfig(withKeyAt(at, 'unexpectedKey'));
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        problems = error.problems;
      }
      const where = at.replace('[]', '[0]');
      expect(problems).toEqual([`${where ? `${where}.` : ''}unexpectedKey: unknown key`]);
    }
  });

  it('the sample names the schema and is valid', () => {
    expect(sample.$schema).toBe('./export.config.schema.json');
    expect(validateExportConfig(sample).segments.length).toBeGreaterThan(0);
  });
});
