import { parseConcurrencySetting } from '../../shared/braze/concurrency';
import { MAX_CONCURRENCY } from '../../shared/config/settings';
import { AppError } from '../../shared/errors';
import { parseLatency } from '../braze-sandbox/cliOptions';
import { parseStrict } from '../cli/strictArgs';
/** Flags of `npm run bench`: `--profiles N --segments S --changed P --latency-ms L --json` are a contract. */

export interface BenchOptions {
  profiles: number;
  /** Segments (CI tables) in the export: the generator's three default segments, then 10 % segments. */
  segments: number;
  /** Percent of profiles that change between the full sync's export and the delta's (fields, joins, leaves). */
  changedPercent: number;
  /** Latency the Braze sandbox adds to every response: `150`, or `50-250` (uniform per response). */
  latencyMs: number | { min: number; max: number };
  /** The sandbox's rate limit, as its `--rate-limit`: `off`, or Braze's `3000/3`. */
  rateLimit: string;
  json: boolean;
  /** BRAZE_CONCURRENCY of the sync (`256`: adaptive under that ceiling; `fixed:16`); null: the app's default. */
  concurrency: string | null;
  /** Measure the full sync only (no parse floor, delta or re-run). */
  fullOnly: boolean;
  /** A checkout of braze-inc/growth-shares-lambda-user-csv-import: run it side by side (tools/bench/peer). */
  peerPath: string | null;
  /** Thread counts (its MAX_THREADS) the importer runs with; its best is compared. */
  peerThreads: number[];
  /** BRAZE_REQUESTS_PER_SECOND of the sync: high, so the bench measures the pipeline, not the budget. */
  requestsPerSecond: number;
  /** BRAZE_BATCH_SIZE of the sync. */
  batchSize: number;
  seed: number;
  /** Also measure the snapshot of this many users (0: skip). */
  snapshotUsers: number;
  /** Write a V8 CPU profile of each sync child into this folder. */
  cpuProfileDir: string | null;
}

export class BenchArgsError extends AppError {
  readonly code = 'BENCH_ARGS_INVALID';
  readonly retryable = false;
}

interface NumberFlag {
  key: 'profiles' | 'segments' | 'changedPercent' | 'requestsPerSecond' | 'batchSize' | 'seed' | 'snapshotUsers';
  min: number;
  max: number;
  integer: boolean;
}

const NUMBER_FLAGS: Record<string, NumberFlag> = {
  profiles: { key: 'profiles', min: 1, max: 50_000_000, integer: true },
  segments: { key: 'segments', min: 1, max: 20, integer: true },
  changed: { key: 'changedPercent', min: 0, max: 100, integer: false },
  'requests-per-second': { key: 'requestsPerSecond', min: 1, max: 100_000, integer: true },
  'batch-size': { key: 'batchSize', min: 1, max: 75, integer: true },
  seed: { key: 'seed', min: 0, max: 2 ** 31 - 1, integer: true },
  'snapshot-users': { key: 'snapshotUsers', min: 0, max: 50_000_000, integer: true },
};

const FLAGS = {
  profiles: { type: 'string' },
  segments: { type: 'string' },
  changed: { type: 'string' },
  'latency-ms': { type: 'string' },
  json: { type: 'boolean' },
  'rate-limit': { type: 'string' },
  concurrency: { type: 'string' },
  'requests-per-second': { type: 'string' },
  'batch-size': { type: 'string' },
  seed: { type: 'string' },
  'snapshot-users': { type: 'string' },
  'cpu-prof': { type: 'string' },
  'full-only': { type: 'boolean' },
  peer: { type: 'string' },
  'peer-threads': { type: 'string' },
} as const;

export const DEFAULT_BENCH_OPTIONS: BenchOptions = {
  profiles: 100_000,
  segments: 3,
  changedPercent: 5,
  latencyMs: 0,
  rateLimit: 'off',
  json: false,
  // The app's own default, so that the bench measures what a deployment runs.
  concurrency: null,
  fullOnly: false,
  peerPath: null,
  peerThreads: [150],
  requestsPerSecond: 20_000,
  batchSize: 75,
  seed: 20261128,
  snapshotUsers: 1_000_000,
  cpuProfileDir: null,
};

