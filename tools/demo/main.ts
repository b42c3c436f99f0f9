/**
 * `npm run demo`: the main job on embedded defaults. Starts Azurite and the Braze sandbox on loopback, writes a
 * generated Customer Insights export, and runs a full sync, a delta sync after a new CI run, and an unchanged run,
 * through the same run records, queue worker and pipeline as the Functions app. Exits non-zero when the sandbox
 * does not hold exactly what the export implies.
 */
import { BlobServiceClient } from '@azure/storage-blob';
import { createApp } from '../../shared/run/app';
import type { RunSummary } from '../../shared/run/types';
import { createStreamLogger } from '../../shared/telemetry/logger';
import { startBrazeSandbox } from '../braze-sandbox/server';
import { formatSummary } from '../cli/report';
import { runNow } from '../cli/runNow';
import { containerSink, sampleExportConfig, writeExport, type GeneratorOptions } from '../generate-export/generator';
import { startAzurite } from '../local/azurite';
import { localEnvironment } from '../local/environment';
import { compareWithSandbox, expectedState } from './expected';

const PROFILES = Number(process.env.DEMO_PROFILES ?? 20_000);
const EXPORT_CONTAINER = 'ci-exports';
const EXPORT_PATH = 'CustomerInsights_5d0c7f3e-2b1a-4e8f-9c61-0a7b3e9d2f44/BrazeFeed';

async function main(): Promise<number> {
  const demoStarted = Date.now();
  console.log(`ci-braze-export demo: ${PROFILES.toLocaleString('en-US')} profiles, 3 segments\n`);
  const azurite = await startAzurite({ queue: true });
  const sandbox = await startBrazeSandbox({ logBodies: false, ledgerPerUser: false });
  try {
    const options: GeneratorOptions = { profiles: PROFILES, seed: 20261128, churnPercent: 5 };
    const config = sampleExportConfig(options) as { segments: GeneratorOptions['segments'] };
    const withSegments: GeneratorOptions = { ...options, segments: config.segments };
    const exportContainer = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(
      EXPORT_CONTAINER,
    );
    await exportContainer.create();

    const env = localEnvironment({
      storageConnectionString: azurite.connectionString,
      brazeUrl: sandbox.url,
      brazeApiKey: sandbox.apiKey,
      exportContainer: EXPORT_CONTAINER,
      exportPath: EXPORT_PATH,
      exportConfig: config,
    });
    const app = await createApp(env);
    const logger = createStreamLogger(process.stderr, process.env.DEMO_LOG_LEVEL === 'info' ? 'info' : 'warn');
    let failures = 0;

    const step = async (title: string, run: number, write: boolean): Promise<RunSummary> => {
      console.log(`== ${title}`);
      if (write) {
        const written = await writeExport(containerSink(exportContainer), EXPORT_PATH, { ...withSegments, run });
        console.log(`  CI export written: ${written.runFolder}`);
      }
      const ledgerBefore = sandbox.ledger().total;
      const record = await runNow(
        app,
        { dryRun: false, fullResync: false, allowMassRemoval: false, trigger: 'demo' },
        logger,
      );
      if (!record.summary) throw new Error(`run ${record.runId} ended ${record.status}: ${record.error ?? ''}`);
      console.log(formatSummary(record.summary));
      const comparison = compareWithSandbox(sandbox, expectedState(withSegments, run));
      const ledger = sandbox.ledger().total - ledgerBefore;
      console.log(
        `  sandbox check       ${comparison.matchingUsers.toLocaleString('en-US')} of ` +
          `${comparison.expectedUsers.toLocaleString('en-US')} profiles exactly as the export implies; ` +
          `${ledger.toLocaleString('en-US')} data points charged\n`,
      );
      if (comparison.matchingUsers !== comparison.expectedUsers || comparison.differences.length > 0) {
        failures++;
        for (const difference of comparison.differences) console.log(`  DIFFERENCE: ${difference}`);
      }
      if (ledger !== record.summary.attributesSent) {
        failures++;
        console.log(
          `  DIFFERENCE: the sandbox charged ${ledger} data points, the run counted ${record.summary.attributesSent}`,
        );
      }
      return record.summary;
    };

    await step('Run 1: first full sync', 0, true);
    await step('Run 2: a new CI export with 5 % churn (joins, leaves, field changes, merges): delta sync', 1, true);
    const unchanged = await step('Run 3: the same export again', 1, false);
    if (unchanged.requests !== 0) failures++;

    console.log(
      `demo ${failures === 0 ? 'passed' : 'FAILED'} in ${((Date.now() - demoStarted) / 1000).toFixed(1)} s` +
        ` (${sandbox.stats().requests.toLocaleString('en-US')} requests to the Braze sandbox)`,
    );
    return failures === 0 ? 0 : 1;
  } finally {
    await sandbox.close();
    await azurite.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
