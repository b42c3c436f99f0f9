import { editDistance } from './shape';

/**
 * Every app setting the code reads, described once: how it is read, its default and unit, its range, what it
 * means, and who sets it in Azure. `loadSettings` validates with it, `DEFAULTS` come from it, the Bicep test checks
 * `infra/` against it and `npm run docs:config` writes the settings tables of docs/configuration.md from it.
 *
 * `requiredInAzure`: the deployed app cannot run without it (Bicep must set it).
 * `inAzure`: who sets it in Azure: `template` (infra/app/api.bicep, on every deployment), `tunable` (the
 * `additionalAppSettings` parameter, see docs/deployment.md), or `localOnly` (never set in Azure).
 * `doc`: markdown; the docs table shows it, and the error for a missing required setting quotes it.
 */
export type SettingSpec = {
  requiredInAzure: boolean;
  inAzure: 'template' | 'tunable' | 'localOnly';
  doc: string;
} & SettingKind;

export type SettingUnit = 'ms' | 's' | 'bytes' | '%' | 'requests/s';

type SettingKind =
  /** Text, trimmed; a required one is refused when empty. `default` is what an empty value means. */
  | { kind: 'text'; required?: true; default?: string }
  /** A storage connection string, or the identity settings `<name>__…` instead; `fallback` is read when neither. */
  | { kind: 'connection'; fallback?: string }
  /** One part of the identity-based alternative to the `connection` setting `of`. */
  | { kind: 'identity'; of: string }
  | { kind: 'flag'; default: boolean }
  /** A whole number from `min` to `max`; unset means `default` (or nothing, when there is none). */
  | { kind: 'integer'; min: number; max: number; default?: number; unit?: SettingUnit }
  /** A ceiling of requests in flight from 1 to `max`, below which the limit adapts, or `fixed:N`. */
  | { kind: 'concurrency'; max: number; default: number };