const D = DEFAULT_BENCH_OPTIONS;
export const BENCH_USAGE = `Usage: npm run bench -- [--profiles N] [--segments S] [--changed P] [--latency-ms L|MIN-MAX] [--json]
  [--rate-limit off|N/S] [--concurrency C|fixed:C] [--requests-per-second R] [--batch-size B] [--seed N]
  [--snapshot-users N] [--cpu-prof <dir>] [--full-only] [--peer <importer checkout>] [--peer-threads 20,150]
Defaults: --profiles ${D.profiles} --segments ${D.segments} --changed ${D.changedPercent} --latency-ms ${D.latencyMs} \
--rate-limit ${D.rateLimit} --concurrency (the app's)
  --requests-per-second ${D.requestsPerSecond} --batch-size ${D.batchSize} --seed ${D.seed} \
--snapshot-users ${D.snapshotUsers} --peer-threads ${D.peerThreads.join(',')}`;

/** Parses `--flag value` and `--flag=value` with `node:util` parseArgs; every problem names the flag and what it expects. */
export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  const { values, positionals } = parseStrict(
    argv,
    FLAGS,
    {
      unknownFlag: (flag) => `unknown flag ${flag}`,
      missingValue: (flag) => `${flag} expects a value`,
      unexpectedValue: (flag) => `${flag} takes no value`,
    },
    (message) => new BenchArgsError(message),
  );
  if (positionals.length > 0) throw new BenchArgsError(`unexpected argument '${positionals[0]}' (flags start with --)`);
  const options: BenchOptions = { ...DEFAULT_BENCH_OPTIONS };
  if (values.json) options.json = true;
  if (values['full-only']) options.fullOnly = true;
  if (values['cpu-prof'] !== undefined) options.cpuProfileDir = values['cpu-prof'];
  if (values.peer !== undefined) options.peerPath = values.peer;
  if (values['peer-threads'] !== undefined) options.peerThreads = peerThreads(values['peer-threads']);
  if (values['latency-ms'] !== undefined) options.latencyMs = latency(values['latency-ms']);
  if (values['rate-limit'] !== undefined) options.rateLimit = rateLimit(values['rate-limit']);
  if (values.concurrency !== undefined) options.concurrency = concurrency(values.concurrency);
  for (const [flag, spec] of Object.entries(NUMBER_FLAGS)) {
    const text = values[flag as keyof typeof values];
    if (typeof text === 'string') options[spec.key] = numberFlag(`--${flag}`, text, spec);
  }
  return options;
}

function peerThreads(text: string): number[] {
  const threads = text.split(',').map(Number);
  if (threads.some((t) => !Number.isInteger(t) || t < 1 || t > 1000)) {
    throw new BenchArgsError(`--peer-threads expects whole numbers from 1 to 1000, comma-separated, got '${text}'`);
  }
  return threads;
}

function latency(text: string): BenchOptions['latencyMs'] {
  try {
    return parseLatency(text);
  } catch {
    throw new BenchArgsError(`--latency-ms expects a whole number of ms or MIN-MAX (e.g. 50-250), got '${text}'`);
  }
}

function rateLimit(text: string): string {
  if (text !== 'off' && !/^[1-9]\d*\/[1-9]\d*$/.test(text)) {
    throw new BenchArgsError(`--rate-limit expects off or <requests>/<seconds> (Braze: 3000/3), got '${text}'`);
  }
  return text;
}

function concurrency(text: string): string {
  if (!parseConcurrencySetting(text, MAX_CONCURRENCY)) {
    throw new BenchArgsError(
      `--concurrency expects a ceiling from 1 to ${MAX_CONCURRENCY} or fixed:N, as BRAZE_CONCURRENCY, got '${text}'`,
    );
  }
  return text;
}

function numberFlag(flag: string, text: string, spec: NumberFlag): number {
  const value = text.trim() === '' ? NaN : Number(text);
  const kind = spec.integer ? 'a whole number' : 'a number';
  if (!Number.isFinite(value) || (spec.integer && !Number.isInteger(value))) {
    throw new BenchArgsError(`${flag} expects ${kind}, got '${text}'`);
  }
  if (value < spec.min || value > spec.max) {
    throw new BenchArgsError(`${flag} expects ${kind} from ${spec.min} to ${spec.max}, got ${text}`);
  }
  return value;
}
