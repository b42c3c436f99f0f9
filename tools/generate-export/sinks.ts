import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ContainerClient } from '@azure/storage-blob';

/** Where a generated export is written: a blob container (tests, demo, bench) or a local folder. */
export interface ExportSink {
  /** Container name used in absolute partition URLs, when the sink knows it. */
  readonly containerName?: string;
  writeBlob(name: string, content: string | Buffer | AsyncIterable<Buffer | string>): Promise<void>;
}

const UPLOAD_BUFFER_IN_BYTES = 4 * 1024 * 1024;
const UPLOAD_CONCURRENCY = 4;

export function containerSink(container: ContainerClient): ExportSink {
  return {
    containerName: container.containerName,
    async writeBlob(name, content) {
      const blob = container.getBlockBlobClient(name);
      if (typeof content === 'string' || Buffer.isBuffer(content)) {
        const body = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
        await blob.upload(body, body.length);
        return;
      }
      // Small blobs go up in one request; a stream upload only pays off once a blob outgrows one buffer.
      const iterator = toBuffers(content)[Symbol.asyncIterator]();
      const head: Buffer[] = [];
      let headBytes = 0;
      while (headBytes < UPLOAD_BUFFER_IN_BYTES) {
        const next = await iterator.next();
        if (next.done) {
          const body = Buffer.concat(head);
          await blob.upload(body, body.length);
          return;
        }
        head.push(next.value);
        headBytes += next.value.length;
      }
      async function* rest(): AsyncGenerator<Buffer> {
        yield* head;
        for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
      }
      await blob.uploadStream(Readable.from(rest()), UPLOAD_BUFFER_IN_BYTES, UPLOAD_CONCURRENCY);
    },
  };
}

export function folderSink(root: string): ExportSink {
  return {
    async writeBlob(name, content) {
      const target = path.join(root, ...name.split('/'));
      await mkdir(path.dirname(target), { recursive: true });
      if (typeof content === 'string' || Buffer.isBuffer(content)) await writeFile(target, content);
      else await pipeline(Readable.from(toBuffers(content)), createWriteStream(target));
    },
  };
}

async function* toBuffers(content: AsyncIterable<Buffer | string>): AsyncGenerator<Buffer> {
  for await (const chunk of content) yield typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
}
