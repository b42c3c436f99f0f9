import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ContainerClient } from '@azure/storage-blob';
import { AppError } from '../../shared/errors';
import { runBlobName } from '../../shared/run/artifacts';
import { getRun } from '../../shared/run/records';
import { storageStatus } from '../../shared/run/storage';

export class ReportNotFoundError extends AppError {
  readonly code = 'REPORT_NOT_FOUND';
  readonly retryable = false;
}

/** The stored `runs/<runId>/report.html`, or a message saying why there is none. */
export async function fetchRunReport(stateContainer: ContainerClient, runId: string): Promise<string> {
  const record = await getRun(stateContainer, runId);
  if (!record) throw new ReportNotFoundError(`run ${runId} not found (see \`ci-braze-export runs\`)`);
  try {
    return (await stateContainer.getBlobClient(runBlobName(runId, 'report.html')).downloadToBuffer()).toString('utf8');
  } catch (error) {
    if (storageStatus(error) !== 404) throw error;
    throw new ReportNotFoundError(
      record.status === 'failed'
        ? `run ${runId} failed before it wrote a report: ${record.error ?? 'no error recorded'}`
        : `run ${runId} has no report yet: it is ${record.status}`,
    );
  }
}

/**
 * Where the report goes: `--out` writes the file, `--open` writes it to the temp folder and opens the default
 * browser, otherwise the HTML goes to stdout. Returns what to tell the user.
 */
export async function deliverRunReport(
  html: string,
  runId: string,
  options: { open: boolean; out?: string },
): Promise<string | null> {
  if (options.out) {
    writeFileSync(options.out, html);
    return `report of run ${runId} written to ${options.out}`;
  }
  if (!options.open) {
    process.stdout.write(html);
    return null;
  }
  const file = path.join(tmpdir(), `ci-braze-export-${runId}.html`);
  writeFileSync(file, html);
  const opened = await openInBrowser(file);
  return opened ? `opened ${file}` : `report written to ${file}; no browser opener was found: open the file yourself`;
}

function openInBrowser(file: string): Promise<boolean> {
  const [command, args] =
    process.platform === 'darwin'
      ? ['open', [file]]
      : process.platform === 'win32'
        ? ['cmd', ['/c', 'start', '', file]]
        : ['xdg-open', [file]];
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: 'ignore', detached: true });
    child.once('error', () => resolve(false));
    child.once('spawn', () => {
      child.unref();
      resolve(true);
    });
  });
}
