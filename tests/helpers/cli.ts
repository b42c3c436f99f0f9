import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');

/** The compiled CLI: `npm test` builds it first (pretest). */
export const CLI = path.join(ROOT, 'dist', 'tools', 'cli', 'main.js');

/** A bare `npx jest` on a fresh checkout has no dist/: build it before starting a compiled entry point. */
export function buildIfMissing(entryPoint = CLI): void {
  if (!existsSync(entryPoint))
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
}

/** A hang guard only: a CLI that never ends is killed, and the test fails on its exit code with its output. */
const HANG_GUARD_IN_MS = 240_000;

export interface CliOutcome {
  /** The exit code; null when a signal ended the process. */
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliProcess {
  child: ChildProcess;
  exited: Promise<number | null>;
  stdout(): string;
  stderr(): string;
}

/** `ci-braze-export <args>` as a child process with exactly `env` (callers choose whether the test's own leaks in). */
export function startCli(args: readonly string[], env: NodeJS.ProcessEnv): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const guard = setTimeout(() => child.kill('SIGKILL'), HANG_GUARD_IN_MS);
  void exited.then(() => clearTimeout(guard));
  return { child, exited, stdout: () => stdout, stderr: () => stderr };
}

/** Runs the CLI to its end: exit code and everything it printed. */
export async function runCli(args: readonly string[], env: NodeJS.ProcessEnv): Promise<CliOutcome> {
  const run = startCli(args, env);
  const code = await run.exited;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}
