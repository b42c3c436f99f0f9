import { parseExportConfig, validateExportConfig, type ExportConfig } from '../../shared/config/exportConfig';
import { loadSettings } from '../../shared/config/settings';
import { DeltaPlanner, IDENTITY_WORDS, snapshotAttributeNames } from '../../shared/state/diff';
import { NO_VALUE } from '../../shared/state/fingerprint';
import { planMappingChange, remapSnapshot, type StoredLayout } from '../../shared/state/mappingChange';
import { Snapshot } from '../../shared/state/snapshot';
import { stateKey, stateScope } from '../../shared/state/stateKey';

const rawConfig = {
  identity: { externalId: 'X', email: 'E', whenExternalIdMissing: 'alias' },
  segments: [
    { table: 'Gold', brazeSegmentApiId: 'seg-gold' },
    { table: 'Churn', brazeSegmentApiId: 'seg-churn' },
  ],
  attributes: { F: 'first_name', L: 'ci_ltv' },
};
const config = validateExportConfig(rawConfig);

/** The layout a run of `of` commits (what the pointer's meta keeps). */
function storedBy(of: ExportConfig, segmentMembers: number[]): StoredLayout {
  const plan = planMappingChange(null, of, { removeUnmapped: false });
  return { segmentIds: plan.segmentIds, attributeNames: plan.attributeNames, segmentMembers, mapping: plan.mapping };
}

const env = {
  CI_EXPORT_STORAGE:
    'DefaultEndpointsProtocol=https;AccountName=ciexports;AccountKey=a2V5;EndpointSuffix=core.windows.net',
  CI_EXPORT_CONTAINER: 'exports',
  CI_EXPORT_PATH: 'CustomerInsights_1/BrazeFeed',
  STATE_STORAGE: 'UseDevelopmentStorage=true',
  BRAZE_REST_ENDPOINT: 'rest.iad-03.braze.com',
  BRAZE_API_KEY: 'key-one',
  EXPORT_CONFIG: '{}',
  EXPORT_SCHEDULE: '0 0 3 * * *',
};
const keyOf = (overrides: Record<string, string>, of: ExportConfig = config) =>
  stateKey(stateScope(loadSettings({ ...env, ...overrides }), of));

describe('state key', () => {
  it('does not change with key order, whitespace, JSON formatting or the mapping', () => {
    const reformatted = parseExportConfig(
      JSON.stringify(
        {
          attributes: { L: 'ci_ltv', F: 'first_name' },
          segments: [...rawConfig.segments].reverse(),
          identity: { whenExternalIdMissing: 'alias', email: 'E', externalId: 'X' },
        },
        null,
        3,
      ),
      'reformatted.json',
    );
    expect(keyOf({}, reformatted)).toBe(keyOf({}));
    const otherMapping = validateExportConfig({ ...rawConfig, attributes: { F: 'given_name' } });
    expect(keyOf({}, otherMapping)).toBe(keyOf({}));
    expect(keyOf({ CI_EXPORT_PATH: '/CustomerInsights_1//BrazeFeed/' })).toBe(keyOf({}));
    expect(keyOf({ BRAZE_REST_ENDPOINT: 'https://REST.iad-03.braze.com/' })).toBe(keyOf({}));
  });

  it('changes with the export (account, container, folder), the Braze workspace and the identity config', () => {
    const base = keyOf({});
    const others = [
      keyOf({ CI_EXPORT_PATH: 'CustomerInsights_2/BrazeFeed' }),
      keyOf({ CI_EXPORT_CONTAINER: 'other' }),
      keyOf({ CI_EXPORT_STORAGE: env.CI_EXPORT_STORAGE.replace('ciexports', 'ciexports2') }),
      keyOf({ BRAZE_API_KEY: 'key-two' }),
      keyOf({ BRAZE_REST_ENDPOINT: 'rest.fra-01.braze.eu' }),
      keyOf(
        {},
        validateExportConfig({ ...rawConfig, identity: { ...rawConfig.identity, whenExternalIdMissing: 'skip' } }),
      ),
    ];
    expect(new Set([base, ...others]).size).toBe(others.length + 1);
  });

  it('never holds the API key', () => {
    const scope = stateScope(loadSettings(env), config);
    expect(JSON.stringify(scope)).not.toContain('key-one');
  });
});

