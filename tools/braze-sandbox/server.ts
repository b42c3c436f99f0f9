/**
 * A local Braze REST server for tests, the demo and the benchmark: `/users/track` with Braze's validation order,
 * profile semantics, data-point ledger, rate limiting and injectable faults, plus a test-only control API under
 * `/_sim/`. Plain `node:http`, loopback only. Behaviour follows /work/shared/spec/braze-api.md §9.
 */
import { createServer, IncomingMessage, Server, ServerResponse, STATUS_CODES } from 'node:http';
import type { AddressInfo } from 'node:net';
import { redactHeaders } from '../../shared/telemetry/scrub';
import { createRandom, describeFault, FaultInjector, quotingInput } from './faults';
import { RateLimiter } from './rateLimiter';
import { RequestLog } from './requestLog';
import { ApplyContext, IdentityOutcome, MergeIdentifier, Prioritization, ProfileStore } from './store';
import type {
  BrazeSandbox,
  FaultAction,
  FaultRule,
  Ledger,
  ProfileQuery,
  RateLimitOptions,
  RequestLogEntry,
  ResetTarget,
  SandboxApiKey,
  SandboxOptions,
  SandboxProfile,
  SandboxStats,
  SharedEmail,
  UserAlias,
} from './types';
import {
  checkAttributesObject,
  checkEventObject,
  checkPurchaseObject,
  ErrorId,
  errorType,
  IDENTIFIER_AND_FLAG_KEYS,
  InputArray,
  isInvalidNestedValue,
  isPlainObject,
  STANDARD_FIELDS,
} from './validation';

export type * from './types';

export const SANDBOX_DEFAULT_API_KEY = 'sandbox-key';
export const VALID_DATA_MESSAGE = "Valid data must be provided in the 'attributes', 'events', or 'purchases' fields.";
export const MAX_INPUT_MESSAGE = 'Max Input Length Exceeded';
const EXPORT_IDS_MAX = 50;
/** Entries per `/users/identify`, `/users/external_ids/rename` and `/users/merge` request (spec §7). */
export const IDENTITY_BATCH_MAX = 50;
const PRIORITIES = new Set(['identified', 'unidentified', 'most_recently_updated']);
const SEGMENTS_PAGE_SIZE = 100;
const FAULT_REJECTION_TYPE = 'Rejected by a sandbox fault rule';

type ResolvedOptions = Required<
  Omit<SandboxOptions, 'rateLimit' | 'identityRateLimit' | 'renameRateLimit' | 'clock'>
> & {
  rateLimit: SandboxOptions['rateLimit'];
  identityRateLimit: SandboxOptions['identityRateLimit'];
  renameRateLimit: SandboxOptions['renameRateLimit'];
  clock: () => number;
};

const DEFAULTS: ResolvedOptions = {
  port: 0,
  apiKeys: [{ key: SANDBOX_DEFAULT_API_KEY }],
  instanceHost: 'rest.iad-01.braze.com',
  rateLimit: { limit: 3000, windowSeconds: 3, resetStyle: 'epoch', throttleHeaders: 'ratelimit' },
  identityRateLimit: { limit: 20_000, windowSeconds: 60, resetStyle: 'epoch', throttleHeaders: 'ratelimit' },
  renameRateLimit: { limit: 1_000, windowSeconds: 60, resetStyle: 'epoch', throttleHeaders: 'ratelimit' },
  maxObjectsPerRequest: 75,
  objectCapScope: 'combined',
  maxBodyBytes: 4_194_304,
  errorTypeStyle: 'code',
  arrayMaxLength: 25,
  latencyMs: 0,
  logBodies: true,
  requestLogLimit: 100_000,
  ledgerPerUser: true,
  blocklistedExternalIds: [],
  emptySuccessBody: false,
  seed: 1,
  segments: [],
  clock: Date.now,
};

/** Options `PATCH /_sim/config` may change: all but the port (fixed once listening) and the clock (a function). */
const RUNTIME_OPTIONS = new Set(Object.keys(DEFAULTS).filter((key) => key !== 'port' && key !== 'clock'));

/** State of one Braze API request while it is answered; becomes its request log entry. */
interface Exchange {
  seq: number;
  method: string;
  path: string;
  query: string;
  startedAtMs: number;
  headers: Record<string, string>;
  bodyBytes: number;
  objectCount: number;
  body?: unknown;
  fault?: string;
  extraLatencyMs: number;
  /** `attributes` indexes a fault rule rejects. */
  rejectIndexes?: number[];
  /** Error texts quote the objects' values (`quoteInput` fault). */
  quoteInput?: boolean;
  rateHeaders: Record<string, string>;
}

