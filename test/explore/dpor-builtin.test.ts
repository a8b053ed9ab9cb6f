/**
 * dpor on built-in scenarios: it finds every violation (by signature) that plain dfs finds,
 * exhausting where dfs within preemption bound 2 exhausts, and stays silent on the fixed
 * variants. The scenarios here exhaust in a few hundred schedules; the full table (dpor
 * against dfs, bounded and unbounded) is `node --import tsx bench/explore.ts dpor`.
 */
import { describe, expect, it } from 'vitest';

import { explore } from '../../src/explore/index.js';
import { getScenario } from '../../src/scenario/registry.js';
import '../../src/scenario/builtin/index.js';

async function signatures(
  name: string,
  strategy: 'dfs' | 'dpor',
  preemptionBound?: number,
  budget = 5000,
): Promise<{ found: string[]; exhausted: boolean; schedules: number }> {
  const s = getScenario(name);
  const r = await explore(
    { strategy, schedules: budget, preemptionBound, switches: s.switches, shrink: false },
    s.setup,
  );
  return { found: Object.keys(r.firstFound).sort(), exhausted: r.exhausted, schedules: r.schedules };
}

/** Planted bugs whose scenarios unbounded dpor exhausts quickly. */
const PLANTED = [
  'odp-dereg-race',
  'gpusvm-map-order',
  'dmirror-skip-private-zap',
  'odp-invalidate-before-mr',
  'dmirror-fault-vs-own-migration',
];

/** Longer ones (MIRRORLAB_LONG=1). */
const PLANTED_LONG: string[] = [];
const long = process.env.MIRRORLAB_LONG === '1';

/** Planted bugs whose scenarios only bounded dpor exhausts quickly. */
const PLANTED_BOUNDED = ['seq-retry-lock-across-read-begin', 'two-pass-finish-on-nonblock'];
const PLANTED_BOUNDED_LONG = ['classic-unregister-no-release-uaf', 'seq-retry-no-set-seq'];

describe('dpor on built-in scenarios', () => {
  if (!long) console.log('dpor-builtin: the longer scenarios run with MIRRORLAB_LONG=1');
  for (const name of [...PLANTED, ...PLANTED_LONG]) {
    it.skipIf(!long && !PLANTED.includes(name))(
      `finds every violation dfs finds in ${name}`,
      async () => {
        const dfs = await signatures(name, 'dfs', 2);
        expect(dfs.exhausted).toBe(true);
        expect(dfs.found.length).toBeGreaterThan(0);
        const dpor = await signatures(name, 'dpor');
        expect(dpor.exhausted).toBe(true);
        expect(dpor.found).toEqual(expect.arrayContaining(dfs.found));
      },
      60_000,
    );
  }

  for (const name of [...PLANTED_BOUNDED, ...PLANTED_BOUNDED_LONG]) {
    it.skipIf(!long && !PLANTED_BOUNDED.includes(name))(
      `finds every violation dfs finds in ${name}, both within preemption bound 2, in fewer schedules`,
      async () => {
        const dfs = await signatures(name, 'dfs', 2);
        const dpor = await signatures(name, 'dpor', 2);
        expect(dfs.exhausted && dpor.exhausted).toBe(true);
        expect(dpor.found).toEqual(expect.arrayContaining(dfs.found));
        expect(dpor.schedules).toBeLessThan(dfs.schedules);
      },
      60_000,
    );
  }

  it.skipIf(!long)(
    'finds the livelock dfs finds in odp-livelock-none (runs of 18,000 steps)',
    async () => {
      const s = getScenario('odp-livelock-none');
      const r = await explore(
        { strategy: 'dpor', schedules: 50, stopOnFirst: true, switches: s.switches, shrink: false },
        s.setup,
      );
      expect(Object.keys(r.firstFound)).toEqual([
        'livelock: mlx#.mr# device fault livelock (fault loop, retry none)',
      ]);
    },
    300_000,
  );

  it('needs at least 10x fewer schedules than dfs where both exhaust', async () => {
    // Unbounded, and within preemption bound 2 (dfs: 210, 153,849, 373 and 170 schedules; the
    // userptr-munmap-stale space is the large one, about 8 s of dfs).
    const cases: [string, number | undefined, number][] = [
      ['gpusvm-map-order-fixed', undefined, 20_000],
      ['userptr-munmap-stale', undefined, 200_000],
      ['dmirror-skip-private-zap', 2, 20_000],
      ['odp-dereg-race', 2, 20_000],
    ];
    for (const [name, bound, budget] of cases) {
      const dfs = await signatures(name, 'dfs', bound ?? 1_000_000, budget);
      const dpor = await signatures(name, 'dpor', bound);
      expect(dfs.exhausted && dpor.exhausted).toBe(true);
      expect(dpor.found).toEqual(expect.arrayContaining(dfs.found));
      expect(dpor.schedules * 10).toBeLessThanOrEqual(dfs.schedules);
    }
  }, 120_000);

  it('stays silent on the fixed variants, exhausting them', async () => {
    for (const name of ['odp-dereg-fixed', 'gpusvm-map-order-fixed']) {
      const dpor = await signatures(name, 'dpor');
      expect(dpor.exhausted).toBe(true);
      expect(dpor.found).toEqual([]);
    }
  }, 60_000);
});