describe('mapping change', () => {
  it('a reordered config changes the layout only: nothing added, dropped or changed', () => {
    const reordered = validateExportConfig({
      ...rawConfig,
      attributes: { L: 'ci_ltv', F: 'first_name' },
      segments: [...rawConfig.segments].reverse(),
    });
    const plan = planMappingChange(storedBy(config, [5, 3]), reordered, { removeUnmapped: false });
    expect(plan.change).toEqual({
      fresh: false,
      segmentsAdded: [],
      segmentsDropped: [],
      attributesAdded: [],
      attributesDropped: [],
      attributesRenamed: [],
      attributesRemoved: [],
      membershipValueChanged: false,
      onLeaveChanged: false,
    });
    expect(plan.sameLayout).toBe(false);
    expect(plan.segmentSource).toEqual([1, 0]);
    expect(plan.attributeSource).toEqual([0, 2, 1]);
    // The raw fingerprints hash the attributes in config order: they are dropped, and rebuilt by the next run.
    expect(plan.rawFingerprintsValid).toBe(false);
    expect(planMappingChange(storedBy(config, [5, 3]), config, { removeUnmapped: false })).toMatchObject({
      sameLayout: true,
      rawFingerprintsValid: true,
    });
  });

  it('finds renamed attributes, carries dropped segments while they have members, and dropped attributes on request', () => {
    const b = validateExportConfig({
      ...rawConfig,
      segments: [{ table: 'Silver', brazeSegmentApiId: 'seg-silver' }],
      attributes: { F: 'given_name' },
      membership: { value: 'yes', onLeave: 'false' },
    });
    const kept = planMappingChange(storedBy(config, [5, 0]), b, { removeUnmapped: false });
    expect(kept.change).toMatchObject({
      segmentsAdded: ['seg-silver'],
      segmentsDropped: ['seg-gold'],
      attributesAdded: ['given_name'],
      attributesDropped: ['first_name', 'ci_ltv'],
      attributesRenamed: [{ from: 'first_name', to: 'given_name' }],
      attributesRemoved: [],
      membershipValueChanged: true,
      onLeaveChanged: true,
    });
    // Churn had no members left: forgotten. Gold still has: carried, to be removed.
    expect(kept.segmentIds).toEqual(['seg-silver', 'seg-gold']);
    expect(kept.droppedSegments).toEqual([1]);
    expect(kept.attributeNames).toEqual(['email', 'given_name']);
    const cleared = planMappingChange(storedBy(config, [5, 0]), b, { removeUnmapped: true });
    expect(cleared.attributeNames).toEqual(['email', 'given_name', 'first_name', 'ci_ltv']);
    expect(cleared.clearedAttributes).toEqual([2, 3]);
    expect(cleared.change.attributesRemoved).toEqual(['first_name', 'ci_ltv']);
  });

  it('remaps a snapshot by name: same slots, memberships and fingerprints moved, new ones empty', () => {
    const previous = Snapshot.create({ segmentCount: 2, attributeCount: 3 });
    const u1 = previous.insert('e:u1');
    const u2 = previous.insert('e:u2');
    previous.setSegment(u1, 0, true);
    previous.setSegment(u2, 1, true);
    previous.setAttribute(u1, 1, 111);
    previous.setAttribute(u1, 2, 222);
    previous.setRawFingerprint(u1, 99);
    const b = validateExportConfig({
      ...rawConfig,
      segments: [rawConfig.segments[1], { table: 'Silver', brazeSegmentApiId: 'seg-silver' }],
      attributes: { L: 'ci_ltv', F: 'first_name', M: 'ci_new' },
    });
    const plan = planMappingChange(storedBy(config, [1, 1]), b, { removeUnmapped: false });
    const next = remapSnapshot(previous, plan, 10);
    expect(plan.segmentIds).toEqual(['seg-churn', 'seg-silver', 'seg-gold']);
    expect([next.keyOf(0), next.keyOf(1)]).toEqual(['e:u1', 'e:u2']);
    expect([0, 1, 2].map((s) => next.hasSegment(0, s))).toEqual([false, false, true]);
    expect([0, 1, 2].map((s) => next.hasSegment(1, s))).toEqual([true, false, false]);
    expect([0, 1, 2, 3].map((a) => next.attribute(0, a))).toEqual([NO_VALUE, 222, 111, NO_VALUE]);
    expect(next.rawFingerprint(0)).toBe(0);
  });

  it('a dropped attribute asked to be removed is cleared with the removal objects, and put back when rejected', () => {
    const previous = Snapshot.create({ segmentCount: 2, attributeCount: 3 });
    const u1 = previous.insert('e:u1');
    previous.setSegment(u1, 0, true);
    previous.setAttribute(u1, 2, 222);
    const onlyName = validateExportConfig({ ...rawConfig, attributes: { F: 'first_name' } });
    const plan = planMappingChange(storedBy(config, [1, 0]), onlyName, { removeUnmapped: true });
    const next = remapSnapshot(previous, plan, 10);
    const planner = new DeltaPlanner(onlyName, plan.attributeNames, plan.segmentIds, new Set([0, 1]), next, false, {
      resendMemberships: false,
      resendLeaves: false,
      clearedAttributes: plan.clearedAttributes,
    });
    planner.planRow({ key: 'e:u1', values: [null, null], previousCustomerIds: [] }, 0);
    const removals = [...planner.planRemovals(new Set()).removals];
    expect(removals.map((r) => r.object)).toEqual([{ external_id: 'u1', _update_existing_only: true, ci_ltv: null }]);
    expect(removals[0]).toMatchObject({ attributesChanged: 1, removedSegments: [] });
    expect(planner.next.attribute(0, 2)).toBe(NO_VALUE);
    planner.reject(removals[0]);
    expect(planner.next.attribute(0, 2)).toBe(222);
  });
});