type Route = (exchange: Exchange, req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

const JSON_HEADERS = { 'content-type': 'application/json' };

/** A key's cluster may be given as a host (`rest.fra-01.braze.eu`) or an instance name (`fra-01`). */
function clusterMatches(cluster: string | undefined, instanceHost: string): boolean {
  if (cluster === undefined) return true;
  const normalized = cluster
    .replace(/^https?:\/\//, '')
    .replace(/\/$/, '')
    .toLowerCase();
  const host = instanceHost.toLowerCase();
  const [prefix, instance] = host.split('.');
  return normalized === host || (prefix === 'rest' && instance === normalized);
}

/** An injected raw body that looks like markup is served as HTML (a load balancer's error page). */
function rawContentType(body: string): string {
  return body.trimStart().startsWith('<') ? 'text/html' : 'text/plain';
}

class Sandbox implements BrazeSandbox {
  url = '';
  port = 0;
  apiKey: string;
  private options: ResolvedOptions;
  private readonly server: Server;
  private readonly store = new ProfileStore();
  private readonly log: RequestLog;
  private readonly faults: FaultInjector;
  private random: () => number;
  private limiter: RateLimiter | null = null;
  /** `/users/identify` and `/users/merge` share one; renames have their own. */
  private identityLimiter: RateLimiter | null = null;
  private renameLimiter: RateLimiter | null = null;
  private keys = new Map<string, SandboxApiKey>();
  private blocklist = new Set<string>();
  private seq = 0;
  private requestCount = 0;
  private inFlight = 0;
  private peakInFlight = 0;
  private readonly routes: Record<string, Route> = {
    'POST /users/track': (x, req, res) => this.track(x, req, res),
    'POST /users/export/ids': (x, req, res) => this.exportIds(x, req, res),
    'POST /users/identify': (x, req, res) => this.identify(x, req, res),
    'POST /users/external_ids/rename': (x, req, res) => this.rename(x, req, res),
    'POST /users/merge': (x, req, res) => this.merge(x, req, res),
    'GET /segments/list': (x, req, res) => this.segmentsList(x, req, res),
    'GET /segments/details': (x, req, res) => this.segmentDetails(x, req, res),
  };
  private readonly permissions: Record<string, string> = {
    'POST /users/track': 'users.track',
    'POST /users/export/ids': 'users.export.ids',
    'POST /users/identify': 'users.identify',
    'POST /users/external_ids/rename': 'users.external_ids.rename',
    'POST /users/merge': 'users.merge',
    'GET /segments/list': 'segments.list',
    'GET /segments/details': 'segments.details',
  };

  constructor(options: SandboxOptions) {
    this.options = { ...DEFAULTS, ...options };
    this.apiKey = this.options.apiKeys[0]?.key ?? SANDBOX_DEFAULT_API_KEY;
    this.log = new RequestLog(this.options.requestLogLimit);
    this.random = createRandom(this.options.seed);
    this.faults = new FaultInjector(() => this.random());
    this.applyDerivedOptions();
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 30_000;
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
    this.url = `http://127.0.0.1:${this.port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  profiles(): SandboxProfile[] {
    return this.store.profiles();
  }

  findProfile(query: ProfileQuery): SandboxProfile | undefined {
    return this.store.find(query);
  }

  sharedEmails(): SharedEmail[] {
    return this.store.sharedEmails();
  }

  requests(): RequestLogEntry[] {
    return this.log.since(0);
  }

  ledger(): Ledger {
    return this.store.ledger(this.options.ledgerPerUser);
  }

  stats(): SandboxStats {
    return { requests: this.requestCount, inFlight: this.inFlight, peakInFlight: this.peakInFlight };
  }

  setFaults(rules: FaultRule[]): void {
    this.faults.install(rules);
  }

  reset(what: ResetTarget = 'all'): void {
    if (what === 'all' || what === 'profiles') this.store.resetProfiles();
    if (what === 'all' || what === 'requests') {
      this.log.clear();
      this.seq = 0;
      this.requestCount = 0;
      this.peakInFlight = this.inFlight;
    }
    if (what === 'all' || what === 'ledger') this.store.resetLedger();
    if (what === 'all' || what === 'faults') this.faults.install([]);
  }

  configure(patch: Partial<SandboxOptions>): void {
    // The port is fixed once listening.
    this.options = { ...this.options, ...patch, port: this.options.port };
    if (patch.apiKeys) this.apiKey = this.options.apiKeys[0]?.key ?? SANDBOX_DEFAULT_API_KEY;
    if (patch.seed !== undefined) this.random = createRandom(patch.seed);
    this.applyDerivedOptions(
      patch.rateLimit !== undefined ||
        patch.identityRateLimit !== undefined ||
        patch.renameRateLimit !== undefined ||
        patch.clock !== undefined,
    );
  }

  private applyDerivedOptions(rebuildLimiter = true): void {
    this.keys = new Map(this.options.apiKeys.map((k) => [k.key, k]));
    this.blocklist = new Set(this.options.blocklistedExternalIds);
    this.log.setLimit(this.options.requestLogLimit);
    if (rebuildLimiter) {
      const limiterOf = (limit: RateLimitOptions | null | undefined) =>
        limit ? new RateLimiter(limit, this.options.clock) : null;
      this.limiter = limiterOf(this.options.rateLimit);
      this.identityLimiter = limiterOf(this.options.identityRateLimit);
      this.renameLimiter = limiterOf(this.options.renameRateLimit);
    }
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const rawUrl = req.url ?? '/';
    const queryAt = rawUrl.indexOf('?');
    const path = queryAt === -1 ? rawUrl : rawUrl.slice(0, queryAt);
    const query = queryAt === -1 ? '' : rawUrl.slice(queryAt + 1);
    const method = req.method ?? 'GET';
    if (path.startsWith('/_sim/')) {
      this.control(method, path, new URLSearchParams(query), req, res).catch((error: unknown) =>
        sendJson(res, 500, { message: error instanceof Error ? error.message : String(error) }),
      );
      return;
    }
    this.requestCount++;
    this.inFlight++;
    if (this.inFlight > this.peakInFlight) this.peakInFlight = this.inFlight;
    res.once('close', () => this.inFlight--);
    const exchange: Exchange = {
      seq: ++this.seq,
      method,
      path,
      query,
      startedAtMs: this.options.clock(),
      headers: redactHeaders(req.headers),
      bodyBytes: 0,
      objectCount: 0,
      extraLatencyMs: 0,
      rateHeaders: {},
    };
    const routeKey = `${method} ${path}`;
    const route = this.routes[routeKey];
    if (!route) {
      this.respond(exchange, res, 404, { message: `No route for ${method} ${path}` });
      return;
    }
    if (routeKey === 'POST /users/track') {
      const action = this.faults.next();
      if (action && this.injectFault(exchange, action, req, res)) return;
    }
    if (!this.authorize(exchange, routeKey, req, res)) return;
    Promise.resolve(route(exchange, req, res)).catch((error: unknown) =>
      this.respond(exchange, res, 500, { message: error instanceof Error ? error.message : 'Internal error' }),
    );
  }

  /** Returns true when the fault answered (or swallowed) the request. */
  private injectFault(exchange: Exchange, action: FaultAction, req: IncomingMessage, res: ServerResponse): boolean {
    exchange.fault = describeFault(action);
    exchange.extraLatencyMs = action.latencyMs ?? 0;
    if (action.reset) {
      this.record(exchange, 0);
      req.socket.destroy();
      return true;
    }
    if (action.hang) {
      this.record(exchange, 0);
      return true;
    }
    exchange.rejectIndexes = action.rejectIndexes;
    exchange.quoteInput = action.quoteInput === true;
    if (action.status === undefined) return false;
    let headers: Record<string, string> = action.headers ?? {};
    if (action.status === 429 && action.headers === undefined) headers = this.limiter?.throttleHeaders() ?? {};
    const body = action.body ?? JSON.stringify({ message: STATUS_CODES[action.status] ?? 'Error' });
    const contentType = action.body === undefined ? 'application/json' : rawContentType(action.body);
    this.respondRaw(exchange, res, action.status, { 'content-type': contentType, ...headers }, body);
    return true;
  }

  private authorize(exchange: Exchange, routeKey: string, req: IncomingMessage, res: ServerResponse): boolean {
    const header = req.headers.authorization;
    const match = header === undefined ? null : /^Bearer (\S+)$/.exec(header);
    const key = match ? this.keys.get(match[1]) : undefined;
    let refusal: { status: number; message: string } | undefined;
    if (!key || !clusterMatches(key.cluster, this.options.instanceHost)) {
      refusal = { status: 401, message: 'Invalid API key' };
    } else if (key.permissions && !key.permissions.includes(this.permissions[routeKey])) {
      refusal = { status: 403, message: 'Access Denied' };
    }
    if (!refusal) return true;
    // Refused before the limiter counts it, yet like every non-429 answer it still reports the budget.
    if (routeKey === 'POST /users/track' && this.limiter) exchange.rateHeaders = this.limiter.peek();
    this.respond(exchange, res, refusal.status, { message: refusal.message });
    return false;
  }

  /** Answers 429 when `limiter` has no room (true), else notes its headers for the answer (false). */
  private throttled(limiter: RateLimiter | null, exchange: Exchange, res: ServerResponse): boolean {
    if (!limiter) return false;
    const decision = limiter.take();
    if (!decision.allowed) {
      this.respondRaw(
        exchange,
        res,
        429,
        { ...JSON_HEADERS, ...decision.headers },
        JSON.stringify({ message: 'API rate limit reached' }),
      );
      return true;
    }
    exchange.rateHeaders = decision.headers;
    return false;
  }

  private async track(exchange: Exchange, req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.throttled(this.limiter, exchange, res)) return;
    const body = await this.readJsonBody(exchange, req, res);
    if (body === undefined) return;
    exchange.body = this.options.logBodies ? body : undefined;
    if (!isPlainObject(body)) {
      this.respond(exchange, res, 400, { message: VALID_DATA_MESSAGE });
      return;
    }
    const arrays: Array<[InputArray, unknown[] | undefined]> = [];
    for (const name of ['attributes', 'events', 'purchases'] as const) {
      const value = body[name];
      if (value !== undefined && value !== null && !Array.isArray(value)) {
        this.respond(exchange, res, 400, { message: VALID_DATA_MESSAGE });
        return;
      }
      arrays.push([name, value ?? undefined]);
    }
    const lengths = arrays.map(([, items]) => items?.length ?? 0);
    const total = lengths[0] + lengths[1] + lengths[2];
    exchange.objectCount = total;
    const cap = this.options.maxObjectsPerRequest;
    const overCap = this.options.objectCapScope === 'combined' ? total > cap : lengths.some((n) => n > cap);
    if (overCap) {
      this.respond(exchange, res, 400, { message: MAX_INPUT_MESSAGE });
      return;
    }
    if (total === 0) {
      this.respond(exchange, res, 400, { message: VALID_DATA_MESSAGE });
      return;
    }
    this.processTrack(exchange, res, arrays, new Set(exchange.rejectIndexes ?? []));
  }

  private processTrack(
    exchange: Exchange,
    res: ServerResponse,
    arrays: Array<[InputArray, unknown[] | undefined]>,
    faultRejected: Set<number>,
  ): void {
    const style = this.options.errorTypeStyle;
    const errors: Array<{ type: string; input_array: InputArray; index: number }> = [];
    const valid: Record<InputArray, Array<Record<string, unknown>>> = { attributes: [], events: [], purchases: [] };
    let dropNestedUpdates = false;
    const checks = { attributes: checkAttributesObject, events: checkEventObject, purchases: checkPurchaseObject };
    for (const [name, items] of arrays) {
      if (!items) continue;
      const check = checks[name];
      for (let index = 0; index < items.length; index++) {
        const item = items[index];
        const problem: ErrorId | null = check(item, this.blocklist);
        const quoted = (text: string) => (exchange.quoteInput ? quotingInput(text, item) : text);
        if (problem) {
          errors.push({ type: quoted(errorType(problem, style)), input_array: name, index });
        } else if (name === 'attributes' && faultRejected.has(index)) {
          errors.push({ type: quoted(FAULT_REJECTION_TYPE), input_array: name, index });
        } else {
          const object = item as Record<string, unknown>;
          if (name === 'attributes' && !dropNestedUpdates) dropNestedUpdates = hasInvalidNestedValue(object);
          valid[name].push(object);
        }
      }
    }
    if (valid.attributes.length + valid.events.length + valid.purchases.length === 0) {
      const message = exchange.quoteInput ? quotingInput(VALID_DATA_MESSAGE, arrays[0][1]?.[0]) : VALID_DATA_MESSAGE;
      this.respond(exchange, res, 400, { message, errors });
      return;
    }
    const ctx: ApplyContext = {
      arrayMaxLength: this.options.arrayMaxLength,
      dropNestedUpdates,
      ledgerPerUser: this.options.ledgerPerUser,
    };
    for (const object of valid.attributes) {
      const profile = this.store.resolve(object);
      if (profile) this.store.applyAttributes(profile, object, ctx);
    }
    for (const object of valid.events) {
      const profile = this.store.resolve(object);
      if (profile) this.store.applyEvent(profile, object, ctx);
    }
    for (const object of valid.purchases) {
      const profile = this.store.resolve(object);
      if (profile) this.store.applyPurchase(profile, object, ctx);
    }
    if (this.options.emptySuccessBody) {
      this.respond(exchange, res, 201, {});
      return;
    }
    const reply: Record<string, unknown> = { message: 'success' };
    for (const [name, items] of arrays) if (items) reply[`${name}_processed`] = valid[name].length;
    if (errors.length > 0) reply.errors = errors;
    this.respond(exchange, res, 201, reply);
  }

  private async exportIds(exchange: Exchange, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await this.readJsonBody(exchange, req, res);
    if (body === undefined) return;
    exchange.body = this.options.logBodies ? body : undefined;
    if (!isPlainObject(body)) {
      this.respond(exchange, res, 400, { message: 'Request body must be a JSON object' });
      return;
    }
    const externalIds = Array.isArray(body.external_ids) ? body.external_ids.map(String) : [];
    const aliases = Array.isArray(body.user_aliases) ? body.user_aliases.filter(isPlainObject) : [];
    const singles = ['braze_id', 'email_address', 'phone', 'device_id'].filter((k) => body[k] !== undefined);
    if (externalIds.length + aliases.length > EXPORT_IDS_MAX) {
      this.respond(exchange, res, 400, { message: `At most ${EXPORT_IDS_MAX} external_ids or user_aliases` });
      return;
    }
    if (externalIds.length + aliases.length + singles.length === 0) {
      this.respond(exchange, res, 400, { message: 'Provide external_ids, user_aliases, braze_id or email_address' });
      return;
    }
    const fields = Array.isArray(body.fields_to_export) ? body.fields_to_export.map(String) : undefined;
    const users: Array<Record<string, unknown>> = [];
    const invalid: string[] = [];
    for (const externalId of externalIds) {
      const profile = this.store.find({ external_id: externalId });
      if (profile) users.push(exportShape(profile, fields));
      else invalid.push(externalId);
    }
    for (const alias of aliases) {
      const profile = this.store.find({
        alias: { alias_name: String(alias.alias_name), alias_label: String(alias.alias_label) },
      });
      if (profile) users.push(exportShape(profile, fields));
    }
    if (typeof body.braze_id === 'string') {
      const profile = this.store.find({ braze_id: body.braze_id });
      if (profile) users.push(exportShape(profile, fields));
    }
    if (typeof body.email_address === 'string') {
      for (const profile of this.store.findAllByEmail(body.email_address)) users.push(exportShape(profile, fields));
    }
    const reply: Record<string, unknown> = { message: 'success', users };
    if (invalid.length > 0) reply.invalid_user_ids = invalid;
    this.respond(exchange, res, 200, reply);
  }

  /** Reads an identity request's list: answers 400 itself (and returns undefined) when it is missing or too long. */
  private async identityEntries(
    exchange: Exchange,
    req: IncomingMessage,
    res: ServerResponse,
    listNames: string[],
  ): Promise<Record<string, Array<Record<string, unknown>>> | undefined> {
    // Counted before the body is read, like /users/track.
    const limiter = exchange.path === '/users/external_ids/rename' ? this.renameLimiter : this.identityLimiter;
    if (this.throttled(limiter, exchange, res)) return undefined;
    const body = await this.readJsonBody(exchange, req, res);
    if (body === undefined) return undefined;
    exchange.body = this.options.logBodies ? body : undefined;
    const lists: Record<string, Array<Record<string, unknown>>> = {};
    let total = 0;
    for (const name of listNames) {
      const list = isPlainObject(body) ? body[name] : undefined;
      if (list === undefined) continue;
      if (!Array.isArray(list) || !list.every(isPlainObject)) {
        this.respond(exchange, res, 400, { message: `'${name}' must be an array of objects` });
        return undefined;
      }
      lists[name] = list;
      total += list.length;
    }
    exchange.objectCount = total;
    if (total === 0) {
      this.respond(exchange, res, 400, { message: `Provide ${listNames.join(' or ')}` });
      return undefined;
    }
    if (total > IDENTITY_BATCH_MAX) {
      this.respond(exchange, res, 400, { message: `At most ${IDENTITY_BATCH_MAX} entries per request` });
      return undefined;
    }
    return lists;
  }

  /** `POST /users/identify`: `aliases_to_identify` and `emails_to_identify` (spec §7). */
  private async identify(exchange: Exchange, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const lists = await this.identityEntries(exchange, req, res, ['aliases_to_identify', 'emails_to_identify']);
    if (!lists) return;
    const aliases = lists.aliases_to_identify ?? [];
    const emails = lists.emails_to_identify ?? [];
    const badAlias = aliases.findIndex((e) => typeof e.external_id !== 'string' || asAlias(e.user_alias) === null);
    const badEmail = emails.findIndex(
      (e) => typeof e.external_id !== 'string' || typeof e.email !== 'string' || asPrioritization(e) === null,
    );
    if (badAlias >= 0 || badEmail >= 0) {
      const where = badAlias >= 0 ? `aliases_to_identify[${badAlias}]` : `emails_to_identify[${badEmail}]`;
      this.respond(exchange, res, 400, { message: `${where} needs external_id and a user_alias or email` });
      return;
    }
    const outcomes: IdentityOutcome[] = [
      ...aliases.map((e) => this.store.identifyAlias(e.external_id as string, asAlias(e.user_alias)!)),
      ...emails.map((e) => this.store.identifyEmail(e.external_id as string, e.email as string, asPrioritization(e)!)),
    ];
    this.respond(exchange, res, 201, {
      aliases_processed: outcomes.slice(0, aliases.length).filter((o) => 'done' in o).length,
      emails_processed: outcomes.slice(aliases.length).filter((o) => 'done' in o).length,
      message: 'success',
    });
  }

  /**
   * `POST /users/external_ids/rename`. Refused renames come back in `rename_errors` as `[reason, entry]` pairs (Braze
   * documents an array of arrays without its shape: assumption).
   */
  private async rename(exchange: Exchange, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const lists = await this.identityEntries(exchange, req, res, ['external_id_renames']);
    if (!lists) return;
    const renamed: string[] = [];
    const errors: Array<[string, Record<string, unknown>]> = [];
    for (const entry of lists.external_id_renames) {
      const current = entry.current_external_id;
      const next = entry.new_external_id;
      const refusal =
        typeof current !== 'string' || typeof next !== 'string' || next === ''
          ? 'current_external_id and new_external_id must be strings'
          : this.store.renameExternalId(current, next);
      if (refusal === undefined) renamed.push(next as string);
      else errors.push([refusal, entry]);
    }
    this.respond(exchange, res, 201, { message: 'success', external_ids: renamed, rename_errors: errors });
  }

  /** `POST /users/merge`: asynchronous in Braze (202); applied at once here, unknown identifiers skipped. */
  private async merge(exchange: Exchange, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const lists = await this.identityEntries(exchange, req, res, ['merge_updates']);
    if (!lists) return;
    const pairs = lists.merge_updates.map((e) => [
      asMergeIdentifier(e.identifier_to_merge),
      asMergeIdentifier(e.identifier_to_keep),
    ]);
    const bad = pairs.findIndex(([merge, keep]) => merge === null || keep === null);
    if (bad >= 0) {
      this.respond(exchange, res, 400, {
        message: `merge_updates[${bad}] needs identifier_to_merge and identifier_to_keep`,
      });
      return;
    }
    for (const [merge, keep] of pairs) this.store.merge(merge!, keep!);
    this.respond(exchange, res, 202, { message: 'success' });
  }

  private segmentsList(exchange: Exchange, _req: IncomingMessage, res: ServerResponse): void {
    const params = new URLSearchParams(exchange.query);
    const page = Math.max(0, Number.parseInt(params.get('page') ?? '0', 10) || 0);
    const ordered =
      params.get('sort_direction') === 'desc' ? [...this.options.segments].reverse() : this.options.segments;
    const segments = ordered.slice(page * SEGMENTS_PAGE_SIZE, (page + 1) * SEGMENTS_PAGE_SIZE).map((s) => ({
      id: s.id,
      name: s.name,
      analytics_tracking_enabled: false,
      tags: s.tags ?? [],
    }));
    this.respond(exchange, res, 200, { message: 'success', segments });
  }

  private segmentDetails(exchange: Exchange, _req: IncomingMessage, res: ServerResponse): void {
    const id = new URLSearchParams(exchange.query).get('segment_id');
    const segment = this.options.segments.find((s) => s.id === id);
    if (!segment) {
      this.respond(exchange, res, 400, { message: 'Invalid segment_id' });
      return;
    }
    const created = new Date(0).toISOString();
    this.respond(exchange, res, 200, {
      message: 'success',
      created_at: created,
      updated_at: created,
      name: segment.name,
      description: segment.description ?? '',
      text_description: segment.description ?? '',
      tags: segment.tags ?? [],
      teams: [],
    });
  }

  /**
   * Reads the body under the size cap and parses it. Answers 413/400 itself and returns undefined in that case.
   */
  private async readJsonBody(exchange: Exchange, req: IncomingMessage, res: ServerResponse): Promise<unknown> {
    const max = this.options.maxBodyBytes;
    const declared = Number(req.headers['content-length'] ?? Number.NaN);
    if (declared > max) {
      exchange.bodyBytes = declared;
      this.respond(exchange, res, 413, { message: 'Request Entity Too Large' });
      return undefined;
    }
    const chunks: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (bytes <= max) chunks.push(chunk);
    }
    exchange.bodyBytes = bytes;
    if (bytes > max) {
      this.respond(exchange, res, 413, { message: 'Request Entity Too Large' });
      return undefined;
    }
    if (!/\bjson\b/i.test(req.headers['content-type'] ?? '')) {
      this.respond(exchange, res, 400, { message: 'Content-Type must be application/json' });
      return undefined;
    }
    try {
      return JSON.parse(Buffer.concat(chunks, bytes).toString('utf8'));
    } catch {
      this.respond(exchange, res, 400, { message: 'Invalid JSON in request body' });
      return undefined;
    }
  }

  private respond(exchange: Exchange, res: ServerResponse, status: number, body: unknown): void {
    this.respondRaw(exchange, res, status, { ...JSON_HEADERS, ...exchange.rateHeaders }, JSON.stringify(body));
  }

  private respondRaw(
    exchange: Exchange,
    res: ServerResponse,
    status: number,
    headers: Record<string, string>,
    body: string,
  ): void {
    const send = () => {
      if (res.destroyed) return;
      res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(body) });
      res.end(body);
      this.record(exchange, status);
    };
    const delay = this.latency() + exchange.extraLatencyMs;
    if (delay > 0) setTimeout(send, delay);
    else send();
  }

  private latency(): number {
    const latency = this.options.latencyMs;
    if (typeof latency === 'number') return latency;
    return Math.round(latency.min + this.random() * (latency.max - latency.min));
  }

  private record(exchange: Exchange, status: number): void {
    const finishedAtMs = this.options.clock();
    const entry: RequestLogEntry = {
      seq: exchange.seq,
      method: exchange.method,
      path: exchange.path,
      status,
      objectCount: exchange.objectCount,
      bodyBytes: exchange.bodyBytes,
      startedAt: new Date(exchange.startedAtMs).toISOString(),
      finishedAt: new Date(finishedAtMs).toISOString(),
      latencyMs: finishedAtMs - exchange.startedAtMs,
      headers: exchange.headers,
    };
    if (exchange.body !== undefined && this.options.logBodies) entry.body = exchange.body;
    if (exchange.fault) entry.fault = exchange.fault;
    this.log.add(entry);
  }

  private async control(
    method: string,
    path: string,
    params: URLSearchParams,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    const route = `${method} ${path}`;
    switch (route) {
      case 'GET /_sim/profiles':
        return sendJson(res, 200, { profiles: this.profiles() });
      case 'GET /_sim/shared-emails':
        return sendJson(res, 200, { emails: this.sharedEmails() });
      case 'GET /_sim/profile': {
        const profile = this.findProfile(profileQuery(params));
        return profile ? sendJson(res, 200, profile) : sendJson(res, 404, { message: 'No such profile' });
      }
      case 'GET /_sim/requests': {
        const since = Number(params.get('since') ?? 0) || 0;
        const withBodies = params.get('bodies') !== 'false';
        const entries = this.log.since(since).map((e) => (withBodies ? e : { ...e, body: undefined }));
        return sendJson(res, 200, { requests: entries });
      }
      case 'GET /_sim/ledger':
        return sendJson(res, 200, this.ledger());
      case 'GET /_sim/stats':
        return sendJson(res, 200, this.stats());
      case 'POST /_sim/faults': {
        const body = await readControlBody(req);
        if (!isPlainObject(body) || !Array.isArray(body.rules)) {
          return sendJson(res, 400, { message: 'Expected {"rules": [...]}' });
        }
        this.setFaults(body.rules as FaultRule[]);
        return sendJson(res, 200, { rules: this.faults.list() });
      }
      case 'DELETE /_sim/faults':
        this.setFaults([]);
        return sendJson(res, 200, { rules: [] });
      case 'POST /_sim/reset': {
        const what = (params.get('what') ?? 'all') as ResetTarget;
        if (!['all', 'profiles', 'requests', 'ledger', 'faults'].includes(what)) {
          return sendJson(res, 400, { message: `Unknown reset target '${what}'` });
        }
        this.reset(what);
        return sendJson(res, 200, { reset: what });
      }
      case 'PATCH /_sim/config': {
        const body = await readControlBody(req);
        if (!isPlainObject(body)) return sendJson(res, 400, { message: 'Expected a JSON object of options' });
        const unknown = Object.keys(body).filter((key) => !RUNTIME_OPTIONS.has(key));
        if (unknown.length > 0) {
          return sendJson(res, 400, { message: `Unknown or fixed option(s): ${unknown.join(', ')}` });
        }
        this.configure(body as Partial<SandboxOptions>);
        return sendJson(res, 200, { message: 'ok' });
      }
      default:
        return sendJson(res, 404, { message: `No control route ${route}` });
    }
  }
}

function asAlias(value: unknown): UserAlias | null {
  if (!isPlainObject(value) || typeof value.alias_name !== 'string' || typeof value.alias_label !== 'string')
    return null;
  return { alias_name: value.alias_name, alias_label: value.alias_label };
}

function asPrioritization(entry: Record<string, unknown>): Prioritization | null {
  const value = entry.prioritization;
  if (!Array.isArray(value) || value.length === 0 || !value.every((p) => PRIORITIES.has(p as string))) return null;
  return value as Prioritization;
}

function asMergeIdentifier(value: unknown): MergeIdentifier | null {
  if (!isPlainObject(value)) return null;
  if (typeof value.external_id === 'string') return { external_id: value.external_id };
  const alias = asAlias(value.user_alias);
  if (alias) return { user_alias: alias };
  if (typeof value.email === 'string') {
    const prioritization = asPrioritization(value);
    return prioritization ? { email: value.email, prioritization } : null;
  }
  return null;
}

function hasInvalidNestedValue(object: Record<string, unknown>): boolean {
  for (const key in object) {
    if (IDENTIFIER_AND_FLAG_KEYS.has(key) || STANDARD_FIELDS.has(key)) continue;
    const value = object[key];
    if (typeof value !== 'object' || value === null) continue;
    const nested = Array.isArray(value)
      ? value.some((v) => typeof v !== 'string')
      : isNestedObject(value as Record<string, unknown>);
    if (nested && isInvalidNestedValue(value)) return true;
  }
  return false;
}

/** Objects other than the simple operators (`inc`, `add`/`remove`, `$time`) are nested custom attributes. */
function isNestedObject(value: Record<string, unknown>): boolean {
  const keys = Object.keys(value);
  if (keys.length === 1 && (keys[0] === 'inc' || keys[0] === '$time')) return false;
  return !(keys.length > 0 && keys.every((k) => k === 'add' || k === 'remove'));
}

function profileQuery(params: URLSearchParams): ProfileQuery {
  const externalId = params.get('external_id');
  if (externalId !== null) return { external_id: externalId };
  const aliasName = params.get('alias_name');
  const aliasLabel = params.get('alias_label');
  if (aliasName !== null && aliasLabel !== null) return { alias: { alias_name: aliasName, alias_label: aliasLabel } };
  const brazeId = params.get('braze_id');
  if (brazeId !== null) return { braze_id: brazeId };
  const email = params.get('email');
  if (email !== null) return { email };
  return {};
}

/** The documented `/users/export/ids` user shape: standard fields at top level, custom ones under custom_attributes. */
function exportShape(profile: SandboxProfile, fields: string[] | undefined): Record<string, unknown> {
  const full: Record<string, unknown> = {
    external_id: profile.external_id ?? null,
    user_aliases: profile.user_aliases,
    braze_id: profile.braze_id,
    email: profile.email ?? null,
    phone: profile.phone ?? null,
  };
  const custom: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(profile.attributes)) {
    if (STANDARD_FIELDS.has(key)) full[key] = value;
    else custom[key] = value;
  }
  full.custom_attributes = custom;
  if (profile.custom_events) {
    full.custom_events = Object.entries(profile.custom_events).map(([name, e]) => ({ name, ...e }));
  }
  if (profile.purchases) full.purchases = Object.entries(profile.purchases).map(([name, p]) => ({ name, ...p }));
  if (!fields) return full;
  const selected: Record<string, unknown> = {};
  for (const field of fields) selected[field] = full[field] ?? (field === 'custom_attributes' ? {} : null);
  return selected;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...JSON_HEADERS, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readControlBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export async function startBrazeSandbox(options: SandboxOptions = {}): Promise<BrazeSandbox> {
  const sandbox = new Sandbox(options);
  await sandbox.listen();
  return sandbox;
}
