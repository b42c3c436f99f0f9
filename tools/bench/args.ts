import { DEFAULTS } from '../../shared/config/settings';
/** Flags of `npm run bench`: `--profiles N --segments S --changed P --latency-ms L --json` are a contract. */

export interface BenchOptions {
  profiles: number;
  /** Segments (CI tables) in the export: the generator's three default segments, then 10 % segments. */
  segments: number;
  /** Percent of profiles that change between the full sync's export and the delta's (fields, joins, leaves). */
  changedPercent: number;
  /** Latency the Braze sandbox adds to every response. */
  latencyMs: number;
  json: boolean;
  /** BRAZE_CONCURRENCY of the sync. */
  concurrency: number;
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

export const BENCH_USAGE = `Usage: npm run bench -- [--profiles N] [--segments S] [--changed P] [--latency-ms L] [--json]
  [--concurrency C] [--requests-per-second R] [--batch-size B] [--seed N] [--snapshot-users N] [--cpu-prof <dir>]
Defaults: --profiles 100000 --segments 3 --changed 5 --latency-ms 0 --concurrency \${DEFAULTS.brazeConcurrency} --requests-per-second 20000
  --batch-size 75 --seed 20261128 --snapshot-users 1000000`;

export class BenchArgsError extends Error {
  override readonly name = 'BenchArgsError';
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
  '--latency-ms': { key: 'latencyMs', min: 0, max: 10_000, integer: true },
  '--concurrency': { key: 'concurrency', min: 1, max: 256, integer: true },
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
  json: false,
  // The app's own default, so that the bench measures what a deployment runs.
  concurrency: DEFAULTS.brazeConcurrency,
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
    if (flag === '--json') {
      if (inline !== undefined) throw new BenchArgsError('--json takes no value');
      options.json = true;
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
