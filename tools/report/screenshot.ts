/**
 * Renders a run report and photographs it with headless Chromium (Debian's `chromium` package), for the docs.
 *
 *   node dist/tools/report/screenshot.js [--summary summary.json [--rejected rejected.ndjson]] [--out docs/run-report.png]
 *
 * Without `--summary` it runs a small demo pipeline first (Azurite, a generated CI export, the Braze sandbox with
 * a tight rate limit and a few blocked users), so the report has throttling and rejected rows to show. It also
 * checks that the page renders without console errors or resource loads. Not part of the test suite.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { BlobServiceClient } from '@azure/storage-blob';
import { validateExportConfig } from '../../shared/config/exportConfig';
import { loadSettings } from '../../shared/config/settings';
import { renderRunReport, REJECTED_ROWS_SHOWN } from '../../shared/report/runReport';
import { readRejectedRows, type RejectedRow } from '../../shared/run/artifacts';
import { createRunExecutor } from '../../shared/run/pipeline';
import { newRunId } from '../../shared/run/records';
import type { RunSummary } from '../../shared/run/types';
import { createStreamLogger } from '../../shared/telemetry/logger';
import { startBrazeSandbox } from '../braze-sandbox/server';
import {
  containerSink,
  profilesAtRun,
  sampleExportConfig,
  writeExport,
  type GeneratorOptions,
} from '../generate-export/generator';
import { startAzurite } from '../local/azurite';

const USAGE =
  'Usage: node dist/tools/report/screenshot.js [--summary <summary.json> [--rejected <rejected.ndjson>]] ' +
  '[--out docs/run-report.png] [--chromium /usr/bin/chromium]';
const WINDOW_SIZE = '1200,1600';
/** Flags that keep a headless Chromium from reaching the network on its own (updates, sync, QUIC probes). */
const QUIET_CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** Chromium's stderr lines that mean the page itself misbehaved, not the headless browser's environment. */
const PAGE_PROBLEMS = /CONSOLE\(|Uncaught|Failed to load resource|net::ERR_/;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      summary: { type: 'string' },
      rejected: { type: 'string' },
      out: { type: 'string', default: 'docs/run-report.png' },
      chromium: { type: 'string', default: '/usr/bin/chromium' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const { summary, rejected } = values.summary
    ? { summary: readJsonFile<RunSummary>(values.summary), rejected: readRejected(values.rejected) }
    : await runDemo();

  const work = mkdtempSync(path.join(tmpdir(), 'run-report-'));
  try {
    const page = path.join(work, 'report.html');
    writeFileSync(page, renderRunReport(summary, rejected.slice(0, REJECTED_ROWS_SHOWN)));
    const out = path.resolve(values.out);
    const chromium = (extra: string[]) =>
      spawnSync(
        values.chromium,
        [
          ...QUIET_CHROMIUM_FLAGS,
          `--user-data-dir=${path.join(work, 'profile')}`,
          '--enable-logging=stderr',
          '--v=0',
          ...extra,
          pathToFileURL(page).href,
        ],
        { encoding: 'utf8', timeout: 120_000 },
      );
    const shot = chromium([`--screenshot=${out}`, `--window-size=${WINDOW_SIZE}`]);
    if (shot.error || shot.status !== 0) {
      console.error(`chromium failed: ${shot.error?.message ?? `exit ${shot.status}`}\n${shot.stderr}`);
      return 1;
    }
    const dom = chromium(['--dump-dom']);
    const problems = `${shot.stderr}\n${dom.stderr}`.split('\n').filter((line) => PAGE_PROBLEMS.test(line));
    const sections = ['overview', 'context', 'segments', 'attributes', 'rows', 'throughput', 'throttling', 'rejected'];
    const missing = sections.filter((id) => !dom.stdout.includes(`<section id="${id}">`));
    console.log(`report of run ${summary.runId} (${summary.status}) written to ${out}`);
    if (problems.length > 0 || missing.length > 0) {
      for (const line of problems) console.error(`page problem: ${line}`);
      if (missing.length > 0) console.error(`sections missing from the rendered page: ${missing.join(', ')}`);
      return 1;
    }
    console.log(`rendered without console errors or resource loads; all ${sections.length} sections present`);
    return 0;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function readJsonFile<T>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

function readRejected(file: string | undefined): RejectedRow[] {
  if (!file) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as RejectedRow);
}

/** A first full sync of a generated export into a sandbox that throttles and refuses a few users. */
async function runDemo(): Promise<{ summary: RunSummary; rejected: RejectedRow[] }> {
  const exportPath = 'CustomerInsights_5d0c7f3e/BrazeFeed';
  const options: GeneratorOptions = { profiles: 40_000, seed: 20261128 };
  const blocked = [...profilesAtRun(options, 0)]
    .filter((p) => p.segments.length > 0 && p.brazeCustomerId !== null)
    .filter((_, index) => index % 997 === 0)
    .map((p) => p.brazeCustomerId!);
  const azurite = await startAzurite();
  const sandbox = await startBrazeSandbox({
    logBodies: false,
    ledgerPerUser: false,
    latencyMs: { min: 2, max: 12 },
    blocklistedExternalIds: blocked,
    rateLimit: { limit: 120, windowSeconds: 1, resetStyle: 'seconds', throttleHeaders: 'ratelimit' },
  });
  try {
    const service = BlobServiceClient.fromConnectionString(azurite.connectionString);
    const exportContainer = service.getContainerClient('ci-exports');
    const stateContainer = service.getContainerClient('ci-braze-state');
    await Promise.all([exportContainer.create(), stateContainer.create()]);
    await writeExport(containerSink(exportContainer), exportPath, options);
    const config = sampleExportConfig(options);
    const settings = loadSettings({
      CI_EXPORT_STORAGE: azurite.connectionString,
      CI_EXPORT_CONTAINER: 'ci-exports',
      CI_EXPORT_PATH: exportPath,
      STATE_STORAGE: azurite.connectionString,
      BRAZE_REST_ENDPOINT: sandbox.url,
      BRAZE_API_KEY: sandbox.apiKey,
      BRAZE_ALLOW_INSECURE_LOOPBACK: 'true',
      EXPORT_CONFIG: JSON.stringify(config),
      BRAZE_REQUESTS_PER_SECOND: '150',
      BRAZE_CONCURRENCY: '4',
    });
    const executor = createRunExecutor({
      settings,
      exportConfig: validateExportConfig(config),
      exportContainer,
      stateContainer,
      progressIntervalInMs: 250,
    });
    console.log(`demo run: ${options.profiles.toLocaleString('en-US')} profiles into a throttling Braze sandbox`);
    const outcome = await executor({
      runId: newRunId(Date.now()),
      request: { dryRun: false, fullResync: false, allowMassRemoval: false, trigger: 'demo' },
      deadline: Date.now() + 10 * 60_000,
      logger: createStreamLogger(process.stderr, 'error'),
    });
    if (outcome.kind !== 'completed') throw new Error('the demo run did not complete');
    return { summary: outcome.summary, rejected: await readRejectedRows(stateContainer, outcome.summary.runId) };
  } finally {
    await sandbox.close();
    await azurite.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`screenshot failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
