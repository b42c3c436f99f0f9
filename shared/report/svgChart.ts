/** A small inline SVG line chart for the run report: no script, no external asset, readable when printed. */

export interface ChartSeries {
  name: string;
  color: string;
  /** [x, y] points, x ascending. */
  points: ReadonlyArray<readonly [number, number]>;
}

export interface LineChartOptions {
  series: readonly ChartSeries[];
  xLabel: string;
  yLabel: string;
  /** Counts: no tick between whole numbers. */
  wholeNumbers?: boolean;
  widthInPx?: number;
  heightInPx?: number;
}

const MARGIN = { left: 64, right: 16, top: 28, bottom: 40 };
const TICKS = 5;

export function lineChart(options: LineChartOptions): string {
  const width = options.widthInPx ?? 1000;
  const height = options.heightInPx ?? 260;
  const plotWidth = width - MARGIN.left - MARGIN.right;
  const plotHeight = height - MARGIN.top - MARGIN.bottom;
  const all = options.series.flatMap((s) => s.points);
  const xMin = Math.min(0, ...all.map(([x]) => x));
  const xScale = niceScale(Math.max(...all.map(([x]) => x), xMin + 1) - xMin);
  const yScale = niceScale(Math.max(...all.map(([, y]) => y), 1), options.wholeNumbers ? 1 : 0);
  const xAt = (x: number) => MARGIN.left + ((x - xMin) / xScale.max) * plotWidth;
  const yAt = (y: number) => MARGIN.top + plotHeight - (y / yScale.max) * plotHeight;

  const parts: string[] = [];
  for (let i = 0; i * yScale.step <= yScale.max + yScale.step / 2; i++) {
    const yValue = i * yScale.step;
    const y = yAt(yValue).toFixed(1);
    parts.push(`<line class="grid" x1="${MARGIN.left}" x2="${width - MARGIN.right}" y1="${y}" y2="${y}"/>`);
    parts.push(
      `<text class="axis" x="${MARGIN.left - 6}" y="${y}" dy="4" text-anchor="end">${tickLabel(yValue)}</text>`,
    );
  }
  for (let i = 0; i * xScale.step <= xScale.max + xScale.step / 2; i++) {
    const xValue = i * xScale.step;
    parts.push(
      `<text class="axis" x="${xAt(xMin + xValue).toFixed(1)}" y="${height - MARGIN.bottom + 16}" text-anchor="middle">${tickLabel(xMin + xValue)}</text>`,
    );
  }
  parts.push(
    `<text class="axis" x="${MARGIN.left + plotWidth / 2}" y="${height - 6}" text-anchor="middle">${escape(options.xLabel)}</text>`,
    `<text class="axis" x="14" y="${MARGIN.top + plotHeight / 2}" text-anchor="middle" transform="rotate(-90 14 ${
      MARGIN.top + plotHeight / 2
    })">${escape(options.yLabel)}</text>`,
  );
  options.series.forEach((series, index) => {
    if (series.points.length > 0) {
      const path = series.points.map(([x, y]) => `${xAt(x).toFixed(1)},${yAt(y).toFixed(1)}`).join(' ');
      parts.push(`<polyline fill="none" stroke="${series.color}" stroke-width="2" points="${path}"/>`);
    }
    const legendX = MARGIN.left + index * 240;
    parts.push(
      `<rect x="${legendX}" y="8" width="14" height="4" fill="${series.color}"/>`,
      `<text class="axis" x="${legendX + 20}" y="14">${escape(series.name)}</text>`,
    );
  });
  return `<svg class="chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escape(
    options.series.map((s) => s.name).join(', '),
  )}">\n${parts.join('\n')}\n</svg>`;
}

/**
 * An axis from 0 to at least `value` in steps of 1, 2 or 5 times a power of ten, about TICKS of them: ticks people
 * can read, and no more empty space than one step.
 */
export function niceScale(value: number, smallestStep = 0): { max: number; step: number } {
  if (!(value > 0)) return { max: 1, step: 1 };
  const rough = Math.max(value / TICKS, smallestStep);
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((candidate) => candidate >= rough) ?? 10 * power;
  return { max: Math.ceil(value / step - 1e-9) * step, step };
}

function tickLabel(value: number): string {
  if (value >= 1_000_000) return `${trim(value / 1_000_000)}M`;
  if (value >= 10_000) return `${trim(value / 1000)}k`;
  return trim(value);
}

function trim(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1).replace(/\.0$/, '');
}

function escape(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
