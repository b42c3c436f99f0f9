import { ConfigError } from '../../shared/config/errors';
import { BRAZE_REST_HOSTS, resolveBrazeEndpoint } from '../../shared/braze';

const strict = { allowInsecureLoopback: false };
const loopback = { allowInsecureLoopback: true };

function refusal(raw: string, options = strict): ConfigError {
  try {
    resolveBrazeEndpoint(raw, options);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`accepted ${raw}`);
}

describe('resolveBrazeEndpoint', () => {
  it.each([
    ['rest.iad-03.braze.com', 'https://rest.iad-03.braze.com/'],
    ['https://rest.iad-03.braze.com', 'https://rest.iad-03.braze.com/'],
    ['https://rest.iad-03.braze.com/', 'https://rest.iad-03.braze.com/'],
    ['  HTTPS://REST.IAD-08.BRAZE.COM/  ', 'https://rest.iad-08.braze.com/'],
    ['rest.us-10.braze.com', 'https://rest.us-10.braze.com/'],
    ['rest.fra-01.braze.eu', 'https://rest.fra-01.braze.eu/'],
    ['https://rest.fra-02.braze.eu/', 'https://rest.fra-02.braze.eu/'],
    ['rest.au-01.braze.com', 'https://rest.au-01.braze.com/'],
    ['rest.id-01.braze.com', 'https://rest.id-01.braze.com/'],
    ['rest.jp-01.braze.com', 'https://rest.jp-01.braze.com/'],
    ['rest.kr-01.braze.com', 'https://rest.kr-01.braze.com/'],
  ])('accepts %s', (raw, expected) => {
    expect(resolveBrazeEndpoint(raw, strict).href).toBe(expected);
  });

  it('accepts each of the 15 documented cluster hosts', () => {
    expect(BRAZE_REST_HOSTS).toHaveLength(15);
    for (const host of BRAZE_REST_HOSTS) expect(resolveBrazeEndpoint(host, strict).hostname).toBe(host);
  });

  it.each([
    ['', /is empty/],
    ['http://rest.iad-01.braze.com', /must use https/],
    ['ftp://rest.iad-01.braze.com', /must use https, not ftp/],
    ['https://rest.iad-01.braze.com:443', /must not contain a port/],
    ['https://rest.iad-01.braze.com:8443/', /must not contain a port/],
    ['https://rest.iad-01.braze.com/users/track', /path, query or fragment/],
    ['https://rest.iad-01.braze.com//', /path, query or fragment/],
    ['https://rest.iad-01.braze.com?x=1', /path, query or fragment/],
    ['https://rest.iad-01.braze.com?', /path, query or fragment/],
    ['https://rest.iad-01.braze.com#top', /path, query or fragment/],
    ['https://rest.iad-01.braze.com\\@evil.example', /path, query or fragment/],
    ['https://93.184.216.34', /not an IP address/],
    ['https://[2001:db8::1]', /not an IP address/],
    ['rest.iad-09.braze.com', /"rest.iad-09.braze.com" is not a Braze REST host/],
    ['rest.us-09.braze.com', /not a Braze REST host/],
    ['rest.iad-01.braze.com.', /not a Braze REST host/],
    ['rest.iad-01.braze.com.evil.example', /not a Braze REST host/],
    ['rest.iad-01.braze.co', /not a Braze REST host/],
    ['rest-iad-01.braze.com', /not a Braze REST host/],
    ['rest.iad-01.brazee.com', /not a Braze REST host/],
    ['evilrest.iad-01.braze.com', /not a Braze REST host/],
    ['rest.iad-01.braze.eu', /not a Braze REST host/],
    ['rest.fra-01.braze.com', /EU clusters end in \.braze\.eu/],
    ['https://rest.fra-02.braze.com', /EU clusters end in \.braze\.eu/],
    ['http://127.0.0.1:4010', /BRAZE_ALLOW_INSECURE_LOOPBACK/],
    ['http://localhost:4010', /BRAZE_ALLOW_INSECURE_LOOPBACK/],
  ])('refuses %j', (raw, reason) => {
    const error = refusal(raw);
    expect(error.message).toMatch(/BRAZE_REST_ENDPOINT/);
    expect(error.message).toMatch(/expected a Braze REST host such as rest\.iad-03\.braze\.com/);
    expect(error.message).toMatch(reason);
  });

  it.each([
    'https://rest.iad-01.braze.com@evil.example',
    'rest.iad-01.braze.com@evil.example',
    'https://s3cr3t-token:pw@rest.iad-01.braze.com',
    'https://s3cr3t-token@rest.iad-01.braze.com/',
  ])('refuses user information in %s without echoing it', (raw) => {
    const error = refusal(raw);
    expect(error.message).toMatch(/BRAZE_REST_ENDPOINT must not contain user information/);
    expect(error.message).not.toMatch(/evil|s3cr3t|pw/);
  });

  it('accepts loopback with a port only when insecure loopback is allowed', () => {
    expect(resolveBrazeEndpoint('http://127.0.0.1:4010', loopback).href).toBe('http://127.0.0.1:4010/');
    expect(resolveBrazeEndpoint('http://localhost:4010/', loopback).href).toBe('http://localhost:4010/');
    expect(resolveBrazeEndpoint('http://[::1]:4010', loopback).href).toBe('http://[::1]:4010/');
    expect(resolveBrazeEndpoint('rest.iad-03.braze.com', loopback).href).toBe('https://rest.iad-03.braze.com/');
  });

  it.each([
    ['http://127.0.0.1', /explicit port/],
    ['http://127.0.0.1:0', /explicit port/],
    ['http://127.0.0.1:70000', /explicit port/],
    ['http://127.0.0.1:4010/users/track', /path, query or fragment/],
    ['http://127.0.0.2:4010', /must use https/],
    ['http://10.0.0.5:4010', /must use https/],
    ['http://rest.iad-01.braze.com', /must use https/],
    ['http://user@127.0.0.1:4010', /user information/],
  ])('still refuses %s with insecure loopback allowed', (raw, reason) => {
    expect(refusal(raw, loopback).message).toMatch(reason);
  });
});
