import { ConfigError } from '../config/errors';
import { storageStatus } from '../run/storage';

/**
 * A log line for an unexpected error: storage SDK errors can carry request URLs with SAS signatures, so only
 * the error's kind, status and a signature-free message are kept.
 */
export function describeError(error: unknown): Record<string, string | number | null> {
  if (error instanceof ConfigError) return { error: error.name, message: error.message };
  const message = error instanceof Error ? error.message : String(error);
  return {
    error: error instanceof Error ? error.name : typeof error,
    status: storageStatus(error) ?? null,
    message: message.replace(/([?&]sig=)[^&\s"]+/gi, '$1[redacted]').slice(0, 2000),
  };
}
