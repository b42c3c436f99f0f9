import type { ContainerClient } from '@azure/storage-blob';
import { validateExportConfig } from '../../shared/config/exportConfig';
import { loadSettings } from '../../shared/config/settings';
import { createRunExecutor } from '../../shared/run/pipeline';
import { newRunId } from '../../shared/run/records';
import type { RunSummary } from '../../shared/run/types';
import { MemoryLogger } from '../../shared/telemetry/logger';
import type { BrazeSandbox } from '../../tools/braze-sandbox/server';
import { localEnvironment } from '../../tools/local/environment';
import { startLocalStack, type LocalStack } from '../helpers/localStack';
import { COLUMNS, rawConfig as fixtureConfig } from '../run/exportFixture';

/** The listing-mode folders carry no types: the config gives LoyaltyPoints' (model.json's runs ignore it). */
const rawConfig = { ...fixtureConfig, columnTypes: { LoyaltyPoints: 'int64' } };

/** Ten Gold members; `c<i>` is Braze user `BZ-<i>`. */
const MEMBERS = Array.from({ length: 10 }, (_, i) => `"c${i}","BZ-${i}","","Name${i}","${i}",""`);

/**
 * A partly written export never removes members (issue 23, item 4). Each run goes through the pipeline against
 * Azurite and the Braze sandbox; every user's membership is then read from the sandbox, not from the product.
 */
