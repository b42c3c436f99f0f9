/**
 * Braze's email syntax (spec §3.4), checked before an email is sent: Braze rejects the whole object otherwise
 * (`EMAIL_BAD_FORMAT`), every run. No whitespace, one `@`, `.` only between characters; Unicode letters and digits in
 * the local part; an ASCII domain (a non-ASCII one must come as Punycode) of at least two labels of letters, digits
 * and inner hyphens.
 */
const LOCAL_PART = /^[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+(\.[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+)*$/u;
const DOMAIN = /^([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$/;

/** Why Braze would refuse this (trimmed) email, or null when it takes it. Names no part of the email. */
export function emailProblem(email: string): string | null {
  if (/\s/u.test(email)) return 'email contains whitespace';
  const at = email.lastIndexOf('@');
  if (at <= 0 || at === email.length - 1) return 'email needs a local part, one @ and a domain';
  if (!LOCAL_PART.test(email.slice(0, at))) return 'email local part is not valid (characters, or a misplaced dot)';
  if (!DOMAIN.test(email.slice(at + 1))) {
    return 'email domain is not valid (two or more labels; a non-ASCII domain must be Punycode)';
  }
  return null;
}
