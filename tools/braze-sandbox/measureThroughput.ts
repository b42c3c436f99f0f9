/**
 * Rough throughput check of the sandbox (not a test): starts the built CLI in its own process, as the benchmark
 * does, and pushes full 75-object `/users/track` requests at it over keep-alive connections.
 * Run: `npm run build && node dist/tools/braze-sandbox/measureThroughput.js [requests=20000] [concurrency=16]`.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import path from 'node:path';

const OBJECTS_PER_REQUEST = 75;

function body(batch: number): string {
  const attributes = Array.from({ length: OBJECTS_PER_REQUEST }, (_, i) => ({
    external_id: `user-${batch * OBJECTS_PER_REQUEST + i}`,
    email: `user${batch * OBJECTS_PER_REQUEST + i}@example.com`,
    first_name: 'Ada',
    last_name: 'Lovelace',
    ci_lifetime_value: 1234.5,
    '3bbc4555-8fa0-4c9b-a5c0-4505edf3e064': true,
  }));
  return JSON.stringify({ attributes });
}

function post(url: string, agent: Agent, payload: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/users/track`,
      {
        method: 'POST',
        agent,
        headers: {
          authorization: 'Bearer sandbox-key',
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** Resident memory of a process from /proc (Linux only; null elsewhere). */
function residentMegabytes(pid: number | undefined): number | null {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Math.round(Number(match[1]) / 1024) : null;
  } catch {
    return null;
  }
}

async function main(): Promise<void> {
  const total = Number(process.argv[2] ?? 20_000);
  const concurrency = Number(process.argv[3] ?? 16);
  const cli = path.join(__dirname, 'cli.js');
  const child = spawn(
    process.execPath,
    [cli, '--port', '0', '--rate-limit', 'off', '--no-log-bodies', '--no-ledger-per-user'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const url = await new Promise<string>((resolve) => {
    child.stdout.on('data', (chunk: Buffer) => {
      const match = /listening on (\S+)/.exec(chunk.toString());
      if (match) resolve(match[1]);
    });
  });
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const payloads = Array.from({ length: 64 }, (_, i) => body(i));
  // Warm-up so JIT and sockets are ready.
  await Promise.all(payloads.slice(0, concurrency).map((p) => post(url, agent, p)));
  let next = 0;
  const statuses = new Map<number, number>();
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const batch = next++;
        // Distinct users per batch, so the profile store grows as in a real initial sync.
        const payload = batch < payloads.length ? payloads[batch] : body(batch);
        const status = await post(url, agent, payload);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  agent.destroy();
  const sandboxRssInMb = residentMegabytes(child.pid);
  child.kill('SIGTERM');
  console.log(
    JSON.stringify({
      requests: total,
      concurrency,
      seconds: Number(seconds.toFixed(2)),
      requestsPerSecond: Math.round(total / seconds),
      objectsPerSecond: Math.round((total * OBJECTS_PER_REQUEST) / seconds),
      statuses: Object.fromEntries(statuses),
      sandboxRssInMb,
    }),
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
