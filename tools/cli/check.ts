/**
 * `ci-braze-export check`: everything a run needs, checked at once and reported together, before a run is
 * started: settings, the schedule, export config, the CI export's metadata against the config, the state storage,
 * the Braze host and the key. Sends no data to Braze and never prints the key.
 */
import { randomBytes } from 'node:crypto';
import { resolveBrazeEndpoint } from '../../shared/braze/endpoint';
import { ConfigError } from '../../shared/config/errors';
import { loadExportConfig, type ExportConfig } from '../../shared/config/exportConfig';
import { editDistance } from '../../shared/config/shape';
import { loadSettings, misspeltSettings, type Environment, type Settings } from '../../shared/config/settings';
import { missingColumns } from '../../shared/mapping/profileMapper';
import { isForeignMessage, parseRunMessage } from '../../shared/run/queue';
import { createContainerClient, createQueueClient, storageStatus } from '../../shared/run/storage';
import { accountOf, describeStorageFailure, isStorageError, storageTargets } from '../../shared/run/storageMessages';
import { discoverExport, SourceError } from '../../shared/source';
import type { ExportDescriptor } from '../../shared/source/types';
import { describeStateChange, planMappingChange } from '../../shared/state/mappingChange';
import { loadSnapshotMeta, type SnapshotMeta } from '../../shared/state/snapshotStore';
import { stateKey, stateScope } from '../../shared/state/stateKey';
import { scrubSecrets } from '../../shared/telemetry/scrub';
import { nextOccurrences, parseSchedule, ScheduleError, type Schedule } from './ncrontab';

export type FindingLevel = 'ok' | 'error' | 'warning';
export interface Finding {
  level: FindingLevel;
  area: string;
  message: string;
}
export interface CheckResult {
  ok: boolean;
  findings: Finding[];
}
export interface CheckOptions {
  /** The CLI's `--config`; default EXPORT_CONFIG. */
  exportConfigSource?: string;
  fetchImpl?: typeof fetch;
  /** Now, for the schedule's next run times. */
  clock?: () => number;
}

/** `GET /segments/list` pages hold 100 segments; workspaces with more than this many pages are only sampled. */
const SEGMENT_PAGE_SIZE = 100;
const MAX_SEGMENT_PAGES = 10;
/** Settings whose absence leaves nothing to check in an area; the value stands in so the rest can be loaded. */
const STAND_INS: Record<string, string> = {
  CI_EXPORT_STORAGE: 'UseDevelopmentStorage=true',
  CI_EXPORT_CONTAINER: 'unset',
  STATE_STORAGE: 'UseDevelopmentStorage=true',
  BRAZE_REST_ENDPOINT: 'unset',
  BRAZE_API_KEY: 'unset',
  EXPORT_CONFIG: '{}',
};

export async function checkConfiguration(env: Environment, options: CheckOptions = {}): Promise<CheckResult> {
  const findings: Finding[] = [];
  const { settings, unusable } = loadSettingsCollecting(env, findings);
  for (const warning of misspeltSettings(Object.keys(env))) findings.push(finding('warning', 'settings', warning));
  const config = loadConfigCollecting(settings, unusable, options.exportConfigSource, findings);
  findings.push(...checkSchedule(env, (options.clock ?? Date.now)()));
  const [exportFindings, storageFindings, brazeFindings, queueFindings, stateFindings] = await Promise.all([
    unusable.has('CI_EXPORT_STORAGE') || unusable.has('CI_EXPORT_CONTAINER')
      ? [finding('warning', 'export', 'not checked: CI_EXPORT_STORAGE or CI_EXPORT_CONTAINER is missing (above)')]
      : checkExport(settings, config),
    unusable.has('STATE_STORAGE')
      ? [finding('warning', 'state storage', 'not checked: STATE_STORAGE is missing (above)')]
      : checkStateStorage(settings),
    unusable.has('BRAZE_REST_ENDPOINT') || unusable.has('BRAZE_API_KEY')
      ? [finding('warning', 'braze', 'not checked: BRAZE_REST_ENDPOINT or BRAZE_API_KEY is missing (above)')]
      : checkBraze(settings, config, options.fetchImpl ?? fetch),
    unusable.has('STATE_STORAGE') ? [] : checkRunQueue(settings),
    config === null || unusable.size > 0 ? [] : checkState(settings, config),
  ]);
  findings.push(...exportFindings, ...storageFindings, ...brazeFindings, ...queueFindings, ...stateFindings);
  return { ok: !findings.some((f) => f.level === 'error'), findings };
}

