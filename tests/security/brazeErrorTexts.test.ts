import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { BrazeDelivery } from '../../shared/braze/delivery';
import { BrazeTextRedactor } from '../../shared/braze/response';
import type { HttpTransport } from '../../shared/braze/http';
import type { RowResult } from '../../shared/braze/types';
import type { BrazeSandbox, FaultRule } from '../../tools/braze-sandbox/server';
import { compareWithSandbox, expectedState } from '../../tools/demo/expected';
import { profilesAtRun, sampleExportConfig, type GeneratorOptions } from '../../tools/generate-export/generator';
import { runCli, type CliOutcome } from '../helpers/cli';
import { startExportStack, type ExportStack } from '../helpers/localStack';
import { describeLeaks, findLeaks, sensitiveDataOf, type SensitiveData } from './leakScanner';

const EXPORT_CONTAINER = 'ci-exports';
const STATE_CONTAINER = 'state-error-texts';
const EXPORT_PATH = 'CustomerInsights_texts/BrazeFeed';
const base = { profiles: 600, seed: 23_009 };
const sample = sampleExportConfig(base) as { segments: GeneratorOptions['segments']; attributes: object };
/** The phone goes to Braze too (a custom attribute), so that Braze's texts can quote it. */
const config = { ...sample, attributes: { ...sample.attributes, Phone: 'ci_phone' } };
const options: GeneratorOptions = { ...base, segments: sample.segments };
const ALLOWED_REJECTED_KEYS = ['seq', 'stage', 'blob', 'line', 'column', 'reason', 'idHash'];

/** A member with an external id and a phone: what Braze's texts quote. */
function quotedProfile() {
  return [...profilesAtRun(options, 0)].find((p) => p.brazeCustomerId && p.phone && p.segments.length > 0)!;
}

