import { startDevStack, type DevStack } from '../local/devStack';

/**
 * `ci-braze-export local`: starts the local stack, prints what to run next, and keeps it up until Ctrl-C
 * (SIGINT) or SIGTERM.
 */
export async function runLocal(options: { profiles: number; seed: number; folder?: string }): Promise<number> {
  const stack = await startDevStack({ folder: options.folder ?? process.cwd(), ...options });
  console.log(describeStack(stack));
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await stack.stop();
  console.log('stopped: Azurite and the Braze sandbox are down (their data was in memory)');
  return 0;
}

function describeStack(stack: DevStack): string {
  const v = stack.values;
  const rows = Object.entries(stack.rows)
    .map(([table, count]) => `${table} ${count.toLocaleString('en-US')}`)
    .join(', ');
  return [
    'local stack is up:',
    `  Azurite            blob 127.0.0.1:${stack.ports.blob}, queue 127.0.0.1:${stack.ports.queue} (in memory)`,
    `  Braze sandbox      ${v.BRAZE_REST_ENDPOINT} (key ${v.BRAZE_API_KEY}; segments ${stack.exportConfig.segments.map((s) => s.table).join(', ')})`,
    `  CI export          ${v.CI_EXPORT_CONTAINER}/${v.CI_EXPORT_PATH}, run folder ${stack.runFolder} (rows: ${rows})`,
    `  settings           ${stack.settingsFile} (the CLI reads it; the environment wins)`,
    `  export config      ${v.EXPORT_CONFIG}`,
    '',
    'In another terminal, in this folder:',
    '  npx ci-braze-export check          # settings, export, state storage, Braze key',
    '  npx ci-braze-export plan           # what a run would send; sends nothing',
    '  npx ci-braze-export run            # the first sync',
    '  npx ci-braze-export runs           # run history',
    '  npx ci-braze-export report <runId> --open',
    '',
    'Ctrl-C stops the stack.',
    'READY',
  ].join('\n');
}
