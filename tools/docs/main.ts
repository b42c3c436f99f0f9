/**
 * `npm run docs:config`: rewrites the generated parts of the configuration docs from the code's descriptions: the
 * tables of docs/configuration.md and the shipped export.config.schema.json (formatted as `npm run lint` expects).
 * Run it after changing `SETTINGS` or `EXPORT_CONFIG_SHAPE`; the tests in tests/config fail until then.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { format } from 'prettier';
import { exportConfigJsonSchema } from '../../shared/config/exportConfig';
import { renderConfigurationDoc } from './configurationDoc';

const ROOT = path.join(__dirname, '..', '..', '..');

async function main(): Promise<void> {
  const docsFile = path.join(ROOT, 'docs', 'configuration.md');
  writeFileSync(docsFile, renderConfigurationDoc(readFileSync(docsFile, 'utf8')));
  const schemaFile = path.join(ROOT, 'export.config.schema.json');
  writeFileSync(schemaFile, await format(JSON.stringify(exportConfigJsonSchema()), { filepath: schemaFile }));
  console.log(`wrote ${path.relative(ROOT, docsFile)} and ${path.relative(ROOT, schemaFile)}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
