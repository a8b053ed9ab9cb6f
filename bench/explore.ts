/**
 * The exploration engine's benchmark (issue #12): schedules/s per strategy on three built-in
 * scenarios, 1 against 2 workers in the same run, time to first detection of the 2022
 * remove race for pct, random and swarm, the runtime's per-step cost against schedule length
 * (300, 6,000, 24,000 and 100,000 steps; bench/sim.ts's length section, in a fresh isolate)
 * with the bare async hand-off as the floor, and coverage off against on.
 * Run alone with `node --expose-gc --import tsx bench/explore.ts` (`... bench/explore.ts dpor`: only
 * the dpor table of benchDpor; `... workers`: only the workers rows of benchWorkers).
 */
import { existsSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { explore, type SetupModule, type StrategyName } from '../src/explore/index.js';
import { builtinSetupModule } from '../src/cli/worker-scenarios.js';
import { getScenario } from '../src/scenario/registry.js';
import '../src/scenario/builtin/index.js';
import { machineCeiling } from './lib/ceiling.js';
import { inFreshIsolate } from './lib/isolate.js';
import type { LengthSection } from './sim.js';

function ms(start: number): number {
  return performance.now() - start;
}

function fmt(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(0);
}

/** Schedules/s of `strategy` on scenario `name` over `schedules` schedules (no shrinking). */
async function rate(
  name: string,
  strategy: StrategyName,
  schedules: number,
): Promise<{ perSec: number; runs: number }> {
  const s = getScenario(name);
  const t0 = performance.now();
  const r = await explore(
    { strategy, schedules, seed: 1, preemptionBound: 2, switches: s.switches, shrink: false },
    s.setup,
  );
  return { perSec: (1000 * r.schedules) / ms(t0), runs: r.schedules };
}

export interface ExploreBenchResult {
  perStrategy: { scenario: string; strategy: StrategyName; perSec: number; runs: number }[];
  /**
   * Schedules/s with 1 and 2 workers over time-limited whole runs of `seconds` (pool start-up
   * included: `one`, `two`) and once warm (`oneSteady`, `twoSteady`: from 30% of the run's
   * time on); `built`: measured on the built package (dist/), as `mirrorlab explore
   * --workers` runs, rather than the sources through tsx; the load average when measured.
   */
  workers: {
    scenario: string;
    seconds: number;
    built: boolean;
    /**
     * Schedules/s over the first `seconds` seconds of the same runs (start-up included), for
     * each checkpoint shorter than the run: how the pool's warm-up is paid off with length.
     */
    partial: { seconds: number; one: number; two: number }[];
    one: number;
    two: number;
    oneSteady: number;
    twoSteady: number;
    load: number;
    cpuUsOne: number;
    cpuUsTwo: number;
  }[];
  /** What the machine gives 2 threads over 1 at all, measured in the same run (see bench/lib/ceiling.ts). */
  ceiling: { alu: number; alloc: number };
  /** CPU milliseconds of 1000 schedules with coverage off and on. */
  coverage: { scenario: string; offMs: number; onMs: number }[];
  firstDetection: { strategy: StrategyName; schedules: number | null; ms: number }[];
  perStep: { length: number; ns: number; floorPct: number }[];
}

/** The explore and built-in scenario loader of the built package, or null when dist/ is not built. */
async function builtPackage(): Promise<{
  explore: typeof explore;
  builtinSetupModule: (name: string) => SetupModule;
  getScenario: typeof getScenario;
} | null> {
  const dist = resolve(import.meta.dirname, '../dist');
  if (!existsSync(resolve(dist, 'explore/index.js'))) return null;
  // Through a computed URL, so the typechecker does not need dist/ (types from the sources).
  const at = (p: string): string => pathToFileURL(resolve(dist, p)).href;
  const ex = (await import(at('explore/index.js'))) as typeof import('../src/explore/index.js');
  const ws = (await import(at('cli/worker-scenarios.js'))) as typeof import('../src/cli/worker-scenarios.js');
  const reg = (await import(at('scenario/registry.js'))) as typeof import('../src/scenario/registry.js');
  return { explore: ex.explore, builtinSetupModule: ws.builtinSetupModule, getScenario: reg.getScenario };
}

/** Whole-run rates are also read at these seconds of each run (those shorter than the run). */
const CHECKPOINTS = [10, 20];

/**
 * 1 against 2 workers on seq-retry and gpusvm-mirror: schedules/s over time-limited whole
 * runs and once warm. Prints a line per scenario; returns the rows.
 */
export async function benchWorkers(
  seconds = Number(process.env.MIRRORLAB_BENCH_WORKER_SECONDS ?? 60),
): Promise<ExploreBenchResult['workers']> {
  // 1 against 2 workers in the same run, on a small scenario and on a driver scenario whose
  // schedules allocate like real model code. Each run has a wall-clock limit and an
  // unreachable budget, so the rate is what a user's exploration of that length gets:
  // - whole run: schedules over elapsed time, the pool's start-up included. Each runner is
  //   a V8 isolate that compiles the model's hot code before it runs fast; the calling
  //   thread runs sub-shards while the worker starts, but two isolates warming up at once
  //   leave V8's compiler threads no idle core, which costs a short run more than a long one.
  // - steady: schedules/s from 30% of the run's time on, every runner warm.
  // - the whole-run rate over the first 10 and 20 s of the same runs: the warm-up is a fixed
  //   cost (gpusvm-mirror: about 470 optimizing compilations, 3.7 s of compiler-thread CPU, in
  //   the first 4,000 schedules of each isolate), so the ratio grows with the run's length; 60 s
  //   runs by default, as users explore for minutes.
  // On the built package (npm run bench builds it), as `mirrorlab explore --workers` runs:
  // from the sources, each worker first loads tsx and transpiles the model, a start-up no
  // user pays. Rounds alternate 1 and 2 workers and keep each one's best (the VM's
  // run-to-run spread is about 20%). Also the CPU time of the whole process (every thread)
  // per schedule: on a machine loaded by other sessions the wall-clock ratio cannot show the
  // parallelism, but CPU per schedule shows what the workers cost.
  interface Timed {
    total: number;
    steady: number;
    cpuUs: number;
    /** Schedules/s over the first CHECKPOINTS[i] seconds. */
    partial: number[];
  }
  const checkpoints = CHECKPOINTS.filter((c) => c < seconds);
  const pkg = await builtPackage();
  if (pkg === null) {
    console.log(
      'explore: workers measured from the sources through tsx (dist/ is not built: npm run build); ' +
        "each worker's start-up includes transpiling the model",
    );
  }
  const run = pkg?.explore ?? explore;
  const moduleOf = pkg?.builtinSetupModule ?? builtinSetupModule;
  const scenarioOf = pkg?.getScenario ?? getScenario;
  const timed = async (name: string, workers: number): Promise<Timed> => {
    const progress: [ms: number, done: number][] = [];
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const r = await run(
      {
        strategy: 'random',
        schedules: 1_000_000_000,
        timeLimitMs: seconds * 1000,
        seed: 1,
        workers,
        setupModule: moduleOf(name),
        shrink: false,
        onProgress: (done) => progress.push([performance.now(), done]),
      },
      scenarioOf(name).setup,
    );
    const end = performance.now();
    const c = process.cpuUsage(c0);
    const from = progress.find(([at]) => at - t0 >= 0.3 * (end - t0)) ?? [t0, 0];
    // The schedules done by each checkpoint: the last progress report before it.
    const partial = checkpoints.map((cp) => {
      let done = 0;
      for (const [at, d] of progress) if (at - t0 <= cp * 1000) done = d;
      return done / cp;
    });
    return {
      total: (1000 * r.schedules) / (end - t0),
      steady: (1000 * (r.schedules - from[1])) / Math.max(1, end - from[0]),
      cpuUs: (c.user + c.system) / Math.max(1, r.schedules),
      partial,
    };
  };
  const rows: ExploreBenchResult['workers'] = [];
  const rounds = 2;
  for (const name of ['seq-retry', 'gpusvm-mirror']) {
    const load = loadavg()[0];
    let one: Timed | null = null;
    let two: Timed | null = null;
    const better = (a: Timed | null, b: Timed): Timed =>
      a === null
        ? b
        : {
            total: Math.max(a.total, b.total),
            steady: Math.max(a.steady, b.steady),
            cpuUs: Math.min(a.cpuUs, b.cpuUs),
            partial: a.partial.map((x, i) => Math.max(x, b.partial[i])),
          };
    for (let r = 0; r < rounds; r++) {
      one = better(one, await timed(name, 1));
      two = better(two, await timed(name, 2));
    }
    rows.push({
      scenario: name,
      seconds,
      built: pkg !== null,
      one: one!.total,
      two: two!.total,
      oneSteady: one!.steady,
      twoSteady: two!.steady,
      load,
      cpuUsOne: one!.cpuUs,
      cpuUsTwo: two!.cpuUs,
      partial: checkpoints.map((cp, i) => ({ seconds: cp, one: one!.partial[i], two: two!.partial[i] })),
    });
    const shorter = checkpoints.map(
      (cp, i) => `first ${cp} s ${(two!.partial[i] / one!.partial[i]).toFixed(2)}x`,
    );
    console.log(
      `explore: workers on ${name}, random, runs of ${seconds} s${pkg !== null ? ' (built package)' : ''}, best of ${rounds}: ` +
        `whole run ${fmt(one!.total)}/s with 1 worker, ${fmt(two!.total)}/s with 2 (${(two!.total / one!.total).toFixed(2)}x, start-up included${shorter.length > 0 ? `; ${shorter.join(', ')}` : ''}); ` +
        `steady ${fmt(one!.steady)}/s, ${fmt(two!.steady)}/s (${(two!.steady / one!.steady).toFixed(2)}x); ` +
        `load average ${load.toFixed(1)} on ${availableParallelism()} cores; CPU per schedule ${one!.cpuUs.toFixed(0)} / ${two!.cpuUs.toFixed(0)} us`,
    );
  }
  return rows;
}

/** What this machine gives 2 threads over 1 at all (the workers rows' reference); prints it. */
async function printCeiling(): Promise<{ alu: number; alloc: number }> {
  const ceiling = await machineCeiling();
  console.log(
    `explore: this machine, 2 threads against 1 (bench/lib/ceiling.ts): ${ceiling.alu.toFixed(2)}x for integer work, ${ceiling.alloc.toFixed(2)}x for allocating work`,
  );
  return ceiling;
}

/** Runs the exploration benchmark and prints it; returns the numbers. */
export async function benchExplore(): Promise<ExploreBenchResult> {
  const perStrategy: ExploreBenchResult['perStrategy'] = [];
  console.log('explore: schedules/s per strategy (seed 1, no shrinking)');
  await rate('seq-retry', 'swarm', 1500); // warm-up: the first series would pay for the JIT
  for (const name of ['seq-retry', 'subscriptions-come-and-go', 'mm-mirror']) {
    const cells: string[] = [];
    for (const strategy of ['swarm', 'random', 'pct', 'dfs'] as const) {
      const r = await rate(name, strategy, strategy === 'dfs' ? 2000 : 1500);
      perStrategy.push({ scenario: name, strategy, ...r });
      cells.push(`${strategy} ${fmt(r.perSec)}`);
    }
    console.log(`  ${name.padEnd(28)} ${cells.join('   ')}`);
  }

  // dpor against dfs: schedules to exhaustion (dfs within preemption bound 2; dpor unbounded).
  const exhaust: string[] = [];
  for (const name of ['seq-retry', 'two-pass', 'oom-reaper-nonblock']) {
    const sc = getScenario(name);
    const cells: string[] = [];
    for (const strategy of ['dfs', 'dpor'] as const) {
      const r = await explore(
        { strategy, schedules: 5000, preemptionBound: 2, switches: sc.switches, shrink: false },
        sc.setup,
      );
      cells.push(
        `${strategy} ${r.exhausted ? `exhausted in ${r.schedules}` : `not exhausted in ${r.schedules}`}`,
      );
    }
    exhaust.push(`${name}: ${cells.join(', ')}`);
  }
  console.log(`explore: schedules to exhaustion (dfs PB2 vs unbounded dpor): ${exhaust.join('; ')}`);

  const workerRows = await benchWorkers();
  const ceiling = await printCeiling();

  // Coverage off against on (explore's default), same schedules, CPU clock.
  const coverageRows: ExploreBenchResult['coverage'] = [];
  const covCells: string[] = [];
  for (const name of ['seq-retry', 'mm-mirror']) {
    const sc = getScenario(name);
    const cpu = async (coverage: boolean): Promise<number> => {
      let best = Infinity;
      for (let t = 0; t < 3; t++) {
        const c0 = process.cpuUsage();
        await explore(
          { strategy: 'random', schedules: 1000, seed: 1, switches: sc.switches, shrink: false, coverage },
          sc.setup,
        );
        const c = process.cpuUsage(c0);
        best = Math.min(best, (c.user + c.system) / 1000);
      }
      return best;
    };
    const off = await cpu(false);
    const on = await cpu(true);
    coverageRows.push({ scenario: name, offMs: off, onMs: on });
    covCells.push(`${name} ${off.toFixed(0)} / ${on.toFixed(0)} ms (+${(100 * (on / off - 1)).toFixed(1)}%)`);
  }
  console.log(`explore: 1000 random schedules, coverage off / on (CPU): ${covCells.join('; ')}`);

  // Time to first detection of the 2022 remove race.
  const race = getScenario('core-remove-race-2022');
  const firstDetection: ExploreBenchResult['firstDetection'] = [];
  const parts: string[] = [];
  for (const strategy of ['pct', 'random', 'swarm'] as const) {
    const t0 = performance.now();
    const r = await explore(
      { strategy, schedules: 20_000, seed: 1, stopOnFirst: true, shrink: false, switches: race.switches },
      race.setup,
    );
    const found = r.violations.length > 0 ? r.schedules : null;
    firstDetection.push({ strategy, schedules: found, ms: ms(t0) });
    parts.push(
      `${strategy} ${found === null ? 'not found in 20k' : `${found} schedules, ${ms(t0).toFixed(0)} ms`}`,
    );
  }
  console.log(`explore: first detection of the 2022 remove race: ${parts.join('; ')}`);

  // Per-step cost against schedule length: bench/sim.ts's length section, in a fresh isolate
  // (measured here after the sections above, 300-step runs read far slower per step than they
  // are: the JIT feedback and heap those sections leave).
  const lengths = await inFreshIsolate<LengthSection>(
    new URL('./sim.ts', import.meta.url).href,
    'simLengthSection',
    1,
  );
  const perStep: ExploreBenchResult['perStep'] = [];
  const cells: string[] = [];
  for (const { length, ns } of lengths.perStep) {
    const floorPct = (100 * (1e9 / ns)) / lengths.bareHandoffsPerSec;
    perStep.push({ length, ns, floorPct });
    cells.push(`${fmt(length)}: ${ns.toFixed(0)} ns (${floorPct.toFixed(0)}% of floor)`);
  }
  console.log(`sim: ns per step, 2 threads, random, by schedule length: ${cells.join('; ')}`);
  return { perStrategy, workers: workerRows, ceiling, coverage: coverageRows, firstDetection, perStep };
}

/** One exploration's outcome for the dpor table. */
export interface DporBenchCell {
  exhausted: boolean;
  schedules: number;
  /** Distinct violation signatures found. */
  bugs: string[];
  ms: number;
}

/** A row of the dpor table: dfs and dpor, each within preemption bound 2 and unbounded. */
export interface DporBenchRow {
  scenario: string;
  dfsPb2: DporBenchCell;
  dporPb2: DporBenchCell;
  dfs: DporBenchCell;
  dpor: DporBenchCell;
}

/** Scenarios small enough for dfs within preemption bound 2 to exhaust in seconds. */
export const DPOR_BENCH_SCENARIOS: readonly string[] = [
  'seq-retry',
  'seq-retry-no-set-seq',
  'seq-retry-lock-across-read-begin',
  'two-pass',
  'two-pass-finish-on-nonblock',
  'oom-reaper-nonblock',
  'classic-unregister-fence',
  'classic-unregister-no-release-uaf',
  'dmirror-read-vs-dontneed',
  'dmirror-skip-private-zap',
  'dmirror-fault-vs-own-migration',
  'odp-dereg-race',
  'odp-dereg-fixed',
  'odp-invalidate-before-mr',
  'gpusvm-map-order',
  'gpusvm-map-order-fixed',
  'userptr-munmap-stale',
  'userptr-list-race',
  'odp2019-counter-timeout-stale',
  'odp-livelock-none',
];

/**
 * dpor against plain dfs: schedules to exhaustion per scenario, both within preemption bound 2
 * and unbounded (each capped at `budget` schedules and `timeLimitMs`), with the violations each
 * found. Prints a table; returns the rows.
 */
export async function benchDpor(
  budget = 20_000,
  timeLimitMs = 60_000,
  names: readonly string[] = DPOR_BENCH_SCENARIOS,
): Promise<DporBenchRow[]> {
  const cell = async (
    name: string,
    strategy: 'dfs' | 'dpor',
    bound: number | undefined,
  ): Promise<DporBenchCell> => {
    const sc = getScenario(name);
    const t0 = performance.now();
    const r = await explore(
      {
        strategy,
        schedules: budget,
        timeLimitMs,
        preemptionBound: bound ?? (strategy === 'dfs' ? 1_000_000 : undefined),
        switches: sc.switches,
        shrink: false,
        ...(sc.defaults?.maxSteps !== undefined ? { maxSteps: sc.defaults.maxSteps } : {}),
      },
      sc.setup,
    );
    return {
      exhausted: r.exhausted,
      schedules: r.schedules,
      bugs: Object.keys(r.firstFound).sort(),
      ms: ms(t0),
    };
  };
  const show = (c: DporBenchCell): string => (c.exhausted ? String(c.schedules) : `>${fmt(c.schedules)}`);
  const ratio = (a: DporBenchCell, b: DporBenchCell): string =>
    a.exhausted && b.exhausted ? `${(a.schedules / b.schedules).toFixed(1)}x` : '-';
  console.log(
    `explore: dpor vs dfs, schedules to exhaustion (">N": not exhausted within N schedules or ${timeLimitMs / 1000} s)`,
  );
  console.log(
    `  ${'scenario'.padEnd(34)} ${'dfs PB2'.padStart(8)} ${'dpor PB2'.padStart(8)} ${'ratio'.padStart(6)}  ${'dfs'.padStart(8)} ${'dpor'.padStart(8)} ${'ratio'.padStart(6)}  bugs dfs/dpor`,
  );
  const rows: DporBenchRow[] = [];
  for (const name of names) {
    const row: DporBenchRow = {
      scenario: name,
      dfsPb2: await cell(name, 'dfs', 2),
      dporPb2: await cell(name, 'dpor', 2),
      dfs: await cell(name, 'dfs', undefined),
      dpor: await cell(name, 'dpor', undefined),
    };
    rows.push(row);
    const dfsBugs = new Set([...row.dfsPb2.bugs, ...row.dfs.bugs]);
    const dporBugs = new Set([...row.dporPb2.bugs, ...row.dpor.bugs]);
    // An unbounded dpor that did not exhaust is a depth-first search cut short: a bug it has
    // not reached yet is a matter of budget, not a hole (classic-unregister-no-release-uaf
    // finds its use-after-free unbounded at schedule 37,236).
    const missed = [...dfsBugs].filter((b) => !row.dpor.bugs.includes(b));
    console.log(
      `  ${name.padEnd(34)} ${show(row.dfsPb2).padStart(8)} ${show(row.dporPb2).padStart(8)} ${ratio(row.dfsPb2, row.dporPb2).padStart(6)}  ` +
        `${show(row.dfs).padStart(8)} ${show(row.dpor).padStart(8)} ${ratio(row.dfs, row.dpor).padStart(6)}  ` +
        `${dfsBugs.size}/${dporBugs.size}${
          missed.length === 0
            ? ''
            : row.dpor.exhausted
              ? ` (unbounded dpor missed ${missed.length})`
              : ` (unbounded dpor: ${missed.length} not within its budget)`
        }`,
    );
  }
  return rows;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv[2] === 'workers') {
    await benchWorkers();
    await printCeiling();
  } else {
    if (process.argv[2] !== 'dpor') await benchExplore();
    await benchDpor();
  }
}
