/** Command-line parsing for `ci-braze-export`: `node:util` parseArgs, strict, and precise about what is wrong. */
import { parseStrict } from './strictArgs';

import { AppError } from '../../shared/errors';

export type Command =
  | {
      name: 'run';
      config?: string;
      dryRun: boolean;
      fullResync: boolean;
      allowMassRemoval: boolean;
      removeUnmapped: boolean;
      segments?: string[];
      json: boolean;
      /** Mark an unfinished run (interrupted, or its worker gone) failed instead of resuming it. */
      abandon: boolean;
      maxRetryTimeSeconds?: number;
    }
  | { name: 'status'; runId?: string; json: boolean }
  | { name: 'runs'; limit: number; json: boolean; failedOnly: boolean }
  | { name: 'check'; config?: string }
  | { name: 'report'; runId: string; open: boolean; out?: string }
  | { name: 'local'; profiles: number; seed: number }
  | { name: 'help' };

export class UsageError extends AppError {
  readonly code = 'USAGE';
  readonly retryable = false;
}

const RUNS_LIMIT = { fallback: 20, min: 1, max: 100 };
const LOCAL_PROFILES = { fallback: 5000, min: 1, max: 1_000_000 };
const LOCAL_SEED = { fallback: 1, min: 0, max: 2 ** 31 };

export const USAGE = `Usage: ci-braze-export <command> [options]

Commands:
  run      run an export now (the same pipeline as the Functions app)
             --config <file>        export config (default: EXPORT_CONFIG)
             --dry-run              compute and write the change plan, send nothing
             --full-resync          ignore what was delivered before and send everything
             --segments <a,b>       only these segment tables or Braze segment ids
             --allow-mass-removal   let removals through although a segment shrank past the guard
             --remove-unmapped      clear in Braze the attributes dropped from the export config
             --json                 print the run summary as one JSON object on the last line
             --max-retry-time <s>   fail fast when Braze is down: retry at most this many seconds, then stop
                                    the run as interrupted (resumable; default RUN_MAX_RETRY_TIME_SECONDS)
             --abandon              an unfinished run (interrupted, or its process gone) is marked failed
                                    and a new run starts; without it, run resumes that run first
           Ctrl-C stops sending, saves the checkpoint and marks the run interrupted (a second Ctrl-C quits
           at once); the next run resumes it.
  plan     the same as run --dry-run: prints the change plan, sends nothing (takes run's options)
  check [--config <file>]
           validates settings and export config, reads the export's metadata, checks the Braze host
           and key; reports everything wrong at once
  status [runId]      the run's status and summary (default: the newest run)
  runs [--limit N] [--failed] [--json]
                      recent runs as a table, newest first (default ${RUNS_LIMIT.fallback}); --failed: failed runs only
  report <runId> [--open | --out <file>]
                      the run's HTML report: printed, written to a file, or opened in the browser
  local [--profiles N] [--seed S]
                      starts Azurite and the Braze sandbox, writes a generated export and local.settings.json,
                      prints the commands to try, and stays up until Ctrl-C (default ${LOCAL_PROFILES.fallback} profiles)

Exit codes of run and plan (docs/operations.md):
  0 succeeded   1 failed   2 invalid usage or configuration   3 held (removals held back by the guard)
  4 succeeded with rejected rows   5 interrupted (resumable: run again)   6 another run is active

Settings come from local.settings.json (its Values) in the current folder when present, and from the
environment, which wins (see docs/configuration.md).`;

const FLAGS = {
  config: { type: 'string' },
  'dry-run': { type: 'boolean' },
  'full-resync': { type: 'boolean' },
  segments: { type: 'string' },
  'allow-mass-removal': { type: 'boolean' },
  'remove-unmapped': { type: 'boolean' },
  json: { type: 'boolean' },
  abandon: { type: 'boolean' },
  'max-retry-time': { type: 'string' },
  limit: { type: 'string' },
  failed: { type: 'boolean' },
  open: { type: 'boolean' },
  out: { type: 'string' },
  profiles: { type: 'string' },
  seed: { type: 'string' },
} as const;

type Flag = keyof typeof FLAGS;

const RUN_FLAGS: Flag[] = [
  'config',
  'full-resync',
  'segments',
  'allow-mass-removal',
  'remove-unmapped',
  'json',
  'abandon',
];

const COMMAND_FLAGS: Record<string, Flag[]> = {
  run: [...RUN_FLAGS, 'dry-run', 'max-retry-time'],
  plan: RUN_FLAGS,
  check: ['config'],
  status: ['json'],
  runs: ['limit', 'json', 'failed'],
  report: ['open', 'out'],
  local: ['profiles', 'seed'],
};

export function parseArgs(argv: readonly string[]): Command {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') return { name: 'help' };
  const allowed = Object.hasOwn(COMMAND_FLAGS, name) ? COMMAND_FLAGS[name] : undefined;
  if (!allowed) throw new UsageError(`unknown command "${name}"`);
  // Only this command's flags: another command's flag is refused like an unknown one.
  const flags = Object.fromEntries(allowed.map((flag) => [flag, FLAGS[flag]])) as typeof FLAGS;
  const { values, positionals } = parseStrict(
    rest,
    flags,
    {
      unknownFlag: (flag) => `${name} does not take ${flag}`,
      missingValue: (flag) => `${flag} needs a value`,
      unexpectedValue: (flag) => `${flag} takes no value`,
    },
    (message) => new UsageError(message),
  );
  const maxPositional = name === 'status' || name === 'report' ? 1 : 0;
  if (positionals.length > maxPositional) throw new UsageError(`unexpected argument "${positionals[maxPositional]}"`);
  const json = values.json === true;

  switch (name) {
    case 'check':
      return { name, config: values.config };
    case 'plan':
    case 'run':
      return {
        name: 'run',
        config: values.config,
        dryRun: name === 'plan' || values['dry-run'] === true,
        fullResync: values['full-resync'] === true,
        allowMassRemoval: values['allow-mass-removal'] === true,
        removeUnmapped: values['remove-unmapped'] === true,
        segments: values.segments
          ?.split(',')
          .map((s) => s.trim())
          .filter(Boolean),
        json,
        abandon: values.abandon === true,
        maxRetryTimeSeconds: maxRetryTime(values['max-retry-time']),
      };
    case 'status':
      return { name, runId: positionals[0], json };
    case 'report': {
      if (!positionals[0]) throw new UsageError('report needs a run id (see `ci-braze-export runs`)');
      if (values.out !== undefined && values.open) throw new UsageError('report takes --open or --out, not both');
      return { name, runId: positionals[0], open: values.open === true, out: values.out };
    }
    case 'local':
      return {
        name,
        profiles: wholeNumber(values.profiles, '--profiles', LOCAL_PROFILES),
        seed: wholeNumber(values.seed, '--seed', LOCAL_SEED),
      };
    default:
      return {
        name: 'runs',
        limit: wholeNumber(values.limit, '--limit', RUNS_LIMIT),
        json,
        failedOnly: values.failed === true,
      };
  }
}

function maxRetryTime(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const seconds = Number(raw);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 86_400) {
    throw new UsageError('--max-retry-time must be a whole number of seconds from 1 to 86400');
  }
  return seconds;
}

function wholeNumber(
  raw: string | undefined,
  flag: string,
  { fallback, min, max }: { fallback: number; min: number; max: number },
): number {
  if (raw === undefined) return fallback;
  const value = raw.trim() === '' ? NaN : Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(`${flag} must be a whole number from ${min} to ${max}`);
  }
  return value;
}
