import type { RunSummary } from '../../shared/run/types';
import { startAzurite, type Azurite } from '../../tools/local/azurite';
import { startBrazeSandbox, type BrazeSandbox, type SandboxProfile } from '../../tools/braze-sandbox/server';
import { freshContainer, newEvidence, rowsAccountedFor, runPipeline, type RunTarget } from '../chaos/harness';
import { EXPORT_PATH, rawConfig, writeExport, type Row } from '../run/exportFixture';

type Mode = 'email' | 'alias';
type Query = Parameters<BrazeSandbox['findProfile']>[0];

/** One person after run 2: how Braze finds them, and exactly what their profile holds. */
interface Expected {
  who: string;
  query: Query;
  email: string;
  attributes: Record<string, unknown>;
}

const alias = (name: string) => ({ alias_name: name, alias_label: 'ci_customer_id' });
const fields = (name: string, points: number, segments: { gold?: boolean; churn?: boolean } = {}) => ({
  first_name: name,
  ci_points: points,
  ...(segments.gold && { 'seg-gold': true }),
  ...(segments.churn && { 'seg-churn': true }),
});

/**
 * Every identity transition between two CI exports (issue 17), with stable people, a leaver and a joiner:
 * [CustomerId, BrazeCustomerId, PrimaryEmail, FirstName, LoyaltyPoints, PreviousCustomerId].
 */
function exports(mode: Mode): { run1: Record<string, Row[]>; run2: Record<string, Row[]>; expected: Expected[] } {
  const run1: Record<string, Row[]> = {
    Gold: [
      ['c1', 'E1', 'ann@example.com', 'Ann', '1', ''],
      ['c2', '', 'bob@example.com', 'Bob', '2', ''],
      ['c3', 'E3', 'cara@example.com', 'Cara', '3', ''],
      ['c4', 'E4a', 'dan@example.com', 'Dan', '4', ''],
      ['c5', 'E5a', 'eve@example.com', 'Eve', '5', ''],
      ['c7', 'E7', 'gus@example.com', 'Gus', '7', ''],
      ['c9', 'E9', ' ivy@example.com  ', 'Ivy', '9', ''],
      ['c10', mode === 'email' ? 'E10' : '', 'jon@example.com', 'Jon', '10', ''],
      ['c13', 'E13', 'kim@example.com', 'Kim', '13', ''],
    ],
    Churn: [
      ['c11', mode === 'email' ? 'E11' : '', 'jo2@example.com', 'Jo', '11', ''],
      ['c7', 'E7', 'gus@example.com', 'Gus', '7', ''],
    ],
  };
  const run2: Record<string, Row[]> = {
    Gold: [
      // A split: c14 splits off c13, which is still in the export (its row comes later).
      ['c14', '', 'lee@example.com', 'Lee', '14', 'c13'],
      ['c1', 'E1', 'ann@example.com', 'Ann', '1', ''],
      // Email-only (or alias-only) -> external id.
      ['c2', 'E2', 'bob@example.com', 'Bob', '2', ''],
      // External id -> none.
      ['c3', '', 'cara@example.com', 'Cara', '3', ''],
      // External id A -> B, B new to Braze (rename) and B made by someone else meanwhile (rename refused: merge).
      ['c4', 'E4b', 'dan@example.com', 'Dan', '4', ''],
      ['c5', 'E5b', 'eve@example.com', 'Eve', '5', ''],
      // A joiner; c7 left.
      ['c8', 'E8', 'hal@example.com', 'Hal', '8', ''],
      ['c9', 'E9', ' ivy@example.com  ', 'Ivy', '9', ''],
      // A CI merge: c10 and c11 are one person now, c12; neither id is in the export any more.
      ['c12', mode === 'email' ? 'E10' : '', 'jon@example.com', 'Jon', '12', 'c10;c11'],
      ['c13', 'E13', 'kim@example.com', 'Kim', '13', ''],
    ],
    Churn: [
      ['c2', 'E2', 'bob@example.com', 'Bob', '2', ''],
      ['c12', mode === 'email' ? 'E10' : '', 'jon@example.com', 'Jon', '12', 'c10;c11'],
    ],
  };
  const expected: Expected[] = [
    {
      who: 'stable',
      query: { external_id: 'E1' },
      email: 'ann@example.com',
      attributes: fields('Ann', 1, { gold: true }),
    },
    {
      who: 'identified',
      query: { external_id: 'E2' },
      email: 'bob@example.com',
      attributes: fields('Bob', 2, { gold: true, churn: true }),
    },
    {
      who: 'lost its id',
      query: { external_id: 'E3' },
      email: 'cara@example.com',
      attributes: fields('Cara', 3, { gold: true }),
    },
    {
      who: 'renamed',
      query: { external_id: 'E4b' },
      email: 'dan@example.com',
      attributes: fields('Dan', 4, { gold: true }),
    },
    {
      who: 'renamed onto an existing id',
      query: { external_id: 'E5b' },
      email: 'eve@example.com',
      attributes: fields('Eve', 5, { gold: true }),
    },
    { who: 'leaver', query: { external_id: 'E7' }, email: 'gus@example.com', attributes: fields('Gus', 7) },
    {
      who: 'joiner',
      query: { external_id: 'E8' },
      email: 'hal@example.com',
      attributes: fields('Hal', 8, { gold: true }),
    },
    {
      who: 'padded email',
      query: { external_id: 'E9' },
      email: 'ivy@example.com',
      attributes: fields('Ivy', 9, { gold: true }),
    },
    {
      who: 'CI merge',
      query: mode === 'email' ? { external_id: 'E10' } : { alias: alias('c10') },
      email: 'jon@example.com',
      attributes: fields('Jon', 12, { gold: true, churn: true }),
    },
    {
      who: 'split from',
      query: { external_id: 'E13' },
      email: 'kim@example.com',
      attributes: fields('Kim', 13, { gold: true }),
    },
    {
      who: 'split off',
      query: mode === 'alias' ? { alias: alias('c14') } : { email: 'lee@example.com' },
      email: 'lee@example.com',
      attributes: fields('Lee', 14, { gold: true }),
    },
  ];
  return { run1, run2, expected };
}

