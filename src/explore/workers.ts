/**
 * `explore({ workers: n })`: the shard runs as a fixed number of sub-shards (see
 * `subShardCount`; independent of n), handed out one at a time to n runners — the calling
 * thread and n - 1 worker threads of a tinypool pool (zero dependencies, kept by the vitest
 * team, already in this dependency tree; piscina would do as well but brings an optional
 * native dependency). Each worker loads the program by module path and runs the sub-shards
 * it is handed with the ordinary explore; the calling thread runs the same program, loaded
 * the same way, while the workers start up, so their start-up costs no throughput. Results
 * merge with mergeResults, so the outcome equals the same sub-shards run one after another,
 * whichever runner ran which; the winners are shrunk once, after the merge.
 *
 * Workers and the main thread share one small SharedArrayBuffer: a stop flag (Ctrl-C, time
 * limit, stop-on-first) the workers read between schedules, and each runner's progress
 * counters, which the main thread sums for `onProgress`. No message per schedule.
 */
import Tinypool from 'tinypool';
import { Simulation, type SetupFn } from '../sim/simulation.js';
import { ReplayStrategy } from '../sim/strategy.js';
import { decodeToken } from '../sim/token.js';
import type { Violation } from '../sim/violation.js';
import { explore } from './explore.js';
import { everyHostMs, hostNowMs } from './host-clock.js';
import { mergeResults } from './merge.js';
import type { ExploreOptions, ExploreResult, Normalised, SetupModule } from './options.js';
import { explainRun } from './replay.js';
import { shrinkRun } from './shrink.js';
import { loadSetup } from './setup-module.js';

/** Int32 slots: [stop], then per runner [done, violations, operations, lockEdges]. */
const SLOTS = 4;

/** At most this many sub-shards, each of at least about SUB_SHARD_MIN schedules. */
const SUB_SHARDS_MAX = 64;
const SUB_SHARD_MIN = 250;

/** A worker's first task: load the program (and tsx, from the sources), then report ready. */
export interface WorkerWarmUp {
  warmUp: true;
  module: SetupModule;
}

/** What a worker receives for a sub-shard. */
export interface WorkerTask {
  warmUp?: undefined;
  options: ExploreOptions;
  module: SetupModule;
  shared: SharedArrayBuffer;
  slot: number;
  /** Schedules and violations the runner of `slot` counted in its earlier sub-shards. */
  doneBefore: number;
  violationsBefore: number;
}

/**
 * The number of sub-shards `explore({ workers })` splits a shard of `schedules` schedules
 * into: one per SUB_SHARD_MIN schedules, at most SUB_SHARDS_MAX. It depends on the budget
 * only, so every worker count gives the same result: that of the sub-shards
 * `{ index: shard.index + shard.count * j, count: shard.count * k }`, j < k, run one after
 * another and merged with mergeResults.
 */
export function subShardCount(schedules: number): number {
  return Math.max(1, Math.min(SUB_SHARDS_MAX, Math.ceil(schedules / SUB_SHARD_MIN)));
}

function workerFile(): string {
  const here = import.meta.url;
  // From the TypeScript sources (tests, tsx), a bootstrap registers tsx in the worker first.
  return new URL(here.endsWith('.ts') ? './worker-tsx.mjs' : './worker.js', here).href;
}

/** The options sub-shard j of k runs with (functions and signals stay with the caller). */
function subShardOptions(o: Normalised, j: number, k: number, timeLimitMs: number): ExploreOptions {
  return {
    strategy: o.strategy,
    schedules: o.schedules,
    seed: o.seed,
    depth: o.depth,
    preemptionBound: o.preemptionBound,
    maxSteps: o.maxSteps,
    stepNs: o.stepNs,
    ...(o.switches !== undefined ? { switches: o.switches } : {}),
    stopOnFirst: o.stopOnFirst,
    ...(timeLimitMs !== Infinity ? { timeLimitMs: Math.max(1, Math.ceil(timeLimitMs)) } : {}),
    coverage: o.coverage,
    // Shrunk once, after the merge: a violation many sub-shards find is shrunk once.
    shrink: false,
    shard: { index: o.shardIndex + o.shardCount * j, count: o.shardCount * k },
  };
}