/** The findings as text for a terminal: grouped by area, in the order they were found, then a verdict. */
export function formatFindings(findings: readonly Finding[]): string {
  const marks: Record<FindingLevel, string> = { ok: '  ok   ', warning: '  warn ', error: '  ERROR' };
  const areas = [...new Set(findings.map((f) => f.area))];
  const lines: string[] = [];
  for (const area of areas) {
    lines.push(area);
    for (const f of findings.filter((f) => f.area === area)) lines.push(`${marks[f.level]} ${f.message}`);
  }
  const errors = findings.filter((f) => f.level === 'error').length;
  const warnings = findings.filter((f) => f.level === 'warning').length;
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  lines.push(
    errors === 0
      ? `ready: no errors, ${plural(warnings, 'warning')}`
      : `not ready: ${plural(errors, 'error')}, ${plural(warnings, 'warning')}; fix the errors, then check again`,
  );
  return lines.join('\n');
}

/** Whether a run starts fresh or from a snapshot, and what the config changed since that snapshot. */
async function checkState(settings: Settings, config: ExportConfig): Promise<Finding[]> {
  const area = 'state';
  const key = stateKey(stateScope(settings, config));
  let meta: SnapshotMeta | null;
  try {
    meta = await loadSnapshotMeta(createContainerClient(settings.stateStorage, settings.stateContainer), key);
  } catch (error) {
    return [
      finding('warning', area, `snapshot not read from STATE_STORAGE (status ${storageStatus(error) ?? 'unknown'})`),
    ];
  }
  const layout = planMappingChange(meta, config, { removeUnmapped: false });
  const lines = describeStateChange(layout.change);
  if (meta) {
    lines.unshift(`snapshot ${key} of run ${meta.runId} (${meta.users} users, committed ${meta.committedAt})`);
  }
  return lines.map((line) => finding('ok', area, line));
}

function finding(level: FindingLevel, area: string, message: string): Finding {
  return { level, area, message };
}

/**
 * Settings with every problem reported; problem settings are then left at their defaults (or a stand-in when
 * required) so the areas that do not depend on them can still be checked.
 */
function loadSettingsCollecting(env: Environment, findings: Finding[]): { settings: Settings; unusable: Set<string> } {
  try {
    const settings = loadSettings(env);
    findings.push(finding('ok', 'settings', 'all settings are present and valid'));
    return { settings, unusable: new Set() };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) findings.push(finding('error', 'settings', problem));
    const unusable = new Set(error.problems.map((problem) => /^[A-Za-z_]+/.exec(problem)?.[0] ?? ''));
    const repaired: Record<string, string | undefined> = { ...env };
    for (const name of unusable) repaired[name] = STAND_INS[name];
    return { settings: loadSettings(repaired), unusable };
  }
}

function loadConfigCollecting(
  settings: Settings,
  unusable: ReadonlySet<string>,
  override: string | undefined,
  findings: Finding[],
): ExportConfig | null {
  if (override === undefined && unusable.has('EXPORT_CONFIG')) return null;
  try {
    const config = loadExportConfig(override ?? settings.exportConfigSource);
    findings.push(
      finding(
        'ok',
        'export config',
        `valid: ${config.segments.length} segment(s), ${config.attributes.length} mapped attribute(s)`,
      ),
    );
    return config;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) findings.push(finding('error', 'export config', problem));
    return null;
  }
}

