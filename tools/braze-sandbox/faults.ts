/** Fault rules for `/users/track` (braze-api.md §9.5) and the seeded PRNG they draw from. */
import type { FaultAction, FaultRule } from './types';

/** mulberry32: small, fast, seedable; good enough to make fault probabilities reproducible. */
export function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class FaultInjector {
  private rules: Array<{ rule: FaultRule; fired: number }> = [];
  private ordinal = 0;

  constructor(private readonly random: () => number) {}

  install(rules: FaultRule[]): void {
    this.rules = rules.map((rule) => ({ rule, fired: 0 }));
    this.ordinal = 0;
  }

  list(): FaultRule[] {
    return this.rules.map((r) => r.rule);
  }

  /** Counts one `/users/track` request and returns the action of the first rule that fires, if any. */
  next(): FaultAction | undefined {
    const ordinal = ++this.ordinal;
    for (const entry of this.rules) {
      const { match, action } = entry.rule;
      if (match.count !== undefined && entry.fired >= match.count) continue;
      if (match.nth !== undefined && ordinal !== match.nth) continue;
      if (match.every !== undefined && ordinal % match.every !== 0) continue;
      if (match.probability !== undefined && this.random() >= match.probability) continue;
      entry.fired++;
      return action;
    }
    return undefined;
  }
}

export function describeFault(action: FaultAction): string {
  if (action.reset) return 'reset';
  if (action.hang) return 'hang';
  const parts: string[] = [];
  if (action.status !== undefined) parts.push(`status:${action.status}`);
  if (action.latencyMs !== undefined) parts.push(`latency:${action.latencyMs}`);
  if (action.rejectIndexes) parts.push(`reject:${action.rejectIndexes.join(',')}`);
  if (action.quoteInput) parts.push('quote-input');
  return parts.join(' ');
}

/** `text` followed by the object's identifiers and personal values (the `quoteInput` fault). */
export function quotingInput(text: string, object: unknown): string {
  if (typeof object !== 'object' || object === null) return text;
  const o = object as Record<string, unknown>;
  const alias = o.user_alias as { alias_name?: unknown } | undefined;
  const name = [o.first_name, o.last_name].filter((part) => typeof part === 'string').join(' ');
  // `phone`, or a custom attribute such as `ci_mobile_phone`.
  const phone = Object.entries(o).find(([key, value]) => /phone$/.test(key) && typeof value === 'string')?.[1];
  const parts = [
    typeof o.external_id === 'string' ? `external_id '${o.external_id}'` : '',
    typeof alias?.alias_name === 'string' ? `alias "${alias.alias_name}"` : '',
    name === '' ? '' : `user ${name}`,
    typeof phone === 'string' ? `phone ${phone}` : '',
    typeof o.email === 'string' ? `email <${o.email}>` : '',
  ].filter((part) => part !== '');
  return parts.length === 0 ? text : `${text} (${parts.join(', ')})`;
}
