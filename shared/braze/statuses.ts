/**
 * What Braze's answers mean, for every caller of its API (delivery, identity calls, `check`), and the one rule a
 * key's text must follow. How long a 429 asks to wait is read by `throttleDelayInMs` (./rateLimit).
 */

/**
 * - `success`: 2xx (the body may still need checking);
 * - `throttled`: 429, Braze pacing this key: wait as its headers say, then send again;
 * - `transient`: 408 and 5xx, Braze or a proxy did not finish: send again after a backoff;
 * - `setup`: 401, 403, 404, the key, its permissions or the host are wrong: every request would get the same;
 * - `refused`: any other status, this request is refused and nothing of it applied.
 */
export type StatusKind = 'success' | 'throttled' | 'transient' | 'setup' | 'refused';

export function statusKind(status: number): StatusKind {
  if (status >= 200 && status < 300) return 'success';
  if (status === 429) return 'throttled';
  if (status === 408 || status >= 500) return 'transient';
  if (status === 401 || status === 403 || status === 404) return 'setup';
  return 'refused';
}

/**
 * What to fix when Braze answers 401, 403 or 404 (`setup`): `permission` is the one the call needs
 * (`users.track`), `host` the endpoint's.
 */
export function setupProblem(status: number, host: string, permission: string): string {
  if (status === 401) {
    return (
      `the key is wrong or revoked, quoted, or belongs to a workspace on another cluster than ${host} ` +
      '(an EU key needs rest.fra-0N.braze.eu; the dashboard URL tells the cluster)'
    );
  }
  if (status === 403) {
    return (
      `the API key lacks the ${permission} permission, or the plan or account at ${host} does not allow the call ` +
      '("Forbidden" instead of "Access Denied" means the plan or account)'
    );
  }
  return (
    `wrong host or path; check BRAZE_REST_ENDPOINT (${host}): it must be the Braze REST host (rest.…), ` +
    'not the dashboard'
  );
}

/** Braze answers 401 to a key copied with its quotes or a line break; undefined when the key's text is fine. */
export function apiKeyFormatProblem(apiKey: string): string | undefined {
  if (!/^["']|["']$|\s/.test(apiKey)) return undefined;
  return 'BRAZE_API_KEY is wrapped in quotes or contains whitespace, which Braze answers with 401: set it without quotes or whitespace';
}
