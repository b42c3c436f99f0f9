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
    expect(options).toMatchObject({ concurrency: '16', requestsPerSecond: 5000, cpuProfileDir: 'prof' });
    expect(parseBenchArgs(['--concurrency=fixed:8']).concurrency).toBe('fixed:8');
  });

  it('reads latency ranges, the rate limit, the full-only and peer flags', () => {
    const options = parseBenchArgs([
      '--latency-ms',
      '50-250',
      '--rate-limit',
      '3000/3',
      '--full-only',
      '--peer',
      '/work/peer',
      '--peer-threads',
      '20,150',
    ]);
    expect(options).toMatchObject({
      latencyMs: { min: 50, max: 250 },
      rateLimit: '3000/3',
      fullOnly: true,
      peerPath: '/work/peer',
      peerThreads: [20, 150],
    });
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
    [['--latency-ms', '250-50'], "--latency-ms expects a whole number of ms or MIN-MAX (e.g. 50-250), got '250-50'"],
    [['--rate-limit', 'fast'], "--rate-limit expects off or <requests>/<seconds> (Braze: 3000/3), got 'fast'"],
    [['--concurrency', '0'], "--concurrency expects a ceiling from 1 to 256 or fixed:N, as BRAZE_CONCURRENCY, got '0'"],
    [['--peer-threads', '0'], "--peer-threads expects whole numbers from 1 to 1000, comma-separated, got '0'"],
  ])('rejects %j with a message naming the flag', (argv, message) => {
    expect(() => parseBenchArgs(argv)).toThrow(new BenchArgsError(message));
  });
});
