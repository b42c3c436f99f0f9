/**
 * `npm run bench`: the speed of the pipeline (design §8). Generates a CI export into Azurite (kept under `.bench/`
 * per seed and size, so a repeated bench skips generation), starts the Braze sandbox in its own process, and
 * measures a full sync, the parse floor, a delta sync after `--changed` % churn, and an unchanged re-run. Each sync
 * runs in a child process (createApp + runNow) whose peak RSS is reported. `--json`: one JSON object, last line.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BlobServiceClient, ContainerClient } from '@azure/storage-blob';
import { validateExportConfig } from '../../shared/config/exportConfig';
import { phasesText } from '../../shared/report/runReport';
import type { PhaseTimes } from '../../shared/run/types';
import { freePort } from '../local/azurite';
import { localEnvironment } from '../local/environment';
import { containerSink, DEFAULT_SEGMENTS, sampleExportConfig, writeExport } from '../generate-export/generator';
import type { GeneratorOptions, SegmentSpec } from '../generate-export/generator';
import { BENCH_USAGE, BenchArgsError, parseBenchArgs, type BenchOptions } from './args';
import { startBenchAzurite, type BenchAzurite } from './azurite';
import { measureReadFloor } from './read-floor';
import type { SyncChildResult } from './syncChild';
import { peerUnavailable, runPeer, usersNotLanded, writePeerCsv, type PeerRun } from './peer/peer';
import type { SandboxProfile } from '../braze-sandbox/types';

const EXPORT_CONTAINER = 'ci-exports';
/**
 * One export, as Customer Insights keeps it: run 0 (full sync) and run 1 (delta) in their own run folders under the
 * same export path, so the delta diffs against the full sync's state (the state is per export location). Each run's
 * model.json is kept beside the export and copied in before its phase, so both stay generated side by side.
 */
const EXPORT_PATH = 'CustomerInsights_bench/BrazeFeed';
const modelOfRun = (run: 0 | 1) => `bench-model-run${run}.json`;
const READY_MARKER = 'bench-ready-v2.json';
const SANDBOX_API_KEY = 'bench-sandbox-key';
const MB = 2 ** 20;

export interface PhaseFigures {
  seconds: number;
  /** CPU seconds of the sync process: above `seconds` only when it used more than one core (GC threads). */
  cpuSeconds: number;
  profilesPerSecond: number;
  requests: number;
  requestsPerSecond: number;
  objectsPerRequest: number;
  maxObjectsPerRequest: number;
  peakRssMb: number;
  /** Data points the sandbox's ledger charged during the phase. */
  attributesSent: number;
  /** What the run itself counted (equals the ledger when the diff is exact). */
  runAttributesSent: number;
  profilesRead: number;
  objectsSent: number;
  /** Segment memberships removed, by the objects of the removal phase (one per user who left segments). */
  membershipsRemoved: number;
  removalObjectsSent: number;
  /** Where the sync's time went (`RunSummary.phaseMs`). */
  phaseMs: PhaseTimes;
  rejected: number;
  retries: number;
  throttled: number;
  /** Users with at least one object accepted. */
  usersSent: number;
  objectsPerUser: number;
  requestsPerUser: number;
  /** Requests/s as a share of BRAZE_REQUESTS_PER_SECOND. */
  budgetShare: number;
  /**
   * The same over the sending phases only (reading and removals): without the start (discovery, snapshot load) and
   * the commit, whose seconds no request budget can shorten.
   */
  sendingBudgetShare: number;
  /** Requests in flight on average, from the sandbox's log (sum of answer times / wall time). */
  meanInFlight: number;
  /** Mean answer time the sandbox logged for /users/track, ms. */
  meanLatencyMs: number;
  /** CPU seconds of the sandbox process during the phase (it shares the machine's cores with the sync). */
  sandboxCpuSeconds: number;
}

export interface Sandbox {
  url: string;
  process: ChildProcess;
}

function benchSegments(count: number): SegmentSpec[] {
  return Array.from({ length: count }, (_, index) => ({
    ...(DEFAULT_SEGMENTS[index] ?? {
      table: `BenchSegment${index + 1}`,
      brazeSegmentApiId: `00000000-0000-4000-8000-${String(index + 1).padStart(12, '0')}`,
      share: 0.1,
    }),
  }));
}

