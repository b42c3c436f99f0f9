/** Runs the Braze sandbox standalone: `node dist/tools/braze-sandbox/cli.js --port 4040`. */
import { CLI_USAGE, parseCliArgs } from './cliOptions';
import { startBrazeSandbox } from './server';
import type { SandboxOptions } from './types';

async function main(): Promise<void> {
  let options: SandboxOptions;
  try {
    options = parseCliArgs(process.argv.slice(2));
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : String(error)}\n${CLI_USAGE}`);
    process.exitCode = 2;
    return;
  }
  const sandbox = await startBrazeSandbox(options);
  console.log(`braze-sandbox listening on ${sandbox.url}`);
  const shutdown = () => {
    sandbox.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

main().catch((error: unknown) => {
  console.error(`braze-sandbox failed to start: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
