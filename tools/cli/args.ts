/** Command-line parsing for `ci-braze-export`: small, strict, and precise about what is wrong. */

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
  override readonly name = 'UsageError';
  readonly code = 'USAGE';
  readonly retryable = false;
}

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
                      recent runs as a table, newest first (default 20); --failed: failed runs only
  report <runId> [--open | --out <file>]
                      the run's HTML report: printed, written to a file, or opened in the browser
  local [--profiles N] [--seed S]
                      starts Azurite and the Braze sandbox, writes a generated export and local.settings.json,
                      prints the commands to try, and stays up until Ctrl-C (default 5000 profiles)

Exit codes of run and plan (docs/operations.md):
  0 succeeded   1 failed   2 invalid usage or configuration   3 held (removals held back by the guard)
  4 succeeded with rejected rows   5 interrupted (resumable: run again)   6 another run is active

Settings come from local.settings.json (its Values) in the current folder when present, and from the
environment, which wins (see docs/configuration.md).`;

export function parseArgs(argv: readonly string[]): Command {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') return { name: 'help' };
  const flags = new Map<string, string | true>();
  const positional: string[] = [];
  const valued = new Set(['--config', '--segments', '--limit', '--out', '--profiles', '--seed', '--max-retry-time']);
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const [flag, inline] = arg.split(/=(.*)/s, 2);
    if (valued.has(flag)) {
      const value = inline ?? rest[++i];
      if (value === undefined || value.startsWith('--')) throw new UsageError(`${flag} needs a value`);
      flags.set(flag, value);
    } else {
      if (inline !== undefined) throw new UsageError(`${flag} takes no value`);
      flags.set(flag, true);
    }
  }
  const allowed: Record<string, string[]> = {
    run: [
      '--config',
      '--dry-run',
      '--full-resync',
      '--segments',
      '--allow-mass-removal',
      '--remove-unmapped',
      '--json',
      '--abandon',
      '--max-retry-time',
    ],
    plan: [
      '--config',
      '--full-resync',
      '--segments',
      '--allow-mass-removal',
      '--remove-unmapped',
      '--json',
      '--abandon',
    ],
    check: ['--config'],
    status: ['--json'],
    runs: ['--limit', '--json', '--failed'],
    report: ['--open', '--out'],
    local: ['--profiles', '--seed'],
  };
  if (!allowed[name]) throw new UsageError(`unknown command "${name}"`);
  for (const flag of flags.keys()) {
    if (!allowed[name].includes(flag)) throw new UsageError(`${name} does not take ${flag}`);
  }
  const maxPositional = name === 'status' || name === 'report' ? 1 : 0;
  if (positional.length > maxPositional) throw new UsageError(`unexpected argument "${positional[maxPositional]}"`);
  const json = flags.has('--json');

  switch (name) {
    case 'check':
      return { name, config: flags.get('--config') as string | undefined };
    case 'plan':
    case 'run': {
      const segments = flags.get('--segments');
      return {
        name: 'run',
        config: flags.get('--config') as string | undefined,
        dryRun: name === 'plan' || flags.has('--dry-run'),
        fullResync: flags.has('--full-resync'),
        allowMassRemoval: flags.has('--allow-mass-removal'),
        removeUnmapped: flags.has('--remove-unmapped'),
        segments:
          typeof segments === 'string'
            ? segments
                .split(',')
                .map((s) => s.trim())
                .filter(Boolean)
            : undefined,
        json,
        abandon: flags.has('--abandon'),
        maxRetryTimeSeconds: maxRetryTime(flags.get('--max-retry-time')),
      };
    }
    case 'status':
      return { name, runId: positional[0], json };
    case 'report': {
      if (!positional[0]) throw new UsageError('report needs a run id (see `ci-braze-export runs`)');
      const out = flags.get('--out') as string | undefined;
      if (out !== undefined && flags.has('--open')) throw new UsageError('report takes --open or --out, not both');
      return { name, runId: positional[0], open: flags.has('--open'), out };
    }
    case 'local':
      return {
        name,
        profiles: wholeNumber(flags.get('--profiles'), '--profiles', 5000, 1, 1_000_000),
        seed: wholeNumber(flags.get('--seed'), '--seed', 1, 0, 2 ** 31),
      };
    default: {
      const limit = wholeNumber(flags.get('--limit'), '--limit', 20, 1, 100);
      return { name: 'runs', limit, json, failedOnly: flags.has('--failed') };
    }
  }
}

function maxRetryTime(raw: string | true | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const seconds = Number(raw);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 86_400) {
    throw new UsageError('--max-retry-time must be a whole number of seconds from 1 to 86400');
  }
  return seconds;
}

function wholeNumber(raw: string | true | undefined, flag: string, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(`${flag} must be a whole number from ${min} to ${max}`);
  }
  return value;
}
