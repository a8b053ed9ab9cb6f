/**
 * The HTML report: one self-contained file (no network) with the summary of an exploration,
 * each violation's race diagram as SVG, a timeline of its threads (lock holds, invalidation
 * windows, sequence values along virtual time) and charts of coverage growth and benchmark
 * curves. Charts are drawn in the page by Observable Plot (with d3), whose bundles are
 * inlined, from data embedded as JSON.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { BenchCharts } from './bench-file.js';
import type { Timeline } from './timeline.js';

/** One violation as the report shows it. */
export interface ReportViolation {
  kind: string;
  message: string;
  signature: string;
  token: string;
  /** The replay command that reproduces it. */
  replay: string;
  /** The race diagram as SVG (renderRaceDiagramSvg) and as text. */
  diagramSvg: string;
  diagramText: string;
  timeline: Timeline;
}

/** One explored scenario. */
export interface ReportScenario {
  name: string;
  description: string;
  expect: 'clean' | 'violation';
  strategy: string;
  schedules: number;
  steps: number;
  seconds: number;
  /** As expected: a planted bug found, or a correct design clean. */
  ok: boolean;
  violations: ReportViolation[];
  /** Coverage after each batch of schedules, when the exploration recorded it. */
  coverage?: { schedules: number; value: number }[];
  /** Further per-scenario counters to show in the summary (device faults, retries, ...). */
  stats?: Record<string, number>;
}

/** Everything a report shows. */
export interface ReportInput {
  title: string;
  /** The command that produced it (shown, never executed). */
  command: string;
  scenarios: ReportScenario[];
  /**
   * Benchmark curves (loadBenchCharts). Without charts the report says where to get them; leave
   * undefined to leave the section out.
   */
  bench?: BenchCharts;
}

const require = createRequire(import.meta.url);

