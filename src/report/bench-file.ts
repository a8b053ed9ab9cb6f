/**
 * Machine-readable benchmark results (what `npm run bench` writes, one JSON file per benchmark
 * module, bench/lib/results.ts) and the report's charts drawn from them. The file keeps the
 * benchmark's own numbers (`result`: what its function returned; `tables`: rows it recorded
 * while running); this module turns the ones it knows into curves and tolerates the rest, so a
 * benchmark that grows a field, or loses one, never breaks a report.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Format tag of a benchmark result file. */
export const BENCH_FORMAT = 'mirrorlab-bench/1';

/** Where and when the numbers were measured (they are only comparable on one machine). */
export interface BenchMachine {
  node: string;
  platform: string;
  cpus: number;
  cpuModel: string;
}

/** One benchmark module's results file (bench/results/<bench>.json). */
export interface BenchFile {
  format: typeof BENCH_FORMAT;
  /** The module's name: sim, notifier, drivers, explore, ... */
  bench: string;
  /** ISO date of the run (the file is output, written outside any simulation). */
  measuredAt: string;
  machine: BenchMachine;
  /** Seconds the module took. */
  seconds?: number;
  /** What the module's bench function returned. */
  result?: unknown;
  /** Rows the module recorded as it ran, by table name. */
  tables?: Record<string, Record<string, unknown>[]>;
}

/** One point of a benchmark curve. */
export interface BenchPoint {
  series: string;
  x: number | string;
  y: number;
}

/** One chart of the report: a family of curves (or bars, for a categorical x). */
export interface BenchChart {
  title: string;
  /** What the chart shows and how it was measured. */
  caption: string;
  xLabel: string;
  yLabel: string;
  /** 'line': numeric x, one line per series; 'bar': categorical x, grouped by series. */
  mark: 'line' | 'bar';
  xLog?: boolean;
  yLog?: boolean;
  points: BenchPoint[];
  /** The results file and run it came from. */
  source: string;
}

/** The benchmark results found in a directory; `missing` says why there are none. */
export interface BenchCharts {
  dir: string;
  charts: BenchChart[];
  /** Files that could not be read or are not benchmark results (name: reason). */
  skipped: string[];
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** Parses one results file; throws with the reason when it is not one. */
export function parseBenchFile(text: string, name: string): BenchFile {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new Error(`${name}: not JSON (${(e as Error).message})`);
  }
  if (!isObj(data) || data.format !== BENCH_FORMAT)
    throw new Error(`${name}: not a mirrorlab benchmark result (format is not '${BENCH_FORMAT}')`);
  if (typeof data.bench !== 'string' || typeof data.measuredAt !== 'string' || !isObj(data.machine))
    throw new Error(`${name}: a benchmark result needs bench, measuredAt and machine`);
  return data as unknown as BenchFile;
}

type ChartMaker = (f: BenchFile) => Omit<BenchChart, 'source'>[];

