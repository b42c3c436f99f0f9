import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { readRejectedRows } from '../../shared/run/artifacts';
import type { RunSummary } from '../../shared/run/types';
import {
  startBrazeSandbox,
  type BrazeSandbox,
  type FaultAction,
  type FaultRule,
  type RateLimitOptions,
} from '../../tools/braze-sandbox/server';
import { compareWithSandbox, expectedState, type ExpectedState } from '../../tools/demo/expected';
import {
  containerSink,
  profilesAtRun,
  sampleExportConfig,
  writeExport,
  type GeneratorOptions,
} from '../../tools/generate-export/generator';
import { startAzurite, type Azurite } from '../../tools/local/azurite';
import { describeLeaks, findLeaks, sensitiveDataOf } from '../security/leakScanner';
import {
  blobConnectionString,
  evidenceText,
  freshContainer,
  newEvidence,
  rowsAccountedFor,
  runPipeline,
  startCuttingProxy,
  type RunTarget,
} from './harness';

const PROFILES = 100_000;
const EXPORT_CONTAINER = 'ci-exports';
const EXPORT_PATH = 'CustomerInsights_7a1b2c3d/BrazeFeed';
const REQUEST_TIMEOUT_IN_MS = 2000;
/** Low retry limits, a request timeout well under the 10 s spikes, and a request budget that never binds. */
const CHAOS_SETTINGS = {
  BRAZE_BATCH_SIZE: '75',
  BRAZE_CONCURRENCY: '8',
  BRAZE_REQUESTS_PER_SECOND: '20000',
  BRAZE_MAX_ATTEMPTS: '12',
  BRAZE_MAX_RETRY_TIME_MS: '120000',
  BRAZE_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_IN_MS),
};
/** A rate limit that never binds by itself: it only gives injected 429s live headers in the chosen style. */
const headersOnly = (style: Pick<RateLimitOptions, 'resetStyle' | 'throttleHeaders'>): RateLimitOptions => ({
  limit: 1_000_000,
  windowSeconds: 1,
  ...style,
});

/** `length` consecutive `/users/track` requests from the `from`-th on (retries count) all get `action`. */
function burst(from: number, length: number, action: FaultAction): FaultRule[] {
  return Array.from({ length }, (_, i) => ({ match: { nth: from + i }, action }));
}

