import { closeSync, openSync, writeSync } from 'node:fs';
import { deflateRawSync } from 'node:zlib';

/**
 * A minimal ZIP writer (deflate, no ZIP64), so `npm run package` needs neither a `zip` command nor an extra npm
 * dependency on any platform. Entries are compressed one at a time in memory; the package's largest file is a
 * few MB.
 */

const MAX_ENTRIES = 0xffff;
const MAX_OFFSET = 0xffffffff;
/** 1980-01-01 00:00 in DOS date/time: fixed, so the same inputs give the same bytes. */
const DOS_TIME = 0;
const DOS_DATE = (0 << 9) | (1 << 5) | 1;

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

export function crc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

interface CentralEntry {
  name: Buffer;
  crc: number;
  method: number;
  compressedSize: number;
  size: number;
  offset: number;
}

export class ZipWriter {
  private readonly fd: number;
  private offset = 0;
  private readonly entries: CentralEntry[] = [];

  constructor(path: string) {
    this.fd = openSync(path, 'w');
  }

  /** Adds a file; `name` uses forward slashes and is relative to the archive root. */
  addFile(name: string, data: Buffer): void {
    if (this.entries.length >= MAX_ENTRIES) throw new Error(`zip: more than ${MAX_ENTRIES} entries need ZIP64`);
    const deflated = deflateRawSync(data, { level: 9 });
    // Stored when compression does not pay (already compressed files).
    const method = deflated.length < data.length ? 8 : 0;
    const body = method === 8 ? deflated : data;
    const entry: CentralEntry = {
      name: Buffer.from(name, 'utf8'),
      crc: crc32(data),
      method,
      compressedSize: body.length,
      size: data.length,
      offset: this.offset,
    };
    const header = Buffer.alloc(30);
    header.writeUInt32LE(0x04034b50, 0);
    header.writeUInt16LE(20, 4); // version needed: 2.0
    header.writeUInt16LE(0x0800, 6); // UTF-8 names
    header.writeUInt16LE(method, 8);
    header.writeUInt16LE(DOS_TIME, 10);
    header.writeUInt16LE(DOS_DATE, 12);
    header.writeUInt32LE(entry.crc, 14);
    header.writeUInt32LE(entry.compressedSize, 18);
    header.writeUInt32LE(entry.size, 22);
    header.writeUInt16LE(entry.name.length, 26);
    header.writeUInt16LE(0, 28);
    this.write(header, entry.name, body);
    this.entries.push(entry);
  }

  /** Writes the central directory and closes the file. */
  close(): void {
    const directoryOffset = this.offset;
    for (const entry of this.entries) {
      const header = Buffer.alloc(46);
      header.writeUInt32LE(0x02014b50, 0);
      header.writeUInt16LE((3 << 8) | 20, 4); // made by: Unix, 2.0
      header.writeUInt16LE(20, 6);
      header.writeUInt16LE(0x0800, 8);
      header.writeUInt16LE(entry.method, 10);
      header.writeUInt16LE(DOS_TIME, 12);
      header.writeUInt16LE(DOS_DATE, 14);
      header.writeUInt32LE(entry.crc, 16);
      header.writeUInt32LE(entry.compressedSize, 20);
      header.writeUInt32LE(entry.size, 24);
      header.writeUInt16LE(entry.name.length, 28);
      header.writeUInt32LE((0o100644 << 16) >>> 0, 38); // regular file, rw-r--r--
      header.writeUInt32LE(entry.offset, 42);
      this.write(header, entry.name);
    }
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(this.entries.length, 8);
    end.writeUInt16LE(this.entries.length, 10);
    end.writeUInt32LE(this.offset - directoryOffset, 12);
    end.writeUInt32LE(directoryOffset, 16);
    this.write(end);
    closeSync(this.fd);
  }

  private write(...parts: Buffer[]): void {
    for (const part of parts) {
      writeSync(this.fd, part);
      this.offset += part.length;
    }
    if (this.offset > MAX_OFFSET) throw new Error('zip: archive larger than 4 GB needs ZIP64');
  }
}
