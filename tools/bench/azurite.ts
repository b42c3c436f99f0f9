import { ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { AZURITE_ACCOUNT, AZURITE_KEY, freePort } from '../local/azurite';

export interface BenchAzurite {
  /** Blob service keeping its data in a folder: the generated export survives between bench runs. */
  exportConnectionString: string;
  /** Blob and queue services in memory: run state, snapshots and run messages, fresh for every bench run. */
  stateConnectionString: string;
  stop(): Promise<void>;
}

/**
 * Azurite for the bench: the export in `exportFolder` (generated once per seed and size), run state in memory, as
 * in Azure where the CI export and the app's state live in different storage accounts.
 */
export async function startBenchAzurite(exportFolder: string): Promise<BenchAzurite> {
  mkdirSync(exportFolder, { recursive: true });
  const children: ChildProcess[] = [];
  try {
    const exportBlob = await startService('blob', ['--location', exportFolder], children);
    const stateBlob = await startService('blob', ['--inMemoryPersistence'], children);
    const stateQueue = await startService('queue', ['--inMemoryPersistence'], children);
    const account = [`DefaultEndpointsProtocol=http`, `AccountName=${AZURITE_ACCOUNT}`, `AccountKey=${AZURITE_KEY}`];
    const endpoint = (kind: string, port: number) => `${kind}Endpoint=http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
    return {
      exportConnectionString: [...account, endpoint('Blob', exportBlob)].join(';') + ';',
      stateConnectionString: [...account, endpoint('Blob', stateBlob), endpoint('Queue', stateQueue)].join(';') + ';',
      stop: () => stopAll(children),
    };
  } catch (error) {
    await stopAll(children);
    throw error;
  }
}

async function startService(kind: 'blob' | 'queue', storage: string[], children: ChildProcess[]): Promise<number> {
  const port = await freePort();
  const main = path.join(path.dirname(require.resolve('azurite/package.json')), 'dist', 'src', kind, 'main.js');
  const child = spawn(
    process.execPath,
    [
      main,
      ...[`--${kind}Host`, '127.0.0.1', `--${kind}Port`, String(port)],
      ...storage,
      ...['--silent', '--disableTelemetry', '--skipApiVersionCheck', '--loose'],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`Azurite ${kind} did not start: ${output}`)), 60_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('successfully listens')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Azurite ${kind} exited with ${code}: ${output}`));
    });
  });
  child.removeAllListeners('exit');
  return port;
}

async function stopAll(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(async (child) => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      // SIGTERM lets Azurite save its metadata database.
      child.kill('SIGTERM');
      await exited;
    }),
  );
}
