// Specs for the SVG chart: tick choice, coordinates (hand-computed), gaps, escaping, metrics -> series.
import { formatTick, logScale, metricKeys, niceTicks, renderLineChart, seriesFromMetrics } from './plot-svg';
import type { MetricsRecord } from './metrics-logger';

describe('niceTicks / formatTick', () => {
  it('picks 1-2-5 steps and encloses the data', () => {
    expect(niceTicks(0, 10, 6)).toEqual([0, 2, 4, 6, 8, 10]); // raw step 1.67 -> 2
    expect(niceTicks(0.13, 0.87, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]); // raw 0.148 -> 0.2
    expect(niceTicks(-3, 47, 5)).toEqual([-10, 0, 10, 20, 30, 40, 50]); // raw 10
    expect(niceTicks(0, 1000, 4)).toEqual([0, 500, 1000]); // raw 250 -> 500
    expect(niceTicks(5, 5, 5)).toEqual([4.4, 4.6, 4.8, 5, 5.2, 5.4, 5.6]); // padded to 4.5..5.5, raw step 0.2
  });

  it('puts log ticks on decades for wide ranges and on 1-2-5 multiples for narrow ones', () => {
    expect(logScale(-0.5, 3.2)).toEqual({ lo: -1, hi: 4, ticks: [-1, 0, 1, 2, 3, 4] });
    const narrow = logScale(Math.log10(0.3), Math.log10(8.6));
    expect(narrow.ticks.map((t) => Number((10 ** t).toPrecision(6)))).toEqual([0.2, 0.5, 1, 2, 5, 10]);
    expect(logScale(Math.log10(3.1), Math.log10(3.9)).ticks.map((t) => Math.round(10 ** t))).toEqual([3, 4]);
  });

  it('formats ticks compactly', () => {
    expect(formatTick(0.30000000000000004)).toBe('0.3');
    expect(formatTick(1e-4)).toBe('1.0e-4');
    expect(formatTick(250000)).toBe('2.5e5');
    expect(formatTick(12.5)).toBe('12.5');
  });
});

describe('renderLineChart', () => {
  it('maps data to the plot area (hand-computed coordinates)', () => {
    // 400x300, margins l70 r20 t20 b50, legend 18 per series -> plot 310 x 212 at (70, 20); x and y span 0..10
    const svg = renderLineChart([{ name: 'train/loss', points: [[0, 0], [10, 10]] }], { width: 400, height: 300 });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg" width="400" height="300"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('points="70.00,232.00 380.00,20.00"');
    expect(svg).toContain('>train/loss</text>'); // legend
    expect(svg).toContain('>step</text>'); // default x label
    for (const t of ['0', '2', '4', '6', '8', '10']) expect(svg).toContain(`text-anchor="middle">${t}</text>`);
  });

  it('breaks lines at missing values, draws lone points, escapes text', () => {
    const svg = renderLineChart(
      [{ name: 'a<b & "c"', points: [[0, 1], [1, 2], [2, NaN], [3, 3], [4, NaN], [5, 1], [6, 2]] }],
      { title: 'loss & ppl' },
    );
    expect((svg.match(/<polyline/g) ?? []).length).toBe(2);
    expect((svg.match(/<circle/g) ?? []).length).toBe(1);
    expect(svg).toContain('a&lt;b &amp; &quot;c&quot;');
    expect(svg).toContain('>loss &amp; ppl</text>');
  });

  it('labels a log axis in data units and copes with no data', () => {
    const svg = renderLineChart([{ name: 'ppl', points: [[1, 1000], [2, 10], [3, 0]] }], { logY: true, yLabel: 'perplexity' });
    for (const label of ['10', '100', '1000']) expect(svg).toContain(`text-anchor="end">${label}</text>`);
    expect(svg).toContain('perplexity (log)');
    expect(renderLineChart([{ name: 'x', points: [] }])).toContain('no data');
  });
});

describe('metrics -> series', () => {
  it('takes x = step and skips records without the key', () => {
    const recs: MetricsRecord[] = [
      { step: 1, time: 0, 'train/loss': 3 },
      { step: 2, time: 0, 'train/loss': 2, 'eval/perplexity': 9 },
      { step: 3, time: 0, 'train/loss': null },
    ];
    expect(metricKeys(recs)).toEqual(['train/loss', 'eval/perplexity']);
    const s = seriesFromMetrics(recs, ['train/loss', 'eval/perplexity']);
    expect(s[0].points).toEqual([[1, 3], [2, 2], [3, NaN]]);
    expect(s[1].points).toEqual([[2, 9]]);
  });
});
