/**
 * Braze identity calls (spec §7): `/users/identify`, `/users/external_ids/rename`, `/users/merge`. Changes are
 * queued per endpoint and sent at most 50 per request, under their own rate limit (Braze counts these endpoints apart
 * from `/users/track`), over the same transport as the track delivery. Each change gets a verdict; a refused change is
 * a per-row rejection with Braze's reason.
 */
import { BrazeFatalError } from './types';
import { createBrazeClient } from './client';
import { TransportError, type HttpResponse, type HttpTransport } from './http';
import { systemClock, throttleDelayInMs, TokenBucket, type Clock } from './rateLimit';
import { setupProblem, statusKind } from './statuses';
import { ALIAS_LABEL } from '../mapping/profileMapper';
import type { IdentityChange } from '../state/diff';

/** Entries per identity request (spec §7). */
export const IDENTITY_BATCH_SIZE = 50;
/** `/users/identify` and `/users/merge` share 20,000 requests a minute; renames have 1,000 a minute (spec §5, §7). */
const SHARED_REQUESTS_PER_SECOND = 20_000 / 60;
const RENAME_REQUESTS_PER_SECOND = 1_000 / 60;
/** Prefer the email-only profile, then the most recently updated one (spec §7, `prioritization`). */
const PRIORITIZATION = ['unidentified', 'most_recently_updated'];

export type IdentityVerdict = { status: 'accepted' } | { status: 'rejected'; reason: string };

export interface IdentityDeliveryOptions {
  /** Braze REST endpoint (`resolveBrazeEndpoint`). */
  endpoint: URL;
  apiKey: string;
  requestTimeoutInMs?: number;
  maxAttempts?: number;
  /** Share of Braze's identity budgets this app may use (1 = all of it). Default 0.5: the budget is the company's. */
  budgetShare?: number;
  transport?: HttpTransport;
  clock?: Clock;
  /** Waits; tests pass a fake clock's. */
  sleep?: (ms: number) => Promise<void>;
}

type Route = 'identify' | 'rename' | 'merge';

interface Queued {
  change: IdentityChange;
  resolve: (verdict: IdentityVerdict) => void;
  reject: (error: Error) => void;
}

const PATHS: Record<Route, string> = {
  identify: '/users/identify',
  rename: '/users/external_ids/rename',
  merge: '/users/merge',
};
const PERMISSIONS: Record<Route, string> = {
  identify: 'users.identify',
  rename: 'users.external_ids.rename',
  merge: 'users.merge',
};

function identifierOf(key: string): Record<string, unknown> {
  const value = key.slice(2);
  if (key[0] === 'e') return { external_id: value };
  if (key[0] === 'm') return { email: value, prioritization: PRIORITIZATION };
  return { user_alias: { alias_name: value, alias_label: ALIAS_LABEL } };
}

export class IdentityDelivery {
  private readonly queues: Record<Route, Queued[]> = { identify: [], rename: [], merge: [] };
  private readonly buckets: Record<Route, TokenBucket>;
  private readonly send: HttpTransport;
  private readonly closeTransport: () => void;
  private readonly clock: Clock;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly maxAttempts: number;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly counts = { requests: 0, retries: 0, throttled: 0 };

  constructor(private readonly options: IdentityDeliveryOptions) {
    this.clock = options.clock ?? systemClock;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.maxAttempts = options.maxAttempts ?? 8;
    const share = options.budgetShare ?? 0.5;
    // identify and merge share one Braze budget, so one bucket.
    const shared = new TokenBucket({
      requestsPerSecond: SHARED_REQUESTS_PER_SECOND * share,
      burst: 4,
      clock: this.clock,
    });
    const rename = new TokenBucket({
      requestsPerSecond: RENAME_REQUESTS_PER_SECOND * share,
      burst: 4,
      clock: this.clock,
    });
    this.buckets = { identify: shared, merge: shared, rename };
    if (options.transport) {
      this.send = options.transport;
      this.closeTransport = () => undefined;
    } else {
      const client = createBrazeClient({
        endpoint: options.endpoint,
        apiKey: options.apiKey,
        timeoutInMs: options.requestTimeoutInMs ?? 30_000,
        maxSockets: 4,
      });
      this.send = client.send;
      this.closeTransport = client.close;
    }
  }

  /** Requests, retries and 429s so far (for the run summary's totals). */
  get stats(): { requests: number; retries: number; throttled: number } {
    return { ...this.counts };
  }

  /** Queues a change; its verdict comes once its request is answered (a full batch goes at once, others at `flush`). */
  push(change: IdentityChange): Promise<IdentityVerdict> {
    const route: Route = change.kind === 'rename' ? 'rename' : change.kind === 'identify' ? 'identify' : 'merge';
    return new Promise<IdentityVerdict>((resolve, reject) => {
      this.queues[route].push({ change, resolve, reject });
      if (this.queues[route].length >= IDENTITY_BATCH_SIZE) this.start(route);
    });
  }