export const SETTINGS = {
  CI_EXPORT_STORAGE: {
    kind: 'connection',
    requiredInAzure: false,
    inAzure: 'localOnly',
    doc: 'connection string of the account CI exports to (local, tests)',
  },
  CI_EXPORT_STORAGE__blobServiceUri: {
    kind: 'identity',
    of: 'CI_EXPORT_STORAGE',
    requiredInAzure: true,
    inAzure: 'template',
    doc: 'identity-based alternative (Azure): blob URI of the CI export account',
  },
  CI_EXPORT_STORAGE__clientId: {
    kind: 'identity',
    of: 'CI_EXPORT_STORAGE',
    requiredInAzure: true,
    inAzure: 'template',
    doc: 'client id of the user-assigned identity that reads the CI export account',
  },
  CI_EXPORT_CONTAINER: {
    kind: 'text',
    required: true,
    requiredInAzure: true,
    inAzure: 'template',
    doc: 'container CI writes to (lower-case, e.g. `dynamics365customerinsights`)',
  },
  CI_EXPORT_PATH: {
    kind: 'text',
    default: '',
    requiredInAzure: true,
    inAzure: 'template',
    doc: "folder holding the export's `model.json`, e.g. `CustomerInsights_<instance id>/BrazeExport`; empty: the container root",
  },
  STATE_STORAGE: {
    kind: 'connection',
    fallback: 'AzureWebJobsStorage',
    requiredInAzure: false,
    inAzure: 'localOnly',
    doc: 'connection string of the account for snapshots, run records, checkpoints, reports and the run queue',
  },
  STATE_STORAGE__blobServiceUri: {
    kind: 'identity',
    of: 'STATE_STORAGE',
    requiredInAzure: true,
    inAzure: 'template',
    doc: 'identity-based alternative (Azure): blob URI of the state account',
  },
  STATE_STORAGE__queueServiceUri: {
    kind: 'identity',
    of: 'STATE_STORAGE',
    requiredInAzure: true,
    inAzure: 'template',
    doc: 'identity-based alternative (Azure): queue URI of the state account',
  },
  STATE_STORAGE__clientId: {
    kind: 'identity',
    of: 'STATE_STORAGE',
    requiredInAzure: true,
    inAzure: 'template',
    doc: 'client id of the user-assigned identity that uses the state account',
  },
  BRAZE_REST_ENDPOINT: {
    kind: 'text',
    required: true,
    requiredInAzure: true,
    inAzure: 'template',
    doc: 'your Braze REST host: `rest.iad-03.braze.com` or `https://rest.iad-03.braze.com`; only Braze REST hosts are accepted',
  },
  BRAZE_API_KEY: {
    kind: 'text',
    required: true,
    requiredInAzure: true,
    inAzure: 'template',
    doc:
      'REST API key with the `users.track` permission, and `users.identify`, `users.external_ids.rename`, ' +
      '`users.merge` for identity changes (below); in Azure a Key Vault reference',
  },
  EXPORT_CONFIG: {
    kind: 'text',
    required: true,
    requiredInAzure: true,
    inAzure: 'template',
    doc: 'path to the export config file, or the JSON itself',
  },
  EXPORT_SCHEDULE: {
    kind: 'text',
    requiredInAzure: true,
    inAzure: 'template',
    doc: 'NCRONTAB schedule of the timer, e.g. `0 30 3 * * *` (03:30 UTC daily); leave 30–60 minutes after CI’s export',
  },
  BRAZE_ALLOW_INSECURE_LOOPBACK: {
    kind: 'flag',
    default: false,
    requiredInAzure: false,
    inAzure: 'localOnly',
    doc: '`true` lets the endpoint be `http://127.0.0.1:<port>` / `http://localhost:<port>`: tests and the local sandbox only',
  },
  BRAZE_BATCH_SIZE: {
    kind: 'integer',
    min: 1,
    max: 75,
    default: 75,
    requiredInAzure: false,
    inAzure: 'tunable',
    doc: "objects per `/users/track` request (Braze's limit is 75; some contracts have less)",
  },
  BRAZE_CONCURRENCY: {
    kind: 'concurrency',
    max: 256,
    default: 256,
    requiredInAzure: false,
    inAzure: 'tunable',
    doc:
      'a number is the **ceiling** of requests in flight: below it the limit adapts (`shared/braze/concurrency.ts`): ' +
      "it follows `BRAZE_REQUESTS_PER_SECOND` × Braze's measured answer time × 1.5 (Little's law: at 150 ms and " +
      '500/s, about 113 in flight), grows from 8 by slow start, and halves on 429s, 5xx, timeouts and when answers ' +
      'get 4× slower than the fastest recent one. `fixed:N` keeps exactly N in flight. The current limit also sets ' +
      'the checkpoint pacing: a checkpoint per window of (limit + 1) × batch size answers, and at most three windows ' +
      'sent ahead of the last checkpoint, so after a crash at most `3 × (limit + 1) × BRAZE_BATCH_SIZE` objects are ' +
      'sent again (at most 57,825 at the ceiling of 256; 25,650 at 113)',
  },
  BRAZE_REQUESTS_PER_SECOND: {
    kind: 'integer',
    min: 1,
    max: 100_000,
    default: 500,
    unit: 'requests/s',
    requiredInAzure: false,
    inAzure: 'tunable',
    doc:
      'request budget, shared by retries; Braze allows 3,000 per 3 s per company, shared with your other ' +
      'integrations. 500 × 75 objects caps a full sync at 37,500 objects/s; raise it when your other integrations ' +
      'leave room (the bench sets 20,000 against the local sandbox)',
  },
  BRAZE_MAX_ATTEMPTS: {
    kind: 'integer',
    min: 1,
    max: 100,
    default: 8,
    requiredInAzure: false,
    inAzure: 'tunable',
    doc:
      "attempts per request on 5xx, timeouts, connection errors and 2xx answers that are not Braze's JSON (those " +
      'rows are then rejected); 429s do not count',
  },
  BRAZE_MAX_RETRY_TIME_MS: {
    kind: 'integer',
    min: 0,
    max: 86_400_000,
    default: 600_000,
    unit: 'ms',
    requiredInAzure: false,
    inAzure: 'tunable',
    doc:
      'total time one request may spend retrying; after it the run fails and resumes later. A 429 asking for a ' +
      'longer wait ends the step at once ("Braze asked to wait N s") and the run resumes after that wait',
  },
  BRAZE_REQUEST_TIMEOUT_MS: {
    kind: 'integer',
    min: 100,
    max: 600_000,
    default: 30_000,
    unit: 'ms',
    requiredInAzure: false,
    inAzure: 'tunable',
    doc: 'timeout of one request',
  },
  RUN_TIME_BUDGET_SECONDS: {
    kind: 'integer',
    min: 1,
    max: 86_400,
    default: 480,
    unit: 's',
    requiredInAzure: false,
    inAzure: 'tunable',
    doc: 'work per worker invocation; then the run checkpoints and continues in a new queue message',
  },
  RUN_MAX_RETRY_TIME_SECONDS: {
    kind: 'integer',
    min: 1,
    max: 86_400,
    unit: 's',
    requiredInAzure: false,
    inAzure: 'tunable',
    doc:
      'fail fast when Braze is down: a request is retried this long at most, then the run stops as `interrupted` ' +
      '(checkpoint saved) instead of being retried by the queue; the next start resumes it. A run’s ' +
      '`maxRetryTimeSeconds` (HTTP) or `--max-retry-time` (CLI) overrides it',
  },
  // Required in Azure although the code has a default: the queue trigger binding reads %RUN_QUEUE_NAME%.
  RUN_QUEUE_NAME: {
    kind: 'text',
    default: 'export-runs',
    requiredInAzure: true,
    inAzure: 'template',
    doc:
      'Storage queue of run messages (poison: `<name>-poison`); the queue trigger reads it, so the Functions host ' +
      "needs it set. One per deployment: `check` warns when it holds another deployment's messages",
  },
  STATE_CONTAINER: {
    kind: 'text',
    default: 'ci-braze-state',
    requiredInAzure: false,
    inAzure: 'template',
    doc: 'container for snapshots, run records, checkpoints and reports',
  },
  SEGMENT_SHRINK_GUARD_PERCENT: {
    kind: 'integer',
    min: 0,
    max: 100,
    default: 50,
    unit: '%',
    requiredInAzure: false,
    inAzure: 'tunable',
    doc: 'a segment that shrank more than this since the last run keeps its members (removals held) unless the run allows mass removal',
  },
  SOURCE_MAX_CELL_BYTES: {
    kind: 'integer',
    // Up to the reader's 16 MiB row limit, beyond which a row is a broken file rather than data.
    min: 1024,
    max: 16 * 1024 * 1024,
    default: 1024 * 1024,
    unit: 'bytes',
    requiredInAzure: false,
    inAzure: 'tunable',
    doc:
      'a CSV value larger than this (UTF-8 bytes) rejects its row, naming blob, line and column; the reader reads ' +
      'past it at the speed of any other text and goes on with the next row. The row is unreadable, so its ' +
      "segment's removals are held",
  },
  SOURCE_SETTLE_SECONDS: {
    kind: 'integer',
    min: 0,
    max: 86_400,
    default: 300,
    unit: 's',
    requiredInAzure: false,
    inAzure: 'tunable',
    doc:
      'listing-only exports (no `model.json` or manifest): a run folder is read once none of its files changed for ' +
      'this long and none is empty; newer folders still being written are skipped with a warning',
  },
} as const satisfies Record<string, SettingSpec>;

