#!/usr/bin/env node
// Runs the compiled CLI (`npm run build` produces dist/).
require('../dist/tools/cli/main.js');