/** Writes run 0 and run 1 of the export unless this Azurite folder already holds them. */
async function ensureExport(container: ContainerClient, generator: GeneratorOptions, log: (line: string) => void) {
  await container.createIfNotExists();
  if (await container.getBlobClient(READY_MARKER).exists()) {
    log('export: reusing the generated export in .bench/');
    return { generatedSeconds: 0 };
  }
  const started = Date.now();
  for (const run of [0, 1] as const) {
    await writeExport(containerSink(container), EXPORT_PATH, { ...generator, run });
    await container.getBlockBlobClient(modelOfRun(run)).syncCopyFromURL(metadataBlob(container).url);
  }
  const generatedSeconds = (Date.now() - started) / 1000;
  await containerSink(container).writeBlob(READY_MARKER, JSON.stringify({ ...generator, generatedSeconds }));
  log(`export: generated runs 0 and 1 in ${generatedSeconds.toFixed(1)} s`);
  return { generatedSeconds };
}

function metadataBlob(container: ContainerClient) {
  return container.getBlockBlobClient(`${EXPORT_PATH}/model.json`);
}

/** Makes `run` the export's current version: its model.json, written after its partitions as CI writes it. */
async function useRun(container: ContainerClient, run: 0 | 1): Promise<void> {
  const model = await container.getBlobClient(modelOfRun(run)).downloadToBuffer();
  await metadataBlob(container).upload(model, model.length);
}

/** CPU seconds (user + system) a child process has used so far (Linux /proc; 0 elsewhere). */
export function processCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (in parentheses): utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** USER_HZ on Linux. */
const CLOCK_TICKS_PER_SECOND = 100;

export function latencyText(latency: BenchOptions['latencyMs']): string {
  return typeof latency === 'number' ? String(latency) : `${latency.min}-${latency.max}`;
}

export async function startSandbox(
  latencyMs: BenchOptions['latencyMs'],
  rateLimit: string,
  cpuProfileDir: string | null,
): Promise<Sandbox> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      ...(cpuProfileDir
        ? ['--cpu-prof', '--cpu-prof-dir', cpuProfileDir, '--cpu-prof-name', 'sandbox.cpuprofile']
        : []),
      path.join(__dirname, '..', 'braze-sandbox', 'cli.js'),
      ...['--port', String(port), '--rate-limit', rateLimit, '--latency-ms', latencyText(latencyMs)],
      ...['--api-key', SANDBOX_API_KEY, '--no-log-bodies', '--no-ledger-per-user'],
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let output = '';
  const listening = new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('listening on')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`Braze sandbox exited with ${code}: ${output}`)));
  });
  await listening;
  return { url: `http://127.0.0.1:${port}`, process: child };
}

/**
 * An inspection call to the sandbox, tried twice: a keep-alive socket that the sandbox closed while a long phase ran
 * (its keepAliveTimeout is 30 s) can fail the first attempt on a busy machine.
 */
export async function sandboxCall(sandbox: Sandbox, pathAndQuery: string, method = 'GET'): Promise<Response> {
  try {
    return await fetch(`${sandbox.url}${pathAndQuery}`, { method });
  } catch {
    return fetch(`${sandbox.url}${pathAndQuery}`, { method });
  }
}

export async function sandboxGet<T>(sandbox: Sandbox, pathAndQuery: string): Promise<T> {
  const response = await sandboxCall(sandbox, pathAndQuery);
  if (!response.ok) throw new Error(`Braze sandbox ${pathAndQuery} answered ${response.status}`);
  return (await response.json()) as T;
}