describe('the identity words of the snapshot (CustomerId hash) and a mapping change', () => {
  // What a run commits: the mapped attributes, then the identity words (shared/state/diff.ts).
  const committed = (of: ExportConfig): StoredLayout => {
    const stored = storedBy(of, [1, 1]);
    return { ...stored, attributeNames: snapshotAttributeNames(stored.attributeNames) };
  };

  it('are not an attribute: an unchanged config is the same layout, nothing dropped', () => {
    const plan = planMappingChange(committed(config), config, { removeUnmapped: true });
    expect(plan.change.attributesDropped).toEqual([]);
    expect(plan.clearedAttributes).toEqual([]);
    expect(plan.sameLayout).toBe(true);
    expect(plan.identitySource).toBe(plan.attributeNames.length);
  });

  it('move with the remap when attributes change, so the next run still knows each person', () => {
    const stored = committed(config);
    const previous = Snapshot.create({ segmentCount: 2, attributeCount: stored.attributeNames.length });
    const slot = previous.insert('e:P1');
    stored.attributeNames.forEach((_, attribute) => previous.setAttribute(slot, attribute, 100 + attribute));
    const wider = validateExportConfig({ ...rawConfig, attributes: { ...rawConfig.attributes, C: 'city' } });
    const plan = planMappingChange(stored, wider, { removeUnmapped: false });
    expect(plan.change.attributesAdded).toEqual(['city']);
    expect(plan.change.attributesDropped).toEqual([]);
    const remapped = remapSnapshot(previous, plan, 0);
    const identityAt = plan.attributeNames.length;
    expect(remapped.attributeCount).toBe(identityAt + IDENTITY_WORDS);
    expect(remapped.attribute(slot, identityAt)).toBe(100 + plan.identitySource);
    expect(remapped.attribute(slot, identityAt + 1)).toBe(100 + plan.identitySource + 1);
  });
});
