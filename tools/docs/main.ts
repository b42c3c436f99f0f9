/**
 * `npm run docs:config`: rewrites the generated parts of the configuration docs from the code's descriptions: the
 * settings and export config tables of docs/ and the shipped export.config.schema.json (formatted as `npm run lint`
 * expects).
 * Run it after changing `SETTINGS` or `EXPORT_CONFIG_SHAPE`; the tests in tests/config fail until then.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { format } from 'prettier';
import { exportConfigJsonSchema } from '../../shared/config/exportConfig';
import { GENERATED_DOCS, renderGeneratedTables } from './configurationDoc';

const ROOT = path.join(__dirname, '..', '..', '..');

async function main(): Promise<void> {
  for (const file of Object.keys(GENERATED_DOCS)) {
    const absolute = path.join(ROOT, file);
    writeFileSync(absolute, renderGeneratedTables(file, readFileSync(absolute, 'utf8')));
  }
  const schemaFile = path.join(ROOT, 'export.config.schema.json');
  writeFileSync(schemaFile, await format(JSON.stringify(exportConfigJsonSchema()), { filepath: schemaFile }));
  console.log(`wrote ${[...Object.keys(GENERATED_DOCS), path.relative(ROOT, schemaFile)].join(', ')}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
