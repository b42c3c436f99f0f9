import { parseArgs, USAGE, UsageError } from '../../tools/cli/args';

describe('CLI arguments', () => {
  it('parses run with every option', () => {
    expect(
      parseArgs([
        'run',
        '--config',
        'c.json',
        '--dry-run',
        '--full-resync',
        '--segments=A, B',
        '--allow-mass-removal',
        '--remove-unmapped',
        '--json',
        '--abandon',
        '--max-retry-time',
        '30',
      ]),
    ).toEqual({
      name: 'run',
      config: 'c.json',
      dryRun: true,
      fullResync: true,
      allowMassRemoval: true,
      removeUnmapped: true,
      segments: ['A', 'B'],
      json: true,
      abandon: true,
      maxRetryTimeSeconds: 30,
    });
  });

  it('refuses a max retry time that is not a whole number of seconds from 1', () => {
    expect(() => parseArgs(['run', '--max-retry-time', '0'])).toThrow(/--max-retry-time must be a whole number/);
    expect(() => parseArgs(['run', '--max-retry-time', '1.5'])).toThrow(UsageError);
  });

  it('treats plan as a dry run', () => {
    expect(parseArgs(['plan'])).toMatchObject({ name: 'run', dryRun: true });
  });

  it('parses status, runs and check', () => {
    expect(parseArgs(['status', '20261128T121500Z-1a2b3c4d'])).toEqual({
      name: 'status',
      runId: '20261128T121500Z-1a2b3c4d',
      json: false,
    });
    expect(parseArgs(['runs', '--limit', '5', '--json'])).toEqual({
      name: 'runs',
      limit: 5,
      json: true,
      failedOnly: false,
    });
    expect(parseArgs(['check', '--config', 'x.json'])).toEqual({ name: 'check', config: 'x.json' });
    expect(parseArgs([])).toEqual({ name: 'help' });
  });

  it('parses runs --failed, report and local', () => {
    expect(parseArgs(['runs', '--failed'])).toEqual({ name: 'runs', limit: 20, json: false, failedOnly: true });
    expect(parseArgs(['report', '20261128T121500Z-1a2b3c4d', '--out', 'r.html'])).toEqual({
      name: 'report',
      runId: '20261128T121500Z-1a2b3c4d',
      open: false,
      out: 'r.html',
    });
    expect(parseArgs(['report', '20261128T121500Z-1a2b3c4d', '--open'])).toMatchObject({ open: true });
    expect(parseArgs(['local'])).toEqual({ name: 'local', profiles: 5000, seed: 1 });
    expect(parseArgs(['local', '--profiles=200', '--seed', '3'])).toEqual({ name: 'local', profiles: 200, seed: 3 });
  });

  it.each([
    [['deploy'], 'unknown command "deploy"'],
    [['run', '--config'], '--config needs a value'],
    [['run', '--config', '--json'], '--config needs a value'],
    [['run', '--dry-run=yes'], '--dry-run takes no value'],
    [['run', '-x'], 'run does not take -x'],
    [['status', '--dry-run'], 'status does not take --dry-run'],
    [['runs', '--limit', '0'], '--limit must be a whole number from 1 to 100'],
    [['run', 'extra'], 'unexpected argument "extra"'],
    [['report'], 'report needs a run id (see `ci-braze-export runs`)'],
    [['report', 'x', '--open', '--out', 'f'], 'report takes --open or --out, not both'],
    [['local', '--profiles', '0'], '--profiles must be a whole number from 1 to 1000000'],
  ])('refuses %j with a precise message', (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(new UsageError(message));
  });

  it('prints the real defaults in its usage', () => {
    expect(USAGE).toContain('newest first (default 20)');
    expect(USAGE).toContain('(default 5000 profiles)');
    expect(USAGE).not.toContain('${');
  });
});
