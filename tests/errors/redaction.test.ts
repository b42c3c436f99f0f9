import { describeError } from '../../shared/telemetry/describeError';
import { createStreamLogger } from '../../shared/telemetry/logger';
import { hashId, redactEmails, redactHeaders, redactValues, scrubSecrets } from '../../shared/telemetry/scrub';
import { Writable } from 'node:stream';

const ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
const SAS_SIGNATURE = 'hTq3wA2n%2FvJ8y0Zc5mE9r4XkQ1b7uLpS6dFgHjKlMn0%3D';
const BRAZE_KEY = 'a1b2c3d4-e5f6-7890-abcd-ef1234567890';

describe('one redaction module', () => {
  it.each([
    ['a SAS signature in a URL', `GET https://acct.blob.core.windows.net/c/b?sv=2024-05-04&sig=${SAS_SIGNATURE}&se=x`],
    ['a SAS signature in a connection string', `SharedAccessSignature=sv=2024-05-04&ss=b&sig=${SAS_SIGNATURE}`],
    ['an account key', `DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${ACCOUNT_KEY};EndpointSuffix=x`],
    ['an Authorization header', `request failed: {"headers":{"Authorization":"Bearer ${BRAZE_KEY}"}}`],
    ['a bearer token in text', `sent with Bearer ${BRAZE_KEY} to the host`],
    ['an api_key field', `{"api_key":"${BRAZE_KEY}","attributes":[]}`],
    ['an X-Api-Key header', `x-api-key: ${BRAZE_KEY}`],
  ])('scrubSecrets removes %s and keeps the rest', (_what, text) => {
    const scrubbed = scrubSecrets(text);
    for (const secret of [ACCOUNT_KEY, SAS_SIGNATURE, BRAZE_KEY]) expect(scrubbed).not.toContain(secret);
    expect(scrubbed).toContain('[redacted]');
  });

  it('scrubSecrets removes each known secret wherever it is, and leaves ordinary text alone', () => {
    expect(scrubSecrets(`the key ${BRAZE_KEY} was refused`, [BRAZE_KEY])).toBe('the key [redacted] was refused');
    const ordinary = 'BRAZE_API_KEY is refused by rest.iad-01.braze.com (401): check the key; sig is not a secret';
    expect(scrubSecrets(ordinary)).toBe(ordinary);
  });

  it('redactHeaders keeps header names and drops the values of Authorization, api key and cookie headers', () => {
    expect(
      redactHeaders({
        authorization: `Bearer ${BRAZE_KEY}`,
        'x-api-key': BRAZE_KEY,
        cookie: 'session=abc',
        'content-type': 'application/json',
        accept: ['application/json', 'text/plain'],
        absent: undefined,
      }),
    ).toEqual({
      authorization: '[redacted]',
      'x-api-key': '[redacted]',
      cookie: '[redacted]',
      'content-type': 'application/json',
      accept: 'application/json, text/plain',
    });
  });

  it('redactValues removes known values, emails, quoted values, id-like tokens and phone numbers', () => {
    const text =
      `'external_id' "cust-00042x" is invalid: Alice.Smith@example.com, phone +44 20 7946 0958, ` +
      `name 'Alice Smith', known CUSTOMER-ID-7`;
    const redacted = redactValues(text, ['customer-id-7']);
    expect(redacted).toBe(`'external_id' "[value]" is invalid: [email], phone [number], name '[value]', known [value]`);
  });

  it('redactEmails replaces every email-shaped word', () => {
    expect(redactEmails('to a.b+c@example.co.uk and x@y.z')).toBe('to [email] and [email]');
  });

  it('hashId is a short stable pseudonym, different per identifier', () => {
    expect(hashId('cust-1')).toMatch(/^[0-9a-f]{12}$/);
    expect(hashId('cust-1')).toBe(hashId('cust-1'));
    expect(hashId('cust-1')).not.toBe(hashId('cust-2'));
  });

  it('describeError keeps the kind and status and drops secrets and emails from the message', () => {
    const error = Object.assign(
      new Error(`PUT https://acct.blob.core.windows.net/state/x?sig=${SAS_SIGNATURE} for ops@example.com failed`),
      { name: 'RestError', statusCode: 503 },
    );
    const described = describeError(error);
    expect(described).toMatchObject({ error: 'RestError', status: 503 });
    expect(String(described.message)).not.toContain(SAS_SIGNATURE);
    expect(String(described.message)).not.toContain('ops@example.com');
    expect(String(described.message)).toContain('sig=[redacted]');
  });

  it('the stream logger scrubs secret patterns from what it writes', () => {
    let written = '';
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        written += chunk.toString();
        done();
      },
    });
    createStreamLogger(stream).log('warn', 'storage call failed', {
      url: `https://acct.blob.core.windows.net/c?sig=${SAS_SIGNATURE}`,
      connection: `AccountName=acct;AccountKey=${ACCOUNT_KEY}`,
    });
    expect(written).toContain('storage call failed');
    expect(written).not.toContain(SAS_SIGNATURE);
    expect(written).not.toContain(ACCOUNT_KEY);
  });
});