/** One line of the fault matrix in docs/reliability.md, printed at the end of the suite. */
interface Outcome {
  fault: string;
  requests: number;
  throttled: number;
  retries: number;
  faultsFired: number;
  rejected: number;
  attempts: string;
  result: string;
  seconds: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('chaos: 100k-profile syncs against the Braze sandbox with faults injected', () => {
  let azurite: Azurite;
  let sandbox: BrazeSandbox;
  let exportContainer: ContainerClient;
  let expected: ExpectedState;
  let expectedRows = 0;
  const evidence = newEvidence();
  const outcomes: Outcome[] = [];
  const options: GeneratorOptions = { profiles: PROFILES, seed: 77_001, churnPercent: 5 };
  const rawConfig = sampleExportConfig(options) as { segments: GeneratorOptions['segments'] };
  const withSegments: GeneratorOptions = { ...options, segments: rawConfig.segments };

  beforeAll(async () => {
    azurite = await startAzurite();
    sandbox = await startBrazeSandbox({ rateLimit: null, logBodies: false, ledgerPerUser: false, seed: 7 });
    exportContainer = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(
      EXPORT_CONTAINER,
    );
    await exportContainer.create();
    await writeExport(containerSink(exportContainer), EXPORT_PATH, withSegments);
    expected = expectedState(withSegments, 0);
    // One row per segment membership: the generator repeats no CustomerId by default.
    expectedRows = expected.users.reduce((rows, user) => rows + user.memberships.length, 0);
  }, 120_000);
  afterAll(async () => {
    if (outcomes.length > 0) {
      const rows = outcomes.map(
        (o) =>
          `| ${o.fault} | ${o.requests} | ${o.throttled} | ${o.retries} | ${o.faultsFired} | ${o.rejected} | ` +
          `${o.attempts} | ${o.result} | ${o.seconds} |`,
      );
      console.log(
        ['fault | requests | throttled | retries | faults fired | rejected | attempts | result', ...rows].join('\n'),
      );
    }
    await sandbox?.close();
    await azurite?.stop();
  });

  /** A fresh state container (so a full first sync of the one export) and an empty Braze with the faults installed. */
  async function freshTarget(faults: FaultRule[], rateLimit: RateLimitOptions | null = null): Promise<RunTarget> {
    sandbox.reset('all');
    sandbox.configure({ rateLimit });
    sandbox.setFaults(faults);
    return {
      connectionString: azurite.connectionString,
      exportContainer,
      stateContainer: await freshContainer(azurite.connectionString, 'chaos'),
      exportContainerName: EXPORT_CONTAINER,
      exportPath: EXPORT_PATH,
      rawConfig,
      sandbox,
      evidence,
    };
  }

  const faultsFiredSince = (seq: number) =>
    sandbox.requests().filter((r) => r.seq > seq && r.fault !== undefined).length;
  const lastSeq = () => sandbox.requests().at(-1)?.seq ?? 0;

  /** Braze holds exactly what the export implies, and every row read is accounted for. */
  function expectExactlyTheExport(summary: RunSummary): void {
    const comparison = compareWithSandbox(sandbox, expected);
    expect(comparison.differences).toEqual([]);
    expect(comparison.matchingUsers).toBe(expected.users.length);
    expect(summary.status).toBe('succeeded');
    expect(summary.profilesRead).toBe(expectedRows);
    expect(rowsAccountedFor(summary)).toBe(summary.profilesRead);
  }

  /**
   * Runs the sync to the end as the run service would: a retryable failure resumes the same run (the queue retries
   * the message), any other failure fails the run and the next run starts afresh. At most 3 attempts.
   */
  async function syncThrough(target: RunTarget, fault: string, during?: () => Promise<void>): Promise<RunSummary> {
    const started = Date.now();
    const firstSeq = lastSeq();
    const failures: string[] = [];
    let runId: string | undefined;
    for (let attempt = 1; attempt <= 3; attempt++) {
      const [run] = await Promise.all([runPipeline(target, CHAOS_SETTINGS, {}, runId), attempt === 1 && during?.()]);
      if (run.kind === 'completed') {
        const { summary } = run;
        outcomes.push({
          fault,
          requests: summary.requests,
          throttled: summary.throttled,
          retries: summary.retries,
          faultsFired: faultsFiredSince(firstSeq),
          rejected: summary.rejected,
          attempts: [...failures, 'completed'].join(' -> '),
          result: summary.status,
          seconds: Math.round((Date.now() - started) / 1000),
        });
        return summary;
      }
      const retryable = (run.error as { retryable?: unknown }).retryable === true;
      failures.push(`${retryable ? 'retryable' : 'failed'}: ${(run.error as Error).message}`);
      runId = retryable ? run.runId : undefined;
    }
    throw new Error(`${fault}: the run did not complete in 3 attempts:\n${failures.join('\n')}`);
  }

  /** Once the sandbox has seen `atRequest` requests, applies `start` for `durationInMs`, then `end`. */
  async function window(atRequest: number, durationInMs: number, start: () => void, end: () => void): Promise<void> {
    // A hang guard, not a timing assertion: the run under test sends far more requests than this.
    for (let polls = 0; sandbox.stats().requests < atRequest; polls++) {
      if (polls > 12_000) throw new Error(`the run never reached ${atRequest} requests`);
      await sleep(10);
    }
    start();
    await sleep(durationInMs);
    end();
  }

  it.each([
    ['x-ratelimit-* headers, reset as epoch seconds', { resetStyle: 'epoch', throttleHeaders: 'ratelimit' }],
    ['Retry-After header', { resetStyle: 'seconds', throttleHeaders: 'retry-after' }],
    ['X-Ratelimit-Retry-After header', { resetStyle: 'seconds', throttleHeaders: 'retry-after-ratelimit' }],
  ] as const)('429 storms answered with the %s: waits as told, then completes exactly', async (style, headers) => {
    const normal = headersOnly(headers);
    const target = await freshTarget([], normal);
    // Two 1.5 s storms in which the sandbox lets one request per second through and answers the rest 429.
    const storm = () => sandbox.configure({ rateLimit: { ...normal, limit: 1 } });
    const calm = () => sandbox.configure({ rateLimit: normal });
    const summary = await syncThrough(target, `429 storms (2 x 1.5 s), ${style}`, async () => {
      await window(200, 1500, storm, calm);
      await window(700, 1500, storm, calm);
    });
    expectExactlyTheExport(summary);
    expect(summary.throttled).toBeGreaterThanOrEqual(2);
    expect(summary.rejected).toBe(0);
  });

  it('5xx: short bursts (503, 502 with an HTML page, 500), a 1.5 s outage, random 504s: completes exactly', async () => {
    const base: FaultRule[] = [
      ...burst(100, 3, { status: 503 }),
      ...burst(400, 3, { status: 502, body: '<html><body>502 Bad Gateway</body></html>' }),
      ...burst(900, 3, { status: 500 }),
      { match: { probability: 0.005 }, action: { status: 504, body: '' } },
    ];
    const target = await freshTarget(base);
    const summary = await syncThrough(
      target,
      '5xx: 3 x 503, 3 x 502 (HTML), 3 x 500, a 1.5 s 503 outage, 0.5 % 504',
      () =>
        window(
          600,
          1500,
          () => sandbox.setFaults([{ match: {}, action: { status: 503 } }]),
          () => sandbox.setFaults(base),
        ),
    );
    expectExactlyTheExport(summary);
    expect(summary.retries).toBeGreaterThanOrEqual(10);
    expect(summary.rejected).toBe(0);
  });

  it('connection resets (every 100th request, and 3 in a row): retries, completes exactly', async () => {
    const target = await freshTarget([
      ...burst(500, 3, { reset: true }),
      { match: { every: 100 }, action: { reset: true } },
    ]);
    const summary = await syncThrough(target, 'connection resets: every 100th request + 3 in a row');
    expectExactlyTheExport(summary);
    // Each reset is retried. A 100k full sync makes over 900 requests (one object per user): resets at the 100th to
    // the 900th (the 500th opens the run of 3), then the 501st and 502nd.
    expect(summary.retries).toBeGreaterThanOrEqual(11);
    expect(summary.rejected).toBe(0);
  });

  it('10 s latency spikes and hung requests under a 2 s request timeout: times out, retries, completes exactly', async () => {
    const target = await freshTarget([
      // Processed at once but answered after 10 s: the retry sends the same values again, harmlessly.
      { match: { nth: 200 }, action: { latencyMs: 10_000 } },
      { match: { nth: 450 }, action: { latencyMs: 10_000 } },
      { match: { nth: 600 }, action: { hang: true } },
      { match: { nth: 900 }, action: { hang: true } },
    ]);
    const summary = await syncThrough(
      target,
      `2 x 10 s latency, 2 hung requests; request timeout ${REQUEST_TIMEOUT_IN_MS} ms`,
    );
    expectExactlyTheExport(summary);
    expect(summary.retries).toBeGreaterThanOrEqual(4);
    expect(summary.rejected).toBe(0);
  });

  it('a partition download cut half way: that run fails cleanly, sending nothing wrong; the next run completes exactly', async () => {
    const proxy = await startCuttingProxy(azurite.blobPort, { cutAfterBytes: 1_000_000, cuts: 1 });
    try {
      const target = await freshTarget([]);
      const throughProxy = blobConnectionString(proxy.port);
      target.exportContainer =
        BlobServiceClient.fromConnectionString(throughProxy).getContainerClient(EXPORT_CONTAINER);
      const summary = await syncThrough(target, 'a partition download cut after 1 MB');
      expect(proxy.cutsDone()).toBe(1);
      expectExactlyTheExport(summary);
    } finally {
      await proxy.close();
    }
  });

  it('rows Braze rejects are counted with their reason and place, and the next run delivers them', async () => {
    const target = await freshTarget([{ match: { every: 40 }, action: { rejectIndexes: [0, 74] } }]);
    const first = await syncThrough(target, 'Braze rejects 2 objects of every 40th request (201 with errors)');
    const faulted = sandbox.requests().filter((r) => r.fault?.startsWith('reject')).length;
    expect(first.rejected).toBeGreaterThan(0);
    expect(first.rejected).toBeLessThanOrEqual(faulted * 2);
    expect(first.rejectedReasons).toEqual({ 'Rejected by a sandbox fault rule': first.rejected });
    expect(rowsAccountedFor(first)).toBe(first.profilesRead);
    const stored = await readRejectedRows(target.stateContainer, first.runId);
    expect(stored).toHaveLength(first.rejected);
    for (const row of stored) {
      expect(row).toMatchObject({ stage: 'braze', reason: 'Rejected by a sandbox fault rule' });
      expect(row.blob).toMatch(new RegExp(`^${EXPORT_PATH}/.+\\.csv$`));
      expect(row.line).toBeGreaterThan(0);
      expect(row.idHash).toMatch(/^[0-9a-f]{12}$/);
    }
    expect(compareWithSandbox(sandbox, expected).matchingUsers).toBeLessThan(expected.users.length);

    sandbox.setFaults([]);
    const second = await syncThrough(target, 'the next run, no faults');
    expect(second.alreadySynced).toBe(false);
    // A user with a rejected object is not in the snapshot: the next run sends that user's objects again, all of them.
    const usersWithRejections = new Set(stored.map((row) => row.idHash)).size;
    expect(second.usersSent).toBe(usersWithRejections);
    expect(second.objectsSent).toBeGreaterThanOrEqual(first.rejected);
    expectExactlyTheExport(second);
  });

  it('nothing any case logged or threw holds the API key, an email, a name or a raw id', () => {
    const text = evidenceText(evidence);
    expect(text.length).toBeGreaterThan(0);
    const data = sensitiveDataOf(profilesAtRun(withSegments, 0), [sandbox.apiKey]);
    const leaks = findLeaks(text, data);
    expect(describeLeaks(text, leaks)).toEqual([]);
  });
});
