import { BlobServiceClient } from '@azure/storage-blob';
import { parseArgs } from 'node:util';
import { ExportSink, GeneratorOptions, containerSink, folderSink, sampleExportConfig, writeExport } from './generator';

const USAGE = `Usage: node dist/tools/generate-export/cli.js (--out <folder> | --connection-string <cs> --container <c>)
  --export-path <p> --profiles N --seed S [--run R] [--metadata model.json|manifest|listing] [--headers] [--bom]
  [--delimiter ,] [--locations relative|absolute-blob|absolute-dfs|absolute-443-snapshot] [--rows-per-partition N]
  [--churn-percent P] [--merge-percent P] [--repeated-customer-id-percent P] [--edge-cases]
  [--omit-file-format-settings] [--tables-key] [--print-config]
--print-config: stdout is the matching export config alone (redirect it to a file); the summary goes to stderr.`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      'connection-string': { type: 'string' },
      container: { type: 'string' },
      'export-path': { type: 'string' },
      profiles: { type: 'string' },
      seed: { type: 'string' },
      run: { type: 'string' },
      metadata: { type: 'string' },
      headers: { type: 'boolean' },
      bom: { type: 'boolean' },
      delimiter: { type: 'string' },
      locations: { type: 'string' },
      'rows-per-partition': { type: 'string' },
      'churn-percent': { type: 'string' },
      'merge-percent': { type: 'string' },
      'repeated-customer-id-percent': { type: 'string' },
      'edge-cases': { type: 'boolean' },
      'omit-file-format-settings': { type: 'boolean' },
      'tables-key': { type: 'boolean' },
      'print-config': { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help || !values['export-path'] || !values.profiles || !values.seed) {
    console.error(USAGE);
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const number = (name: keyof typeof values): number | undefined => {
    const raw = values[name];
    if (raw === undefined) return undefined;
    const parsed = Number(raw);
    if (!Number.isFinite(parsed)) throw new Error(`--${name}: expected a number`);
    return parsed;
  };
  const options: GeneratorOptions = {
    profiles: number('profiles') ?? 0,
    seed: number('seed') ?? 0,
    run: number('run'),
    metadata: values.metadata as GeneratorOptions['metadata'],
    headers: values.headers,
    bom: values.bom,
    delimiter: values.delimiter === '\\t' ? '\t' : values.delimiter,
    locations: values.locations as GeneratorOptions['locations'],
    rowsPerPartition: number('rows-per-partition'),
    churnPercent: number('churn-percent'),
    mergePercent: number('merge-percent'),
    repeatedCustomerIdPercent: number('repeated-customer-id-percent'),
    edgeCases: values['edge-cases'],
    omitFileFormatSettings: values['omit-file-format-settings'],
    tablesKey: values['tables-key'],
  };
  let sink: ExportSink;
  if (values.out) sink = folderSink(values.out);
  else if (values['connection-string'] && values.container) {
    const container = BlobServiceClient.fromConnectionString(values['connection-string']).getContainerClient(
      values.container,
    );
    await container.createIfNotExists();
    sink = containerSink(container);
  } else {
    console.error(USAGE);
    process.exitCode = 2;
    return;
  }
  const started = Date.now();
  const result = await writeExport(sink, values['export-path'], options);
  const seconds = (Date.now() - started) / 1000;
  const summary = JSON.stringify({ ...result, seconds }, null, 2);
  // One JSON document per stream, so `--print-config > export.config.json` needs no editing.
  if (values['print-config']) {
    console.error(summary);
    console.log(JSON.stringify(sampleExportConfig(options), null, 2));
  } else console.log(summary);
}

main().catch((error: Error) => {
  console.error(error.message);
  process.exitCode = 1;
});
