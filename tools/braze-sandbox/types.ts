/** Public types of the Braze sandbox. `server.ts` re-exports them; other code imports from there. */

export type ThrottleHeaderStyle = 'ratelimit' | 'retry-after-ratelimit' | 'retry-after' | 'none';

export interface RateLimitOptions {
  /** Requests allowed per window. */
  limit: number;
  /** Window length; windows are aligned to multiples of it since the epoch (an hour window resets on the clock hour). */
  windowSeconds: number;
  /** `x-ratelimit-reset` as UTC epoch seconds, or as seconds remaining in the window. */
  resetStyle: 'epoch' | 'seconds';
  /**
   * Headers of a 429: `ratelimit` = the three `x-ratelimit-*`; `retry-after-ratelimit` = only `x-ratelimit-retry-after`
   * (MAU contracts); `retry-after` = only the standard `retry-after`; `none` = no hint at all.
   */
  throttleHeaders: ThrottleHeaderStyle;
  /**
   * MAU contracts: requests allowed per clock hour on top of the burst window. When set, the `x-ratelimit-*`
   * headers describe the hour, and a 429's hint points at the end of whichever window is exhausted.
   */
  hourlyLimit?: number;
}

export interface SandboxApiKey {
  key: string;
  /** Permissions such as `users.track`; omitted = all permissions. */
  permissions?: string[];
  /** REST host (or instance name such as `fra-01`) the key belongs to; omitted = the sandbox's own host. */
  cluster?: string;
}

export interface SandboxSegment {
  id: string;
  name: string;
  tags?: string[];
  description?: string;
}

export interface SandboxOptions {
  /** 0 = a free port (default). Not changeable at run time. */
  port?: number;
  apiKeys?: SandboxApiKey[];
  /** The host this sandbox pretends to be; a key whose `cluster` names another host gets 401. */
  instanceHost?: string;
  /** null = no rate limit and no `x-ratelimit-*` headers. */
  rateLimit?: RateLimitOptions | null;
  maxObjectsPerRequest?: number;
  /** `combined` = the cap applies to attributes + events + purchases; `perArray` = to each array (legacy contracts). */
  objectCapScope?: 'combined' | 'perArray';
  maxBodyBytes?: number;
  /** `code` = documented codes (EMAIL_BAD_FORMAT …) where Braze documents one; `sentence` = descriptive texts. */
  errorTypeStyle?: 'sentence' | 'code';
  /** Longest stored string array; the oldest elements are dropped first. */
  arrayMaxLength?: number;
  /** Added before every response: fixed, or uniformly random in [min, max] from the seeded PRNG. */
  latencyMs?: number | { min: number; max: number };
  logBodies?: boolean;
  requestLogLimit?: number;
  ledgerPerUser?: boolean;
  blocklistedExternalIds?: string[];
  /** Reply `201 {}` instead of the counted success body (seen in public fixtures). */
  emptySuccessBody?: boolean;
  /** Seed of the PRNG used by fault `probability` and random latency. */
  seed?: number;
  /** Segments served by `/segments/list` and `/segments/details`, in creation order. */
  segments?: SandboxSegment[];
  /** Current time in ms since the epoch; lets tests move the rate-limit window without waiting. */
  clock?: () => number;
}

export interface UserAlias {
  alias_name: string;
  alias_label: string;
}

export interface SandboxProfile {
  braze_id: string;
  external_id?: string;
  user_aliases: UserAlias[];
  email?: string;
  phone?: string;
  /** Standard and custom attributes as stored; removed attributes are absent. */
  attributes: Record<string, unknown>;
  /** Custom events received, by name (present once an event was tracked). */
  custom_events?: Record<string, { count: number; first: string; last: string }>;
  /** Purchases received, by product_id (present once a purchase was tracked). */
  purchases?: Record<string, { count: number; first: string; last: string }>;
}

export interface RequestLogEntry {
  seq: number;
  method: string;
  path: string;
  status: number;
  /** Objects across attributes, events and purchases (0 when the body was not parsed). */
  objectCount: number;
  bodyBytes: number;
  /** ISO timestamps. */
  startedAt: string;
  finishedAt: string;
  latencyMs: number;
  /** Request headers, lower-case names; Authorization, api key and cookie values redacted (`redactHeaders`). */
  headers: Record<string, string>;
  /** Parsed JSON body when `logBodies` is on. */
  body?: unknown;
  /** Which fault rule action shaped this response, e.g. `status:502`, `reset`, `hang`. */
  fault?: string;
}

export interface Ledger {
  /** Data points charged. */
  total: number;
  /** Data points by top-level attribute key (events under `$events`, purchases under `$purchases`). */
  byKey: Record<string, number>;
  /** Data points by braze_id (when `ledgerPerUser`). */
  byUser?: Record<string, number>;
  /** Attribute keys sent in applied objects (identifiers and flags excluded). */
  keysSent: number;
  /** Of those, writes that changed the stored value: a client that diffs well keeps keysSent == keysChanged. */
  keysChanged: number;
}

export interface FaultMatch {
  /** 1-based ordinal of `/users/track` requests since the rules were installed. */
  nth?: number;
  /** Every n-th request (n, 2n, …). */
  every?: number;
  /** Chance in [0, 1] per request, from the seeded PRNG. */
  probability?: number;
  /** How many times the rule fires; default unlimited. */
  count?: number;
}

export interface FaultAction {
  status?: number;
  headers?: Record<string, string>;
  /** Raw body, e.g. an HTML page; default `{"message": <status text>}`. */
  body?: string;
  /** Extra delay before answering; alone, the request is then processed normally. */
  latencyMs?: number;
  /** Destroy the socket without answering. */
  reset?: true;
  /** Never answer (the socket stays open until the client gives up or the sandbox closes). */
  hang?: true;
  /** Process normally but reject these `attributes` indexes (201 with errors). */
  rejectIndexes?: number[];
  /**
   * Error texts (`errors[].type`, and the message of a 400 whose objects are all invalid) quote the object's
   * external id, alias, name, phone (`phone` or a key ending in it) and email, as free-text errors from Braze or a proxy in front of it may.
   */
  quoteInput?: true;
}

export interface FaultRule {
  match: FaultMatch;
  action: FaultAction;
}

export type ResetTarget = 'all' | 'profiles' | 'requests' | 'ledger' | 'faults';

export interface SandboxStats {
  requests: number;
  inFlight: number;
  peakInFlight: number;
}

export interface ProfileQuery {
  external_id?: string;
  alias?: UserAlias;
  braze_id?: string;
  email?: string;
}

/** An email held by several profiles (`GET /_sim/shared-emails`). */
export interface SharedEmail {
  email: string;
  braze_ids: string[];
}

export interface BrazeSandbox {
  url: string;
  port: number;
  apiKey: string;
  close(): Promise<void>;
  profiles(): SandboxProfile[];
  findProfile(q: ProfileQuery): SandboxProfile | undefined;
  /** Emails held by more than one profile. */
  sharedEmails(): SharedEmail[];
  requests(): RequestLogEntry[];
  ledger(): Ledger;
  stats(): SandboxStats;
  setFaults(rules: FaultRule[]): void;
  reset(what?: ResetTarget): void;
  configure(patch: Partial<SandboxOptions>): void;
}
