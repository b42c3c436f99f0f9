import { parseArgs } from 'node:util';

export const WORKER_USAGE =
  'Usage: worker [--once] [--visibility-timeout-seconds N (default 60)] [--lease-duration-seconds 15..60]';

export function parseWorkerArgs(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      once: { type: 'boolean' },
      'visibility-timeout-seconds': { type: 'string' },
      'lease-duration-seconds': { type: 'string' },
    },
  });
  return {
    once: values.once === true,
    visibilityTimeoutInSeconds:
      integerOption('visibility-timeout-seconds', values['visibility-timeout-seconds'], 1, 604_800) ?? 60,
    leaseDurationInSeconds: integerOption('lease-duration-seconds', values['lease-duration-seconds'], 15, 60),
  };
}

function integerOption(flag: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
    throw new Error(`--${flag} expects a whole number from ${min} to ${max}, got '${value}'`);
  }
  return parsed;
}