describe('a partly written export removes no member', () => {
  let stack: LocalStack;
  let sandbox: BrazeSandbox;
  let exportContainer: ContainerClient;

  beforeAll(async () => {
    stack = await startLocalStack();
    ({ sandbox, exportContainer } = stack);
  }, 120_000);
  afterAll(async () => stack?.stop());

  /**
   * One run. `at`: what the pipeline's clock says when the run starts (it runs on from there), so that a folder's age
   * is set by the test, not by how busy the machine is.
   */
  async function sync(exportPath: string, at = Date.now(), settleSeconds = 4): Promise<RunSummary> {
    const env = localEnvironment({
      storageConnectionString: stack.azurite.connectionString,
      brazeUrl: sandbox.url,
      brazeApiKey: sandbox.apiKey,
      exportContainer: 'ci-exports',
      exportPath,
      exportConfig: rawConfig,
      extra: { SOURCE_SETTLE_SECONDS: String(settleSeconds) },
    });
    const shift = at - Date.now();
    const clock = () => Date.now() + shift;
    const executor = createRunExecutor({
      settings: loadSettings(env),
      exportConfig: validateExportConfig(rawConfig),
      exportContainer,
      stateContainer: stack.stateContainer,
      clock,
    });
    const request = { dryRun: false, fullResync: false, allowMassRemoval: false, trigger: 'cli' as const };
    const outcome = await executor({
      runId: newRunId(clock()),
      request,
      deadline: clock() + 300_000,
      logger: new MemoryLogger(),
    });
    if (outcome.kind !== 'completed') throw new Error('expected the run to complete');
    return outcome.summary;
  }

  /** Gold membership of BZ-0..BZ-9 as the sandbox holds it. */
  const goldMembers = () =>
    MEMBERS.map((_, i) => `BZ-${i}`).filter((id) => sandbox.findProfile({ external_id: id })?.attributes['seg-gold']);
  const allTen = MEMBERS.map((_, i) => `BZ-${i}`);

  /** Writes the blob; returns when storage says it was written. */
  async function put(blobName: string, text: string): Promise<number> {
    await exportContainer.getBlockBlobClient(blobName).upload(text, Buffer.byteLength(text));
    return (await exportContainer.getBlobClient(blobName).getProperties()).lastModified?.getTime() ?? Date.now();
  }

  /** A model.json export whose Gold table has the given partitions (CSV text each) and an empty Churn. */
  async function writeModelExport(root: string, folder: string, gold: string[]) {
    const partitions = [];
    for (const [index, csv] of gold.entries()) {
      const location = `Gold/2025/03/10/${folder}/Gold_${index + 1}.csv`;
      await put(`${root}/${location}`, csv);
      partitions.push({ name: `Gold_${index + 1}`, location });
    }
    const churn = `Churn/2025/03/10/${folder}/Churn_1.csv`;
    await put(`${root}/${churn}`, '\r\n');
    const attributes = COLUMNS.map((name) => ({ name, dataType: name === 'LoyaltyPoints' ? 'int64' : 'string' }));
    const entities = [
      { $type: 'LocalEntity', name: 'Gold', attributes, partitions },
      { $type: 'LocalEntity', name: 'Churn', attributes, partitions: [{ name: 'Churn_1', location: churn }] },
    ];
    await put(`${root}/model.json`, JSON.stringify({ name: 'BrazeFeed', version: '1.0', entities }));
  }

  const rows = (members: string[]) => members.map((line) => `${line}\r\n`).join('');

  it('listing mode reads a half-written newest run folder only once it has settled', async () => {
    const root = 'Listing/BrazeFeed';
    const header = `${COLUMNS.join(',')}\r\n`;
    const file = (hhmm: string, part: number) => `${root}/Gold/2025/03/10/${hhmm}/Gold_${part}.csv`;
    await put(file('0100', 1), header + rows(MEMBERS.slice(0, 5)));
    await put(`${root}/Churn/2025/03/10/0100/Churn_1.csv`, header);
    const firstWritten = await put(file('0100', 2), header + rows(MEMBERS.slice(5)));
    const settleInMs = 4000;
    expect(await sync(root, firstWritten + settleInMs + 1000)).toMatchObject({
      status: 'succeeded',
      membershipsAdded: 10,
    });
    expect(goldMembers()).toEqual(allTen);

    // The next run folder is being written, well after the first (storage times have whole seconds): its first
    // file is there, its second not yet (5 of 10 members). The run starts as the file lands.
    await new Promise((resolve) => setTimeout(resolve, settleInMs + 1500));
    await put(`${root}/Churn/2025/03/10/0200/Churn_1.csv`, header);
    const halfWritten = await put(file('0200', 1), header + rows(MEMBERS.slice(0, 5)));
    expect(await sync(root, halfWritten)).toMatchObject({ membershipsRemoved: 0 });
    expect(goldMembers()).toEqual(allTen);

    // Complete, but changed a moment ago: still not read.
    const finished = await put(file('0200', 2), header + rows(MEMBERS.slice(5, 9)));
    expect(await sync(root, finished)).toMatchObject({ membershipsRemoved: 0 });
    expect(goldMembers()).toEqual(allTen);

    // Settled: read, and the one real leaver (BZ-9) is removed.
    expect(await sync(root, finished + settleInMs + 1000)).toMatchObject({
      status: 'succeeded',
      membershipsRemoved: 1,
    });
    expect(goldMembers()).toEqual(allTen.slice(0, 9));
  }, 300_000);

  it('a 0-byte partition holds the segment removals, with the reason in the summary', async () => {
    const root = 'ZeroByte/BrazeFeed';
    await writeModelExport(root, '0100', [rows(MEMBERS.slice(0, 5)), rows(MEMBERS.slice(5))]);
    expect(await sync(root)).toMatchObject({ status: 'succeeded' });
    expect(goldMembers()).toEqual(allTen);

    await writeModelExport(root, '0200', [rows(MEMBERS.slice(0, 5)), '']);
    const summary = await sync(root);
    expect(summary).toMatchObject({ status: 'held', membershipsRemoved: 0 });
    expect(summary.segments[0].heldReason).toMatch(
      /Gold\/2025\/03\/10\/0200\/Gold_2\.csv of segment Gold: the partition is empty \(0 bytes, not even a header\)/,
    );
    expect(goldMembers()).toEqual(allTen);
  }, 300_000);

  it('a file that ends inside a row rejects that row and holds the segment removals', async () => {
    const root = 'CutShort/BrazeFeed';
    await writeModelExport(root, '0100', [rows(MEMBERS)]);
    expect(await sync(root)).toMatchObject({ status: 'succeeded' });
    expect(goldMembers()).toEqual(allTen);

    // Cut in the middle of line 8 (c7's name): c8 and c9 are gone, c7's name is cut short. (A cut inside a quoted
    // value is an unclosed quote: the run fails, sending and removing nothing.)
    const cut = rows(MEMBERS.slice(0, 7)) + 'c7,BZ-7,,Nam';
    await writeModelExport(root, '0200', [cut]);
    const summary = await sync(root);
    expect(summary).toMatchObject({ status: 'held', membershipsRemoved: 0, sourceRowsRejected: 1 });
    expect(summary.rejectedReasons).toEqual({
      'the file ends inside this row (no line break after it): it may be cut short': 1,
    });
    expect(summary.segments[0].heldReason).toMatch(/could not be read \(first: .*0200\/Gold_1\.csv line 8\)/);
    expect(goldMembers()).toEqual(allTen);
    expect(sandbox.findProfile({ external_id: 'BZ-7' })?.attributes.first_name).toBe('Name7');
  }, 300_000);
});
