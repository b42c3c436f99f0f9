import { isIP } from 'node:net';
import { ConfigError } from '../config/errors';

/**
 * Braze REST hosts (spec §1). Braze adds clusters from time to time: extend this list, nothing else.
 * EU clusters live under `.braze.eu`; every other cluster under `.braze.com`.
 */
export const BRAZE_REST_HOSTS: readonly string[] = [
  ...[1, 2, 3, 4, 5, 6, 7, 8].map((n) => `rest.iad-0${n}.braze.com`),
  'rest.us-10.braze.com',
  'rest.fra-01.braze.eu',
  'rest.fra-02.braze.eu',
  'rest.au-01.braze.com',
  'rest.id-01.braze.com',
  'rest.jp-01.braze.com',
  'rest.kr-01.braze.com',
];

const SETTING = 'BRAZE_REST_ENDPOINT';
const EXPECTED = 'expected a Braze REST host such as rest.iad-03.braze.com or https://rest.fra-01.braze.eu';
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

export interface ResolveBrazeEndpointOptions {
  /** BRAZE_ALLOW_INSECURE_LOOPBACK: also accept http(s)://127.0.0.1|localhost|[::1]:<port> (tests, sandbox). */
  allowInsecureLoopback: boolean;
}

/**
 * Turns the BRAZE_REST_ENDPOINT setting into the base URL of the Braze REST API, refusing anything that is
 * not exactly a known Braze host over HTTPS, so the API key is never sent elsewhere. Runs before any request.
 */
export function resolveBrazeEndpoint(raw: string, options: ResolveBrazeEndpointOptions): URL {
  const text = raw.trim();
  const refuse = (why: string): never => {
    throw new ConfigError('settings', [`${SETTING} ${why}; ${EXPECTED}`]);
  };
  if (text === '') refuse('is empty');

  const schemeMatch = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text);
  const scheme = schemeMatch ? schemeMatch[1].toLowerCase() : 'https';
  const rest = schemeMatch ? text.slice(schemeMatch[0].length) : text;
  // Checked on the raw text: URL parsing would silently normalise some of these away (e.g. an empty query).
  const authorityEnd = rest.search(/[/?#\\]/);
  const authority = authorityEnd === -1 ? rest : rest.slice(0, authorityEnd);
  const suffix = authorityEnd === -1 ? '' : rest.slice(authorityEnd);

  if (authority.includes('@')) refuse('must not contain user information (text before "@")');
  if (suffix !== '' && suffix !== '/') refuse('must not contain a path, query or fragment');
  if (scheme !== 'https' && scheme !== 'http') refuse(`must use https, not ${scheme}`);

  const portMatch = /^(\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(authority);
  const host = (portMatch?.[1] ?? '').toLowerCase();
  const port = portMatch?.[2];

  if (LOOPBACK_HOSTS.has(host)) {
    if (!options.allowInsecureLoopback) {
      refuse('points to this machine, which is allowed only with BRAZE_ALLOW_INSECURE_LOOPBACK=true (tests)');
    }
    if (port === undefined || !/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
      refuse('on loopback needs an explicit port from 1 to 65535, e.g. http://127.0.0.1:4010');
    }
    return new URL(`${scheme}://${host}:${port}/`);
  }

  if (scheme !== 'https') refuse('must use https');
  if (port !== undefined) refuse('must not contain a port');
  if (isIP(host.replace(/^\[|\]$/g, '')) !== 0) refuse('must be a host name, not an IP address');
  if (!BRAZE_REST_HOSTS.includes(host)) {
    const printable = /^[a-z0-9.-]{1,253}$/.test(host) ? `"${host}" ` : '';
    const euHint = /^rest\.fra-0\d\.braze\.com$/.test(host) ? ' (EU clusters end in .braze.eu)' : '';
    refuse(`host ${printable}is not a Braze REST host${euHint}`);
  }
  return new URL(`https://${host}/`);
}
