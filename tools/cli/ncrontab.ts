/**
 * NCRONTAB as the Functions timer trigger reads `%EXPORT_SCHEDULE%`: six fields (second minute hour day month
 * day-of-week), in UTC. Each field is `*`, a number, a range `a-b`, any of them with a step `/n`, or a comma list;
 * months and days may be named (`Jan`, `Mon`). As in the NCrontab library the host uses, a time must match both
 * the day and the day of week. The `hh:mm:ss` TimeSpan form works only on an App Service plan, not on Flex
 * Consumption, so it is refused.
 */

import { AppError } from '../../shared/errors';

export interface Schedule {
  seconds: number[];
  minutes: number[];
  hours: number[];
  days: Set<number>;
  months: Set<number>;
  weekdays: Set<number>;
}

export class ScheduleError extends AppError {
  readonly code = 'SCHEDULE_INVALID';
  readonly retryable = false;
}

const FIELDS = [
  { name: 'second', min: 0, max: 59 },
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day', min: 1, max: 31 },
  {
    name: 'month',
    min: 1,
    max: 12,
    names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'],
  },
  { name: 'day of week', min: 0, max: 6, names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] },
] as const;

const EXAMPLE = '"0 30 3 * * *" (03:30:00 UTC every day)';

export function parseSchedule(expression: string): Schedule {
  const trimmed = expression.trim();
  if (/^\d{1,2}:\d{2}(:\d{2})?$/.test(trimmed)) {
    throw new ScheduleError(
      `"${trimmed}" is a TimeSpan, which the timer accepts only on an App Service plan, not on Flex Consumption: ` +
        `use NCRONTAB, e.g. ${EXAMPLE}`,
    );
  }
  const parts = trimmed.split(/\s+/).filter(Boolean);
  if (parts.length !== 6) {
    throw new ScheduleError(
      `"${trimmed}" is not an NCRONTAB expression: it needs six fields (second minute hour day month ` +
        `day-of-week), found ${parts.length}; e.g. ${EXAMPLE}`,
    );
  }
  const values = parts.map((part, index) => parseField(part, FIELDS[index]));
  return {
    seconds: values[0],
    minutes: values[1],
    hours: values[2],
    days: new Set(values[3]),
    months: new Set(values[4]),
    weekdays: new Set(values[5]),
  };
}

function parseField(text: string, field: (typeof FIELDS)[number]): number[] {
  const found = new Set<number>();
  for (const item of text.split(',')) {
    const match = /^(\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:\/(\d+))?$/i.exec(item);
    if (!match) throw new ScheduleError(`${field.name} field "${text}": "${item}" is not a value, range or step`);
    const [, range, stepText] = match;
    const step = stepText === undefined ? 1 : Number(stepText);
    if (step < 1) throw new ScheduleError(`${field.name} field "${text}": a step must be 1 or more`);
    let from: number = field.min;
    let to: number = field.max;
    if (range !== '*') {
      const [a, b] = range.split('-');
      from = value(a, field, text);
      to = b === undefined ? (stepText === undefined ? from : field.max) : value(b, field, text);
      if (to < from) throw new ScheduleError(`${field.name} field "${text}": range ${range} runs backwards`);
    }
    for (let v = from; v <= to; v += step) found.add(v);
  }
  return [...found].sort((a, b) => a - b);
}

function value(token: string, field: (typeof FIELDS)[number], text: string): number {
  const named = 'names' in field ? (field.names as readonly string[]).indexOf(token.toLowerCase()) : -1;
  const number = named >= 0 ? named + field.min : /^\d+$/.test(token) ? Number(token) : NaN;
  if (!Number.isInteger(number) || number < field.min || number > field.max) {
    throw new ScheduleError(
      `${field.name} field "${text}"${token === text ? '' : `: "${token}"`} is out of range ${field.min}-${field.max}` +
        ('names' in field ? ` (or a name such as ${field.names[0]})` : ''),
    );
  }
  return number;
}

/** The next `count` times (UTC) after `afterMs`; fewer when the schedule matches no date in the next five years. */
export function nextOccurrences(schedule: Schedule, afterMs: number, count: number): Date[] {
  const found: Date[] = [];
  const start = new Date(afterMs);
  let day = Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate());
  const lastDay = day + 5 * 366 * DAY_IN_MS;
  for (; day <= lastDay && found.length < count; day += DAY_IN_MS) {
    const date = new Date(day);
    if (
      !schedule.days.has(date.getUTCDate()) ||
      !schedule.months.has(date.getUTCMonth() + 1) ||
      !schedule.weekdays.has(date.getUTCDay())
    )
      continue;
    for (const hour of schedule.hours)
      for (const minute of schedule.minutes)
        for (const second of schedule.seconds) {
          const at = day + ((hour * 60 + minute) * 60 + second) * 1000;
          if (at > afterMs && found.length < count) found.push(new Date(at));
        }
  }
  return found;
}

const DAY_IN_MS = 86_400_000;
