import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ConfigError } from '../../shared/config/errors';
import { cliEnvironment } from '../../tools/cli/localSettings';

const exec = promisify(execFile);
const ROOT = path.join(__dirname, '..', '..');

describe('CLI entry points', () => {
  let folder: string;
  beforeEach(() => {
    folder = mkdtempSync(path.join(tmpdir(), 'ci-braze-entry-'));
  });
  afterEach(() => rmSync(folder, { recursive: true, force: true }));

  it('bin/ci-braze-export.js without dist/ says what to run, without a stack trace', async () => {
    mkdirSync(path.join(folder, 'bin'));
    copyFileSync(path.join(ROOT, 'bin', 'ci-braze-export.js'), path.join(folder, 'bin', 'ci-braze-export.js'));
    const failure = await exec(process.execPath, [path.join(folder, 'bin', 'ci-braze-export.js'), 'check']).then(
      () => null,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toContain('ci-braze-export is not built yet');
    expect(failure?.stderr).toContain('npm run build');
    expect(failure?.stderr).not.toMatch(/Cannot find module|\n\s+at /);
  });

  it('reads local.settings.json Values, and the environment wins', () => {
    writeFileSync(
      path.join(folder, 'local.settings.json'),
      JSON.stringify({
        IsEncrypted: false,
        Values: { CI_EXPORT_CONTAINER: 'from-file', STATE_CONTAINER: 'file-state' },
      }),
    );
    const env = cliEnvironment({ CI_EXPORT_CONTAINER: 'from-env', PATH: '/bin' }, folder);
    expect(env).toMatchObject({ CI_EXPORT_CONTAINER: 'from-env', STATE_CONTAINER: 'file-state', PATH: '/bin' });
    expect(cliEnvironment({ A: 'b' }, path.join(folder, 'none'))).toEqual({ A: 'b' });
  });

  it('refuses a local.settings.json that is not JSON or has a non-string value, naming the file and key', () => {
    writeFileSync(path.join(folder, 'local.settings.json'), '{ "Values": { ');
    expect(() => cliEnvironment({}, folder)).toThrow(/local\.settings\.json is not valid JSON/);
    writeFileSync(path.join(folder, 'local.settings.json'), JSON.stringify({ Values: { BRAZE_API_KEY: { x: 1 } } }));
    expect(() => cliEnvironment({}, folder)).toThrow(ConfigError);
    expect(() => cliEnvironment({}, folder)).toThrow(/Values\.BRAZE_API_KEY must be a string/);
  });

  it('generate-export --print-config prints the export config alone on stdout, the summary on stderr', async () => {
    const { stdout, stderr } = await exec(process.execPath, [
      path.join(ROOT, 'dist', 'tools', 'generate-export', 'cli.js'),
      ...['--out', folder, '--export-path', 'Ci/Feed', '--profiles', '50', '--seed', '3', '--print-config'],
    ]);
    const config = JSON.parse(stdout);
    expect(config.segments.length).toBeGreaterThan(0);
    expect(config.identity.externalId).toBe('BrazeCustomerId');
    expect(JSON.parse(stderr).blobs.length).toBeGreaterThan(0);
  });
});
