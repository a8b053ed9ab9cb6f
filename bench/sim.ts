/**
 * Benchmark of the deterministic runtime (src/sim).
 *
 * 1. Scheduling points per second with 2, 8 and 64 threads contending a Mutex and
 *    yielding (each thread loops: lock, yield, unlock, yield), under the random
 *    strategy (the one that switches threads most often), against
 *    (a) the floor: a bare async hand-off between two functions in the same Node, and
 *    (b) fast-check's `fc.scheduler()` running the same program with a scheduled
 *        promise at every point;
 *    and random again with the `sim.awaitCheck` debug check off ("unchecked"): the check
 *    costs a microtask per context switch, and a bare hand-off has one microtask in all, so
 *    with it on, random at 8 threads (a switch at 7 points of 8) is near half the floor by
 *    microtask count alone.
 * 2. Schedules per second for a 100-step two-thread program under random and pct.
 * 3. Nanoseconds per step against schedule length (300, 6,000, 24,000 and 100,000 steps of
 *    two threads contending a Mutex, random strategy), with coverage off and on: the cost of
 *    a step must not grow with the run (nothing kept per step may cost the collector) and
 *    coverage must stay cheap enough to be on by default.
 *
 * Each of the three sections runs in a fresh isolate (a worker thread; bench/lib/isolate.ts),
 * with its own measurement of the floor where it compares against it: in one isolate, each
 * section read the JIT feedback and heap the sections before it left (schedules/s of section 2
 * read 24-26k/s after section 1, 42-59k/s alone; 300-step runs 25-57% slower per step).
 *
 * Run: `node --expose-gc --import tsx bench/sim.ts` (`--in-process`: all sections in one
 * isolate, to compare), or `npm run bench` for every benchmark.
 */
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { Mutex, PctStrategy, Simulation } from '../src/sim/index.js';
import { explore } from '../src/explore/index.js';
import { gc } from './lib/gc.js';
import { inFreshIsolate } from './lib/isolate.js';

/**
 * CPU seconds this process has used since `start` (a `process.cpuUsage()` reading): the
 * benchmark's clock. The machine it runs on is often shared (CI runners, other jobs), and
 * wall time then counts the time other processes held the CPU; the process's own CPU time
 * does not. The runtime runs on one thread, so on an idle machine the two agree (up to the
 * collector's helper threads, which CPU time counts too).
 */
function seconds(start: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(start);
  return (u.user + u.system) / 1e6;
}

/** A measured series: `fn` runs one batch and returns its operation count. */
interface Series {
  fn: () => Promise<number>;
  /** Best ops per second seen. */
  best: number;
}

function series(fn: () => Promise<number>): Series {
  return { fn, best: 0 };
}

/**
 * Measures every series in `trials` interleaved rounds, spending about `totalSeconds`
 * in all, and keeps the best rate of each: the round least disturbed by other load on the
 * machine (a shared CI runner, a concurrent test), and since the rounds interleave,
 * the series see the same conditions, which keeps their ratios honest. The runtime's tables
 * use 10 rounds: on a shared 2-core VM, 3 rounds left per-step costs 95% apart that 12 rounds
 * put within 5% (134/131/134/137 ns at 300/6k/24k/100k steps).
 */
async function measure(all: Series[], totalSeconds: number, trials = 5): Promise<void> {
  // From a collected heap: the garbage of the series set up before is not collected on this
  // one's clock.
  gc();
  for (const s of all) await s.fn(); // warm up
  for (let t = 0; t < trials; t++) {
    for (const s of all) {
      let ops = 0;
      const start = process.cpuUsage();
      do {
        ops += await s.fn();
      } while (seconds(start) < totalSeconds / all.length / trials);
      s.best = Math.max(s.best, ops / seconds(start));
    }
  }
}

// ------------------------------------------------------------------ the floor

/**
 * Two async functions passing control back and forth through promise resolvers: each
 * hand-off parks the giver on a fresh promise and resolves the taker's. Returns the
 * number of hand-offs.
 */
