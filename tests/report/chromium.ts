import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/** Debian's `chromium` package, as tools/report/screenshot.ts uses it. */
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
/** The same flags as tools/report/screenshot.ts: no network of its own. */
const QUIET_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const PAGE_PROBLEMS = /CONSOLE\(|Uncaught|Failed to load resource|net::ERR_/;

/** The DOM headless Chromium builds from an HTML file, and the page's own problems (console errors, loads). */
export function renderInChromium(file: string): { dom: string; problems: string[] } {
  if (!existsSync(CHROMIUM)) throw new Error(`headless Chromium is needed at ${CHROMIUM}: apt-get install chromium`);
  const profile = mkdtempSync(path.join(tmpdir(), 'chromium-profile-'));
  try {
    const result = spawnSync(
      CHROMIUM,
      [
        ...QUIET_FLAGS,
        `--user-data-dir=${profile}`,
        '--enable-logging=stderr',
        '--v=0',
        '--dump-dom',
        pathToFileURL(file).href,
      ],
      { encoding: 'utf8', timeout: 120_000 },
    );
    if (result.error || result.status !== 0) {
      throw new Error(`chromium failed: ${result.error?.message ?? `exit ${result.status}`}\n${result.stderr}`);
    }
    return { dom: result.stdout, problems: result.stderr.split('\n').filter((line) => PAGE_PROBLEMS.test(line)) };
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}
