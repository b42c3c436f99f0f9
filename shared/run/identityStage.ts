import type { IdentityDelivery } from '../braze/identity';
import type { MappedRow } from '../mapping/profileMapper';
import type { PlannedObject } from '../state/diff';

/** A row whose CI merge or split is decided once every row was read (`RowPlan` `deferred`). */
export interface DeferredRow<Reading> {
  row: MappedRow;
  segment: number;
  reading: Reading;
  blob: string;
  line: number;
}

/**
 * The identity stage of a run: identity changes go to Braze before the objects that address the person by their new
 * identity, and every later object of that person waits for them too (an object sent first would make a duplicate
 * profile, spec §3.2). Deferred rows wait here until the rows are read. Without a connection (dry run) nothing waits.
 */
export class IdentityStage<Reading = unknown> {
  private delivery: IdentityDelivery | null = null;
  private onFailure: (error: Error) => void = () => undefined;
  /** Per slot: the identity changes its next object waits for; resolves to the refusal's reason, or null. */
  private readonly waits = new Map<number, Promise<string | null>>();
  private deferred: Array<DeferredRow<Reading>> = [];

  connect(delivery: IdentityDelivery, onFailure: (error: Error) => void): void {
    this.delivery = delivery;
    this.onFailure = onFailure;
  }

  defer(row: DeferredRow<Reading>): void {
    this.deferred.push(row);
  }

  /** The deferred rows, in the order they were read (so a resumed step numbers them the same way). */
  takeDeferred(): Array<DeferredRow<Reading>> {
    const rows = this.deferred;
    this.deferred = [];
    return rows;
  }

  /**
   * What an object must wait for: its identity changes and its person's earlier ones. Undefined when nothing (nearly
   * always); else resolves to the reason Braze refused a change, or null once they are made.
   */
  before(planned: PlannedObject): Promise<string | null> | undefined {
    if (!this.delivery) return undefined;
    const prior = this.waits.size === 0 ? undefined : this.waits.get(planned.slot);
    if (!planned.identity && !prior) return undefined;
    const verdicts: Array<Promise<string | null>> = prior ? [prior] : [];
    for (const change of planned.identity ?? []) {
      verdicts.push(this.delivery.push(change).then((v) => (v.status === 'accepted' ? null : v.reason)));
    }
    const done = Promise.all(verdicts).then(
      (reasons) => reasons.find((reason) => reason !== null) ?? null,
      (error: Error) => {
        this.onFailure(error);
        return 'identity call failed';
      },
    );
    this.waits.set(planned.slot, done);
    return done;
  }

  /** Sends the identity changes still queued and waits until every object that waited for one was handed on. */
  async settle(): Promise<void> {
    if (!this.delivery) return;
    await this.delivery.flush().catch((error: Error) => this.onFailure(error));
    await Promise.all([...this.waits.values()]);
    this.waits.clear();
  }

  close(): void {
    this.delivery?.close();
  }
}
