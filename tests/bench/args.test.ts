import { BenchArgsError, DEFAULT_BENCH_OPTIONS, parseBenchArgs } from '../../tools/bench/args';

describe('bench flags', () => {
  it('reads the contract flags, in both --flag value and --flag=value forms', () => {
    const options = parseBenchArgs([
      '--profiles',
      '1000000',
      '--segments=2',
      '--changed',
      '2.5',
      '--latency-ms',
      '50',
      '--json',
    ]);
    expect(options).toMatchObject({ profiles: 1_000_000, segments: 2, changedPercent: 2.5, latencyMs: 50, json: true });
    expect(options.concurrency).toBe(DEFAULT_BENCH_OPTIONS.concurrency);
  });

  it('reads the tuning flags and the CPU profile folder', () => {
    const options = parseBenchArgs(['--concurrency', '16', '--requests-per-second', '5000', '--cpu-prof', 'prof']);
    expect(options).toMatchObject({ concurrency: 16, requestsPerSecond: 5000, cpuProfileDir: 'prof' });
  });

  it.each([
    [['--profile', '10'], 'unknown flag --profile'],
    [['100'], "unexpected argument '100' (flags start with --)"],
    [['--profiles', 'many'], "--profiles expects a whole number, got 'many'"],
    [['--profiles', '1.5'], "--profiles expects a whole number, got '1.5'"],
    [['--changed', ''], "--changed expects a number, got ''"],
    [['--changed', '101'], '--changed expects a number from 0 to 100, got 101'],
    [['--batch-size', '76'], '--batch-size expects a whole number from 1 to 75, got 76'],
    [['--latency-ms'], '--latency-ms expects a value'],
    [['--latency-ms', '--json'], '--latency-ms expects a value'],
    [['--json=yes'], '--json takes no value'],
  ])('rejects %j with a message naming the flag', (argv, message) => {
    expect(() => parseBenchArgs(argv)).toThrow(new BenchArgsError(message));
  });
});