async function bareHandoff(handoffs: number): Promise<number> {
  const resume: [(() => void) | null, (() => void) | null] = [null, null];
  let count = 0;
  const pass = (me: 0 | 1): Promise<void> => {
    const parked = new Promise<void>((r) => {
      resume[me] = r;
    });
    const other = resume[me === 0 ? 1 : 0];
    if (other !== null) other();
    return parked;
  };
  const worker = async (me: 0 | 1): Promise<void> => {
    while (count < handoffs) {
      count++;
      await pass(me);
    }
    const other = resume[me === 0 ? 1 : 0];
    if (other !== null) other();
  };
  const second = new Promise<void>((r) => {
    resume[1] = r;
  }).then(() => worker(1));
  await worker(0);
  await second;
  return count;
}

// ------------------------------------------------------------------ the runtime

/** Scheduling points of one run: `threads` threads contend a Mutex `rounds` times each. */
async function runtimeContention(
  threads: number,
  rounds: number,
  seed: number,
  strategy: 'random' | 'pct',
  awaitCheck = true,
): Promise<number> {
  const sim = new Simulation({
    seed,
    maxSteps: 100_000_000,
    strategy: strategy === 'pct' ? new PctStrategy(seed, 3, 4 * threads * rounds) : undefined,
    ...(awaitCheck ? {} : { switches: { 'sim.awaitCheck': false } }),
  });
  const result = await sim.run((s) => {
    const m = new Mutex(s, 'm');
    for (let i = 0; i < threads; i++) {
      s.spawn(`t${i}`, async () => {
        for (let r = 0; r < rounds; r++) {
          await m.lock();
          await s.yield();
          m.unlock();
          await s.yield();
        }
      });
    }
  });
  if (result.status !== 'ok') throw new Error(`bench run ended ${result.status}`);
  // As explore does for every run it keeps nothing of: the logs' buffers serve the next run.
  sim.retireBuffers();
  sim.releaseLogs();
  return result.steps;
}

// ------------------------------------------------------------------ fast-check's scheduler

/** A mutex for fast-check's scheduler: the same semantics as the runtime's (wake one, re-check). */
class FcMutex {
  private locked = false;
  private readonly waiters: (() => void)[] = [];
  constructor(private readonly point: () => Promise<void>) {}
  async lock(): Promise<void> {
    await this.point();
    while (this.locked) {
      await new Promise<void>((r) => this.waiters.push(r));
      await this.point();
    }
    this.locked = true;
  }
  unlock(): void {
    this.locked = false;
    const w = this.waiters.shift();
    if (w !== undefined) w();
  }
}

/** The same program under `fc.scheduler()`: every point awaits a scheduled promise. */
async function fastCheckContention(threads: number, rounds: number, seed: number): Promise<number> {
  const [s] = fc.sample(fc.scheduler(), { numRuns: 1, seed });
  let points = 0;
  const point = (): Promise<void> => {
    points++;
    return s.schedule(Promise.resolve());
  };
  const m = new FcMutex(point);
  const all: Promise<void>[] = [];
  for (let i = 0; i < threads; i++) {
    all.push(
      (async () => {
        for (let r = 0; r < rounds; r++) {
          await m.lock();
          await point();
          m.unlock();
          await point();
        }
      })(),
    );
  }
  await s.waitIdle();
  await Promise.all(all);
  return points;
}

// ------------------------------------------------------------------ schedules per second

/** 100 scheduling steps in all: two threads of 49 yields and an exit each. */
function hundredSteps(sim: Simulation): void {
  for (const name of ['cpu0', 'cpu1']) {
    sim.spawn(name, async () => {
      for (let i = 0; i < 49; i++) await sim.yield();
    });
  }
}

function schedulesPerSecond(strategy: 'random' | 'pct'): Series {
  let seed = 1;
  return series(async () => {
    const r = await explore({ strategy, schedules: 500, seed: seed++, shrink: false }, hundredSteps);
    if (r.maxSteps !== 100) throw new Error(`expected 100 steps, got ${r.maxSteps}`);
    return r.schedules;
  });
}

// ------------------------------------------------------------------ cost by schedule length