/** How long the shared-queue look may take: a queue that cannot be reached is the run's problem to report. */
const QUEUE_PEEK_TIMEOUT_IN_MS = 3000;

/**
 * Warns when the run queue (or its poison queue) holds messages of another deployment: two apps given the same
 * RUN_QUEUE_NAME on one storage account take each other's messages (passed on, but each run waits for its turn).
 */
async function checkRunQueue(settings: Settings): Promise<Finding[]> {
  const stateContainer = createContainerClient(settings.stateStorage, settings.stateContainer);
  let foreign = 0;
  for (const name of [settings.runQueueName, `${settings.runQueueName}-poison`]) {
    try {
      const { peekedMessageItems } = await createQueueClient(settings.stateStorage, name).peekMessages({
        numberOfMessages: 32,
        abortSignal: AbortSignal.timeout(QUEUE_PEEK_TIMEOUT_IN_MS),
      });
      for (const item of peekedMessageItems) {
        const message = parseRunMessage(item.messageText);
        if (message && isForeignMessage(message, stateContainer)) foreign++;
      }
    } catch {
      // Absent (no run yet) or unreachable: nothing to compare; a run reports storage problems itself.
    }
  }
  if (foreign === 0) return [];
  return [
    finding(
      'warning',
      'run queue',
      `RUN_QUEUE_NAME "${settings.runQueueName}" is shared: it holds ${foreign} run message(s) of another ` +
        `deployment (another state container than "${settings.stateContainer}"); give each deployment its own ` +
        'RUN_QUEUE_NAME',
    ),
  ];
}

async function checkExport(settings: Settings, config: ExportConfig | null): Promise<Finding[]> {
  const area = 'export';
  const where = `${settings.ciExportContainer}/${settings.ciExportPath}`;
  let descriptor: ExportDescriptor;
  try {
    descriptor = await discoverExport(
      createContainerClient(settings.ciExportStorage, settings.ciExportContainer),
      settings.ciExportPath,
    );
  } catch (error) {
    return [finding('error', area, describeStorageError(error, settings))];
  }
  const tables = [...descriptor.entities.values()];
  const partitions = tables.reduce((sum, entity) => sum + entity.partitions.length, 0);
  const findings = [
    finding(
      'ok',
      area,
      `${descriptor.format} found in ${where}: ${descriptor.metadataBlob}, ${tables.length} table(s), ${partitions} partition(s)`,
    ),
    ...descriptor.warnings.map((warning) => finding('warning', area, warning)),
  ];
  if (descriptor.format === 'listing') {
    findings.push(
      finding(
        'warning',
        area,
        'no model.json or manifest: columns have no types, so every value is sent as text, and Braze fixes an ' +
          "attribute's type on its first write (a number or boolean would become a string attribute); export " +
          'with metadata from Customer Insights, see docs/braze-setup.md',
      ),
    );
  }
  if (!config) {
    findings.push(finding('warning', area, 'tables and columns not compared: the export config is not valid'));
    return findings;
  }
  config.segments.forEach((segment, index) => {
    const entity = descriptor.entities.get(segment.table);
    if (!entity) {
      const names = [...descriptor.entities.keys()];
      findings.push(
        finding(
          'error',
          area,
          `segments[${index}].table: table "${segment.table}" is not in ${descriptor.metadataBlob}` +
            suggestion(segment.table, names, 'tables found'),
        ),
      );
      return;
    }
    const missing = new Set(missingColumns(config, entity));
    const columnNames = entity.columns.map((c) => c.name);
    for (const [key, column] of columnReferences(config)) {
      if (!missing.has(column)) continue;
      findings.push(
        finding(
          'error',
          area,
          `table ${segment.table} has no column "${column}" (named by ${key} in the export config)` +
            suggestion(column, columnNames, 'columns'),
        ),
      );
    }
    for (const [key, column] of columnReferences(config)) {
      const actual = columnNames.find((name) => name.toLowerCase() === column.toLowerCase());
      if (missing.has(column) || actual === undefined || actual === column) continue;
      findings.push(
        finding(
          'warning',
          area,
          `table ${segment.table}: ${key} names "${column}", the column is "${actual}"; matched ignoring case, ` +
            `but write it as in ${descriptor.metadataBlob}`,
        ),
      );
    }
    if (entity.partitions.length === 0) {
      findings.push(
        finding(
          'warning',
          area,
          `table ${segment.table} has no partitions: a run would see the segment as empty, and hold its removals`,
        ),
      );
    }
    if (missing.size === 0) {
      findings.push(
        finding(
          'ok',
          area,
          `table ${segment.table}: ${entity.columns.length} columns, ${entity.partitions.length} partition(s); ` +
            `all ${columnReferences(config).length} configured columns found`,
        ),
      );
    }
  });
  const configured = new Set(config.segments.map((s) => s.table));
  const ignored = tables.map((t) => t.name).filter((name) => !configured.has(name));
  if (ignored.length > 0) findings.push(finding('ok', area, `not configured, ignored: ${ignored.join(', ')}`));
  return findings;
}

