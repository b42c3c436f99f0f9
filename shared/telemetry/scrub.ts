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

/**
 * Removes personal data from free text that quotes it (a third party's error message): every known value (matched
 * ignoring case, longest first), emails, quoted text other than a field name (`'external_id'` stays), id-like tokens
 * (letters with digits, 6+ characters) and long numbers (phones).
 */
export function redactValues(text: string, knownValues: readonly string[]): string {
  let result = text;
  for (const value of [...knownValues].sort((a, b) => b.length - a.length)) {
    if (value.length >= 3) result = replaceIgnoringCase(result, value, '[value]');
  }
  return result
    .replace(/[^\s@"'<>(),;:]+@[^\s@"'<>(),;:]+/g, '[email]')
    .replace(/(["'`])((?:(?!\1).)*)\1/g, (quoted, mark: string, inner: string) =>
      /^[a-z_][a-z0-9_.]*$/.test(inner) || inner === '[value]' ? quoted : `${mark}[value]${mark}`,
    )
    .replace(/\b(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[\w-]{6,}\b/g, '[id]')
    .replace(/\+?\d[\d ().-]{4,}\d/g, '[number]');
}

function replaceIgnoringCase(text: string, value: string, replacement: string): string {
  const lowerText = text.toLowerCase();
  const lowerValue = value.toLowerCase();
  if (!lowerText.includes(lowerValue)) return text;
  let result = '';
  let from = 0;
  for (let at = lowerText.indexOf(lowerValue); at !== -1; at = lowerText.indexOf(lowerValue, from)) {
    result += text.slice(from, at) + replacement;
    from = at + value.length;
  }
  return result + text.slice(from);
}