/** Two threads contend a Mutex for about `steps` steps; every point names an object. */
async function lengthRun(steps: number, seed: number, coverage: boolean): Promise<number> {
  const rounds = Math.ceil(steps / 6.6); // per thread; a round of both threads is about 6.6 steps
  const sim = new Simulation({ seed, maxSteps: 10 * steps + 100, coverage });
  const result = await sim.run((s) => {
    const m = new Mutex(s, 'm');
    for (const name of ['a', 'b']) {
      s.spawn(name, async () => {
        for (let r = 0; r < rounds; r++) {
          await m.lock();
          await s.point('write', 'page');
          m.unlock();
          await s.yield();
        }
      });
    }
  });
  // As explore does for every run it keeps nothing of.
  sim.retireBuffers();
  sim.releaseLogs();
  return result.steps;
}

/** A series of runs of about `length` steps each; its rate is steps per second. */
function lengthSeries(length: number, coverage: boolean): Series {
  let seed = 1;
  return series(async () => {
    let steps = 0;
    while (steps < 200_000) steps += await lengthRun(length, seed++, coverage);
    return steps;
  });
}

// ------------------------------------------------------------------ report

function fmt(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(0);
}

export interface SimBenchRow {
  threads: number;
  /** Scheduling points per second under the random strategy (a switch at about every other point). */
  randomPerSec: number;
  /** Random with the `sim.awaitCheck` debug check off (no microtask per context switch). */
  randomUncheckedPerSec: number;
  /** The same under pct (few switches). */
  pctPerSec: number;
  /** fast-check's scheduler on the same program. */
  fastCheckPerSec: number;
}

export interface SimBenchResult {
  bareHandoffsPerSec: number;
  rows: SimBenchRow[];
  schedulesPerSec: { random: number; pct: number };
  /** Nanoseconds per step by schedule length, coverage off and on. */
  perStep: { length: number; ns: number; nsCoverage: number }[];
}

/** What the contention section measured (in its own isolate). */
export interface ContentionSection {
  bareHandoffsPerSec: number;
  rows: SimBenchRow[];
}

/** Section 1: scheduling points/s at 2, 8 and 64 threads against the floor and fast-check. */
export async function simContentionSection(secs: number): Promise<ContentionSection> {
  const bare = series(() => bareHandoff(100_000));
  const perThreads = [2, 8, 64].map((threads) => {
    const rounds = Math.max(50, Math.floor(20_000 / threads));
    const fcRounds = Math.max(5, Math.floor(500 / threads));
    let seed = 1;
    let fcSeed = 1;
    return {
      threads,
      random: series(() => runtimeContention(threads, rounds, seed++, 'random')),
      randomUnchecked: series(() => runtimeContention(threads, rounds, seed++, 'random', false)),
      pct: series(() => runtimeContention(threads, rounds, seed++, 'pct')),
      fastCheck: series(() => fastCheckContention(threads, fcRounds, fcSeed++)),
    };
  });
  await measure(
    [bare, ...perThreads.flatMap((p) => [p.random, p.randomUnchecked, p.pct, p.fastCheck])],
    secs * 12,
    10,
  );
  return {
    bareHandoffsPerSec: bare.best,
    rows: perThreads.map((p) => ({
      threads: p.threads,
      randomPerSec: p.random.best,
      randomUncheckedPerSec: p.randomUnchecked.best,
      pctPerSec: p.pct.best,
      fastCheckPerSec: p.fastCheck.best,
    })),
  };
}

/** Section 2: schedules/s of a 100-step program through explore, random and pct. */
export async function simSchedulesSection(secs: number): Promise<{ random: number; pct: number }> {
  const random = schedulesPerSecond('random');
  const pct = schedulesPerSecond('pct');
  await measure([random, pct], secs * 2);
  return { random: random.best, pct: pct.best };
}

/** What the length section measured (in its own isolate). */
export interface LengthSection {
  bareHandoffsPerSec: number;
  perStep: { length: number; ns: number; nsCoverage: number }[];
}