/** Config keys that name a CI column, with the column: what an error must point the reader to. */
function columnReferences(config: ExportConfig): Array<[string, string]> {
  return [
    ['identity.externalId', config.identity.externalId],
    ['identity.customerId', config.identity.customerId],
    ...(config.identity.email ? [['identity.email', config.identity.email] as [string, string]] : []),
    ...config.attributes.map((a): [string, string] => [`attributes.${a.column}`, a.column]),
  ];
}

/** EXPORT_SCHEDULE as the timer reads it, with the next three run times so a wrong one shows. */
function checkSchedule(env: Environment, nowInMs: number): Finding[] {
  const area = 'schedule';
  const expression = (env.EXPORT_SCHEDULE ?? '').trim();
  if (!expression) {
    return [finding('warning', area, 'EXPORT_SCHEDULE is not set: the timer needs it in Azure (e.g. "0 30 3 * * *")')];
  }
  let schedule: Schedule;
  try {
    schedule = parseSchedule(expression);
  } catch (error) {
    if (!(error instanceof ScheduleError)) throw error;
    return [finding('error', area, `EXPORT_SCHEDULE: ${error.message}`)];
  }
  const next = nextOccurrences(schedule, nowInMs, 3);
  if (next.length === 0) {
    return [finding('error', area, `EXPORT_SCHEDULE "${expression}" matches no date in the next five years`)];
  }
  const times = next.map((d) => d.toISOString().replace('T', ' ').replace('.000Z', ' UTC')).join(', ');
  return [finding('ok', area, `EXPORT_SCHEDULE "${expression}": next runs ${times}`)];
}

/**
 * The state account as a run uses it: reachable, its container (a run creates it when missing) and run queue, and
 * that the app may write there (a probe blob written and deleted).
 */
async function checkStateStorage(settings: Settings): Promise<Finding[]> {
  const area = 'state storage';
  const { state } = storageTargets(settings);
  const where = `${settings.stateContainer} in ${accountOf(settings.stateStorage)}`;
  const findings: Finding[] = [];
  const container = createContainerClient(settings.stateStorage, settings.stateContainer);
  let step = 'reaching the state storage';
  try {
    if (!(await container.exists())) {
      findings.push(
        finding('warning', area, `container ${where} does not exist yet; the first run creates it (write not tested)`),
      );
    } else {
      step = 'writing a probe blob to the state container';
      const probe = container.getBlockBlobClient(`check/probe-${randomBytes(4).toString('hex')}`);
      await probe.upload('', 0);
      await probe.delete();
      findings.push(finding('ok', area, `container ${where}: reachable and writable`));
    }
    step = 'reaching the run queue';
    const queue = createQueueClient(settings.stateStorage, settings.runQueueName);
    findings.push(
      (await queue.exists())
        ? finding('ok', area, `queue ${settings.runQueueName} (RUN_QUEUE_NAME) exists`)
        : finding(
            'warning',
            area,
            `queue ${settings.runQueueName} (RUN_QUEUE_NAME) does not exist yet; the first run creates it`,
          ),
    );
  } catch (error) {
    const message = isStorageError(error)
      ? describeStorageFailure(error, state, step).message
      : `${step}: ${scrubSecrets(error instanceof Error ? error.message : String(error))} (check STATE_STORAGE)`;
    findings.push(finding('error', area, message));
  }
  return findings;
}

