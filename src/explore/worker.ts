/**
 * A worker thread of `explore({ workers })`: loads the program by module path (a setup
 * function cannot cross threads), runs one shard of the exploration and returns its result.
 */
import { pathToFileURL } from 'node:url';
import type { SetupFn } from '../sim/simulation.js';
import { SimUsageError } from '../sim/violation.js';
import { explore } from './explore.js';
import type { ExploreResult, SetupModule } from './options.js';
import type { WorkerTask } from './workers.js';

/** Resolves a SetupModule to the setup function it names. */
export async function loadSetup(m: SetupModule): Promise<SetupFn> {
  const url = /^[a-z]+:/.test(m.path) ? m.path : pathToFileURL(m.path).href;
  const mod = (await import(url)) as Record<string, unknown>;
  const name = m.export ?? 'default';
  let value = mod[name];
  if (m.args !== undefined) {
    if (typeof value !== 'function')
      throw new SimUsageError(`setup module ${m.path}: export '${name}' is not a function`);
    value = await (value as (...a: unknown[]) => unknown)(...m.args);
  }
  if (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as { setup?: unknown }).setup === 'function'
  ) {
    value = (value as { setup: SetupFn }).setup;
  }
  if (typeof value !== 'function') {
    throw new SimUsageError(
      `setup module ${m.path}: export '${name}' is neither a setup function nor an object with one (a scenario)`,
    );
  }
  return value as SetupFn;
}

/**
 * One sub-shard, run in a worker: stops when the main thread raises the shared stop flag,
 * and publishes its progress in its slots of the shared counters.
 */
export default async function runShard(task: WorkerTask): Promise<ExploreResult> {
  const setup = await loadSetup(task.module);
  const cells = new Int32Array(task.shared);
  const base = 1 + 4 * task.slot;
  const ac = new AbortController();
  return explore(
    {
      ...task.options,
      signal: ac.signal,
      progressEvery: 8,
      onProgress: (done, _total, violations, c) => {
        Atomics.store(cells, base, done);
        Atomics.store(cells, base + 1, violations);
        Atomics.store(cells, base + 2, c.operations);
        Atomics.store(cells, base + 3, c.lockEdges);
        if (Atomics.load(cells, 0) !== 0) ac.abort();
      },
    },
    setup,
  );
}
