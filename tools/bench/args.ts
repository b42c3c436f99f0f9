import { parseConcurrencySetting } from '../../shared/braze/concurrency';
import { MAX_CONCURRENCY } from '../../shared/config/settings';
import { AppError } from '../../shared/errors';
import { parseLatency } from '../braze-sandbox/cliOptions';
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

export const BENCH_USAGE = `Usage: npm run bench -- [--profiles N] [--segments S] [--changed P] [--latency-ms L|MIN-MAX] [--json]
  [--rate-limit off|N/S] [--concurrency C|fixed:C] [--requests-per-second R] [--batch-size B] [--seed N]
  [--snapshot-users N] [--cpu-prof <dir>] [--full-only] [--peer <importer checkout>] [--peer-threads 20,150]
Defaults: --profiles 100000 --segments 3 --changed 5 --latency-ms 0 --rate-limit off --concurrency (the app's)
  --requests-per-second 20000 --batch-size 75 --seed 20261128 --snapshot-users 1000000 --peer-threads 150`;

export class BenchArgsError extends AppError {
  override readonly name = 'BenchArgsError';
  readonly code = 'BENCH_ARGS_INVALID';
  readonly retryable = false;
}

interface NumberFlag {
  key: keyof BenchOptions;
  min: number;
  max: number;
  integer: boolean;
}

const NUMBER_FLAGS: Record<string, NumberFlag> = {
  '--profiles': { key: 'profiles', min: 1, max: 50_000_000, integer: true },
  '--segments': { key: 'segments', min: 1, max: 20, integer: true },
  '--changed': { key: 'changedPercent', min: 0, max: 100, integer: false },
  '--requests-per-second': { key: 'requestsPerSecond', min: 1, max: 100_000, integer: true },
  '--batch-size': { key: 'batchSize', min: 1, max: 75, integer: true },
  '--seed': { key: 'seed', min: 0, max: 2 ** 31 - 1, integer: true },
  '--snapshot-users': { key: 'snapshotUsers', min: 0, max: 50_000_000, integer: true },
};

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

/** Parses `--flag value` and `--flag=value`; every problem names the flag and what it expects. */
export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  const options: BenchOptions = { ...DEFAULT_BENCH_OPTIONS };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const equals = arg.indexOf('=');
    const flag = arg.startsWith('--') && equals > 0 ? arg.slice(0, equals) : arg;
    const inline = flag === arg ? undefined : arg.slice(equals + 1);
    if (flag === '--json' || flag === '--full-only') {
      if (inline !== undefined) throw new BenchArgsError(`${flag} takes no value`);
      if (flag === '--json') options.json = true;
      else options.fullOnly = true;
      continue;
    }
    const takeValue = (): string => {
      if (inline !== undefined) return inline;
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new BenchArgsError(`${flag} expects a value`);
      i++;
      return next;
    };
    if (flag === '--cpu-prof') {
      options.cpuProfileDir = takeValue();
      continue;
    }
    if (flag === '--peer') {
      options.peerPath = takeValue();
      continue;
    }
    if (flag === '--peer-threads') {
      const text = takeValue();
      const threads = text.split(',').map(Number);
      if (threads.some((t) => !Number.isInteger(t) || t < 1 || t > 1000)) {
        throw new BenchArgsError(`--peer-threads expects whole numbers from 1 to 1000, comma-separated, got '${text}'`);
      }
      options.peerThreads = threads;
      continue;
    }
    if (flag === '--latency-ms') {
      const text = takeValue();
      try {
        options.latencyMs = parseLatency(text);
      } catch {
        throw new BenchArgsError(`--latency-ms expects a whole number of ms or MIN-MAX (e.g. 50-250), got '${text}'`);
      }
      continue;
    }
    if (flag === '--rate-limit') {
      const text = takeValue();
      if (text !== 'off' && !/^[1-9]\d*\/[1-9]\d*$/.test(text)) {
        throw new BenchArgsError(`--rate-limit expects off or <requests>/<seconds> (Braze: 3000/3), got '${text}'`);
      }
      options.rateLimit = text;
      continue;
    }
    if (flag === '--concurrency') {
      const text = takeValue();
      if (!parseConcurrencySetting(text, MAX_CONCURRENCY)) {
        throw new BenchArgsError(
          `--concurrency expects a ceiling from 1 to ${MAX_CONCURRENCY} or fixed:N, as BRAZE_CONCURRENCY, got '${text}'`,
        );
      }
      options.concurrency = text;
      continue;
    }
    const spec = NUMBER_FLAGS[flag];
    if (!spec) {
      throw new BenchArgsError(
        arg.startsWith('--') ? `unknown flag ${flag}` : `unexpected argument '${arg}' (flags start with --)`,
      );
    }
    const text = takeValue();
    const value = text.trim() === '' ? NaN : Number(text);
    const kind = spec.integer ? 'a whole number' : 'a number';
    if (!Number.isFinite(value) || (spec.integer && !Number.isInteger(value))) {
      throw new BenchArgsError(`${flag} expects ${kind}, got '${text}'`);
    }
    if (value < spec.min || value > spec.max) {
      throw new BenchArgsError(`${flag} expects ${kind} from ${spec.min} to ${spec.max}, got ${text}`);
    }
    (options[spec.key] as number) = value;
  }
  return options;
}