/** Section 3: nanoseconds per step by schedule length, coverage off and on. */
export async function simLengthSection(secs: number): Promise<LengthSection> {
  const bare = series(() => bareHandoff(100_000));
  const lengths = [300, 6_000, 24_000, 100_000].map((length) => ({
    length,
    off: lengthSeries(length, false),
    on: lengthSeries(length, true),
  }));
  await measure([bare, ...lengths.flatMap((l) => [l.off, l.on])], secs * 8, 10);
  return {
    bareHandoffsPerSec: bare.best,
    perStep: lengths.map((l) => ({ length: l.length, ns: 1e9 / l.off.best, nsCoverage: 1e9 / l.on.best })),
  };
}

/**
 * Runs section `fn` of this module in a fresh isolate (see bench/lib/isolate.ts), or in this
 * one when `isolate` is false.
 */
function section<T>(
  isolate: boolean,
  fn: 'simContentionSection' | 'simSchedulesSection' | 'simLengthSection',
  secs: number,
): Promise<T> {
  if (isolate) return inFreshIsolate<T>(import.meta.url, fn, secs);
  const sections = { simContentionSection, simSchedulesSection, simLengthSection };
  return sections[fn](secs) as Promise<T>;
}

/**
 * Runs the runtime benchmark and prints a table; returns the numbers. Each section runs in a
 * fresh isolate unless `isolate` is false (then one after another in this one, as before).
 */
export async function benchSim(
  options: { seconds?: number; isolate?: boolean } = {},
): Promise<SimBenchResult> {
  const secs = options.seconds ?? 1;
  const isolate = options.isolate ?? true;
  const contention = await section<ContentionSection>(isolate, 'simContentionSection', secs);
  const schedulesPerSec = await section<{ random: number; pct: number }>(
    isolate,
    'simSchedulesSection',
    secs,
  );
  const lengths = await section<LengthSection>(isolate, 'simLengthSection', secs);
  const bare = contention.bareHandoffsPerSec;
  const rows = contention.rows;

  const pc = (a: number, b: number): string => `${((100 * a) / b).toFixed(0)}%`;
  console.log(
    `sim: scheduling points/s, Mutex contention (each thread: lock, yield, unlock, yield)${isolate ? '; each section in a fresh isolate' : ''}`,
  );
  console.log(`  floor: bare async hand-off between two functions: ${fmt(bare)}/s`);
  console.log(
    '  threads   random  (floor)  unchecked  (floor)      pct  (floor)  fc.scheduler  random/fc' +
      '   (unchecked: random with the sim.awaitCheck debug check off)',
  );
  for (const r of rows) {
    console.log(
      `  ${String(r.threads).padStart(7)} ${fmt(r.randomPerSec).padStart(8)} ${pc(r.randomPerSec, bare).padStart(8)}` +
        ` ${fmt(r.randomUncheckedPerSec).padStart(10)} ${pc(r.randomUncheckedPerSec, bare).padStart(8)}` +
        ` ${fmt(r.pctPerSec).padStart(8)} ${pc(r.pctPerSec, bare).padStart(8)}` +
        ` ${fmt(r.fastCheckPerSec).padStart(13)} ${`${(r.randomPerSec / r.fastCheckPerSec).toFixed(1)}x`.padStart(10)}`,
    );
  }
  console.log('sim: schedules/s of a 100-step two-thread program (explore)');
  console.log(`  random ${fmt(schedulesPerSec.random)}/s   pct ${fmt(schedulesPerSec.pct)}/s`);
  const perStep = lengths.perStep;
  const nss = perStep.map((p) => p.ns);
  console.log(
    `sim: ns per step by schedule length (2 threads, random; coverage off / on; floor ${(1e9 / lengths.bareHandoffsPerSec).toFixed(0)} ns):`,
  );
  console.log(
    '  ' +
      perStep
        .map(
          (p) =>
            `${fmt(p.length)}: ${p.ns.toFixed(0)} / ${p.nsCoverage.toFixed(0)} ns (+${(100 * (p.nsCoverage / p.ns - 1)).toFixed(0)}%)`,
        )
        .join('; ') +
      `; spread ${((100 * Math.max(...nss)) / Math.min(...nss) - 100).toFixed(0)}%`,
  );
  return { bareHandoffsPerSec: bare, rows, schedulesPerSec, perStep };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // `--in-process`: every section in this isolate, one after another (to compare).
  await benchSim({ isolate: !process.argv.includes('--in-process') });
}