/** A file of an installed package (its exports map hides the UMD bundles from resolve). */
function asset(pkg: string, file: string): string {
  let dir = dirname(require.resolve(pkg));
  while (!existsSync(join(dir, 'package.json')) || !dir.endsWith(pkg.split('/').pop()!)) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`report: cannot find the installed package ${pkg}`);
    dir = up;
  }
  return readFileSync(join(dir, file), 'utf8');
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** JSON that is safe inside a <script> element. */
function scriptJson(v: unknown): string {
  return JSON.stringify(v)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

const STYLE = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1200px; color: #1b1b1b; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; } h3 { margin-bottom: .3rem; }
code, pre { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; }
table { border-collapse: collapse; margin: 1rem 0; } th, td { padding: .25rem .6rem; border-bottom: 1px solid #e5e5e5; text-align: right; }
th:first-child, td:first-child, td.text { text-align: left; }
.ok { color: #18794e; font-weight: 600; } .bad { color: #b00020; font-weight: 600; }
.diagram { overflow-x: auto; border: 1px solid #e5e5e5; padding: .5rem; background: #fff; }
.muted { color: #666; } details { margin: .5rem 0; } .chart { margin: .5rem 0 1rem; }
`;

/** Builds the report page. Pure: the same input gives the same bytes. */
export function buildReport(input: ReportInput): string {
  const parts: string[] = [];
  parts.push('<!doctype html>', '<html lang="en"><head><meta charset="utf-8">');
  parts.push(`<meta name="viewport" content="width=device-width, initial-scale=1">`);
  parts.push(`<title>${esc(input.title)}</title><style>${STYLE}</style></head><body>`);
  parts.push(`<h1>${esc(input.title)}</h1>`);
  parts.push(
    `<p class="muted">Produced by <code>${esc(input.command)}</code>. Self-contained: nothing is fetched.</p>`,
  );

  const expected = input.scenarios.filter((s) => s.ok).length;
  parts.push('<h2 id="summary">Summary</h2>');
  parts.push(
    `<p>${expected} of ${input.scenarios.length} scenarios as expected; ` +
      `${input.scenarios.reduce((n, s) => n + s.violations.length, 0)} distinct violations.</p>`,
  );
  const statKeys = [...new Set(input.scenarios.flatMap((s) => Object.keys(s.stats ?? {})))].sort();
  parts.push(
    '<table id="summary-table"><thead><tr><th>scenario</th><th>strategy</th><th>schedules</th><th>steps</th>',
  );
  for (const k of statKeys) parts.push(`<th>${esc(k)}</th>`);
  parts.push('<th>violations</th><th>expected</th><th>seconds</th></tr></thead><tbody>');
  for (const s of input.scenarios) {
    parts.push(
      `<tr><td><a href="#s-${esc(s.name)}">${esc(s.name)}</a></td><td class="text">${esc(s.strategy)}</td>` +
        `<td>${s.schedules}</td><td>${s.steps}</td>`,
    );
    for (const k of statKeys) parts.push(`<td>${s.stats?.[k] ?? ''}</td>`);
    parts.push(
      `<td>${s.violations.length}</td><td class="text">${s.expect === 'clean' ? 'none' : 'a violation'} — ` +
        `<span class="${s.ok ? 'ok' : 'bad'}">${s.ok ? 'as expected' : 'UNEXPECTED'}</span></td>` +
        `<td>${s.seconds.toFixed(2)}</td></tr>`,
    );
  }
  parts.push('</tbody></table>');

  const charts: { id: string; kind: 'timeline' | 'coverage' | 'bench'; data: unknown }[] = [];
  for (const s of input.scenarios) {
    parts.push(`<h2 id="s-${esc(s.name)}">${esc(s.name)}</h2>`);
    parts.push(`<p>${esc(s.description)}</p>`);
    if (s.coverage !== undefined && s.coverage.length > 1) {
      const id = `coverage-${charts.length}`;
      charts.push({ id, kind: 'coverage', data: s.coverage });
      parts.push(`<h3>Coverage growth</h3><div class="chart" id="${id}"></div>`);
    }
    if (s.violations.length === 0) parts.push('<p class="muted">No violation in any schedule.</p>');
    for (const v of s.violations) {
      parts.push(`<h3 class="violation">${esc(v.kind)}: ${esc(v.message)}</h3>`);
      parts.push(
        `<p class="muted">Replay: <code>${esc(v.replay)}</code><br>Signature: <code>${esc(v.signature)}</code></p>`,
      );
      parts.push(`<div class="diagram">${v.diagramSvg}</div>`);
      const id = `timeline-${charts.length}`;
      charts.push({ id, kind: 'timeline', data: v.timeline });
      parts.push(
        `<h3>Timeline</h3><p class="muted">Lock holds and invalidation windows per thread along virtual time (ns); ` +
          `dots are sequence reads and writes, device mappings and the violation (hover for values).</p>`,
      );
      parts.push(`<div class="chart" id="${id}"></div>`);
      parts.push(`<details><summary>The diagram as text</summary><pre>${esc(v.diagramText)}</pre></details>`);
    }
  }
  if (input.bench !== undefined) parts.push(...benchSection(input.bench, charts));

  parts.push(`<script>${asset('d3', 'dist/d3.min.js')}</script>`);
  parts.push(`<script>${asset('@observablehq/plot', 'dist/plot.umd.min.js')}</script>`);
  parts.push(`<script id="report-data" type="application/json">${scriptJson(charts)}</script>`);
  parts.push(`<script>${CLIENT}</script>`);
  parts.push('</body></html>');
  return parts.join('\n');
}

/** The benchmark curves, or where to get them. */
function benchSection(b: BenchCharts, charts: { id: string; kind: string; data: unknown }[]): string[] {
  const parts = ['<h2 id="bench">Benchmark curves</h2>'];
  if (b.charts.length === 0) {
    parts.push(
      `<p class="muted" id="bench-missing">No benchmark results in <code>${esc(b.dir)}</code>. ` +
        'In a mirrorlab checkout, <code>npm run bench</code> (or <code>npm run bench -- notifier drivers explore sim</code> ' +
        'for the charted ones) writes them to <code>bench/results/</code>; then pass that directory with ' +
        '<code>--bench DIR</code> or <code>MIRRORLAB_BENCH_RESULTS=DIR</code>. Numbers are only comparable ' +
        'between runs on one machine.</p>',
    );
  } else {
    parts.push(`<p class="muted">From <code>${esc(b.dir)}</code>.</p>`);
  }
  for (const c of b.charts) {
    const id = `bench-${charts.length}`;
    charts.push({ id, kind: 'bench', data: c });
    parts.push(
      `<h3>${esc(c.title)}</h3><p class="muted">${esc(c.caption)}<br>Source: <code>${esc(c.source)}</code></p>` +
        `<div class="chart bench" id="${id}"></div>`,
    );
  }
  for (const s of b.skipped) parts.push(`<p class="muted">Skipped: ${esc(s)}</p>`);
  return parts;
}

/** The page's own script: draws each chart with Plot from the embedded data. */
const CLIENT = `
(function () {
  var charts = JSON.parse(document.getElementById('report-data').textContent);
  charts.forEach(function (c) {
    var el = document.getElementById(c.id);
    if (!el) return;
    var fig;
    if (c.kind === 'timeline') {
      var t = c.data;
      fig = Plot.plot({
        width: 1100, height: 60 + 34 * t.threads.length, marginLeft: 90,
        x: { label: 'virtual time (ns)', domain: [0, Math.max(1, t.endNs)] },
        y: { domain: t.threads, label: null },
        color: { legend: true, domain: ['invalidation', 'lock'], range: ['#f4a261', '#7aa6d8'] },
        marks: [
          Plot.barX(t.spans, { x1: 'startNs', x2: 'endNs', y: 'thread', fill: 'kind', fillOpacity: 0.55, inset: 4,
            title: function (d) { return d.kind + ' ' + d.what + ': steps ' + d.startStep + '–' + d.endStep; } }),
          Plot.dot(t.points, { x: 'timeNs', y: 'thread', r: 3.5,
            fill: function (d) { return d.label === 'violation' ? '#b00020' : '#333'; },
            title: function (d) { return 'step ' + d.step + ': ' + d.text; } }),
          Plot.text(t.points.filter(function (d) { return d.label === 'set_seq' || d.label === 'read_begin' || d.label === 'violation'; }),
            { x: 'timeNs', y: 'thread', dy: -11, fontSize: 9, text: function (d) { return d.label === 'violation' ? '!!' : d.text.replace(/^[a-z_]+ /, ''); } })
        ]
      });
    } else if (c.kind === 'coverage') {
      fig = Plot.plot({ width: 700, height: 220, x: { label: 'schedules' }, y: { label: 'coverage', grid: true },
        marks: [Plot.line(c.data, { x: 'schedules', y: 'value' }), Plot.dot(c.data, { x: 'schedules', y: 'value', r: 2 })] });
    } else if (c.data.mark === 'bar') {
      var b = c.data;
      fig = Plot.plot({ width: 800, height: 300, marginLeft: 64, marginBottom: 40, fx: { label: b.xLabel }, x: { axis: null },
        y: { label: b.yLabel, grid: true, type: b.yLog ? 'log' : 'linear' }, color: { legend: true },
        marks: [Plot.barY(b.points, { fx: 'x', x: 'series', y: 'y', fill: 'series',
          title: function (d) { return d.x + ', ' + d.series + ': ' + Math.round(d.y); } }), Plot.ruleY([0])] });
    } else {
      var b = c.data;
      fig = Plot.plot({ width: 800, height: 300, marginLeft: 64, x: { label: b.xLabel, type: b.xLog ? 'log' : 'linear' },
        y: b.yLog ? { label: b.yLabel, grid: true, type: 'log' } : { label: b.yLabel, grid: true, zero: true },
        color: { legend: true },
        marks: [Plot.line(b.points, { x: 'x', y: 'y', stroke: 'series' }),
          Plot.dot(b.points, { x: 'x', y: 'y', fill: 'series',
            title: function (d) { return d.series + ' at ' + d.x + ': ' + (d.y < 10 ? d.y.toFixed(2) : Math.round(d.y)); } })] });
    }
    el.appendChild(fig);
  });
  document.body.setAttribute('data-charts-drawn', String(charts.length));
})();
`;
