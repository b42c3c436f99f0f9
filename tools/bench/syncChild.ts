/**
 * One sync of the bench, in its own process so its peak RSS is its own: settings come from the environment (as
 * in Azure), the run goes through createApp + runNow like the CLI. The last stdout line is one JSON object.
 */
import { createApp } from '../../shared/run/app';
import type { PhaseTimes } from '../../shared/run/types';
import { createStreamLogger } from '../../shared/telemetry/logger';
import { runNow } from '../cli/runNow';

export interface SyncChildResult {
  seconds: number;
  /** CPU time (user + system) of this process during the run. */
  cpuSeconds: number;
  /** Peak resident set of this process over its whole life, in MiB. */
  peakRssMb: number;
  status: string;
  error?: string;
  summary?: {
    profilesRead: number;
    objectsSent: number;
    membershipsRemoved: number;
    removalObjectsSent: number;
    phaseMs: PhaseTimes;
    usersSent: number;
    attributesSent: number;
    unchanged: number;
    rejected: number;
    requests: number;
    retries: number;
    throttled: number;
    alreadySynced: boolean;
  };
}

async function main(): Promise<void> {
  const app = await createApp(process.env);
  // BENCH_LOG_LEVEL=info shows the run's progress lines (requests, concurrency limit) while it runs.
  const logger = createStreamLogger(process.stderr, process.env.BENCH_LOG_LEVEL === 'info' ? 'info' : 'warn');
  const started = process.hrtime.bigint();
  const cpuBefore = process.cpuUsage();
  const record = await runNow(
    app,
    { dryRun: false, fullResync: false, allowMassRemoval: false, trigger: 'cli' },
    logger,
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  const result: SyncChildResult = {
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    // resourceUsage().maxRSS is in KiB.
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    status: record.status,
    error: record.error,
    summary: record.summary,
  };
  console.log(JSON.stringify(result));
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`bench sync failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
