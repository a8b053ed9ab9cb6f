/**
 * Benchmark results as files (bench/lib/results.ts) and the report's curves drawn from them
 * (src/report/bench-file.ts): the round trip from what a benchmark records to the points of
 * each chart, tolerance of unknown or damaged files, and the report's note when there are none.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { benchResultsDir, recordBenchResult, recordBenchRow } from '../../bench/lib/results.js';
import {
  BENCH_FORMAT,
  defaultBenchDir,
  loadBenchCharts,
  parseBenchFile,
} from '../../src/report/bench-file.js';
import { buildReport } from '../../src/report/html.js';

let dir: string;
const saved = process.env.MIRRORLAB_BENCH_RESULTS;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mirrorlab-bench-'));
  process.env.MIRRORLAB_BENCH_RESULTS = dir;
});
afterEach(() => {
  if (saved === undefined) delete process.env.MIRRORLAB_BENCH_RESULTS;
  else process.env.MIRRORLAB_BENCH_RESULTS = saved;
});

/** Numbers shaped as bench/notifier.ts, bench/explore.ts and bench/drivers.ts produce them. */
function recordSample(): void {
  recordBenchResult(
    'notifier',
    [
      { subscriptions: 100, intervalNs: 4000, listNs: 2500, ratio: 0.6 },
      { subscriptions: 1e6, intervalNs: 10_000, listNs: 6e6, ratio: 600 },
    ],
    4.2,
  );
  recordBenchResult('explore', {
    perStrategy: [
      { scenario: 'seq-retry', strategy: 'pct', perSec: 15_000, runs: 1500 },
      { scenario: 'seq-retry', strategy: 'dfs', perSec: 10_000, runs: 2000 },
      { scenario: 'mm-mirror', strategy: 'pct', perSec: 3000, runs: 1500 },
    ],
    perStep: [
      { length: 300, ns: 550, floorPct: 70 },
      { length: 100_000, ns: 360, floorPct: 100 },
    ],
    // a field the report does not know: kept in the file, ignored by the charts
    dpor: { exhausted: true },
  });
  for (const [span, design, notifiers, heapBytes] of [
    [2 ** 20, 'gpusvm', 1, 2048],
    [2 ** 36, 'gpusvm', 128, 30 * 2 ** 20],
    [2 ** 36, 'odp', 1, 1024],
  ] as const)
    recordBenchRow('drivers', 'growth', { spanBytes: span, design, notifiers, heapBytes, faults: 1 });
}