function describeStorageError(error: unknown, settings: Settings): string {
  if (error instanceof SourceError) return error.message;
  const status = storageStatus(error);
  const container = `container "${settings.ciExportContainer}" (CI_EXPORT_CONTAINER)`;
  if (status === 404) return `${container} does not exist in the CI export storage account`;
  if (status === 403 || status === 401) {
    return (
      `access to ${container} was denied (${status}): in Azure the app's identity needs Storage Blob Data ` +
      `Reader on it; locally, check the CI_EXPORT_STORAGE connection string`
    );
  }
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  return (
    `cannot read the CI export storage account${typeof code === 'string' ? ` (${code})` : ''}: ` +
    scrubSecrets(message).slice(0, 300)
  );
}

async function checkBraze(settings: Settings, config: ExportConfig | null, fetchImpl: typeof fetch) {
  const area = 'braze';
  const findings: Finding[] = [];
  let base: URL;
  try {
    base = resolveBrazeEndpoint(settings.brazeRestEndpoint, {
      allowInsecureLoopback: settings.brazeAllowInsecureLoopback,
    });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) findings.push(finding('error', area, problem));
    findings.push(
      finding('warning', area, 'BRAZE_API_KEY not checked: the key is only ever sent to a Braze REST host'),
    );
    return findings;
  }
  const host = base.host;
  if (base.protocol === 'http:') {
    findings.push(
      finding('warning', area, `BRAZE_REST_ENDPOINT is ${base.origin} on this machine: for tests and the sandbox only`),
    );
  } else findings.push(finding('ok', area, `BRAZE_REST_ENDPOINT: ${host} is a Braze REST host`));

  const key = settings.brazeApiKey;
  if (/^["']|["']$|\s/.test(key)) {
    findings.push(
      finding('error', area, 'BRAZE_API_KEY is wrapped in quotes or contains whitespace: Braze answers 401 to it'),
    );
    return findings;
  }
  const listed = await listSegments(base, key, settings.brazeRequestTimeoutInMs, fetchImpl);
  if (listed.kind === 'unreachable') {
    findings.push(finding('error', area, `cannot reach ${host}: ${scrubSecrets(listed.reason, [key])}`));
    return findings;
  }
  if (listed.kind === 'status') {
    findings.push(keyFinding(listed.status, host, scrubSecrets(listed.message, [key])));
    return findings;
  }
  findings.push(finding('ok', area, `BRAZE_API_KEY is accepted by ${host}`));
  for (const [index, segment] of (config?.segments ?? []).entries()) {
    const found = listed.segments.get(segment.brazeSegmentApiId);
    if (found !== undefined) {
      findings.push(finding('ok', area, `segment ${segment.table}: Braze segment "${found}" exists`));
    } else {
      findings.push(
        finding(
          'warning',
          area,
          `segments[${index}].brazeSegmentApiId "${segment.brazeSegmentApiId}" (table ${segment.table}) is not ` +
            `a segment of this workspace${listed.complete ? '' : ' (only the first segments were listed)'}: ` +
            `copy the API identifier from the segment's page in Braze; the membership attribute is written under ` +
            `this name either way`,
        ),
      );
    }
  }
  return findings;
}

