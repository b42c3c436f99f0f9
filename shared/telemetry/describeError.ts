import { ConfigError } from '../config/errors';
import { storageStatus } from '../errors';
import { redactEmails, scrubSecrets } from './scrub';

/**
 * A log line for an unexpected error: storage SDK errors can carry request URLs with SAS signatures and HTTP errors
 * headers, so only the error's kind, status and a redacted message are kept.
 */
export function describeError(error: unknown): Record<string, string | number | null> {
  if (error instanceof ConfigError) return { error: error.name, message: error.message };
  const message = error instanceof Error ? error.message : String(error);
  return {
    error: error instanceof Error ? error.name : typeof error,
    status: storageStatus(error) ?? null,
    message: redactEmails(scrubSecrets(message)).slice(0, 2000),
  };
}