async function runSyncChild(env: Record<string, string>, cpuProfileDir: string | null): Promise<SyncChildResult> {
  const flags = cpuProfileDir ? ['--cpu-prof', '--cpu-prof-dir', cpuProfileDir] : [];
  const child = spawn(process.execPath, [...flags, path.join(__dirname, 'syncChild.js')], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  const lastLine = stdout.trim().split('\n').pop() ?? '';
  if (code !== 0) throw new Error(`bench sync process exited with ${code}`);
  return JSON.parse(lastLine) as SyncChildResult;
}

/** One sync phase: the child's run, with requests and data points taken from the sandbox before and after. */
async function measurePhase(
  sandbox: Sandbox,
  env: Record<string, string>,
  options: BenchOptions,
): Promise<PhaseFigures> {
  const ledgerBefore = await sandboxGet<{ total: number }>(sandbox, '/_sim/ledger');
  const { requests: logBefore } = await sandboxGet<{ requests: Array<{ seq: number }> }>(
    sandbox,
    '/_sim/requests?bodies=false',
  );
  const since = logBefore.length > 0 ? logBefore[logBefore.length - 1].seq : 0;
  const sandboxCpuBefore = processCpuSeconds(sandbox.process.pid);
  const result = await runSyncChild(env, options.cpuProfileDir);
  const sandboxCpuSeconds = processCpuSeconds(sandbox.process.pid) - sandboxCpuBefore;
  if (!result.summary) throw new Error(`bench sync ended ${result.status}: ${result.error ?? 'no summary'}`);
  const ledgerAfter = await sandboxGet<{ total: number }>(sandbox, '/_sim/ledger');
  const { requests } = await sandboxGet<{ requests: Array<{ path: string; objectCount?: number; latencyMs: number }> }>(
    sandbox,
    `/_sim/requests?bodies=false&since=${since}`,
  );
  const tracked = requests.filter((r) => r.path === '/users/track');
  const summary = result.summary;
  const seconds = result.seconds;
  const answerMs = tracked.reduce((sum, r) => sum + r.latencyMs, 0);
  const perUser = (count: number) => (summary.usersSent === 0 ? 0 : round(count / summary.usersSent, 3));
  return {
    seconds: round(seconds, 3),
    cpuSeconds: round(result.cpuSeconds, 3),
    profilesPerSecond: Math.round(summary.profilesRead / seconds),
    requests: summary.requests,
    requestsPerSecond: Math.round(summary.requests / seconds),
    objectsPerRequest: summary.requests === 0 ? 0 : round(summary.objectsSent / summary.requests, 2),
    maxObjectsPerRequest: tracked.reduce((max, r) => Math.max(max, r.objectCount ?? 0), 0),
    peakRssMb: result.peakRssMb,
    attributesSent: ledgerAfter.total - ledgerBefore.total,
    runAttributesSent: summary.attributesSent,
    profilesRead: summary.profilesRead,
    objectsSent: summary.objectsSent,
    membershipsRemoved: summary.membershipsRemoved,
    removalObjectsSent: summary.removalObjectsSent,
    phaseMs: summary.phaseMs,
    rejected: summary.rejected,
    retries: summary.retries,
    throttled: summary.throttled,
    usersSent: summary.usersSent,
    objectsPerUser: perUser(summary.objectsSent),
    requestsPerUser: perUser(summary.requests),
    budgetShare: round(summary.requests / seconds / Number(env.BRAZE_REQUESTS_PER_SECOND), 3),
    sendingBudgetShare: round(
      summary.requests /
        ((summary.phaseMs.reading + summary.phaseMs.removals) / 1000) /
        Number(env.BRAZE_REQUESTS_PER_SECOND),
      3,
    ),
    meanInFlight: round(answerMs / 1000 / seconds, 1),
    meanLatencyMs: tracked.length === 0 ? 0 : round(answerMs / tracked.length, 1),
    sandboxCpuSeconds: round(sandboxCpuSeconds, 2),
  };
}

interface SnapshotFigure {
  users: number;
  byteLength: number;
  bytesPerUser: number;
  megabytes: number;
}

/** Snapshot size for `users` users, measured by snapshot-memory.js in its own process. */
async function measureSnapshot(users: number, segments: number, attributes: number): Promise<SnapshotFigure> {
  const child = spawn(
    process.execPath,
    [path.join(__dirname, 'snapshot-memory.js'), String(users), String(segments), String(attributes)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let stdout = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`snapshot-memory exited with ${code}`);
  const { memory } = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as {
    memory: { users: number; byteLength: number; bytesPerUser: number };
  };
  return { ...memory, megabytes: round(memory.byteLength / MB, 1) };
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function formatTable(parseFloorSeconds: number, floorCpuSeconds: number, phases: Record<string, PhaseFigures>): string {
  const header = [
    'phase',
    'seconds',
    'cpu s',
    'x floor',
    'profiles/s',
    'requests',
    'req/s',
    '% budget',
    '% sending',
    'in flight',
    'obj/user',
    'req/user',
    'obj/req',
    'max obj',
    'peak RSS MB',
  ];
  const rows = [
    header,
    parseFloorSeconds > 0
      ? ['parse floor', parseFloorSeconds.toFixed(2), floorCpuSeconds.toFixed(1), '1.00', ...Array<string>(11).fill('')]
      : null,
  ].filter((row): row is string[] => row !== null);
  for (const [name, p] of Object.entries(phases)) {
    rows.push([
      name,
      p.seconds.toFixed(2),
      p.cpuSeconds.toFixed(1),
      parseFloorSeconds > 0 ? (p.seconds / parseFloorSeconds).toFixed(2) : '',
      p.profilesPerSecond.toLocaleString('en-US'),
      p.requests.toLocaleString('en-US'),
      p.requestsPerSecond.toLocaleString('en-US'),
      (p.budgetShare * 100).toFixed(1),
      (p.sendingBudgetShare * 100).toFixed(1),
      p.meanInFlight.toFixed(1),
      p.objectsPerUser.toFixed(3),
      p.requestsPerUser.toFixed(4),
      p.objectsPerRequest.toFixed(2),
      String(p.maxObjectsPerRequest),
      String(p.peakRssMb),
    ]);
  }
  const widths = header.map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows.map((row) => row.map((cell, column) => cell.padStart(widths[column])).join('  ')).join('\n');
}

async function main(argv: string[]): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseBenchArgs(argv);
  } catch (error) {
    if (!(error instanceof BenchArgsError)) throw error;
    console.error(`bench: ${error.message}\n${BENCH_USAGE}`);
    return 2;
  }
  const log = (line: string) => console.log(line);
  const segments = benchSegments(options.segments);
  const generator: GeneratorOptions = {
    profiles: options.profiles,
    seed: options.seed,
    segments,
    churnPercent: options.changedPercent,
  };
  const exportConfig = sampleExportConfig(generator) as { attributes: Record<string, string> };
  const attributeCount = Object.keys(exportConfig.attributes).length + 1; // + email
  const cacheKey = `p${options.profiles}-s${options.segments}-c${options.changedPercent}-seed${options.seed}`;
  const settings = {
    ...(options.concurrency === null ? {} : { BRAZE_CONCURRENCY: options.concurrency }),
    BRAZE_REQUESTS_PER_SECOND: String(options.requestsPerSecond),
    BRAZE_BATCH_SIZE: String(options.batchSize),
  };
  log(
    `bench: ${options.profiles.toLocaleString('en-US')} profiles, ${options.segments} segments, ` +
      `${options.changedPercent} % changed, sandbox latency ${latencyText(options.latencyMs)} ms, ` +
      `rate limit ${options.rateLimit}; ` +
      Object.entries(settings)
        .map(([name, value]) => `${name}=${value}`)
        .join(' '),
  );
  log(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'unknown CPU'}, node ${process.version}`);

  let azurite: BenchAzurite | undefined;
  let sandbox: Sandbox | undefined;
  try {
    azurite = await startBenchAzurite(path.resolve('.bench', 'azurite', cacheKey));
    const container = BlobServiceClient.fromConnectionString(azurite.exportConnectionString).getContainerClient(
      EXPORT_CONTAINER,
    );
    const { generatedSeconds } = await ensureExport(container, generator, log);
    sandbox = await startSandbox(options.latencyMs, options.rateLimit, options.cpuProfileDir);

    const environment = (exportPath: string) =>
      localEnvironment({
        storageConnectionString: azurite!.stateConnectionString,
        brazeUrl: sandbox!.url,
        brazeApiKey: SANDBOX_API_KEY,
        exportContainer: EXPORT_CONTAINER,
        exportPath,
        exportConfig,
        // A state container per bench run: the first sync is a full one.
        extra: { ...settings, CI_EXPORT_STORAGE: azurite!.exportConnectionString },
      });
    const stateEnvironment = environment(EXPORT_PATH);
    await useRun(container, 0);

    if (options.peerPath !== null) {
      await sideBySide(options, options.peerPath, sandbox, stateEnvironment, path.resolve('.bench', 'peer', cacheKey));
      return 0;
    }

    const phases: Partial<Record<'full' | 'delta' | 'unchanged', PhaseFigures>> = {};
    phases.full = await measurePhase(sandbox, stateEnvironment, options);
    log(`full sync: ${phases.full.seconds.toFixed(2)} s`);
    let floor = { seconds: 0, rows: 0 };
    let floorCpuSeconds = 0;
    if (!options.fullOnly) {
      // The floor right before the delta it is the yardstick of: this machine's speed moves in phases of tens of
      // seconds, which a floor measured before the full sync would not share with the delta.
      const floorCpuBefore = process.cpuUsage();
      await useRun(container, 1);
      floor = await measureReadFloor(container, EXPORT_PATH, validateExportConfig(exportConfig));
      const floorCpu = process.cpuUsage(floorCpuBefore);
      // CPU time is less disturbed than wall time when other work shares the machine: reported next to it.
      floorCpuSeconds = (floorCpu.user + floorCpu.system) / 1e6;
      log(`parse floor: ${floor.rows.toLocaleString('en-US')} rows in ${floor.seconds.toFixed(2)} s`);
      phases.delta = await measurePhase(sandbox, stateEnvironment, options);
      log(`delta sync: ${phases.delta.seconds.toFixed(2)} s`);
      phases.unchanged = await measurePhase(sandbox, stateEnvironment, options);
      log(`unchanged re-run: ${phases.unchanged.seconds.toFixed(2)} s`);
    }

    const snapshotUsers = options.fullOnly
      ? []
      : [...new Set([options.profiles, options.snapshotUsers])].filter((users) => users > 0);
    const snapshots: SnapshotFigure[] = [];
    for (const users of snapshotUsers) snapshots.push(await measureSnapshot(users, options.segments, attributeCount));

    log('');
    log(formatTable(floor.seconds, floorCpuSeconds, phases));
    for (const [name, p] of Object.entries(phases)) {
      log(
        `${name}: ${p.profilesRead.toLocaleString('en-US')} rows read, ${p.objectsSent.toLocaleString('en-US')} ` +
          `objects sent (${p.removalObjectsSent.toLocaleString('en-US')} removing ` +
          `${p.membershipsRemoved.toLocaleString('en-US')} memberships), data points charged ` +
          `${p.attributesSent.toLocaleString('en-US')} (run counted ` +
          `${p.runAttributesSent.toLocaleString('en-US')}), rejected ${p.rejected}, retries ${p.retries}, ` +
          `throttled ${p.throttled}; ${p.usersSent.toLocaleString('en-US')} users, ${p.meanLatencyMs} ms mean answer, ` +
          `sandbox CPU ${p.sandboxCpuSeconds} s; time: ${phasesText(p)}`,
      );
    }
    for (const s of snapshots) {
      log(`snapshot: ${s.users.toLocaleString('en-US')} users -> ${s.megabytes} MB (${s.bytesPerUser} bytes/user)`);
    }
    log(
      `load average: ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    if (options.json) {
      console.log(
        JSON.stringify({
          profiles: options.profiles,
          segments: options.segments,
          changedPercent: options.changedPercent,
          latencyMs: options.latencyMs,
          settings,
          generatedSeconds,
          parseFloorSeconds: round(floor.seconds, 3),
          parseFloorRows: floor.rows,
          parseFloorCpuSeconds: round(floorCpuSeconds, 3),
          full: phases.full,
          delta: phases.delta,
          unchanged: phases.unchanged,
          rateLimit: options.rateLimit,
          fullVsFloor: phases.delta ? round(phases.full.seconds / floor.seconds, 2) : null,
          deltaVsFloor: phases.delta ? round(phases.delta.seconds / floor.seconds, 2) : null,
          deltaCpuVsFloorCpu: phases.delta ? round(phases.delta.cpuSeconds / floorCpuSeconds, 2) : null,
          snapshots,
          loadAverage: os.loadavg().map((l) => round(l, 2)),
          machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version },
        }),
      );
    }
    return 0;
  } finally {
    if (sandbox && sandbox.process.exitCode === null) {
      const exited = once(sandbox.process, 'exit');
      sandbox.process.kill('SIGTERM');
      await exited;
    }
    await azurite?.stop();
  }
}

