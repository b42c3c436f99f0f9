#!/usr/bin/env node
// Runs the compiled CLI; `npm run build` produces dist/. Without it, says what to run instead of a stack trace.
const { existsSync } = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const main = path.join(root, 'dist', 'tools', 'cli', 'main.js');
if (!existsSync(main)) {
  console.error(
    `ci-braze-export is not built yet (${path.relative(process.cwd(), main) || main} is missing).\n` +
      `Run this first, in ${root}:\n\n  npm run build\n\nthen run the command again.`,
  );
  process.exit(1);
}
require(main);
