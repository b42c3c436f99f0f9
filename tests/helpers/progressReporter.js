/**
 * Jest reporter beside the default one: "[n/N files] tests/x.test.ts (12.3 s)" on stderr as each file ends, and
 * every minute the files still running, so that a long `npm test` never stays silent for long.
 * Plain JavaScript: Jest loads reporters without transforming them.
 */
const path = require('node:path');

const HEARTBEAT_INTERVAL_IN_MS = 60_000;

class ProgressReporter {
  constructor(globalConfig) {
    this.rootDir = globalConfig.rootDir;
    this.total = 0;
    this.done = 0;
    this.started = new Map();
    this.heartbeat = null;
  }

  onRunStart(aggregatedResults) {
    this.total = aggregatedResults.numTotalTestSuites;
    this.heartbeat = setInterval(() => this.printRunning(), HEARTBEAT_INTERVAL_IN_MS);
    this.heartbeat.unref();
  }

  onTestFileStart(test) {
    this.started.set(test.path, Date.now());
  }

  onTestFileResult(test, testResult) {
    const startedAt = this.started.get(test.path) ?? Date.now();
    this.started.delete(test.path);
    this.done++;
    const failed = testResult.numFailingTests > 0 || testResult.testExecError ? ', FAILED' : '';
    this.write(
      `[${this.done}/${this.total} files] ${this.name(test.path)} (${seconds(Date.now() - startedAt)}${failed})`,
    );
  }

  onRunComplete() {
    clearInterval(this.heartbeat);
  }

  printRunning() {
    const now = Date.now();
    const running = [...this.started].map(([file, startedAt]) => `${this.name(file)} (${seconds(now - startedAt)})`);
    if (running.length > 0) this.write(`[${this.done}/${this.total} files] still running: ${running.join(', ')}`);
  }

  name(file) {
    return path.relative(this.rootDir, file);
  }

  write(line) {
    process.stderr.write(`${line}\n`);
  }
}

function seconds(ms) {
  return `${(ms / 1000).toFixed(1)} s`;
}

module.exports = ProgressReporter;
