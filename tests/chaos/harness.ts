import { createServer, connect, type Server, type Socket } from 'node:net';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { validateExportConfig, type ExportConfig } from '../../shared/config/exportConfig';
import { loadSettings } from '../../shared/config/settings';
import { createRunExecutor } from '../../shared/run/pipeline';
import { newRunId } from '../../shared/run/records';
import type { RunRequest, RunSummary } from '../../shared/run/types';
import { MemoryLogger } from '../../shared/telemetry/logger';
import type { BrazeSandbox } from '../../tools/braze-sandbox/server';
import { AZURITE_ACCOUNT, AZURITE_KEY } from '../../tools/local/azurite';

/** Everything a run logged or threw, kept for the personal-data scan at the end of a suite. */
export interface Evidence {
  logs: MemoryLogger[];
  errors: string[];
}

export function newEvidence(): Evidence {
  return { logs: [], errors: [] };
}

export function evidenceText(evidence: Evidence): string {
  return [...evidence.logs.map((logger) => logger.text()), ...evidence.errors].join('\n');
}

export function describeThrown(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}\n${error.stack ?? ''}` : String(error);
}

/** A connection string for the Azurite blob service reached through another port (the cutting proxy). */
export function blobConnectionString(port: number): string {
  return (
    `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};` +
    `BlobEndpoint=http://127.0.0.1:${port}/${AZURITE_ACCOUNT};`
  );
}

export interface RunTarget {
  connectionString: string;
  exportContainer: ContainerClient;
  stateContainer: ContainerClient;
  exportContainerName: string;
  exportPath: string;
  rawConfig: unknown;
  sandbox: BrazeSandbox;
  evidence: Evidence;
}

export type RunAttempt = { kind: 'completed'; summary: RunSummary } | { kind: 'failed'; error: unknown };

/** One run step of the real pipeline, to completion or failure; `runId` given to retry (resume) a failed run. */
export async function runPipeline(
  target: RunTarget,
  settingsOverrides: Record<string, string> = {},
  request: Partial<RunRequest> = {},
  runId = newRunId(Date.now()),
): Promise<RunAttempt & { runId: string }> {
  const logger = new MemoryLogger();
  target.evidence.logs.push(logger);
  try {
    const settings = loadSettings({
      CI_EXPORT_STORAGE: target.connectionString,
      CI_EXPORT_CONTAINER: target.exportContainerName,
      CI_EXPORT_PATH: target.exportPath,
      STATE_STORAGE: target.connectionString,
      BRAZE_REST_ENDPOINT: target.sandbox.url,
      BRAZE_API_KEY: target.sandbox.apiKey,
      BRAZE_ALLOW_INSECURE_LOOPBACK: 'true',
      EXPORT_CONFIG: JSON.stringify(target.rawConfig),
      ...settingsOverrides,
    });
    const exportConfig: ExportConfig = validateExportConfig(target.rawConfig);
    const executor = createRunExecutor({
      settings,
      exportConfig,
      exportContainer: target.exportContainer,
      stateContainer: target.stateContainer,
    });
    const outcome = await executor({
      runId,
      request: { dryRun: false, fullResync: false, allowMassRemoval: false, trigger: 'cli', ...request },
      deadline: Date.now() + 600_000,
      logger,
    });
    if (outcome.kind !== 'completed') throw new Error('the run paused although its time budget was not spent');
    return { kind: 'completed', summary: outcome.summary, runId };
  } catch (error) {
    target.evidence.errors.push(describeThrown(error));
    return { kind: 'failed', error, runId };
  }
}

/** Rows in = rows out: every row read was sent, unchanged, skipped, rejected or a repeat of a user already read. */
export function rowsAccountedFor(summary: RunSummary): number {
  const rowsMerged = summary.rowsMerged ?? 0;
  return (
    summary.objectsSent + rowsMerged + summary.unchanged + summary.skipped + summary.rejected + summary.duplicateRows
  );
}

export async function freshContainer(connectionString: string, prefix: string): Promise<ContainerClient> {
  const name = `${prefix}-${Math.random().toString(16).slice(2, 10)}`;
  const container = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(name);
  await container.create();
  return container;
}

/**
 * A loopback TCP proxy in front of Azurite's blob service that cuts partition downloads (GETs of `.csv` blobs)
 * after `cutAfterBytes` response bytes, `cuts` times: a storage stream that breaks half way.
 */
export interface CuttingProxy {
  port: number;
  cutsDone(): number;
  close(): Promise<void>;
}

export async function startCuttingProxy(
  upstreamPort: number,
  options: { cutAfterBytes: number; cuts: number },
): Promise<CuttingProxy> {
  let cutsLeft = options.cuts;
  let cutsDone = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(upstreamPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.once('close', () => sockets.delete(client));
    upstream.once('close', () => sockets.delete(upstream));
    let armed = false;
    let bytesForwarded = 0;
    client.on('data', (chunk: Buffer) => {
      if (!armed && cutsLeft > 0 && /^GET [^ ]+\.csv /m.test(chunk.toString('latin1'))) {
        armed = true;
        cutsLeft--;
        bytesForwarded = 0;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!armed) {
        client.write(chunk);
        return;
      }
      const room = options.cutAfterBytes - bytesForwarded;
      if (chunk.length < room) {
        bytesForwarded += chunk.length;
        client.write(chunk);
        return;
      }
      cutsDone++;
      client.end(chunk.subarray(0, room), () => client.destroy());
      upstream.destroy();
    });
    const closeBoth = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', closeBoth).on('end', () => upstream.end());
    upstream.on('error', closeBoth).on('end', () => client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    cutsDone: () => cutsDone,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
