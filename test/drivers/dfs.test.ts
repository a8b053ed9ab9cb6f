import { describe, expect, it } from 'vitest';
import { explore } from '../../src/explore/index.js';
import {
  newOdpWindows,
  odpDeregRaceScenario,
  odpImplicitReclaimScenario,
  odpInvalidateBeforeMrScenario,
  odpMirrorScenario,
} from '../../src/drivers/odp/scenarios.js';
import {
  gpuAndNicScenario,
  gpusvmMapOrderScenario,
  gpusvmMirrorScenario,
} from '../../src/drivers/gpusvm/scenarios.js';

const DFS = { strategy: 'dfs' as const, preemptionBound: 2, schedules: 5000, seed: 1 };
const LONG = process.env.MIRRORLAB_LONG !== undefined;

/** Small cases explored exhaustively (dfs, preemption bound 2): silent on the fixes, the bugs found. */
describe('drivers under dfs (preemption bound 2)', () => {
  it('odp dereg vs invalidate: every schedule clean on the fix, the CVE found', async () => {
    const w = newOdpWindows();
    const good = await explore(DFS, odpDeregRaceScenario({}, w));
    expect(good.exhausted).toBe(true);
    expect(good.violations).toEqual([]);
    expect(w.revokedSkips).toBeGreaterThan(0);
    const bad = await explore(DFS, odpDeregRaceScenario({ deregRevokeRace: true }));
    expect(bad.violations[0]?.kind).toBe('umr-error');
  });

  it('odp invalidation during registration: every schedule clean on the fix, the 2019 bug found', async () => {
    const w = newOdpWindows();
    const good = await explore(DFS, odpInvalidateBeforeMrScenario({}, w));
    expect(good.exhausted).toBe(true);
    expect(good.violations).toEqual([]);
    expect(w.emptyInvalidations).toBeGreaterThan(0);
    const bad = await explore(DFS, odpInvalidateBeforeMrScenario({ invalidateBeforeMr: true }));
    expect(bad.violations[0]?.kind).toBe('kernel-bug');
  });

  it('gpusvm map order: every schedule clean on the fix, the 2025 bug found', async () => {
    const good = await explore(DFS, gpusvmMapOrderScenario());
    expect(good.exhausted).toBe(true);
    expect(good.violations).toEqual([]);
    const bad = await explore(DFS, gpusvmMapOrderScenario({ mapOrderClamp: true }));
    expect(bad.violations[0]?.kind).toBe('stale-mapping');
  });
});

describe.skipIf(!LONG)('drivers, long runs (MIRRORLAB_LONG)', () => {
  it('implicit ODP reclaim under dfs PB2', async () => {
    const r = await explore({ ...DFS, schedules: 1_000_000 }, odpImplicitReclaimScenario());
    expect(r.violations).toEqual([]);
  }, 3_600_000);

  for (const [name, setup] of [
    ['odp-mirror', odpMirrorScenario()],
    ['gpusvm-mirror', gpusvmMirrorScenario()],
    ['gpusvm-vram', gpusvmMirrorScenario('drm_gpusvm', true)],
    ['nouveau2019-mirror', gpusvmMirrorScenario('nouveau2019')],
    ['gpu-and-nic', gpuAndNicScenario()],
  ] as const) {
    it(`${name}: 50,000 pct + 50,000 random schedules`, async () => {
      const pct = await explore({ strategy: 'pct', depth: 3, schedules: 50_000, seed: 1 }, setup);
      expect(pct.violations).toEqual([]);
      const rnd = await explore({ strategy: 'random', schedules: 50_000, seed: 1 }, setup);
      expect(rnd.violations).toEqual([]);
    }, 3_600_000);
  }
});
if (!LONG) console.log('drivers long runs skipped: set MIRRORLAB_LONG=1 to run them');
