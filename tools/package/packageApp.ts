import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { ZipWriter } from './zipWriter';

/**
 * The deployable package of the function app: `dist/`, `host.json`, `package.json` and the production
 * dependencies only, as an unpacked folder (what azd and Core Tools deploy) and as a zip (what `az functionapp
 * deployment source config-zip` deploys). The dependencies are the non-dev entries of package-lock.json, copied
 * from the installed node_modules, so packaging needs no network and ships exactly the locked versions.
 */

export const APP_FILES = ['dist', 'host.json', 'package.json'] as const;

export interface PackageResult {
  appDir: string;
  zipPath: string;
  files: number;
  bytes: number;
  zipBytes: number;
  dependencies: number;
}

interface LockFile {
  lockfileVersion: number;
  packages: Record<string, { dev?: boolean; devOptional?: boolean; optional?: boolean; link?: boolean }>;
}

/** Folders under node_modules (`node_modules/@azure/functions`, nested ones included) of production packages. */
export function productionDependencyPaths(lock: LockFile): string[] {
  if (lock.lockfileVersion < 2) throw new Error('package-lock.json: lockfileVersion 2 or later is required');
  return Object.entries(lock.packages)
    .filter(([path, entry]) => path.startsWith('node_modules/') && !entry.dev && !entry.devOptional && !entry.link)
    .map(([path]) => path)
    .sort();
}

function filesUnder(root: string, dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
    .map((name) => join(dir, name))
    .filter((path) => statSync(join(root, path)).isFile());
}

/**
 * Files never loaded at run time: source maps and type declarations of dependencies (about 60 % of their bytes).
 * The app's own source maps in dist/ stay, for readable stack traces.
 */
const DEPENDENCY_FILES_LEFT_OUT = /\.(map|d\.ts|d\.mts|d\.cts)$/;

/** Nested dependency folders are copied as packages of their own, not as part of their parent. */
function ownFiles(root: string, packagePath: string): string[] {
  return filesUnder(root, packagePath).filter(
    (file) => !relative(packagePath, file).split(sep).includes('node_modules') && !DEPENDENCY_FILES_LEFT_OUT.test(file),
  );
}

export function packageApp(repoRoot: string, outDir: string): PackageResult {
  if (!existsSync(join(repoRoot, 'dist', 'functions'))) {
    throw new Error('dist/functions does not exist: run `npm run build` first (`npm run package` does)');
  }
  const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as LockFile;
  const dependencies = productionDependencyPaths(lock);
  const files: string[] = [];
  for (const entry of APP_FILES) {
    files.push(...(statSync(join(repoRoot, entry)).isDirectory() ? filesUnder(repoRoot, entry) : [entry]));
  }
  for (const dependency of dependencies) {
    const optional = lock.packages[dependency].optional === true;
    if (!existsSync(join(repoRoot, dependency))) {
      // An optional dependency for another platform is legitimately absent; anything else means `npm ci` is due.
      if (optional) continue;
      throw new Error(`${dependency} is in package-lock.json but not installed: run \`npm ci\` first`);
    }
    files.push(...ownFiles(repoRoot, dependency));
  }

  const appDir = join(outDir, 'app');
  const zipPath = join(outDir, 'ci-braze-export.zip');
  rmSync(appDir, { recursive: true, force: true });
  rmSync(zipPath, { force: true });
  mkdirSync(appDir, { recursive: true });
  const zip = new ZipWriter(zipPath);
  let bytes = 0;
  for (const file of files.sort()) {
    const target = join(appDir, file);
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(join(repoRoot, file), target);
    const data = readFileSync(target);
    bytes += data.length;
    zip.addFile(file.split(sep).join('/'), data);
  }
  zip.close();
  return {
    appDir,
    zipPath,
    files: files.length,
    bytes,
    zipBytes: statSync(zipPath).size,
    dependencies: dependencies.length,
  };
}
