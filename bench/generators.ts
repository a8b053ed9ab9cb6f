/**
 * Issue #12's question: would generator-based thread bodies lift the runtime's ceiling?
 *
 * Today a simulated thread is an async function, and every hand-off between threads goes
 * through the promise machinery: the giver parks on a fresh promise, the taker's promise is
 * resolved, and the taker runs a microtask later. A generator-based thread (`function*`, with
 * `yield` at each scheduling point and `yield*` into primitives) would be resumed by the
 * scheduler calling `next()` directly: no promise, no microtask.
 *
 * This prototype measures, in one run, scheduling points per second of the same program —
 * each thread loops: lock a mutex, a scheduling point, unlock, a scheduling point — under
 * random scheduling (a pick at every point, as the runtime's random strategy), for
 *   1. the bare async hand-off between two functions (bench/sim.ts's floor),
 *   2. the runtime itself (src/sim, async threads, random strategy),
 *   3. a minimal generator scheduler: the same program with generator threads, a mutex with
 *      a wait list, and a random pick at every point from the same PRNG,
 *   4. the bare generator hand-off: two generators resumed alternately by a loop.
 * The generator scheduler records nothing (no decision log, no checks), so it is an upper
 * bound for a generator-based runtime, as the bare async hand-off is for today's.
 *
 * Run: `npx tsx bench/generators.ts`.
 */
import { pathToFileURL } from 'node:url';
import { Mutex, Simulation } from '../src/sim/index.js';
import { Prng } from '../src/sim/prng.js';

/** CPU seconds of this process since `start` (as bench/sim.ts: a shared machine's load does not count). */
function seconds(start: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(start);
  return (u.user + u.system) / 1e6;
}

interface Series {
  name: string;
  fn: () => Promise<number> | number;
  best: number;
}

/** Interleaved rounds, best rate of each (the least disturbed round on a loaded machine). */
async function measure(all: Series[], totalSeconds: number, trials = 5): Promise<void> {
  for (const s of all) await s.fn();
  for (let t = 0; t < trials; t++) {
    for (const s of all) {
      let ops = 0;
      const start = process.cpuUsage();
      do ops += await s.fn();
      while (seconds(start) < totalSeconds / all.length / trials);
      s.best = Math.max(s.best, ops / seconds(start));
    }
  }
}

// ------------------------------------------------------------------ async

async function bareAsync(handoffs: number): Promise<number> {
  const resume: [(() => void) | null, (() => void) | null] = [null, null];
  let count = 0;
  const pass = (me: 0 | 1): Promise<void> => {
    const parked = new Promise<void>((r) => {
      resume[me] = r;
    });
    resume[me === 0 ? 1 : 0]?.();
    return parked;
  };
  const worker = async (me: 0 | 1): Promise<void> => {
    while (count < handoffs) {
      count++;
      await pass(me);
    }
    resume[me === 0 ? 1 : 0]?.();
  };
  const second = new Promise<void>((r) => {
    resume[1] = r;
  }).then(() => worker(1));
  await worker(0);
  await second;
  return count;
}

async function runtime(threads: number, rounds: number, seed: number): Promise<number> {
  const sim = new Simulation({ seed, maxSteps: 100_000_000 });
  const r = await sim.run((s) => {
    const m = new Mutex(s, 'm');
    for (let i = 0; i < threads; i++) {
      s.spawn(`t${i}`, async () => {
        for (let k = 0; k < rounds; k++) {
          await m.lock();
          await s.yield();
          m.unlock();
          await s.yield();
        }
      });
    }
  });
  return r.steps;
}

// ------------------------------------------------------------------ generators

/** What a generator thread yields: a plain scheduling point, or "block me" (it parked itself). */
const POINT = 0;
const BLOCKED = 1;
type Step = typeof POINT | typeof BLOCKED;

interface GThread {
  id: number;
  body: Generator<Step, void, void>;
  runnable: boolean;
}