/** Braze's error texts quote ids, names and phones (sandbox `quoteInput`); none of it may be stored or printed. */
describe('security: Braze error texts are reduced before they are stored or printed', () => {
  let stack: ExportStack;
  let sandbox: BrazeSandbox;
  let env: Record<string, string>;
  let state: ContainerClient;
  let sensitive: SensitiveData;

  beforeAll(async () => {
    stack = await startExportStack({
      sandbox: { rateLimit: null, logBodies: false },
      exportContainer: EXPORT_CONTAINER,
      exportPath: EXPORT_PATH,
      generator: { ...options, run: 0 },
      exportConfig: config,
      settings: { STATE_CONTAINER, BRAZE_CONCURRENCY: '1' },
    });
    ({ sandbox, env } = stack);
    state = BlobServiceClient.fromConnectionString(stack.azurite.connectionString).getContainerClient(STATE_CONTAINER);
    sensitive = sensitiveDataOf(profilesAtRun(options, 0), [sandbox.apiKey]);
  }, 120_000);
  afterAll(() => stack?.stop());

  const cli = (args: string[]): Promise<CliOutcome> => runCli(args, { ...process.env, ...env });

  /** Every file the runs left in the state container (summary, report, rejected rows, records, checkpoints). */
  async function stateFiles(): Promise<Map<string, string>> {
    const files = new Map<string, string>();
    for await (const blob of state.listBlobsFlat({ prefix: 'runs/' })) {
      files.set(blob.name, (await state.getBlobClient(blob.name).downloadToBuffer()).toString('utf8'));
    }
    return files;
  }

  function expectNoLeaks(where: string, text: string): void {
    expect({ where, leaks: describeLeaks(text, findLeaks(text, sensitive)) }).toEqual({ where, leaks: [] });
  }

  it('the sandbox fault quotes the external id, name and phone in its error texts', async () => {
    sandbox.setFaults([{ match: { nth: 1 }, action: { rejectIndexes: [0], quoteInput: true } }]);
    const profile = quotedProfile();
    const object = { external_id: profile.brazeCustomerId, first_name: profile.firstName, ci_phone: profile.phone };
    const response = await fetch(new URL('/users/track', sandbox.url), {
      method: 'POST',
      headers: { authorization: `Bearer ${sandbox.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ attributes: [object] }),
    });
    const text = await response.text();
    expect(response.status).toBe(400);
    for (const value of [profile.brazeCustomerId!, profile.firstName, profile.phone!]) expect(text).toContain(value);
    sandbox.reset('all');
  });

  it('rejected rows, summary, report, record and CLI output hold Braze error types, never the values quoted', async () => {
    const everyIndex = Array.from({ length: 75 }, (_, index) => index);
    sandbox.setFaults([
      // 201 with ten quoted errors; then a request whose objects are all refused: 400, quoted message and errors.
      { match: { nth: 1 }, action: { rejectIndexes: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], quoteInput: true } },
      { match: { nth: 2 }, action: { rejectIndexes: everyIndex, quoteInput: true } },
    ] satisfies FaultRule[]);
    const first = await cli(['run', '--json']);
    expect(first.code).toBe(4); // succeeded with rejected rows
    const summary = JSON.parse(first.stdout.trim().split('\n').at(-1)!);
    expect(summary).toMatchObject({ status: 'succeeded', rejected: 85 });
    // Braze's error type, with the quoted values replaced, e.g. "… (external_id '[value]', user [value] [value], …)".
    for (const reason of Object.keys(summary.rejectedReasons)) {
      expect(reason).toMatch(/^Rejected by a sandbox fault rule \((external_id|alias) .*\[value\].*\)$/);
    }
    const rejected = (await stateFiles()).get(`runs/${summary.runId}/rejected.ndjson`)!;
    const rows = rejected
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(rows).toHaveLength(85);
    for (const row of rows) {
      expect(ALLOWED_REJECTED_KEYS).toEqual(expect.arrayContaining(Object.keys(row)));
      expect(row).toMatchObject({ stage: 'braze', blob: expect.any(String), line: expect.any(Number) });
      expect(row.idHash).toMatch(/^[0-9a-f]+$/);
    }
    // Independent check: the refused users are not (fully) in Braze; the others are.
    const expected = expectedState(options, 0);
    const afterFirst = compareWithSandbox(sandbox, expected);
    expect(afterFirst.matchingUsers).toBeLessThan(expected.users.length);
    expect(afterFirst.matchingUsers).toBeGreaterThanOrEqual(expected.users.length - 85);

    // A key without users.track permission: the 403 message quotes a user; the run fails with a redacted error.
    const profile = quotedProfile();
    const quoting = `Access Denied for '${profile.fullName}' (external_id ${profile.brazeCustomerId}, ${profile.phone})`;
    sandbox.setFaults([{ match: { nth: 1 }, action: { status: 403, body: JSON.stringify({ message: quoting }) } }]);
    const denied = await cli(['run', '--json']);
    expect(denied.code).not.toBe(0);
    expect(denied.stdout + denied.stderr).toContain('Braze refused the request (HTTP 403: Access Denied for');

    sandbox.setFaults([]);
    const last = await cli(['run', '--json']);
    expect(last.code).toBe(0);
    expect(compareWithSandbox(sandbox, expected)).toEqual({
      expectedUsers: expected.users.length,
      matchingUsers: expected.users.length,
      differences: [],
    });

    const files = await stateFiles();
    for (const name of ['summary.json', 'report.html', 'rejected.ndjson', 'record.json']) {
      expect([...files.keys()].some((file) => file.endsWith(name))).toBe(true);
    }
    for (const [name, text] of files) expectNoLeaks(name, text);
    for (const [index, output] of [first, denied, last].entries()) {
      expectNoLeaks(`CLI run ${index + 1} stdout`, output.stdout);
      expectNoLeaks(`CLI run ${index + 1} stderr`, output.stderr);
    }
  }, 300_000);

  it('a refused request whose message quotes the batch is described without those values', async () => {
    const profile = quotedProfile();
    const message = `Invalid data for ${profile.firstName} ${profile.lastName}: "${profile.brazeCustomerId}" / ${profile.phone}`;
    const transport: HttpTransport = async () => ({ status: 400, headers: {}, text: JSON.stringify({ message }) });
    const results: RowResult[] = [];
    const delivery = new BrazeDelivery({
      endpoint: new URL(sandbox.url),
      apiKey: sandbox.apiKey,
      transport,
      onResults: (batch) => results.push(...batch),
    });
    const object = {
      external_id: profile.brazeCustomerId,
      first_name: profile.firstName,
      last_name: profile.lastName,
      ci_phone: profile.phone,
    };
    await delivery.push({ ref: 1, object });
    await delivery.flush();
    expect(results).toEqual([
      { ref: 1, status: 'rejected', reason: expect.stringContaining('HTTP 400: Invalid data') },
    ]);
    expectNoLeaks('reason', (results[0] as { reason: string }).reason);
  });

  it("keeps Braze's documented codes and sentences that quote field names only", () => {
    const redactor = new BrazeTextRedactor(sandbox.apiKey);
    for (const text of [
      'EMAIL_BAD_FORMAT',
      "'external_id' or 'braze_id' or 'user_alias' is required",
      "'external_id' is longer than 987 bytes",
      "'email_subscribe' must be 'opted_in', 'subscribed' or 'unsubscribed'",
    ]) {
      expect(redactor.redact(text, ['someone'])).toBe(text);
    }
    expect(redactor.redact("user 'Ana Lima' (+44 20 7946 0958) is blocked: BZ-77-1234", [])).toBe(
      "user '[value]' ([number]) is blocked: [id]",
    );
  });
});
