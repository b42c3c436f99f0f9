/** Command-line parsing for `ci-braze-export`: small, strict, and precise about what is wrong. */

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
    }
  | { name: 'status'; runId?: string; json: boolean }
  | { name: 'runs'; limit: number; json: boolean }
  | { name: 'check'; config?: string }
  | { name: 'help' };

export class UsageError extends Error {
  override readonly name = 'UsageError';
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
  plan     the same as run --dry-run: prints the change plan, sends nothing (takes run's options)
  check [--config <file>]
           validates settings and export config, reads the export's metadata, checks the Braze host
           and key; reports everything wrong at once
  status [runId]      the run's status and summary (default: the newest run)
  runs [--limit N]    recent runs, newest first (default 20)

Settings come from the environment (see docs/configuration.md).`;

export function parseArgs(argv: readonly string[]): Command {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') return { name: 'help' };
  const flags = new Map<string, string | true>();
  const positional: string[] = [];
  const valued = new Set(['--config', '--segments', '--limit']);
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
    ],
    plan: ['--config', '--full-resync', '--segments', '--allow-mass-removal', '--remove-unmapped', '--json'],
    check: ['--config'],
    status: ['--json'],
    runs: ['--limit', '--json'],
  };
  if (!allowed[name]) throw new UsageError(`unknown command "${name}"`);
  for (const flag of flags.keys()) {
    if (!allowed[name].includes(flag)) throw new UsageError(`${name} does not take ${flag}`);
  }
  const maxPositional = name === 'status' ? 1 : 0;
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
      };
    }
    case 'status':
      return { name, runId: positional[0], json };
    default: {
      const raw = flags.get('--limit');
      const limit = raw === undefined ? 20 : Number(raw);
      if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
        throw new UsageError(`--limit must be a whole number from 1 to 100`);
      }
      return { name: 'runs', limit, json };
    }
  }
}
