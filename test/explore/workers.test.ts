/**
 * All cores: explore({ workers }) hands fixed sub-shards to the calling thread and worker
 * threads that load the program by module path; the result equals the same sub-shards run
 * one after another and merged, whatever the number of workers.
 */
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

import { explore, mergeResults, type ExploreResult } from '../../src/explore/index.js';
import { subShardCount } from '../../src/explore/workers.js';
import { lifecycleScenario } from '../../src/scenario/toy/scenarios.js';

const setupModule = {
  path: resolve(import.meta.dirname, '../../src/scenario/toy/scenarios.ts'),
  export: 'lifecycleScenario',
  args: [],
};
const switches = { 'notifier.removeSeqReadUnlocked': true };

function essence(r: ExploreResult) {
  return {
    schedules: r.schedules,
    totalSteps: r.totalSteps,
    statuses: r.statuses,
    coverage: r.coverage,
    firstFound: r.firstFound,
    violations: r.violations.map((v) => [v.signature, v.token, v.schedule]),
  };
}

describe('workers', () => {
  it('any number of workers gives exactly the merged result of the same sub-shards run in turn', async () => {
    const options = { schedules: 1200, seed: 5, switches };
    const k = subShardCount(1200);
    expect(k).toBeGreaterThan(2);
    const two = await explore({ ...options, workers: 2, setupModule }, lifecycleScenario());
    const shards = [];
    for (let index = 0; index < k; index++) {
      shards.push(await explore({ ...options, shard: { index, count: k } }, lifecycleScenario()));
    }
    const sequential = mergeResults(shards);
    expect(two.schedules).toBe(1200);
    expect(two.violations.length).toBeGreaterThan(0);
    expect(essence(two)).toEqual(essence(sequential));
    // Winners are shrunk after the merge exactly as their sub-shard would have shrunk them.
    expect(two.violations.map((v) => v.diagram)).toEqual(sequential.violations.map((v) => v.diagram));
    expect(two.shard).toEqual({ index: 0, count: 1 });
    const three = await explore({ ...options, workers: 3, setupModule }, lifecycleScenario());
    expect(essence(three)).toEqual(essence(two));
  }, 120_000);

  it('hands sub-shards to the worker threads and to the calling thread', async () => {
    const where = {
      path: resolve(import.meta.dirname, 'fixtures/where.ts'),
      export: 'whereSetup',
    };
    const { whereSetup } = await import('./fixtures/where.js');
    (globalThis as { mirrorlabCaller?: boolean }).mirrorlabCaller = true;
    const r = await explore(
      { strategy: 'random', schedules: 4_000, seed: 1, workers: 2, setupModule: where },
      whereSetup,
    ).finally(() => {
      delete (globalThis as { mirrorlabCaller?: boolean }).mirrorlabCaller;
    });
    expect(r.schedules).toBe(4_000);
    expect(r.marks['ran on the calling thread']).toBeGreaterThan(0);
    expect(r.marks['ran on a worker thread']).toBeGreaterThan(0);
    expect(r.marks['ran on the calling thread'] + r.marks['ran on a worker thread']).toBe(4_000);
  }, 60_000);

  it('stop-on-first stops every worker', async () => {
    const r = await explore(
      { schedules: 1_000_000, seed: 1, switches, stopOnFirst: true, workers: 2, setupModule },
      lifecycleScenario(),
    );
    expect(r.violations.length).toBeGreaterThan(0);
    expect(r.schedules).toBeLessThan(1_000_000);
  }, 60_000);

  it('needs a setup module, and says which export is wrong', async () => {
    await expect(explore({ workers: 2 }, lifecycleScenario())).rejects.toThrow(
      /'workers' needs 'setupModule'/,
    );
    await expect(
      explore(
        { schedules: 4, workers: 2, setupModule: { ...setupModule, export: 'nope', args: undefined } },
        lifecycleScenario(),
      ),
    ).rejects.toThrow(/export 'nope' is neither a setup function/);
  }, 60_000);
});
