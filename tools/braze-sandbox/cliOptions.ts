/** Parses the sandbox CLI's arguments into options (separate from cli.ts so tests can exercise it). */
import { parseArgs } from 'node:util';
import type { SandboxOptions, ThrottleHeaderStyle } from './types';

const THROTTLE_STYLES: ThrottleHeaderStyle[] = ['ratelimit', 'retry-after-ratelimit', 'retry-after', 'none'];

export const CLI_USAGE = `Usage: braze-sandbox [--port 4040] [--rate-limit 3000/3 | --rate-limit off] [--hourly-limit N] [--reset-style epoch|seconds]
  [--throttle-headers ${THROTTLE_STYLES.join('|')}] [--latency-ms N | --latency-ms MIN-MAX] [--api-key K]
  [--no-log-bodies] [--no-ledger-per-user] [--request-log-limit N] [--max-objects N] [--seed N]`;

function integer(flag: string, value: string, minimum: number): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < minimum) {
    throw new Error(`--${flag} expects an integer >= ${minimum}, got '${value}'`);
  }
  return parsed;
}

/** `--latency-ms 150` (every answer) or `--latency-ms 50-250` (uniform in that range, per answer). */
export function parseLatency(text: string): number | { min: number; max: number } {
  const range = /^(\d+)-(\d+)$/.exec(text.trim());
  if (!range) return integer('latency-ms', text, 0);
  const [min, max] = [Number(range[1]), Number(range[2])];
  if (min > max) throw new Error(`--latency-ms expects MIN-MAX with MIN <= MAX, got '${text}'`);
  return { min, max };
}

export function parseCliArgs(argv: string[]): SandboxOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      port: { type: 'string' },
      'rate-limit': { type: 'string' },
      'hourly-limit': { type: 'string' },
      'reset-style': { type: 'string' },
      'throttle-headers': { type: 'string' },
      'latency-ms': { type: 'string' },
      'api-key': { type: 'string' },
      'no-log-bodies': { type: 'boolean' },
      'no-ledger-per-user': { type: 'boolean' },
      'request-log-limit': { type: 'string' },
      'max-objects': { type: 'string' },
      seed: { type: 'string' },
    },
  });
  const options: SandboxOptions = { port: values.port === undefined ? 4040 : integer('port', values.port, 0) };
  const rateLimitText = values['rate-limit'] ?? '3000/3';
  if (rateLimitText === 'off') {
    options.rateLimit = null;
  } else {
    const match = /^(\d+)\/(\d+)$/.exec(rateLimitText);
    if (!match) throw new Error(`--rate-limit expects <requests>/<seconds> or 'off', got '${rateLimitText}'`);
    const resetStyle = values['reset-style'] ?? 'epoch';
    if (resetStyle !== 'epoch' && resetStyle !== 'seconds') {
      throw new Error(`--reset-style expects epoch or seconds, got '${resetStyle}'`);
    }
    const throttleHeaders = (values['throttle-headers'] ?? 'ratelimit') as ThrottleHeaderStyle;
    if (!THROTTLE_STYLES.includes(throttleHeaders)) {
      throw new Error(`--throttle-headers expects one of ${THROTTLE_STYLES.join(', ')}, got '${throttleHeaders}'`);
    }
    options.rateLimit = {
      limit: integer('rate-limit', match[1], 1),
      windowSeconds: integer('rate-limit', match[2], 1),
      resetStyle,
      throttleHeaders,
    };
    if (values['hourly-limit'] !== undefined) {
      options.rateLimit.hourlyLimit = integer('hourly-limit', values['hourly-limit'], 1);
    }
  }
  if (values['latency-ms'] !== undefined) options.latencyMs = parseLatency(values['latency-ms']);
  if (values['api-key'] !== undefined) options.apiKeys = [{ key: values['api-key'] }];
  if (values['no-log-bodies']) options.logBodies = false;
  if (values['no-ledger-per-user']) options.ledgerPerUser = false;
  if (values['request-log-limit'] !== undefined) {
    options.requestLogLimit = integer('request-log-limit', values['request-log-limit'], 0);
  }
  if (values['max-objects'] !== undefined) {
    options.maxObjectsPerRequest = integer('max-objects', values['max-objects'], 1);
  }
  if (values.seed !== undefined) options.seed = integer('seed', values.seed, 0);
  return options;
}