/**
 * The winner `v` of the merge, shrunk and explained as the explore of its sub-shard would
 * have done with shrinking on: its run is re-made from its token (a replay reproduces it
 * exactly), shrunk, and replayed with tracing for the diagram.
 */
async function shrinkWinner(v: Violation, setup: SetupFn, o: Normalised): Promise<Violation> {
  const t = decodeToken(v.token);
  const sim = new Simulation({
    seed: t.seed,
    strategy: new ReplayStrategy(t.choices),
    maxSteps: o.maxSteps,
    stepNs: o.stepNs,
    switches: o.switches,
  });
  const run = await sim.run(setup);
  if (!run.violations.some((x) => x.signature === v.signature)) return v;
  const best = await shrinkRun(run, v.signature, setup, o, o.shrinkRuns);
  return explainRun(best, v.signature, setup, o);
}

/** Runs shard `o` on `o.workers` runners (this thread and worker threads) and merges their results. */
export async function exploreOnWorkers(o: Normalised, _setup: SetupFn): Promise<ExploreResult> {
  const w = o.workers;
  const module = o.setupModule!;
  // The program as the workers load it (a bad module path or export is reported here, first).
  const setup = await loadSetup(module);
  const shardSchedules = Math.ceil((o.schedules - o.shardIndex) / o.shardCount);
  const k = subShardCount(shardSchedules);
  const shared = new SharedArrayBuffer(4 * (1 + SLOTS * w));
  const cells = new Int32Array(shared);
  const deadline = o.timeLimitMs === Infinity ? Infinity : hostNowMs() + o.timeLimitMs;
  const pool =
    w > 1 && k > 1
      ? new Tinypool({ filename: workerFile(), minThreads: w - 1, maxThreads: w - 1, isolateWorkers: false })
      : null;
  const stop = (): void => {
    Atomics.store(cells, 0, 1);
  };
  o.signal?.addEventListener('abort', stop, { once: true });
  if (o.signal?.aborted === true) stop();
  let lastDone = 0;
  let timeUp = false;
  const report = (): void => {
    let done = 0;
    let violations = 0;
    let operations = 0;
    let lockEdges = 0;
    for (let j = 0; j < w; j++) {
      done += Atomics.load(cells, 1 + SLOTS * j);
      violations += Atomics.load(cells, 2 + SLOTS * j);
      operations = Math.max(operations, Atomics.load(cells, 3 + SLOTS * j));
      lockEdges = Math.max(lockEdges, Atomics.load(cells, 4 + SLOTS * j));
    }
    if (o.stopOnFirst && violations > 0) stop();
    if (done !== lastDone) {
      lastDone = done;
      // Coverage across runners is known exactly only at the end; meanwhile the largest.
      o.onProgress?.(done, o.schedules, violations, { operations, lockEdges });
    }
  };
  // Progress of the runners, on the host thread (src/explore/host-clock.ts); no simulation sees it.
  const stopReports = everyHostMs(100, report);

  // Sub-shards are handed out in order to whichever runner is free; none starts once stopped.
  let next = 0;
  const take = (): number => {
    if (next >= k || Atomics.load(cells, 0) !== 0) return -1;
    if (deadline !== Infinity && hostNowMs() >= deadline) {
      timeUp = true;
      return -1;
    }
    return next++;
  };
  const results: ExploreResult[] = [];
  const remaining = (): number => (deadline === Infinity ? Infinity : deadline - hostNowMs());

  /** This thread as a runner: the sub-shards run here, between the workers' messages. */
  const runHere = async (slot: number): Promise<void> => {
    const base = 1 + SLOTS * slot;
    let doneBefore = 0;
    let violationsBefore = 0;
    for (let j = take(); j >= 0; j = take()) {
      const ac = new AbortController();
      const r = await explore(
        {
          ...subShardOptions(o, j, k, remaining()),
          signal: ac.signal,
          progressEvery: 8,
          onProgress: (done, _total, violations, c) => {
            Atomics.store(cells, base, doneBefore + done);
            Atomics.store(cells, base + 1, violationsBefore + violations);
            Atomics.store(cells, base + 2, c.operations);
            Atomics.store(cells, base + 3, c.lockEdges);
            if (Atomics.load(cells, 0) !== 0) ac.abort();
          },
        },
        setup,
      );
      doneBefore += r.schedules;
      violationsBefore += r.violations.length;
      results.push(r);
      report();
    }
  };

  /**
   * A worker thread as a runner: it is handed sub-shards only once it has started and loaded
   * the program, so that a slow start-up (a loaded machine, tsx in the worker) never leaves a
   * sub-shard waiting that this thread would have run.
   */
  const inFlight = new Set<Promise<void>>();
  let workerError: unknown = null;
  const fail = (err: unknown): void => {
    workerError ??= err;
    stop();
  };
  /** Runs sub-shard j on `p`; settles once its result is counted (or its failure recorded). */
  const runTask = async (
    p: Tinypool,
    task: WorkerTask,
    counts: { done: number; violations: number },
  ): Promise<void> => {
    try {
      const r = (await p.run(task)) as ExploreResult;
      counts.done += r.schedules;
      counts.violations += r.violations.length;
      results.push(r);
      report();
    } catch (err) {
      fail(err);
    }
  };
  const runOnWorker = async (p: Tinypool, slot: number): Promise<void> => {
    const warmUp: WorkerWarmUp = { warmUp: true, module };
    await p.run(warmUp);
    const counts = { done: 0, violations: 0 };
    for (let j = take(); j >= 0; j = take()) {
      const task: WorkerTask = {
        options: subShardOptions(o, j, k, remaining()),
        module,
        shared,
        slot,
        doneBefore: counts.done,
        violationsBefore: counts.violations,
      };
      const running = runTask(p, task, counts);
      inFlight.add(running);
      await running;
      inFlight.delete(running);
    }
  };

  try {
    if (pool !== null) {
      // A worker that fails to start reports it here; once this thread has run out of
      // sub-shards, nobody waits for a worker still starting up.
      for (let slot = 1; slot < w; slot++) void runOnWorker(pool, slot).catch(fail);
    }
    await runHere(0);
    // Every sub-shard is taken: wait for those still running on workers.
    while (inFlight.size > 0) await Promise.all([...inFlight]);
    if (workerError !== null) throw workerError;
    const merged = mergeResults(results);
    const { missingShards, ...rest } = merged;
    let stopped = rest.stopped;
    if (o.signal?.aborted === true) stopped = 'aborted';
    else if (missingShards.length > 0 && stopped === 'budget') {
      stopped = timeUp
        ? 'time-limit'
        : o.stopOnFirst && rest.violations.length > 0
          ? 'first-violation'
          : 'aborted';
    }
    const violations: Violation[] = [];
    for (const v of rest.violations) violations.push(o.shrink ? await shrinkWinner(v, setup, o) : v);
    const result: ExploreResult = {
      ...rest,
      violations,
      strategy: o.strategy,
      stopped,
      shard: { index: o.shardIndex, count: o.shardCount },
    };
    o.onProgress?.(result.schedules, o.schedules, result.violations.length, {
      operations: result.coverage.operations.length,
      lockEdges: result.coverage.lockEdges.length,
    });
    return result;
  } finally {
    stop();
    stopReports();
    o.signal?.removeEventListener('abort', stop);
    if (pool !== null) await pool.destroy();
  }
}
