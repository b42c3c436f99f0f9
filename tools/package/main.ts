import { join, resolve } from 'node:path';
import { packageApp } from './packageApp';

/**
 * `npm run package [-- --out-dir <dir>]`: builds `.package/app/` and `.package/ci-braze-export.zip` (see
 * packageApp.ts). azure.yaml deploys `.package/app`; docs/deployment.md shows the Core Tools and az CLI paths.
 */
function main(argv: string[]): void {
  const repoRoot = resolve(__dirname, '..', '..', '..');
  const flag = argv.indexOf('--out-dir');
  if (flag >= 0 && !argv[flag + 1]) throw new Error('--out-dir needs a directory');
  const outDir = flag >= 0 ? resolve(argv[flag + 1]) : join(repoRoot, '.package');
  const result = packageApp(repoRoot, outDir);
  const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
  console.log(
    `package: ${result.files} files (${mb(result.bytes)} MB, ${result.dependencies} production dependencies)\n` +
      `  folder ${result.appDir}\n  zip    ${result.zipPath} (${mb(result.zipBytes)} MB)`,
  );
}

try {
  main(process.argv.slice(2));
} catch (error) {
  console.error(`package failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
