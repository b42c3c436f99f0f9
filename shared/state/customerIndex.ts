import { hashString } from './fingerprint';
import type { Snapshot } from './snapshot';

const CUSTOMER_SEED_LOW = 0x1d8e4e27;
const CUSTOMER_SEED_HIGH = 0x7a2c5b13;
const NO_SLOT = -1;
/** Load of the CustomerId index table. */
const CUSTOMER_TABLE_LOAD = 0.5;

/** 32 bits of a CustomerId's hash; never 0, which stands for "not known". */
function customerHash(customerId: string, seed: number): number {
  return hashString(customerId, seed) >>> 0 || 1;
}

/** The two identity words of a CustomerId (its 64-bit hash), as the snapshot stores them. */
export function customerLowOf(customerId: string): number {
  return customerHash(customerId, CUSTOMER_SEED_LOW);
}

export function customerHighOf(customerId: string): number {
  return customerHash(customerId, CUSTOMER_SEED_HIGH);
}

/**
 * Finds a person by CustomerId among the snapshot's users, whose identity words sit at attribute `at`. CustomerId
 * hash (low word) -> slot, open addressing: finds the person whose key changed. Built on first need (a row whose key
 * is not known), so a run where every key is known never pays for it. Entries of slots whose CustomerId changed stay
 * and are passed over (the slot's words are compared).
 */
export class CustomerIndex {
  private customerTable: Int32Array | null = null;
  private customerEntries = 0;

  constructor(
    private readonly next: Snapshot,
    private readonly customerAt: number,
    /** Slots folded into another profile: never found. */
    private readonly folded: ReadonlySet<number>,
  ) {}

  /** The slot of the profile a previous CustomerId had: by its CustomerId, else (older snapshots) by its alias key. */
  previousProfile(customerId: string): number {
    const slot = this.findCustomer(customerLowOf(customerId), customerHighOf(customerId));
    return slot >= 0 ? slot : this.next.find(`a:${customerId}`);
  }

  customerIs(slot: number, low: number, high: number): boolean {
    const storedLow = this.next.attribute(slot, this.customerAt);
    const storedHigh = this.next.attribute(slot, this.customerAt + 1);
    // A user whose CustomerId is not known yet (saved before identities were kept) takes the row's.
    return (storedLow === low && storedHigh === high) || (storedLow === 0 && storedHigh === 0);
  }

  setCustomer(slot: number, low: number, high: number): void {
    this.next.setAttribute(slot, this.customerAt, low);
    this.next.setAttribute(slot, this.customerAt + 1, high);
    if (this.customerTable && (low !== 0 || high !== 0)) this.addCustomerEntry(slot, low);
  }

  /** The slot whose CustomerId hashes to (low, high), not folded; -1 when none. */
  findCustomer(low: number, high: number): number {
    if (this.next.size === 0) return NO_SLOT;
    const table = this.customerTable ?? this.buildCustomerTable();
    const mask = table.length / 2 - 1;
    for (let index = low & mask; ; index = (index + 1) & mask) {
      const slot = table[2 * index + 1];
      if (slot === NO_SLOT) return NO_SLOT;
      if (
        table[2 * index] === (low | 0) &&
        this.next.attribute(slot, this.customerAt) === low &&
        this.next.attribute(slot, this.customerAt + 1) === high &&
        !this.folded.has(slot)
      ) {
        return slot;
      }
    }
  }

  private buildCustomerTable(): Int32Array {
    let capacity = 16;
    while (capacity * CUSTOMER_TABLE_LOAD < this.next.size + 1) capacity *= 2;
    this.customerTable = new Int32Array(capacity * 2).fill(NO_SLOT);
    this.customerEntries = 0;
    for (let slot = 0; slot < this.next.size; slot++) {
      const low = this.next.attribute(slot, this.customerAt);
      if (low !== 0 || this.next.attribute(slot, this.customerAt + 1) !== 0) this.addCustomerEntry(slot, low);
    }
    return this.customerTable;
  }

  private addCustomerEntry(slot: number, low: number): void {
    if ((this.customerEntries + 1) / (this.customerTable!.length / 2) > CUSTOMER_TABLE_LOAD) {
      this.buildCustomerTableLarger();
    }
    const table = this.customerTable!;
    const mask = table.length / 2 - 1;
    let index = low & mask;
    while (table[2 * index + 1] !== NO_SLOT) index = (index + 1) & mask;
    table[2 * index] = low | 0;
    table[2 * index + 1] = slot;
    this.customerEntries++;
  }

  private buildCustomerTableLarger(): void {
    const old = this.customerTable!;
    this.customerTable = new Int32Array(old.length * 2).fill(NO_SLOT);
    this.customerEntries = 0;
    for (let index = 0; index < old.length; index += 2) {
      if (old[index + 1] !== NO_SLOT) this.addCustomerEntry(old[index + 1], old[index] >>> 0);
    }
  }
}
