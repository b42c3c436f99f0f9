/**
 * Removes secrets from text before it can reach a log, an error message or a stored report. HTTP client errors
 * often embed request headers; this is the last line of defence behind never putting them there.
 */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let result = text.replace(/(authorization["']?\s*[:=]\s*["']?)(bearer\s+)?[^"',\s}]+/gi, '$1[redacted]');
  result = result.replace(/\bbearer\s+[A-Za-z0-9._~+/=-]+/gi, 'Bearer [redacted]');
  for (const secret of secrets) {
    if (secret.length >= 4) result = result.split(secret).join('[redacted]');
  }
  return result;
}
