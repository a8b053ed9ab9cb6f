/**
 * `explore({ workers: n })`: the shard runs as n sub-shards on worker threads of a tinypool
 * pool (zero dependencies, kept by the vitest team, already in this dependency tree; piscina
 * would do as well but brings an optional native dependency). Each worker loads the program
 * by module path and runs its sub-shard with the ordinary explore; the results merge with
 * mergeResults, so the outcome equals the same sub-shards run one after another.
 *
 * Workers and the main thread share one small SharedArrayBuffer: a stop flag (Ctrl-C, time
 * limit, stop-on-first) the workers read between schedules, and each worker's progress
 * counters, which the main thread sums for `onProgress`. No message per schedule.
 */
import Tinypool from 'tinypool';
import type { SetupFn } from '../sim/simulation.js';
import { mergeResults } from './merge.js';
import type { ExploreOptions, ExploreResult, Normalised, SetupModule } from './options.js';

/** Int32 slots: [stop], then per worker [done, violations, operations, lockEdges]. */
const SLOTS = 4;

/** What a worker receives. */
export interface WorkerTask {
  options: ExploreOptions;
  module: SetupModule;
  shared: SharedArrayBuffer;
  slot: number;
}

function workerFile(): string {
  const here = import.meta.url;
  // From the TypeScript sources (tests, tsx), a bootstrap registers tsx in the worker first.
  return new URL(here.endsWith('.ts') ? './worker-tsx.mjs' : './worker.js', here).href;
}

/** The options every worker's sub-shard runs with (functions and signals stay here). */
function subShardOptions(o: Normalised, j: number): ExploreOptions {
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
    ...(o.timeLimitMs !== Infinity ? { timeLimitMs: o.timeLimitMs } : {}),
    coverage: o.coverage,
    shrink: o.shrink,
    shrinkRuns: o.shrinkRuns,
    shard: { index: o.shardIndex + o.shardCount * j, count: o.shardCount * o.workers },
  };
}

/** Runs shard `o` on `o.workers` worker threads and merges their results. */
export async function exploreOnWorkers(o: Normalised, _setup: SetupFn): Promise<ExploreResult> {
  const w = o.workers;
  const shared = new SharedArrayBuffer(4 * (1 + SLOTS * w));
  const cells = new Int32Array(shared);
  const pool = new Tinypool({ filename: workerFile(), minThreads: w, maxThreads: w, isolateWorkers: false });
  const stop = (): void => {
    Atomics.store(cells, 0, 1);
  };
  o.signal?.addEventListener('abort', stop, { once: true });
  if (o.signal?.aborted === true) stop();
  let lastDone = 0;
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
      // Coverage across workers is known exactly only at the end; meanwhile the largest.
      o.onProgress?.(done, o.schedules, violations, { operations, lockEdges });
    }
  };
  // A host timer on the main thread only reports progress of the workers; no simulation sees it.
  const timer = setInterval(report, 100);
  try {
    const tasks: Promise<ExploreResult>[] = [];
    for (let j = 0; j < w; j++) {
      const task: WorkerTask = { options: subShardOptions(o, j), module: o.setupModule!, shared, slot: j };
      tasks.push(pool.run(task) as Promise<ExploreResult>);
    }
    const results = await Promise.all(tasks);
    const merged = mergeResults(results);
    const { missingShards: _missing, ...rest } = merged;
    const stopped = o.signal?.aborted === true ? 'aborted' : rest.stopped;
    const result: ExploreResult = {
      ...rest,
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
    clearInterval(timer);
    o.signal?.removeEventListener('abort', stop);
    await pool.destroy();
  }
}