export type SettingName = keyof typeof SETTINGS;

/** Requests in flight are at most this many, adaptive or fixed. */
export const MAX_CONCURRENCY = SETTINGS.BRAZE_CONCURRENCY.max;

export const DEFAULTS = {
  stateContainer: SETTINGS.STATE_CONTAINER.default,
  runQueueName: SETTINGS.RUN_QUEUE_NAME.default,
  brazeBatchSize: SETTINGS.BRAZE_BATCH_SIZE.default,
  brazeConcurrencyCeiling: SETTINGS.BRAZE_CONCURRENCY.default,
  brazeRequestsPerSecond: SETTINGS.BRAZE_REQUESTS_PER_SECOND.default,
  brazeMaxAttempts: SETTINGS.BRAZE_MAX_ATTEMPTS.default,
  brazeMaxRetryTimeInMs: SETTINGS.BRAZE_MAX_RETRY_TIME_MS.default,
  brazeRequestTimeoutInMs: SETTINGS.BRAZE_REQUEST_TIMEOUT_MS.default,
  runTimeBudgetSeconds: SETTINGS.RUN_TIME_BUDGET_SECONDS.default,
  segmentShrinkGuardPercent: SETTINGS.SEGMENT_SHRINK_GUARD_PERCENT.default,
  sourceMaxCellBytes: SETTINGS.SOURCE_MAX_CELL_BYTES.default,
  sourceSettleSeconds: SETTINGS.SOURCE_SETTLE_SECONDS.default,
} as const;

/** Names the app reads that are not its own settings: the Functions host's storage, the fallback for state. */
const READ_BESIDES = ['AzureWebJobsStorage', 'AzureWebJobsStorage__blobServiceUri', 'AzureWebJobsStorage__clientId'];

/**
 * `BRAZE_CONCURENCY is not a setting of this app; did you mean BRAZE_CONCURRENCY?`, for every name in `env` that
 * is one or two edits (or only the case) away from a setting. Warnings, not errors: Azure and the shell add names of
 * their own, and an unknown name changes nothing, but a misspelt tuning setting silently leaves its default.
 */
export function misspeltSettings(names: Iterable<string>): string[] {
  const known = [...Object.keys(SETTINGS), ...READ_BESIDES];
  const warnings: string[] = [];
  for (const name of names) {
    if (known.includes(name)) continue;
    const near = nearestName(name, known);
    if (near !== undefined) warnings.push(`${name} is not a setting of this app; did you mean ${near}?`);
  }
  return warnings;
}

function nearestName(name: string, known: readonly string[]): string | undefined {
  const upper = name.toUpperCase();
  let best: { name: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(upper, candidate.toUpperCase());
    if (distance <= 2 && (best === undefined || distance < best.distance)) best = { name: candidate, distance };
  }
  return best?.name;
}