/** A minimal generator scheduler: a random pick among the runnable threads at every point. */
class GenSim {
  readonly threads: GThread[] = [];
  readonly runnable: GThread[] = [];
  current: GThread | null = null;
  steps = 0;
  private readonly rng: Prng;
  constructor(seed: number) {
    this.rng = new Prng(seed);
  }
  spawn(body: (t: GThread) => Generator<Step, void, void>): void {
    const t: GThread = { id: this.threads.length, body: undefined as never, runnable: true };
    t.body = body(t);
    this.threads.push(t);
    this.runnable.push(t);
  }
  block(t: GThread): void {
    t.runnable = false;
    const i = this.runnable.indexOf(t);
    this.runnable.splice(i, 1);
  }
  wake(t: GThread): void {
    if (t.runnable) return;
    t.runnable = true;
    let i = this.runnable.length;
    this.runnable.push(t);
    while (i > 0 && this.runnable[i - 1].id > t.id) {
      this.runnable[i] = this.runnable[i - 1];
      i--;
    }
    this.runnable[i] = t;
  }
  run(): number {
    while (this.runnable.length > 0) {
      const rq = this.runnable;
      const t = rq.length === 1 ? rq[0] : rq[this.rng.int(rq.length)];
      this.current = t;
      this.steps++;
      const r = t.body.next();
      if (r.done === true) this.block(t);
    }
    return this.steps;
  }
}

class GenMutex {
  owner: GThread | null = null;
  private readonly waiters: GThread[] = [];
  constructor(private readonly sim: GenSim) {}
  *lock(t: GThread): Generator<Step, void, void> {
    yield POINT; // the scheduling point before mutex_lock
    while (this.owner !== null) {
      this.waiters.push(t);
      this.sim.block(t);
      yield BLOCKED;
    }
    this.owner = t;
  }
  unlock(): void {
    this.owner = null;
    const w = this.waiters.shift();
    if (w !== undefined) this.sim.wake(w);
  }
}

function generatorRuntime(threads: number, rounds: number, seed: number): number {
  const sim = new GenSim(seed);
  const m = new GenMutex(sim);
  for (let i = 0; i < threads; i++) {
    sim.spawn(function* (t) {
      for (let k = 0; k < rounds; k++) {
        yield* m.lock(t);
        yield POINT;
        m.unlock();
        yield POINT;
      }
    });
  }
  return sim.run();
}

function bareGenerators(handoffs: number): number {
  let count = 0;
  function* worker(): Generator<void, void, void> {
    while (count < handoffs) {
      count++;
      yield;
    }
  }
  const g = [worker(), worker()];
  let done = 0;
  for (let i = 0; done < 2; i ^= 1) if (g[i].next().done === true) done++;
  return count;
}

// ------------------------------------------------------------------ report

function fmt(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(0);
}

export interface GeneratorBenchResult {
  bareAsync: number;
  bareGenerators: number;
  rows: { threads: number; runtime: number; generators: number }[];
}

/** Runs the comparison and prints it; returns points/s. */
export async function benchGenerators(options: { seconds?: number } = {}): Promise<GeneratorBenchResult> {
  const secs = options.seconds ?? 1;
  const bareA: Series = { name: 'bare async', fn: () => bareAsync(100_000), best: 0 };
  const bareG: Series = { name: 'bare generators', fn: () => bareGenerators(100_000), best: 0 };
  const per = [2, 8].map((threads) => {
    const rounds = Math.floor(20_000 / threads);
    let seed = 1;
    let gseed = 1;
    return {
      threads,
      runtime: { name: 'runtime', fn: () => runtime(threads, rounds, seed++), best: 0 } as Series,
      gen: { name: 'gen', fn: () => generatorRuntime(threads, rounds, gseed++), best: 0 } as Series,
    };
  });
  await measure([bareA, bareG, ...per.flatMap((p) => [p.runtime, p.gen])], secs * 8);
  console.log('generators: scheduling points/s, Mutex contention under random scheduling');
  console.log(
    `  bare hand-off: async ${fmt(bareA.best)}/s, generators ${fmt(bareG.best)}/s (${(bareG.best / bareA.best).toFixed(1)}x)`,
  );
  console.log('  threads  runtime (async)  generator scheduler  ratio');
  for (const p of per) {
    console.log(
      `  ${String(p.threads).padStart(7)} ${fmt(p.runtime.best).padStart(16)} ${fmt(p.gen.best).padStart(20)} ${`${(p.gen.best / p.runtime.best).toFixed(1)}x`.padStart(6)}`,
    );
  }
  return {
    bareAsync: bareA.best,
    bareGenerators: bareG.best,
    rows: per.map((p) => ({ threads: p.threads, runtime: p.runtime.best, generators: p.gen.best })),
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchGenerators();
}
