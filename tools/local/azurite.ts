import { ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';

/** Azurite's published development account: a well-known public test key, not a secret. */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface Azurite {
  connectionString: string;
  blobPort: number;
  queuePort?: number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** True when nothing listens on the loopback port (a moment ago: another process may take it after). */
export async function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * Starts one Azurite service (blob or queue) in a child process on a loopback port (`port`, else a free one).
 * `storage`: in memory by default, or e.g. `['--location', folder]` to keep the data between runs (the bench
 * caches its exports so).
 */
export async function startAzuriteService(
  kind: 'blob' | 'queue',
  storage: readonly string[] = ['--inMemoryPersistence'],
  requestedPort?: number,
): Promise<{ port: number; child: ChildProcess }> {
  const port = requestedPort ?? (await freePort());
  const main = path.join(path.dirname(require.resolve('azurite/package.json')), 'dist', 'src', kind, 'main.js');
  const flag = kind === 'blob' ? '--blobPort' : '--queuePort';
  const host = kind === 'blob' ? '--blobHost' : '--queueHost';
  const child = spawn(
    process.execPath,
    [
      main,
      ...[host, '127.0.0.1', flag, String(port)],
      ...storage,
      ...['--silent', '--disableTelemetry', '--skipApiVersionCheck', '--loose'],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  await new Promise<void>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`Azurite ${kind} did not start: ${output}`)), 60_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('successfully listens')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Azurite ${kind} exited with ${code}: ${output}`));
    });
  });
  child.removeAllListeners('exit');
  return { port, child };
}

/**
 * Starts Azurite's blob (and optionally queue) service in child processes on free loopback ports, in memory.
 * Tests, the demo and the bench share it; a separate process keeps the sync's event loop free.
 */
export async function startAzurite(options: { queue?: boolean } = {}): Promise<Azurite> {
  const blob = await startAzuriteService('blob');
  const queue = options.queue ? await startAzuriteService('queue') : undefined;
  const parts = [
    'DefaultEndpointsProtocol=http',
    `AccountName=${AZURITE_ACCOUNT}`,
    `AccountKey=${AZURITE_KEY}`,
    `BlobEndpoint=http://127.0.0.1:${blob.port}/${AZURITE_ACCOUNT}`,
  ];
  if (queue) parts.push(`QueueEndpoint=http://127.0.0.1:${queue.port}/${AZURITE_ACCOUNT}`);
  return {
    connectionString: parts.join(';') + ';',
    blobPort: blob.port,
    queuePort: queue?.port,
    stop: () => stopAzuriteServices([blob.child, ...(queue ? [queue.child] : [])]),
  };
}

/** Stops Azurite children with SIGTERM (which lets a persistent one save its metadata) and waits for them. */
export async function stopAzuriteServices(children: readonly ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(async (child) => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }),
  );
}
