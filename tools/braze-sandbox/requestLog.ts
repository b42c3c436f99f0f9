/** The last N requests, oldest dropped first, with amortised O(1) appends. */
import type { RequestLogEntry } from './types';

export class RequestLog {
  private entries: RequestLogEntry[] = [];
  private start = 0;

  constructor(private limit: number) {}

  setLimit(limit: number): void {
    this.limit = limit;
    this.trim();
  }

  add(entry: RequestLogEntry): void {
    this.entries.push(entry);
    this.trim();
  }

  /** Entries with `seq` greater than `since`, oldest first. */
  since(since = 0): RequestLogEntry[] {
    const live = this.entries.slice(this.start);
    return since > 0 ? live.filter((e) => e.seq > since) : live;
  }

  clear(): void {
    this.entries = [];
    this.start = 0;
  }

  private trim(): void {
    if (this.entries.length - this.start > this.limit) this.start = this.entries.length - this.limit;
    // Compact once the dropped prefix is as long as the live part, so memory stays bounded.
    if (this.start > 1024 && this.start >= this.entries.length - this.start) {
      this.entries = this.entries.slice(this.start);
      this.start = 0;
    }
  }
}