describe.each<Mode>(['email', 'alias'])('identity lifecycle (whenExternalIdMissing: %s)', (mode) => {
  let azurite: Azurite;
  let sandbox: BrazeSandbox;
  let target: RunTarget;
  const { run1, run2, expected } = exports(mode);

  beforeAll(async () => {
    azurite = await startAzurite();
    sandbox = await startBrazeSandbox({ rateLimit: null });
    const exportContainer = await freshContainer(azurite.connectionString, 'identity-export');
    target = {
      connectionString: azurite.connectionString,
      exportContainer,
      stateContainer: await freshContainer(azurite.connectionString, 'identity-state'),
      exportContainerName: exportContainer.containerName,
      exportPath: EXPORT_PATH,
      rawConfig: { ...rawConfig, identity: { ...rawConfig.identity, whenExternalIdMissing: mode } },
      sandbox,
      evidence: newEvidence(),
    };
  }, 120_000);
  afterAll(async () => {
    await sandbox?.close();
    await azurite?.stop();
  });

  async function run(request: { dryRun?: boolean } = {}): Promise<RunSummary> {
    const attempt = await runPipeline(target, {}, request);
    if (attempt.kind !== 'completed') throw attempt.error;
    // Rows in = rows out (removal objects are not rows).
    expect(rowsAccountedFor(attempt.summary) - attempt.summary.removalObjectsSent).toBe(attempt.summary.profilesRead);
    return attempt.summary;
  }

  it('run 1 delivers everyone', async () => {
    await writeExport(target.exportContainer, '01/0000', run1);
    const summary = await run();
    expect(summary.rejected).toBe(0);
    expect(sandbox.sharedEmails()).toEqual([]);
  }, 120_000);

  it('a dry run of run 2 shows the identity changes, and sends nothing', async () => {
    // Someone else (the app's SDK) made E5b meanwhile, with Eve's email: the duplicate trap of spec §3.2.
    await fetch(`${sandbox.url}/users/track`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${sandbox.apiKey}` },
      body: JSON.stringify({ attributes: [{ external_id: 'E5b', email: 'eve@example.com' }] }),
    });
    await writeExport(target.exportContainer, '02/0000', run2);
    const requestsBefore = sandbox.requests().length;
    const summary = await run({ dryRun: true });
    expect([summary.identified, summary.renamed, summary.merged]).toEqual([1, 2, 1]);
    expect(sandbox.requests()).toHaveLength(requestsBefore);
  }, 120_000);

  it('after run 2 every person has exactly one profile holding exactly their fields and memberships', async () => {
    const summary = await run();
    expect(summary.rejected).toBe(0);
    expect([summary.identified, summary.renamed, summary.merged]).toEqual([1, 2, 1]);
    const identityCalls = sandbox.requests().filter((r) => r.path !== '/users/track');
    expect(identityCalls.every((r) => r.status < 300 && r.objectCount <= 50)).toBe(true);
    expect(new Set(identityCalls.map((r) => r.path))).toEqual(
      new Set(['/users/identify', '/users/external_ids/rename', '/users/merge']),
    );

    const profiles = sandbox.profiles();
    const byBrazeId = new Map<string, SandboxProfile>(profiles.map((p) => [p.braze_id, p]));
    const found = expected.map((person) => {
      const profile = sandbox.findProfile(person.query);
      expect({ who: person.who, found: profile !== undefined }).toEqual({ who: person.who, found: true });
      expect({ who: person.who, email: profile!.email, attributes: profile!.attributes }).toEqual({
        who: person.who,
        email: person.email,
        attributes: person.attributes,
      });
      return profile!.braze_id;
    });
    // One profile per person, and no other profile (of theirs or anyone's) is left behind, flagged as a member.
    expect(new Set(found).size).toBe(expected.length);
    expect([...byBrazeId.keys()].sort()).toEqual([...found].sort());
    expect(sandbox.sharedEmails()).toEqual([]);
  }, 120_000);

  it('a third run of the same export sends nothing', async () => {
    await writeExport(target.exportContainer, '03/0000', run2);
    const requestsBefore = sandbox.requests().length;
    const summary = await run();
    expect(summary.alreadySynced).toBe(false);
    expect([summary.objectsSent, summary.identified, summary.renamed, summary.merged]).toEqual([0, 0, 0, 0]);
    expect(sandbox.requests()).toHaveLength(requestsBefore);
  }, 120_000);
});