/** The curves of each benchmark the report knows; others are listed, not drawn. */
const MAKERS: Record<string, ChartMaker> = {
  notifier(f) {
    const points: BenchPoint[] = [];
    for (const r of arr(f.result)) {
      if (!isObj(r)) continue;
      const x = num(r.subscriptions);
      const tree = num(r.intervalNs);
      const list = num(r.listNs);
      if (x === undefined) continue;
      if (tree !== undefined) points.push({ series: 'interval tree (today)', x, y: tree });
      if (list !== undefined) points.push({ series: 'linear list (before 2019)', x, y: list });
    }
    return [
      {
        title: 'One invalidation against the number of subscriptions',
        caption:
          'ns per invalidate_range_start/end pair for a one-page range hitting one subscription: the ' +
          "interval tree's O(log n + k) against the O(n) driver list the 2019 consolidation replaced.",
        xLabel: 'subscriptions on the mm',
        yLabel: 'ns per start/end pair',
        mark: 'line',
        xLog: true,
        yLog: true,
        points,
      },
    ];
  },
  drivers(f) {
    const rows = arr(f.tables?.growth).filter(isObj);
    const count: BenchPoint[] = [];
    const mem: BenchPoint[] = [];
    for (const r of rows) {
      const x = num(r.spanBytes);
      const design = typeof r.design === 'string' ? r.design : undefined;
      if (x === undefined || design === undefined) continue;
      const n = num(r.notifiers);
      const heap = num(r.heapBytes);
      if (n !== undefined) count.push({ series: design, x: x / 2 ** 20, y: n });
      if (heap !== undefined) mem.push({ series: design, x: x / 2 ** 20, y: heap / 1024 });
    }
    const caption =
      'At most 256 touched pages spread evenly over the span; each design faults them from its device.';
    return [
      {
        title: 'Notifiers against the touched address space',
        caption,
        xLabel: 'address space (MiB)',
        yLabel: 'interval notifiers',
        mark: 'line',
        xLog: true,
        points: count,
      },
      {
        title: 'Driver memory against the touched address space',
        caption: caption + ' Heap growth after a forced GC (node --expose-gc).',
        xLabel: 'address space (MiB)',
        yLabel: 'heap KiB',
        mark: 'line',
        xLog: true,
        points: mem,
      },
    ];
  },
  explore(f) {
    const r = isObj(f.result) ? f.result : {};
    const rates: BenchPoint[] = [];
    for (const p of arr(r.perStrategy)) {
      if (!isObj(p) || typeof p.scenario !== 'string' || typeof p.strategy !== 'string') continue;
      const y = num(p.perSec);
      if (y !== undefined) rates.push({ series: p.strategy, x: p.scenario, y });
    }
    const steps: BenchPoint[] = [];
    for (const p of arr(r.perStep)) {
      if (!isObj(p)) continue;
      const x = num(p.length);
      const y = num(p.ns);
      if (x !== undefined && y !== undefined) steps.push({ series: 'ns per step', x, y });
    }
    return [
      {
        title: 'Schedules per second, by strategy',
        caption: 'Three built-in scenarios explored with each strategy (seed 1, no shrinking).',
        xLabel: 'scenario',
        yLabel: 'schedules/s',
        mark: 'bar',
        points: rates,
      },
      {
        title: 'Per-step cost against schedule length',
        caption:
          'Two threads under the random strategy: a flat curve means a step costs the same however long ' +
          'the schedule already is.',
        xLabel: 'steps in the schedule',
        yLabel: 'ns per step',
        mark: 'line',
        xLog: true,
        points: steps,
      },
    ];
  },
  sim(f) {
    const r = isObj(f.result) ? f.result : {};
    const points: BenchPoint[] = [];
    for (const row of arr(r.rows)) {
      if (!isObj(row)) continue;
      const x = num(row.threads);
      if (x === undefined) continue;
      for (const [key, series] of [
        ['randomPerSec', 'runtime, random'],
        ['pctPerSec', 'runtime, pct'],
        ['fastCheckPerSec', "fast-check's scheduler"],
      ] as const) {
        const y = num(row[key]);
        if (y !== undefined) points.push({ series, x, y });
      }
    }
    const floor = num(r.bareHandoffsPerSec);
    if (floor !== undefined)
      for (const row of points.filter((p) => p.series === 'runtime, random'))
        points.push({ series: 'floor: bare async hand-off', x: row.x, y: floor });
    return [
      {
        title: 'Scheduling points per second against thread count',
        caption:
          'Threads contending one Mutex (lock, yield, unlock, yield), against a bare async hand-off between ' +
          "two functions (the floor) and fast-check's scheduler on the same program.",
        xLabel: 'threads',
        yLabel: 'scheduling points/s',
        mark: 'line',
        xLog: true,
        yLog: true,
        points,
      },
    ];
  },
};

/** The charts of one results file (none when the benchmark has no known curves). */
export function chartsOf(f: BenchFile, source: string): BenchChart[] {
  const make = MAKERS[f.bench];
  if (make === undefined) return [];
  const when = `${f.measuredAt.slice(0, 16).replace('T', ' ')} UTC, ${f.machine.cpus} × ${f.machine.cpuModel}, node ${f.machine.node}`;
  return make(f)
    .filter((c) => c.points.length > 0)
    .map((c) => ({ ...c, source: `${source} (${when})` }));
}

/** Benchmarks with curves in the report, in the order they are shown. */
export const CHARTED_BENCHES = Object.keys(MAKERS);

/** Reads every results file of `dir` and returns their charts, in CHARTED_BENCHES order. */
export function loadBenchCharts(dir: string): BenchCharts {
  const out: BenchCharts = { dir, charts: [], skipped: [] };
  if (!existsSync(dir)) return out;
  const files = readdirSync(dir)
    .filter((n) => n.endsWith('.json'))
    .sort();
  const parsed: [BenchFile, string][] = [];
  for (const name of files) {
    try {
      parsed.push([parseBenchFile(readFileSync(join(dir, name), 'utf8'), name), name]);
    } catch (e) {
      out.skipped.push((e as Error).message);
    }
  }
  const rank = (b: string): number => {
    const i = CHARTED_BENCHES.indexOf(b);
    return i < 0 ? CHARTED_BENCHES.length : i;
  };
  parsed.sort((a, b) => rank(a[0].bench) - rank(b[0].bench));
  for (const [f, name] of parsed) out.charts.push(...chartsOf(f, join(dir, name)));
  return out;
}

/**
 * Where the report looks for results when not told: MIRRORLAB_BENCH_RESULTS, else
 * `bench/results` under the working directory when it exists, else mirrorlab's own checkout's
 * `bench/results` (where `npm run bench` writes).
 */
export function defaultBenchDir(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  const fromEnv = env.MIRRORLAB_BENCH_RESULTS;
  if (fromEnv !== undefined && fromEnv !== '') return resolve(cwd, fromEnv);
  const local = resolve(cwd, 'bench', 'results');
  if (existsSync(local)) return local;
  // src/report/ or dist/report/ → the package root.
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results');
}
