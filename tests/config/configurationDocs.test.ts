import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../shared/config/errors';
import { EXPORT_CONFIG_SHAPE } from '../../shared/config/exportConfig';
import { knownPaths } from '../../shared/config/shape';
import { loadSettings, SETTINGS } from '../../shared/config/settings';
import type { SettingSpec } from '../../shared/config/settingsSchema';
import { GENERATED_DOCS, GENERATED_TABLES, renderGeneratedTables } from '../../tools/docs/configurationDoc';

const ROOT = path.join(__dirname, '..', '..');
const docs = readFileSync(path.join(ROOT, 'docs', 'configuration.md'), 'utf8');
const renderConfigurationDoc = (markdown: string) => renderGeneratedTables('docs/configuration.md', markdown);

/** The first cell of every body row of a generated table, unquoted. */
function firstCells(table: string): string[] {
  return table
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) => /^\| `([^`]+)`/.exec(line)![1]);
}

const base = {
  CI_EXPORT_STORAGE: 'UseDevelopmentStorage=true',
  CI_EXPORT_CONTAINER: 'ci-exports',
  AzureWebJobsStorage: 'UseDevelopmentStorage=true',
  BRAZE_REST_ENDPOINT: 'rest.iad-03.braze.com',
  BRAZE_API_KEY: 'a-key',
  EXPORT_CONFIG: '{}',
};

function problemsWith(name: string, value: string): readonly string[] {
  try {
    loadSettings({ ...base, [name]: value });
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
}

describe('the configuration docs against the code', () => {
  it.each(Object.keys(GENERATED_DOCS))(
    '%s is what `npm run docs:config` writes from SETTINGS and EXPORT_CONFIG_SHAPE (run it when this fails)',
    (file) => {
      const text = readFileSync(path.join(ROOT, file), 'utf8');
      expect(renderGeneratedTables(file, text)).toBe(text);
    },
  );

  it('would be rewritten if a table row differed from the description', () => {
    const drifted = docs.replace('| `BRAZE_BATCH_SIZE` | 75 | 1–75 |', '| `BRAZE_BATCH_SIZE` | 50 | 1–75 |');
    expect(drifted).not.toBe(docs);
    expect(renderConfigurationDoc(drifted)).toBe(docs);
    expect(() => renderConfigurationDoc(docs.replace('<!-- END tuning -->', ''))).toThrow(
      'docs/configuration.md: the markers of the tuning table are missing',
    );
  });

  it('its tables name every setting of SETTINGS once, and every key of the export config', () => {
    const documented = [...firstCells(GENERATED_TABLES.settings()), ...firstCells(GENERATED_TABLES.tuning())];
    expect([...documented].sort()).toEqual(Object.keys(SETTINGS).sort());
    expect(new Set(documented).size).toBe(documented.length);
    expect(firstCells(GENERATED_TABLES['export-config']())).toEqual(knownPaths(EXPORT_CONFIG_SHAPE));
  });
});

describe('loadSettings against SETTINGS', () => {
  const integers = Object.entries(SETTINGS as Record<string, SettingSpec>).flatMap(([name, spec]) =>
    spec.kind === 'integer' ? [{ name, spec }] : [],
  );

  it('accepts the range of each whole-number setting and refuses one past either end, naming the setting', () => {
    expect(integers.length).toBeGreaterThanOrEqual(9);
    for (const { name, spec } of integers) {
      const named = (value: number) => problemsWith(name, `${value}`).some((problem) => problem.startsWith(`${name} `));
      expect({ name, min: named(spec.min), max: named(spec.max) }).toEqual({ name, min: false, max: false });
      expect({ name, below: named(spec.min - 1), above: named(spec.max + 1) }).toEqual({
        name,
        below: true,
        above: true,
      });
    }
  });

  it('applies the described default when a setting is unset, and a value in range changes the settings', () => {
    const unset = loadSettings(base);
    for (const { name, spec } of integers) {
      if (spec.default !== undefined) {
        expect({ name, settings: loadSettings({ ...base, [name]: `${spec.default}` }) }).toEqual({
          name,
          settings: unset,
        });
      }
      const other = spec.default === spec.max ? spec.min : spec.max;
      expect({ name, changed: loadSettings({ ...base, [name]: `${other}` }) }).not.toEqual({ name, changed: unset });
    }
    expect(unset.stateContainer).toBe(SETTINGS.STATE_CONTAINER.default);
    expect(unset.runQueueName).toBe(SETTINGS.RUN_QUEUE_NAME.default);
    expect(unset.brazeConcurrency).toEqual({ mode: 'adaptive', ceiling: SETTINGS.BRAZE_CONCURRENCY.default });
    expect(unset.runTimeBudgetInMs).toBe(SETTINGS.RUN_TIME_BUDGET_SECONDS.default * 1000);
  });
});