  /** Sends everything queued and waits for every answer. */
  async flush(): Promise<void> {
    for (const route of Object.keys(this.queues) as Route[]) while (this.queues[route].length > 0) this.start(route);
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  close(): void {
    this.closeTransport();
  }

  private start(route: Route): void {
    const batch = this.queues[route].splice(0, IDENTITY_BATCH_SIZE);
    const request = this.deliver(route, batch).catch((error: Error) => batch.forEach((q) => q.reject(error)));
    this.inFlight.add(request);
    void request.finally(() => this.inFlight.delete(request));
  }

  private async deliver(route: Route, batch: Queued[]): Promise<void> {
    const response = await this.post(route, bodyOf(route, batch));
    if (statusKind(response.status) === 'refused') {
      const reason = messageOf(response) ?? `identity request refused (${response.status})`;
      for (const queued of batch) queued.resolve({ status: 'rejected', reason });
      return;
    }
    if (route !== 'rename') {
      for (const queued of batch) queued.resolve({ status: 'accepted' });
      return;
    }
    const refusals = renameRefusals(response);
    const merges: Queued[] = [];
    for (const queued of batch) {
      const reason = refusals.get(queued.change.from.slice(2));
      // Refused: the new id exists in Braze already (someone else's sync, or an earlier attempt of this run renamed
      // it): the profile is merged into it instead, which is a no-op when the old id already resolves there.
      if (reason === undefined) queued.resolve({ status: 'accepted' });
      else merges.push(queued);
    }
    if (merges.length > 0) await this.deliver('merge', merges);
  }

  /**
   * One request with retries: 429 waits for Braze's headers, 408, 5xx and transport errors back off; 401/403/404
   * stop; any other answer (2xx, or a refusal such as 400) is returned.
   */
  private async post(route: Route, body: string): Promise<HttpResponse> {
    for (let attempt = 1; ; attempt++) {
      const wait = this.buckets[route].reserve();
      if (wait > 0) await this.sleep(wait);
      this.counts.requests++;
      let response: HttpResponse | null = null;
      try {
        response = await this.send({ method: 'POST', path: PATHS[route], body });
      } catch (error) {
        if (!(error instanceof TransportError) || !error.retryable || attempt >= this.maxAttempts) throw error;
      }
      const kind = response && statusKind(response.status);
      if (response && (kind === 'success' || kind === 'refused')) return response;
      if (response && kind === 'setup') throw fatal(route, response.status, this.options.endpoint.host);
      if (attempt >= this.maxAttempts) {
        throw new BrazeFatalError(
          `Braze ${PATHS[route]} failed ${attempt} times (last: ${response?.status ?? 'no answer'})`,
          response?.status ?? null,
          true,
        );
      }
      this.counts.retries++;
      if (response?.status === 429) {
        this.counts.throttled++;
        const delay = throttleDelayInMs(response.headers, this.clock.now()) ?? 1_000;
        this.buckets[route].throttle(this.clock.now() + delay);
      } else {
        await this.sleep(Math.min(30_000, 250 * 2 ** attempt));
      }
    }
  }
}

function bodyOf(route: Route, batch: Queued[]): string {
  if (route === 'rename') {
    return JSON.stringify({
      external_id_renames: batch.map(({ change }) => ({
        current_external_id: change.from.slice(2),
        new_external_id: change.to.slice(2),
      })),
    });
  }
  if (route === 'merge') {
    return JSON.stringify({
      merge_updates: batch.map(({ change }) => ({
        identifier_to_merge: identifierOf(change.from),
        identifier_to_keep: identifierOf(change.to),
      })),
    });
  }
  const aliases = batch.filter(({ change }) => change.from[0] === 'a');
  const emails = batch.filter(({ change }) => change.from[0] === 'm');
  return JSON.stringify({
    ...(aliases.length > 0 && {
      aliases_to_identify: aliases.map(({ change }) => ({
        external_id: change.to.slice(2),
        user_alias: { alias_name: change.from.slice(2), alias_label: ALIAS_LABEL },
      })),
    }),
    ...(emails.length > 0 && {
      emails_to_identify: emails.map(({ change }) => ({
        external_id: change.to.slice(2),
        email: change.from.slice(2),
        prioritization: PRIORITIZATION,
      })),
    }),
  });
}

function parse(response: HttpResponse): Record<string, unknown> {
  try {
    const body: unknown = JSON.parse(response.text);
    return typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** Braze's message, cut short: it says why, and is kept out of logs only where it could echo an identifier. */
function messageOf(response: HttpResponse): string | undefined {
  const message = parse(response).message;
  return typeof message === 'string' ? message.slice(0, 200) : undefined;
}

/**
 * `rename_errors` by current external id. Braze documents "an array of arrays" without its shape; the sandbox (and
 * this reader) take `[reason, {current_external_id, new_external_id}]`.
 */
function renameRefusals(response: HttpResponse): Map<string, string> {
  const refusals = new Map<string, string>();
  const errors = parse(response).rename_errors;
  if (!Array.isArray(errors)) return refusals;
  for (const error of errors) {
    if (!Array.isArray(error)) continue;
    const [reason, entry] = error as [unknown, unknown];
    const current = (entry as { current_external_id?: unknown } | null)?.current_external_id;
    if (typeof current === 'string') refusals.set(current, String(reason).slice(0, 200));
  }
  return refusals;
}

function fatal(route: Route, status: number, host: string): BrazeFatalError {
  return new BrazeFatalError(
    `Braze answered ${status} for ${PATHS[route]}: ${setupProblem(status, host, PERMISSIONS[route])}`,
    status,
    false,
  );
}