/** What an HTTP status to the key check means for the operator. */
function keyFinding(status: number, host: string, brazeMessage: string): Finding {
  const said = brazeMessage ? ` (Braze: "${brazeMessage}")` : '';
  if (status === 401) {
    return finding(
      'error',
      'braze',
      `${host} refused BRAZE_API_KEY (401)${said}: the key is wrong or revoked, or it belongs to a workspace on ` +
        `another cluster (an EU key needs rest.fra-0N.braze.eu; the dashboard URL tells the cluster)`,
    );
  }
  if (status === 403) {
    return finding(
      'warning',
      'braze',
      `BRAZE_API_KEY is known to ${host} but may not list segments (403)${said}, so segment ids were not checked; ` +
        `the export needs only users.track, which cannot be confirmed without sending data. "Forbidden" instead ` +
        `of "Access Denied" means the plan or account does not allow API calls`,
    );
  }
  if (status === 404) {
    return finding(
      'error',
      'braze',
      `${host} answered 404 to GET /segments/list: not the Braze REST API; BRAZE_REST_ENDPOINT must be the REST ` +
        `host (rest.…), not the dashboard`,
    );
  }
  if (status === 429) {
    return finding('warning', 'braze', `${host} rate-limited the key check (429); check again in a minute`);
  }
  if (status >= 500) {
    return finding('warning', 'braze', `${host} answered ${status}${said}; Braze may be degraded, check again later`);
  }
  return finding('error', 'braze', `${host} answered ${status} to the key check${said}`);
}

type SegmentListing =
  | { kind: 'listed'; segments: Map<string, string>; complete: boolean }
  | { kind: 'status'; status: number; message: string }
  | { kind: 'unreachable'; reason: string };

/**
 * `GET /segments/list`: read-only, costs no data points and draws on the shared hourly pool rather than the
 * `/users/track` budget that running exports use.
 */
async function listSegments(
  base: URL,
  key: string,
  timeoutInMs: number,
  fetchImpl: typeof fetch,
): Promise<SegmentListing> {
  const segments = new Map<string, string>();
  for (let page = 0; page < MAX_SEGMENT_PAGES; page++) {
    let response: Response;
    try {
      response = await fetchImpl(new URL(`segments/list?page=${page}`, base), {
        headers: { authorization: `Bearer ${key}`, accept: 'application/json' },
        signal: AbortSignal.timeout(timeoutInMs),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: unknown } } | null)?.cause?.code;
      const reason = typeof cause === 'string' ? cause : error instanceof Error ? error.message : String(error);
      return { kind: 'unreachable', reason };
    }
    const body = await response.text();
    const parsed = parseJson(body);
    if (!response.ok) {
      const message = typeof parsed?.message === 'string' ? parsed.message.slice(0, 200) : '';
      return { kind: 'status', status: response.status, message };
    }
    const list = Array.isArray(parsed?.segments) ? (parsed.segments as Array<{ id?: unknown; name?: unknown }>) : [];
    for (const segment of list) {
      if (typeof segment.id === 'string')
        segments.set(segment.id, typeof segment.name === 'string' ? segment.name : '');
    }
    if (list.length < SEGMENT_PAGE_SIZE) return { kind: 'listed', segments, complete: true };
  }
  return { kind: 'listed', segments, complete: false };
}

function parseJson(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** ` (did you mean "X"?)` for a near miss, else the list of names that exist. */
function suggestion(wanted: string, names: readonly string[], what: string): string {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const name of names) {
    const distance = editDistance(wanted.toLowerCase(), name.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [name, distance];
  }
  if (best !== null && bestDistance <= Math.max(2, Math.floor(wanted.length / 4))) return `; did you mean "${best}"?`;
  const shown = names.slice(0, 30).join(', ');
  return `; ${what}: ${shown || 'none'}${names.length > 30 ? `, … (${names.length} in all)` : ''}`;
}
