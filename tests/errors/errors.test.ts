import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { RestError } from '@azure/storage-blob';
import { BrazeFatalError } from '../../shared/braze/types';
import { TransportError } from '../../shared/braze/http';
import { ConfigError } from '../../shared/config/errors';
import { AppError, isRetryable, isTransientStorageError } from '../../shared/errors';
import { RunLeaseLostError } from '../../shared/run/lock';
import { ResumeLaterError } from '../../shared/run/outcome';
import { RunInterruptedError } from '../../shared/run/pipeline';
import { ForeignRunMessageError } from '../../shared/run/queue';
import { InvalidRunIdError, RunNotFoundError } from '../../shared/run/records';
import { StorageUnavailableError, withStorageRetry } from '../../shared/run/storageErrors';
import { rewordStorageError, StorageFailure, type StorageTarget } from '../../shared/run/storageMessages';
import { SourceError, SourceReadError } from '../../shared/source/errors';
import { BenchArgsError } from '../../tools/bench/args';
import { UsageError } from '../../tools/cli/args';
import { ScheduleError } from '../../tools/cli/ncrontab';
import { ReportNotFoundError } from '../../tools/cli/reportCommand';
import { RunConflictError } from '../../tools/cli/runNow';

const ROOT = path.join(__dirname, '..', '..');

function restError(statusCode: number, code?: string): RestError {
  return new RestError(`status ${statusCode}`, { statusCode, code });
}

