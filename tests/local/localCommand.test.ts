import { ChildProcess, execFile, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { SETTINGS } from '../../shared/config/settings';
import { renderInChromium } from '../report/chromium';

const exec = promisify(execFile);
const ROOT = path.join(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'tools', 'cli', 'main.js');

/** The environment without any app setting: everything must come from the local.settings.json `local` writes. */
function cleanEnvironment(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of [...Object.keys(SETTINGS), 'AzureWebJobsStorage']) delete env[name];
  return env;
}

describe('ci-braze-export local, then the printed commands, from a folder holding only the samples', () => {
  let folder: string;
  let local: ChildProcess;
  let output = '';
  let exited: Promise<number | null>;

  beforeAll(async () => {
    folder = mkdtempSync(path.join(tmpdir(), 'ci-braze-local-'));
    // The repository's samples as they are: `local` must work with them unedited.
    for (const file of ['local.settings.sample.json', 'export.config.sample.json']) {
      copyFileSync(path.join(ROOT, file), path.join(folder, file));
    }
    local = spawn(process.execPath, [CLI, 'local', '--profiles', '400'], { cwd: folder, env: cleanEnvironment() });
    exited = new Promise((resolve) => local.once('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      local.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('\nREADY')) resolve();
      });
      local.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      void exited.then((code) => reject(new Error(`local exited with ${code}: ${output}`)));
    });
  }, 180_000);

  afterAll(async () => {
    if (local.exitCode === null) {
      local.kill('SIGTERM');
      await exited;
    }
    rmSync(folder, { recursive: true, force: true });
  });

  const cli = (args: string[]) => exec(process.execPath, [CLI, ...args], { cwd: folder, env: cleanEnvironment() });

  it('prints the stack and the next commands, and writes local.settings.json pointing at it', () => {
    expect(output).toContain('npx ci-braze-export check');
    expect(output).toContain('npx ci-braze-export plan');
    expect(output).toContain('npx ci-braze-export run');
    const values = JSON.parse(readFileSync(path.join(folder, 'local.settings.json'), 'utf8')).Values;
    expect(values.BRAZE_REST_ENDPOINT).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(values.EXPORT_CONFIG).toBe('export.config.sample.json');
    expect(values.EXPORT_SCHEDULE).toBe('0 30 3 * * *');
  });

  it('check is ready: schedule, export, state storage and Braze key', async () => {
    const { stdout } = await cli(['check']);
    expect(stdout).toMatch(/ready: no errors/);
    expect(stdout).toMatch(
      /EXPORT_SCHEDULE "0 30 3 \* \* \*": next runs \S+ 03:30:00 UTC, \S+ 03:30:00 UTC, \S+ 03:30:00 UTC/,
    );
    expect(stdout).toMatch(/container ci-braze-state in .*: reachable and writable/);
    expect(stdout).toContain('segment HighValueSegment: Braze segment "HighValueSegment" exists');
  });

  it('plan sends nothing, run delivers, runs lists both, report writes the page', async () => {
    const plan = JSON.parse((await cli(['plan', '--json'])).stdout.trim().split('\n').at(-1)!);
    expect(plan).toMatchObject({ dryRun: true, status: 'succeeded' });
    const run = JSON.parse((await cli(['run', '--json'])).stdout.trim().split('\n').at(-1)!);
    expect(run).toMatchObject({ dryRun: false, status: 'succeeded', rejected: 0 });
    expect(run.usersSent).toBeGreaterThan(0);

    const { stdout: table } = await cli(['runs']);
    const lines = table.split('\n');
    expect(lines[0]).toMatch(
      /^started \(UTC\)\s+duration\s+trigger\s+status\s+rows\s+users sent\s+data points\s+rejected\s+held\s+run id$/,
    );
    expect(lines[1]).toContain(run.runId);
    expect(lines[1]).toMatch(/cli \(cli:\S+\)\s+succeeded\s/);
    expect(lines[2]).toContain('succeeded (dry run)');
    expect(lines[2]).toContain('(would)');

    const out = path.join(folder, 'report.html');
    const { stderr } = await cli(['report', run.runId, '--out', out]);
    expect(stderr).toContain(`written to ${out}`);
    // As a browser shows it: the badge, the context block, no console error and nothing loaded from elsewhere.
    const page = renderInChromium(out);
    expect(page.problems).toEqual([]);
    expect(page.dom).toMatch(/<span class="status" style="background:#1a7f37">succeeded<\/span>/);
    const context = /<section id="context">([\s\S]*?)<\/section>/.exec(page.dom)![1];
    expect(context).toMatch(/model\.json<\/code>, written \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC/);
    expect(context).toContain('HighValueSegment/2025/03/10/0200');
    expect(context).toMatch(/hash <code>[0-9a-f]{16}<\/code> · <a href="config\.json">config\.json<\/a>/);
    expect(context).toContain('nothing: first sync under this config');
    expect(context).toMatch(/cli \(cli:\S+\)/);
    expect(page.dom).toContain('first sync: no earlier state to compare with');

    const planOut = path.join(folder, 'plan.html');
    await cli(['report', plan.runId, '--out', planOut]);
    const planPage = renderInChromium(planOut);
    expect(planPage.dom).toMatch(/<span class="status" style="background:#8250df">dry run: nothing sent<\/span>/);
    expect(planPage.dom).toContain('Users that would be sent');
    expect(planPage.dom).not.toContain('>succeeded<');
  });

  it('stops on SIGINT', async () => {
    local.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(output).toContain('stopped:');
  });
});

describe('ci-braze-export local next to the settings of a real deployment', () => {
  it('refuses to rewrite them, naming the settings, and starts nothing', async () => {
    const folder = mkdtempSync(path.join(tmpdir(), 'ci-braze-local-real-'));
    try {
      copyFileSync(path.join(ROOT, 'export.config.sample.json'), path.join(folder, 'export.config.sample.json'));
      const sample = JSON.parse(readFileSync(path.join(ROOT, 'local.settings.sample.json'), 'utf8'));
      sample.Values.BRAZE_REST_ENDPOINT = 'rest.iad-03.braze.com';
      sample.Values.STATE_STORAGE__blobServiceUri = 'https://prodstate.blob.core.windows.net';
      writeFileSync(path.join(folder, 'local.settings.json'), JSON.stringify(sample));
      const failure = await exec(process.execPath, [CLI, 'local'], { cwd: folder, env: cleanEnvironment() }).then(
        () => null,
        (error: { code: number; stdout: string; stderr: string }) => error,
      );
      expect(failure?.code).toBe(2);
      expect(failure?.stderr).toContain(
        'STATE_STORAGE__blobServiceUri, BRAZE_REST_ENDPOINT point(s) at a real deployment; `local` only rewrites local settings',
      );
      expect(failure?.stdout).not.toContain('READY');
      expect(JSON.parse(readFileSync(path.join(folder, 'local.settings.json'), 'utf8'))).toEqual(sample);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
