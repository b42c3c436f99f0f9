import { nextOccurrences, parseSchedule, ScheduleError } from '../../tools/cli/ncrontab';

const at = (iso: string) => Date.parse(iso);
const next = (expression: string, after: string, count = 3) =>
  nextOccurrences(parseSchedule(expression), at(after), count).map((d) => d.toISOString());

describe('NCRONTAB schedule (EXPORT_SCHEDULE)', () => {
  it('gives the next run times in UTC, after the given instant', () => {
    expect(next('0 30 3 * * *', '2026-12-04T03:30:00Z')).toEqual([
      '2026-12-05T03:30:00.000Z',
      '2026-12-06T03:30:00.000Z',
      '2026-12-07T03:30:00.000Z',
    ]);
    expect(next('*/20 0 0 1 Jan *', '2026-06-01T00:00:00Z')).toEqual([
      '2027-01-01T00:00:00.000Z',
      '2027-01-01T00:00:20.000Z',
      '2027-01-01T00:00:40.000Z',
    ]);
  });

  it('needs both the day and the day of week to match, as NCrontab does', () => {
    // 13th that is a Friday: 2026-02-13, 2026-03-13, 2026-11-13.
    expect(next('0 0 12 13 * Fri', '2026-01-01T00:00:00Z')).toEqual([
      '2026-02-13T12:00:00.000Z',
      '2026-03-13T12:00:00.000Z',
      '2026-11-13T12:00:00.000Z',
    ]);
  });

  it('reads lists, ranges with steps and names', () => {
    const schedule = parseSchedule('0 0,30 8-18/5 * mar-may mon-fri');
    expect(schedule.minutes).toEqual([0, 30]);
    expect(schedule.hours).toEqual([8, 13, 18]);
    expect([...schedule.months]).toEqual([3, 4, 5]);
    expect([...schedule.weekdays]).toEqual([1, 2, 3, 4, 5]);
  });

  it.each([
    ['every day at 3', 'needs six fields'],
    ['30 3 * * *', 'found 5'],
    ['0 61 3 * * *', 'minute field "61" is out of range 0-59'],
    ['0 0 24 * * *', 'hour field "24" is out of range 0-23'],
    ['0 0 3 * 13 *', 'month field "13" is out of range 1-12'],
    ['0 0 3 * * 7', 'day of week field "7" is out of range 0-6'],
    ['0 0 5-3 * * *', 'range 5-3 runs backwards'],
    ['0 */0 3 * * *', 'a step must be 1 or more'],
    ['0 0 3 ? * *', '"?" is not a value, range or step'],
    ['03:30:00', 'TimeSpan'],
  ])('refuses %j', (expression, message) => {
    expect(() => parseSchedule(expression)).toThrow(ScheduleError);
    expect(() => parseSchedule(expression)).toThrow(message);
  });
});
