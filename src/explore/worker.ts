/**
 * A worker thread of `explore({ workers })`: loads the program by module path (a setup
 * function cannot cross threads), runs the sub-shards it is handed and returns their results.
 */
import type { SetupFn } from '../sim/simulation.js';
import { explore } from './explore.js';
import type { ExploreResult } from './options.js';
import { loadSetup } from './setup-module.js';
import type { WorkerTask, WorkerWarmUp } from './workers.js';

export { loadSetup };

/** The program this worker loaded last (a worker runs many sub-shards of one program). */
let loaded: { key: string; setup: SetupFn } | null = null;

/**
 * One sub-shard, run in a worker: stops when the main thread raises the shared stop flag,
 * and publishes its progress in its slots of the shared counters.
 */
export default async function runShard(task: WorkerTask | WorkerWarmUp): Promise<ExploreResult | null> {
  const key = JSON.stringify(task.module);
  if (loaded === null || loaded.key !== key) loaded = { key, setup: await loadSetup(task.module) };
  if (task.warmUp === true) return null;
  const setup = loaded.setup;
  const cells = new Int32Array(task.shared);
  const base = 1 + 4 * task.slot;
  const ac = new AbortController();
  if (Atomics.load(cells, 0) !== 0) ac.abort();
  return explore(
    {
      ...task.options,
      signal: ac.signal,
      progressEvery: 8,
      onProgress: (done, _total, violations, c) => {
        Atomics.store(cells, base, task.doneBefore + done);
        Atomics.store(cells, base + 1, task.violationsBefore + violations);
        Atomics.store(cells, base + 2, c.operations);
        Atomics.store(cells, base + 3, c.lockEdges);
        if (Atomics.load(cells, 0) !== 0) ac.abort();
      },
    },
    setup,
  );
}
