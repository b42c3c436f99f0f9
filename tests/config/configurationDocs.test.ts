import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../shared/config/errors';
import { EXPORT_CONFIG_SHAPE } from '../../shared/config/exportConfig';
import { knownPaths, type FieldSpec } from '../../shared/config/shape';
import { loadSettings, SETTINGS } from '../../shared/config/settings';

const docs = readFileSync(path.join(__dirname, '..', '..', 'docs', 'configuration.md'), 'utf8');

/** The cells of every table row between two headings of docs/configuration.md. */
function rowsBetween(from: string, to: string | null): string[][] {
  const start = docs.indexOf(`\n${from}\n`);
  const end = to === null ? docs.length : docs.indexOf(`\n${to}\n`, start);
  expect([start, end].every((index) => index >= 0)).toBe(true);
  return docs
    .slice(start, end)
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) =>
      line
        .split('|')
        .slice(1, -1)
        .map((cell) => cell.trim()),
    );
}

const quoted = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((match) => match[1]);

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

describe('docs/configuration.md against the code', () => {
  const settingRows = rowsBetween('## App settings', '## Export config');
  const tuningRows = rowsBetween('### Tuning', '## Export config');

  it('its settings tables name exactly the settings in SETTINGS, each once', () => {
    const documented = settingRows.flatMap(([names]) => quoted(names));
    expect([...documented].sort()).toEqual(Object.keys(SETTINGS).sort());
    expect(new Set(documented).size).toBe(documented.length);
  });

  it("each tuning setting's documented default and range are the ones loadSettings applies", () => {
    expect(tuningRows.length).toBeGreaterThan(0);
    for (const [nameCell, defaultCell, rangeCell] of tuningRows) {
      const [name] = quoted(nameCell);
      const range = /^(\d+)–(\d+)/.exec(rangeCell);
      expect({ name, range: range?.[0] }).toEqual({ name, range: expect.any(String) });
      const [min, max] = [Number(range![1]), Number(range![2])];
      const named = (problems: readonly string[]) => problems.some((problem) => problem.startsWith(`${name} `));
      expect({ name, min: named(problemsWith(name, `${min}`)), max: named(problemsWith(name, `${max}`)) }).toEqual({
        name,
        min: false,
        max: false,
      });
      expect({
        name,
        below: named(problemsWith(name, `${min - 1}`)),
        above: named(problemsWith(name, `${max + 1}`)),
      }).toEqual({ name, below: true, above: true });
      if (defaultCell === 'unset') continue;
      // Setting the documented default changes nothing; another value in range changes something.
      const unset = loadSettings(base);
      expect({ name, settings: loadSettings({ ...base, [name]: defaultCell }) }).toEqual({ name, settings: unset });
      const other = Number(defaultCell) === max ? min : max;
      expect(loadSettings({ ...base, [name]: `${other}` })).not.toEqual(unset);
    }
  });

  it('its export config table names exactly the keys the validator knows, with their defaults', () => {
    const rows = rowsBetween('## Export config', null);
    expect(rows.map(([key]) => quoted(key)[0]).sort()).toEqual(knownPaths(EXPORT_CONFIG_SHAPE).sort());
    for (const [key, defaultCell] of rows) {
      expect({ key: quoted(key)[0], default: defaultCell }).toEqual({
        key: quoted(key)[0],
        default: documentedDefault(specAt(quoted(key)[0])),
      });
    }
  });
});

function specAt(documentedPath: string): FieldSpec {
  let spec: FieldSpec = EXPORT_CONFIG_SHAPE;
  for (const step of documentedPath.split('.')) {
    if (spec.kind !== 'object') throw new Error(`${documentedPath}: not an object at ${step}`);
    spec = spec.fields[step.replace('[]', '')];
    if (step.endsWith('[]') && spec.kind === 'list') spec = spec.items;
  }
  return spec;
}

function documentedDefault(spec: FieldSpec): string {
  if (spec.kind === 'list' || (spec.kind === 'string' && spec.required)) return 'required';
  if (spec.kind === 'map') return '`{}`';
  if (spec.kind === 'object' || spec.default === undefined || spec.default === null) return 'none';
  return `\`${spec.default}\``;
}
