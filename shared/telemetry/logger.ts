import { scrubSecrets } from './scrub';

export { hashId } from './scrub';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
/** Structured properties: counts, hashed ids, names of blobs and settings. Never raw personal data or secrets. */
export type LogProperties = Record<string, string | number | boolean | null | undefined>;

/** The one logging seam: the Functions context, the CLI and tests each provide an implementation. */
export interface Logger {
  log(level: LogLevel, message: string, properties?: LogProperties): void;
}

/** Collects log lines in memory: used by tests that scan everything a run logged. */
export class MemoryLogger implements Logger {
  readonly lines: Array<{ level: LogLevel; message: string; properties?: LogProperties }> = [];

  log(level: LogLevel, message: string, properties?: LogProperties): void {
    this.lines.push({ level, message, properties });
  }

  text(): string {
    return this.lines.map((l) => `${l.level} ${l.message} ${JSON.stringify(l.properties ?? {})}`).join('\n');
  }
}

/**
 * Writes one line per entry to a stream (stderr by default so `--json` stdout stays machine-readable), with secret
 * patterns scrubbed as a last line of defence.
 */
export function createStreamLogger(
  stream: NodeJS.WritableStream = process.stderr,
  minimumLevel: LogLevel = 'info',
): Logger {
  const order: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
  return {
    log(level, message, properties) {
      if (order[level] < order[minimumLevel]) return;
      const props = properties && Object.keys(properties).length > 0 ? ` ${JSON.stringify(properties)}` : '';
      stream.write(scrubSecrets(`${new Date().toISOString()} ${level.toUpperCase()} ${message}${props}\n`));
    },
  };
}

export const silentLogger: Logger = { log() {} };
