import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type PackageResult, packageApp, productionDependencyPaths } from '../../tools/package/packageApp';

/**
 * `npm run package` builds what azd, Core Tools and the az CLI deploy. The zip is extracted with the system
 * `unzip` (an independent reader of our zip writer) and every function registration is loaded from the extracted
 * copy, where only production dependencies exist.
 */

const repoRoot = join(__dirname, '..', '..');
const MAX_PACKAGE_BYTES = 60 * 1024 * 1024;
const functionNames = readdirSync(join(repoRoot, 'functions'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && existsSync(join(repoRoot, 'functions', entry.name, 'index.ts')))
  .map((entry) => entry.name)
  .sort();

let workDir: string;
let result: PackageResult;
let extracted: string;

/** Loads one compiled registration in a fresh Node process, with no NODE_PATH to reach other node_modules. */
function loadRegistration(root: string, name: string): { status: number | null; stderr: string } {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_PATH;
  const run = spawnSync(process.execPath, ['-e', `require('./dist/functions/${name}/index.js')`], {
    cwd: root,
    env,
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: run.status, stderr: run.stderr };
}

beforeAll(() => {
  workDir = mkdtempSync(join(tmpdir(), 'ci-braze-package-'));
  result = packageApp(repoRoot, join(workDir, 'out'));
  extracted = join(workDir, 'extracted');
  execFileSync('unzip', ['-q', result.zipPath, '-d', extracted]);
}, 300_000);

afterAll(() => rmSync(workDir, { recursive: true, force: true }));

describe('npm run package', () => {
  it('holds dist/, host.json, package.json and node_modules only, the zip and the folder alike', () => {
    expect(readdirSync(extracted).sort()).toEqual(['dist', 'host.json', 'node_modules', 'package.json']);
    const listed = execFileSync('unzip', ['-Z1', result.zipPath], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
      .split('\n')
      .filter(Boolean);
    expect(listed).toHaveLength(result.files);
    const folderFiles = readdirSync(result.appDir, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) =>
        join(entry.parentPath, entry.name)
          .slice(result.appDir.length + 1)
          .replace(/\\/g, '/'),
      )
      .sort();
    expect(folderFiles).toEqual([...listed].sort());
    expect(listed).toContain('dist/functions/startExport/index.js');
    expect(listed.some((name) => name.endsWith('.ts') && !name.startsWith('node_modules/'))).toBe(false);
  });

  it('ships the production dependencies of package-lock.json and no dev dependency', () => {
    const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8'));
    const production = productionDependencyPaths(lock);
    expect(production).toEqual(expect.arrayContaining(['node_modules/@azure/functions', 'node_modules/csv-parse']));
    for (const path of production) expect(existsSync(join(extracted, path, 'package.json'))).toBe(true);
    for (const devOnly of ['typescript', 'jest', 'azurite', 'eslint', 'web-tree-sitter', 'ts-jest']) {
      expect(existsSync(join(extracted, 'node_modules', devOnly))).toBe(false);
    }
    const topLevel = readdirSync(join(extracted, 'node_modules')).flatMap((name) =>
      name.startsWith('@')
        ? readdirSync(join(extracted, 'node_modules', name)).map((scoped) => `node_modules/${name}/${scoped}`)
        : [`node_modules/${name}`],
    );
    expect(topLevel.filter((path) => !production.includes(path))).toEqual([]);
  });

  it('is under 60 MB, zipped and unpacked', () => {
    expect(result.zipBytes).toBeGreaterThan(1024 * 1024);
    expect(result.zipBytes).toBeLessThan(MAX_PACKAGE_BYTES);
    expect(result.bytes).toBeLessThan(MAX_PACKAGE_BYTES);
  });

  it('loads every function registration from the extracted zip, with production dependencies only', () => {
    expect(functionNames).toEqual(expect.arrayContaining(['startExport', 'runWorker', 'scheduledExport']));
    for (const name of functionNames) {
      const { status, stderr } = loadRegistration(extracted, name);
      expect({ name, status }).toEqual({ name, status: 0 });
      // Outside the host, @azure/functions names each registration it skips: proof the registration code ran.
      expect(stderr).toContain(`register function "${name}"`);
    }
  }, 600_000); // one fresh Node process per function, on a busy machine

  it('the load check fails when a production dependency is missing', () => {
    rmSync(join(extracted, 'node_modules', '@azure', 'storage-blob'), { recursive: true });
    const { status, stderr } = loadRegistration(extracted, 'startExport');
    expect(status).not.toBe(0);
    expect(stderr).toMatch(/Cannot find module '@azure\/storage-blob'/);
  });
});