describe('benchmark result files', () => {
  it('go to MIRRORLAB_BENCH_RESULTS, one file per benchmark, rows accumulating', () => {
    expect(benchResultsDir()).toBe(dir);
    recordSample();
    const f = parseBenchFile(readFileSync(join(dir, 'drivers.json'), 'utf8'), 'drivers.json');
    expect(f.format).toBe(BENCH_FORMAT);
    expect(f.bench).toBe('drivers');
    expect(f.tables?.growth).toHaveLength(3);
    expect(f.machine.cpus).toBeGreaterThan(0);
    expect(Number.isNaN(Date.parse(f.measuredAt))).toBe(false);
    const n = parseBenchFile(readFileSync(join(dir, 'notifier.json'), 'utf8'), 'notifier.json');
    expect(n.seconds).toBe(4.2);
    expect(() => parseBenchFile('{"format":"other"}', 'x.json')).toThrow(
      /x\.json: not a mirrorlab benchmark result/,
    );
    expect(() => parseBenchFile('{', 'y.json')).toThrow(/y\.json: not JSON/);
  });

  it('become the curves the report draws, with their source', () => {
    recordSample();
    writeFileSync(join(dir, 'broken.json'), '{ not json');
    const b = loadBenchCharts(dir);
    expect(b.skipped).toEqual([expect.stringMatching(/^broken\.json: not JSON/)]);
    expect(b.charts.map((c) => c.title)).toEqual([
      'One invalidation against the number of subscriptions',
      'Notifiers against the touched address space',
      'Driver memory against the touched address space',
      'Schedules per second, by strategy',
      'Per-step cost against schedule length',
    ]);
    const [inv, count, mem, rates, perStep] = b.charts;
    expect(inv.points).toEqual([
      { series: 'interval tree (today)', x: 100, y: 4000 },
      { series: 'linear list (before 2019)', x: 100, y: 2500 },
      { series: 'interval tree (today)', x: 1e6, y: 10_000 },
      { series: 'linear list (before 2019)', x: 1e6, y: 6e6 },
    ]);
    expect(inv.xLog && inv.yLog).toBe(true);
    // Address space in MiB, memory in KiB.
    expect(count.points).toEqual([
      { series: 'gpusvm', x: 1, y: 1 },
      { series: 'gpusvm', x: 65536, y: 128 },
      { series: 'odp', x: 65536, y: 1 },
    ]);
    expect(mem.points.map((p) => p.y)).toEqual([2, 30 * 1024, 1]);
    expect(rates.mark).toBe('bar');
    expect(rates.points).toEqual([
      { series: 'pct', x: 'seq-retry', y: 15_000 },
      { series: 'dfs', x: 'seq-retry', y: 10_000 },
      { series: 'pct', x: 'mm-mirror', y: 3000 },
    ]);
    expect(perStep.points.map((p) => [p.x, p.y])).toEqual([
      [300, 550],
      [100_000, 360],
    ]);
    expect(inv.source).toMatch(/notifier\.json \(\d{4}-\d\d-\d\d \d\d:\d\d UTC, \d+ × .*, node v\d+/);
  });

  it('a benchmark whose numbers changed shape draws nothing rather than failing', () => {
    recordBenchResult('notifier', { rows: 'renamed' });
    recordBenchResult('explore', { perStrategy: [{ scenario: 1 }], perStep: null });
    recordBenchResult('find', ['| a table |']);
    expect(loadBenchCharts(dir).charts).toEqual([]);
  });

  it('default directory: MIRRORLAB_BENCH_RESULTS, then ./bench/results, then the checkout', () => {
    expect(defaultBenchDir({ MIRRORLAB_BENCH_RESULTS: 'out' }, '/w')).toBe('/w/out');
    expect(defaultBenchDir({}, dir)).toMatch(/bench\/results$/);
  });
});

describe('benchmark curves in the HTML report', () => {
  it('embeds every chart for Plot, self-contained', () => {
    recordSample();
    const html = buildReport({ title: 't', command: 'c', scenarios: [], bench: loadBenchCharts(dir) });
    const data = JSON.parse(
      /<script id="report-data" type="application\/json">([\s\S]*?)<\/script>/.exec(html)![1],
    ) as { id: string; kind: string; data: { title: string } }[];
    const bench = data.filter((c) => c.kind === 'bench');
    expect(bench.map((c) => c.data.title)).toHaveLength(5);
    for (const c of bench) expect(html).toContain(`<div class="chart bench" id="${c.id}"></div>`);
    expect(html).not.toContain('id="bench-missing"');
    expect(html).not.toMatch(/<(script|img|link)[^>]+(src|href)="https?:/);
  });

  it('says where to get the curves when there are no results', () => {
    const html = buildReport({
      title: 't',
      command: 'c',
      scenarios: [],
      bench: loadBenchCharts(join(dir, 'nothing-here')),
    });
    expect(html).toContain('<h2 id="bench">Benchmark curves</h2>');
    expect(html).toMatch(/id="bench-missing">No benchmark results in <code>[^<]*nothing-here<\/code>/);
    expect(html).toContain('<code>npm run bench</code>');
    expect(html).toContain('--bench DIR');
  });
});

describe('the commands that write reports take the benchmark results', () => {
  const root = join(import.meta.dirname, '../..');
  const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      cwd: root,
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, ...env },
    });

  it('explore --report FILE --bench DIR: the violation and the curves; report without results says so', () => {
    recordSample();
    const out = join(dir, 'explore.html');
    const r = cli([
      'explore',
      'seq-retry-no-set-seq',
      '--schedules',
      '300',
      '--no-progress',
      '--report',
      out,
      '--bench',
      dir,
    ]);
    expect(r.status, r.stderr).toBe(1); // the planted bug is found
    expect(r.stdout).toContain(`report: ${out}`);
    const html = readFileSync(out, 'utf8');
    expect(html).toMatch(/<h3 class="violation">stale-mapping: /);
    expect(html).toContain('Schedules per second, by strategy');
    const empty = join(dir, 'empty');
    const out2 = join(dir, 'report.html');
    const r2 = cli(['report', 'seq-retry', '--schedules', '50', '--out', out2], {
      MIRRORLAB_BENCH_RESULTS: empty,
    });
    expect(r2.status, r2.stderr).toBe(0);
    const html2 = readFileSync(out2, 'utf8');
    expect(html2).toContain('id="bench-missing">No benchmark results in <code>' + empty);
    // `report` records coverage growth along the budget for its chart.
    const charts = JSON.parse(
      /<script id="report-data" type="application\/json">([\s\S]*?)<\/script>/.exec(html2)![1],
    ) as { kind: string; data: { schedules: number; value: number }[] }[];
    const growth = charts.find((c) => c.kind === 'coverage')!.data;
    expect(growth.length).toBeGreaterThan(10);
    expect(growth.at(-1)!.schedules).toBe(50);
    for (let i = 1; i < growth.length; i++) {
      expect(growth[i].schedules).toBeGreaterThan(growth[i - 1].schedules);
      expect(growth[i].value).toBeGreaterThanOrEqual(growth[i - 1].value);
    }
    expect(growth.at(-1)!.value).toBeGreaterThan(0);
  }, 120_000);
});
