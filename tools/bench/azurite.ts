import type { ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { AZURITE_ACCOUNT, AZURITE_KEY, startAzuriteService, stopAzuriteServices } from '../local/azurite';

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
    const start = async (kind: 'blob' | 'queue', storage?: string[]) => {
      const { port, child } = await startAzuriteService(kind, storage);
      children.push(child);
      return port;
    };
    const exportBlob = await start('blob', ['--location', exportFolder]);
    const stateBlob = await start('blob');
    const stateQueue = await start('queue');
    const account = [`DefaultEndpointsProtocol=http`, `AccountName=${AZURITE_ACCOUNT}`, `AccountKey=${AZURITE_KEY}`];
    const endpoint = (kind: string, port: number) => `${kind}Endpoint=http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
    return {
      exportConnectionString: [...account, endpoint('Blob', exportBlob)].join(';') + ';',
      stateConnectionString: [...account, endpoint('Blob', stateBlob), endpoint('Queue', stateQueue)].join(';') + ';',
      stop: () => stopAzuriteServices(children),
    };
  } catch (error) {
    await stopAzuriteServices(children);
    throw error;
  }
}
