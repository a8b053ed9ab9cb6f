/**
 * All cores: explore({ workers }) runs sub-shards on worker threads that load the program by
 * module path; the result equals the same sub-shards run one after another and merged.
 */
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

import { explore, mergeResults, type ExploreResult } from '../../src/explore/index.js';
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
  it('two workers give exactly the merged result of the same two shards run in turn', async () => {
    const options = { schedules: 400, seed: 5, switches };
    const parallel = await explore({ ...options, workers: 2, setupModule }, lifecycleScenario());
    const shards = [];
    for (const index of [0, 1]) {
      shards.push(await explore({ ...options, shard: { index, count: 2 } }, lifecycleScenario()));
    }
    const sequential = mergeResults(shards);
    expect(parallel.schedules).toBe(400);
    expect(parallel.violations.length).toBeGreaterThan(0);
    expect(essence(parallel)).toEqual(essence(sequential));
    expect(parallel.shard).toEqual({ index: 0, count: 1 });
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