/**
 * `--peer`: the product's full sync and Braze's CSV importer on the same users, interleaved (product, importer at
 * each thread count, twice), each into an emptied sandbox, each checked to land every user with their values.
 */
async function sideBySide(
  options: BenchOptions,
  checkout: string,
  sandbox: Sandbox,
  environment: Record<string, string>,
  folder: string,
): Promise<void> {
  const log = (line: string) => console.log(line);
  const unavailable = peerUnavailable(checkout);
  const resetSandbox = async () => {
    const response = await sandboxCall(sandbox, '/_sim/reset?what=all', 'POST');
    if (!response.ok) throw new Error(`Braze sandbox reset answered ${response.status}`);
  };
  const profiles = async () => (await sandboxGet<{ profiles: SandboxProfile[] }>(sandbox, '/_sim/profiles')).profiles;
  const csvFile = path.join(folder, 'users.csv');
  let expected: SandboxProfile[] = [];
  const rows: string[][] = [['round', 'tool', 'in flight', 'seconds', 'users', 'users/s', 'req/s', 'not landed']];
  const product: PhaseFigures[] = [];
  const peer: PeerRun[] = [];
  for (let round = 1; round <= 2; round++) {
    await resetSandbox();
    // A fresh state container per round: each product run is a first, full sync.
    const figures = await measurePhase(sandbox, { ...environment, STATE_CONTAINER: `bench-peer-${round}` }, options);
    const delivered = await profiles();
    if (round === 1) {
      expected = delivered;
      writePeerCsv(expected, csvFile);
    }
    product.push(figures);
    rows.push([
      String(round),
      'ci-braze-export',
      `${figures.meanInFlight} (mean)`,
      figures.seconds.toFixed(2),
      figures.usersSent.toLocaleString('en-US'),
      Math.round(figures.usersSent / figures.seconds).toLocaleString('en-US'),
      figures.requestsPerSecond.toLocaleString('en-US'),
      String(usersNotLanded(expected, delivered)),
    ]);
    log(`side by side: ci-braze-export round ${round}: ${figures.seconds.toFixed(2)} s`);
    if (unavailable) continue;
    for (const threads of options.peerThreads) {
      await resetSandbox();
      const run = await runPeer(checkout, csvFile, threads, sandbox.url, SANDBOX_API_KEY);
      peer.push(run);
      rows.push([
        String(round),
        'CSV importer',
        `${threads} threads`,
        run.seconds.toFixed(2),
        run.users.toLocaleString('en-US'),
        run.usersPerSecond.toLocaleString('en-US'),
        '',
        String(usersNotLanded(expected, await profiles())),
      ]);
      log(`side by side: CSV importer (${threads} threads) round ${round}: ${run.seconds.toFixed(2)} s`);
    }
  }
  log('');
  if (unavailable) log(`side by side: the CSV importer was skipped: ${unavailable}`);
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  log(rows.map((row) => row.map((cell, column) => cell.padStart(widths[column])).join('  ')).join('\n'));
  const productBest = Math.max(...product.map((p) => p.usersSent / p.seconds));
  const peerBest = peer.length === 0 ? null : Math.max(...peer.map((p) => p.usersPerSecond));
  if (peerBest !== null) {
    log(
      `ratio: ci-braze-export's best ${Math.round(productBest)} users/s / the importer's best ${peerBest} = ` +
        `${(productBest / peerBest).toFixed(2)}x`,
    );
  }
  if (options.json) {
    console.log(
      JSON.stringify({
        profiles: options.profiles,
        latencyMs: options.latencyMs,
        rateLimit: options.rateLimit,
        product,
        peer,
        peerSkipped: unavailable,
        ratio: peerBest === null ? null : round(productBest / peerBest, 2),
      }),
    );
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`bench failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
