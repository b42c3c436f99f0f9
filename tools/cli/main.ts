/** `ci-braze-export`: run an export, and look at runs, from a terminal, with the settings of the environment. */
import { userInfo } from 'node:os';
import { ConfigError } from '../../shared/config/errors';
import { cliCaller } from '../../shared/run/caller';
import { createApp } from '../../shared/run/app';
import { readRunPlan } from '../../shared/run/artifacts';
import { EXIT_CODES, exitCodeOf } from '../../shared/run/outcome';
import { getRun, listRuns } from '../../shared/run/records';
import { StorageFailure } from '../../shared/run/storageMessages';
import { createStreamLogger } from '../../shared/telemetry/logger';
import { scrubSecrets } from '../../shared/telemetry/scrub';
import { parseArgs, USAGE, UsageError, type Command } from './args';
import { checkConfiguration, formatFindings } from './check';
import { runLocal } from './local';
import { cliEnvironment } from './localSettings';
import { createProgressReporter } from './progress';
import { formatPlan, formatRecord } from './report';
import { deliverRunReport, fetchRunReport, ReportNotFoundError } from './reportCommand';
import { formatRunsTable } from './runsTable';
import { RunConflictError, runNow, stopOnCtrlC } from './runNow';

async function main(argv: readonly string[]): Promise<number> {
  const command: Command = parseArgs(argv);
  if (command.name === 'help') {
    console.log(USAGE);
    return 0;
  }
  if (command.name === 'local') return runLocal(command);
  const env = cliEnvironment(process.env);
  if (command.name === 'check') {
    // Before createApp, which stops at the first invalid setting: check reports every problem at once.
    const result = await checkConfiguration(env, { exportConfigSource: command.config });
    console.log(formatFindings(result.findings));
    return result.ok ? 0 : 1;
  }
  // On a terminal the progress bar tells how it goes; elsewhere (CI, pipes) the run's log lines do.
  const logger = createStreamLogger(process.stderr, process.stderr.isTTY ? 'warn' : 'info');
  const app = await createApp(env, { exportConfigSource: command.name === 'run' ? command.config : undefined });

  switch (command.name) {
    case 'run': {
      const record = await runNow(
        app,
        {
          segments: command.segments,
          dryRun: command.dryRun,
          fullResync: command.fullResync,
          allowMassRemoval: command.allowMassRemoval,
          removeUnmapped: command.removeUnmapped,
          trigger: 'cli',
          caller: cliCaller(osUserName()),
          maxRetryTimeSeconds: command.maxRetryTimeSeconds,
        },
        logger,
        {
          progress: createProgressReporter(process.stderr),
          abandon: command.abandon,
          notify: (line) => console.error(line),
          stopSignal: stopOnCtrlC(
            (line) => console.error(line),
            () => process.exit(EXIT_CODES.interrupted),
          ),
        },
      );
      console.log(formatRecord(record));
      if (record.summary && command.dryRun) {
        const plan = await readRunPlan(app.stateContainer, record.runId);
        if (plan) console.log(formatPlan(plan));
      }
      if (command.json)
        console.log(
          JSON.stringify(record.summary ?? { runId: record.runId, status: record.status, error: record.error }),
        );
      if (record.status === 'interrupted') console.error(`run ${record.runId} interrupted: \`run\` again resumes it`);
      return exitCodeOf(record);
    }
    case 'status': {
      const record = command.runId
        ? await getRun(app.stateContainer, command.runId)
        : ((await listRuns(app.stateContainer, 1))[0] ?? null);
      if (!record) {
        console.error(command.runId ? `run ${command.runId} not found` : 'no runs yet');
        return 1;
      }
      console.log(command.json ? JSON.stringify(record) : formatRecord(record));
      return 0;
    }
    case 'runs': {
      const listed = await listRuns(app.stateContainer, command.limit);
      const records = command.failedOnly ? listed.filter((r) => r.status === 'failed') : listed;
      console.log(command.json ? JSON.stringify({ runs: records }) : formatRunsTable(records));
      return 0;
    }
    case 'report': {
      const html = await fetchRunReport(app.stateContainer, command.runId);
      const said = await deliverRunReport(html, command.runId, command);
      if (said) console.error(said);
      return 0;
    }
  }
}

/** The OS account running the CLI; its Entra ID identity is what storage authorizes, this is what the record keeps. */
function osUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? process.env.USERNAME ?? '';
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError) console.error(`${error.message}\n\n${USAGE}`);
    else if (
      error instanceof ConfigError ||
      error instanceof RunConflictError ||
      error instanceof ReportNotFoundError ||
      error instanceof StorageFailure
    )
      console.error(error.message);
    else console.error(`failed: ${scrubSecrets(error instanceof Error ? error.message : String(error))}`);
    const invalidUsage = error instanceof UsageError || error instanceof ConfigError;
    process.exit(
      invalidUsage ? EXIT_CODES.invalidUsage : error instanceof RunConflictError ? EXIT_CODES.busy : EXIT_CODES.failed,
    );
  },
);