function connectionError(code: string): Error {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:10000`), { code });
}

describe('storage errors are classified by status, in one place', () => {
  it.each([
    [500, true],
    [502, true],
    [503, true],
    [504, true],
    [408, true],
    [429, true],
    [400, false],
    [401, false],
    [403, false],
    [404, false],
    [409, false],
    [412, false],
  ])('a RestError with status %i is retryable: %s', (status, retryable) => {
    expect(isTransientStorageError(restError(status))).toBe(retryable);
    expect(isRetryable(restError(status))).toBe(retryable);
  });

  it.each(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'REQUEST_SEND_ERROR'])(
    'a connection error %s (no answer) is retryable',
    (code) => {
      expect(isRetryable(connectionError(code))).toBe(true);
      expect(isRetryable(new RestError('request failed', { code }))).toBe(true);
    },
  );

  it('classifies a wrapper without a status by its cause, and anything unknown as not retryable', () => {
    expect(isRetryable(new Error('upload failed', { cause: restError(503) }))).toBe(true);
    expect(isRetryable(new Error('upload failed', { cause: restError(404) }))).toBe(false);
    expect(isRetryable(new Error('plain bug'))).toBe(false);
    expect(isRetryable(new TypeError('x is undefined'))).toBe(false);
    expect(isRetryable('a string')).toBe(false);
    expect(isRetryable(null)).toBe(false);
    expect(isRetryable(undefined)).toBe(false);
  });

  it('does not read a duck-typed `retryable` flag: only the project’s errors carry one', () => {
    expect(isRetryable(Object.assign(new Error('looks retryable'), { retryable: true }))).toBe(false);
  });

  it('keeps the retry mark of a storage error that was reworded for the operator', () => {
    const target: StorageTarget = {
      setting: 'STATE_STORAGE',
      containerSetting: 'STATE_CONTAINER',
      location: { kind: 'connectionString', connectionString: 'UseDevelopmentStorage=true' },
      container: 'state',
      role: 'Storage Blob Data Contributor',
    };
    const transient = rewordStorageError(restError(503, 'ServerBusy'), [target], 'writing the checkpoint');
    const refused = rewordStorageError(restError(403, 'AuthorizationFailure'), [target], 'writing the checkpoint');
    expect(transient).toBeInstanceOf(StorageFailure);
    expect(transient).toMatchObject({ code: 'STORAGE_FAILURE', retryable: true, statusCode: 503 });
    expect(refused).toMatchObject({ code: 'STORAGE_FAILURE', retryable: false, statusCode: 403 });
    expect(isRetryable(transient)).toBe(true);
    expect(isRetryable(refused)).toBe(false);
  });

  it('retries a transient storage write, then gives up with a retryable StorageUnavailableError', async () => {
    const waits: number[] = [];
    const sleep = async (ms: number) => void waits.push(ms);
    let calls = 0;
    const written = await withStorageRetry(
      'runs/x/checkpoint.json',
      async () => {
        if (++calls < 3) throw connectionError('ECONNRESET');
        return 'written';
      },
      { sleep },
    );
    expect(written).toBe('written');
    expect(waits).toEqual([500, 1000]);

    const failure = await withStorageRetry('runs/x/checkpoint.json', () => Promise.reject(restError(500)), {
      sleep,
      attempts: 2,
    }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(StorageUnavailableError);
    expect(failure).toMatchObject({ code: 'STORAGE_UNAVAILABLE', retryable: true });
    expect(isRetryable(failure)).toBe(true);

    const conflict = restError(412, 'ConditionNotMet');
    await expect(withStorageRetry('x', () => Promise.reject(conflict), { sleep })).rejects.toBe(conflict);
  });
});

describe('the project’s errors', () => {
  const errors: Array<[AppError, string, boolean]> = [
    [new ConfigError('export config', ['membership.onleave: unknown key']), 'CONFIG_INVALID', false],
    [new SourceError('t/p.csv', 'bad header', 1), 'SOURCE_INVALID', false],
    [new SourceReadError('t/p.csv', 'ECONNRESET'), 'SOURCE_READ_FAILED', true],
    [new BrazeFatalError('HTTP 401', 401, false), 'BRAZE_FATAL', false],
    [new BrazeFatalError('HTTP 503 after retries', 503, true), 'BRAZE_FATAL', true],
    [new TransportError('ECONNRESET'), 'ECONNRESET', true],
    [new StorageUnavailableError('runs/x/checkpoint.json', restError(503)), 'STORAGE_UNAVAILABLE', true],
    [new RunInterruptedError('lease lost'), 'RUN_INTERRUPTED', true],
    [new ForeignRunMessageError('passed on 30 times'), 'FOREIGN_RUN_MESSAGE', true],
    [new ResumeLaterError('max retry time spent'), 'RESUME_LATER', false],
    [new RunLeaseLostError('HTTP 409'), 'RUN_LEASE_LOST', true],
    [new InvalidRunIdError(), 'INVALID_RUN_ID', false],
    [new RunNotFoundError('20261128T121500Z-1a2b3c4d'), 'RUN_NOT_FOUND', false],
    [new RunConflictError('20261128T121500Z-1a2b3c4d'), 'RUN_CONFLICT', false],
    [new UsageError('unknown option --x'), 'USAGE', false],
    [new ReportNotFoundError('run not found'), 'REPORT_NOT_FOUND', false],
    [new ScheduleError('bad field'), 'SCHEDULE_INVALID', false],
    [new BenchArgsError('--profiles must be a number'), 'BENCH_ARGS_INVALID', false],
  ];

  it.each(errors.map(([error, code, retryable]) => [error.name, error, code, retryable] as const))(
    '%s has a stable code and says whether it is retryable',
    (_name, error, code, retryable) => {
      expect(error).toBeInstanceOf(AppError);
      expect(error).toBeInstanceOf(Error);
      expect(error.code).toBe(code);
      expect(error.retryable).toBe(retryable);
      expect(isRetryable(error)).toBe(retryable);
      // The name stays the class's own: messages, logs and tests name it.
      expect(error.name).toBe(error.constructor.name);
    },
  );

  it('every error class in shared/, tools/ and functions/ extends AppError', () => {
    const offenders: string[] = [];
    for (const file of sourceFiles(['shared', 'tools', 'functions'])) {
      const text = readFileSync(file, 'utf8');
      for (const match of text.matchAll(/class\s+(\w+)\s+extends\s+(Error|TypeError|RangeError)\b/g)) {
        if (match[1] !== 'AppError') offenders.push(`${path.relative(ROOT, file)}: ${match[1]}`);
      }
    }
    expect(offenders).toEqual([]);
  });
});

function sourceFiles(folders: string[]): string[] {
  const files: string[] = [];
  const visit = (folder: string) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const full = path.join(folder, entry.name);
      if (entry.isDirectory()) visit(full);
      else if (entry.name.endsWith('.ts')) files.push(full);
    }
  };
  for (const folder of folders) visit(path.join(ROOT, folder));
  return files;
}
