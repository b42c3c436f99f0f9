/**
 * Side by side with Braze's own CSV importer (braze-inc/growth-shares-lambda-user-csv-import, Python, threads): it
 * runs as published from a checkout outside this project, fed a local CSV through a stub `boto3` (stubs/boto3) by
 * driver.py, against the same sandbox. The CSV holds what the product delivered: one row per user, every attribute
 * and membership as a column, so both tools land the same users with the same values.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { SandboxProfile } from '../../braze-sandbox/types';

/** Where driver.py and the boto3 stub are (not compiled: found in the source tree from dist/). */
const PEER_SOURCE_DIR = path.resolve(__dirname, '..', '..', '..', '..', 'tools', 'bench', 'peer');
const PYTHON = '/usr/bin/python3';

export interface PeerRun {
  threads: number;
  users: number;
  seconds: number;
  usersPerSecond: number;
}

/** Why the peer cannot run here (a sentence), or null when it can. */
export function peerUnavailable(checkout: string): string | null {
  if (!existsSync(path.join(checkout, 'braze_user_csv_import', 'app.py'))) {
    return `no braze_user_csv_import/app.py in ${checkout}: pass a checkout of braze-inc/growth-shares-lambda-user-csv-import`;
  }
  if (!existsSync(PYTHON)) return `${PYTHON} is missing (apt-get install -y python3 python3-requests python3-tenacity)`;
  const probe = spawnSync(PYTHON, ['-c', 'import requests, tenacity'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    return 'Python lacks requests or tenacity (apt-get install -y python3-requests python3-tenacity)';
  }
  return null;
}

function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Writes the importer's CSV (external_id, email, then every attribute) from the profiles the product delivered. */
export function writePeerCsv(profiles: readonly SandboxProfile[], file: string): number {
  const names = new Set<string>();
  for (const profile of profiles) for (const name of Object.keys(profile.attributes)) names.add(name);
  const columns = [...names].filter((name) => name !== 'email' && name !== 'external_id').sort();
  const lines = [['external_id', 'email', ...columns].join(',')];
  let users = 0;
  for (const profile of profiles) {
    if (profile.external_id === undefined) continue;
    users++;
    const cells = [profile.external_id, profile.email, ...columns.map((name) => profile.attributes[name])];
    lines.push(cells.map(csvCell).join(','));
  }
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${lines.join('\n')}\n`);
  return users;
}

/** Runs the importer once with `threads` threads (its MAX_THREADS) against the sandbox at `brazeUrl`. */
export async function runPeer(
  checkout: string,
  csvFile: string,
  threads: number,
  brazeUrl: string,
  apiKey: string,
): Promise<PeerRun> {
  const child = spawn(PYTHON, [path.join(PEER_SOURCE_DIR, 'driver.py'), checkout, csvFile, String(threads)], {
    env: {
      ...process.env,
      PYTHONPATH: path.join(PEER_SOURCE_DIR, 'stubs'),
      // No __pycache__ in the source tree or the importer's checkout.
      PYTHONDONTWRITEBYTECODE: '1',
      BRAZE_API_URL: brazeUrl,
      BRAZE_API_KEY: apiKey,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`the CSV importer exited with ${code}: ${stderr.trim()}`);
  const { users, seconds } = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { users: number; seconds: number };
  return { threads, users, seconds, usersPerSecond: Math.round(users / seconds) };
}

/**
 * Users of `expected` missing from `actual` or holding other values (compared as text: the importer reads CSV cells
 * back as numbers and booleans where they look like one).
 */
export function usersNotLanded(expected: readonly SandboxProfile[], actual: readonly SandboxProfile[]): number {
  const byId = new Map<string, SandboxProfile>();
  for (const profile of actual) if (profile.external_id !== undefined) byId.set(profile.external_id, profile);
  let missing = 0;
  for (const want of expected) {
    if (want.external_id === undefined) continue;
    const got = byId.get(want.external_id);
    const same =
      got !== undefined &&
      got.email === want.email &&
      Object.entries(want.attributes).every(([name, value]) => String(got.attributes[name]) === String(value));
    if (!same) missing++;
  }
  return missing;
}
