import { describe, expect, it } from 'vitest';
import { explore, type ExploreOptions, type ExploreResult } from '../../src/explore/index.js';
import type { SetupFn } from '../../src/sim/simulation.js';
import { twoDeviceWorkload } from '../../src/drivers/mirror-workload.js';
import { gpuAndNicChurn } from '../../src/scenario/showcase.js';
import { modernWorkload } from './explore-workloads.js';
import {
  newOdpWindows,
  odpDeregRaceScenario,
  odpImplicitReclaimScenario,
  odpInvalidateBeforeMrScenario,
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

/** One long exploration, logged with its wall time for the record (MIRRORLAB_LONG). */
async function longRun(name: string, options: ExploreOptions, setup: SetupFn): Promise<ExploreResult> {
  const t0 = performance.now();
  const r = await explore(options, setup);
  const secs = (performance.now() - t0) / 1000;
  console.log(
    `long run ${name} ${options.strategy}: ${r.schedules} schedules${r.exhausted ? ' (exhausted)' : ''}, ` +
      `${secs.toFixed(0)} s, ${(r.schedules / secs).toFixed(0)} schedules/s, ${r.violations.length} violations; ` +
      `marks ${JSON.stringify(r.marks)}`,
  );
  return r;
}

/** The race windows every mirror-workload run must reach. */
const MIRROR_WINDOWS = [
  'invalidate hit a subscription',
  'device fault retried',
  'swap-in',
  'mirror workload: reclaim during a device access',
  'mirror workload: NUMA migration during a device access',
];

/**
 * Every modern driver workload, 50,000 pct + 50,000 random schedules each, every checker on: no
 * violation, every schedule ends ok, and the windows were reached. odp-mirror and gpusvm-mirror
 * as registered run in test/check/must-find.test.ts (issue 11's 100,000); here ODP runs the
 * workload with exit on, and the rest of the family.
 */
const LONG_WORKLOADS: [string, SetupFn, string[]][] = [
  [
    'odp-mirror with exit',
    modernWorkload('odp', { exit: true }),
    [
      ...MIRROR_WINDOWS,
      'mirror workload: exit during a device access',
      'mirror workload: device access failed after exit',
    ],
  ],
  [
    'nouveau2019-mirror',
    gpusvmMirrorScenario('nouveau2019'),
    [...MIRROR_WINDOWS, 'mirror workload: exit during a device access'],
  ],
  [
    'gpu-and-nic',
    gpuAndNicScenario(),
    ['invalidate hit a subscription', 'read_retry collided', 'check_retry collided'],
  ],
  [
    'gpu-and-nic-churn',
    gpuAndNicChurn(),
    ['invalidate hit a subscription', 'device fault retried', 'cow break', 'swap-in'],
  ],
  // Random schedules found a VRAM page the GPU still mapped after a partial munmap until the
  // invalidation widened to the whole range, as xe does (test/drivers/gpusvm-cleanbugs.test.ts).
  ['gpusvm-vram', gpusvmMirrorScenario('drm_gpusvm', true), MIRROR_WINDOWS.slice(0, 4)],
];

describe.skipIf(!LONG)('drivers, long runs (MIRRORLAB_LONG)', () => {
  it(
    'two drivers on one page, a thread per device, under dfs PB2',
    async () => {
      for (const cpu of ['reclaim', 'fork'] as const) {
        const r = await longRun(
          `two devices (${cpu})`,
          { ...DFS, schedules: 100_000 },
          twoDeviceWorkload({ threads: 'per-device', cpu }),
        );
        expect(r.violations.map((v) => `${v.message} ${v.token}`)).toEqual([]);
        expect(r.marks['two devices: both mapped the page the CPU invalidated']).toBeGreaterThan(0);
      }
    },
    24 * 3600_000,
  );

  it(
    'implicit ODP reclaim under dfs PB2',
    async () => {
      const r = await longRun(
        'odp-implicit-reclaim',
        { ...DFS, schedules: 1_000_000 },
        odpImplicitReclaimScenario(),
      );
      expect(r.violations).toEqual([]);
    },
    24 * 3600_000,
  );

  for (const [name, setup, windows] of LONG_WORKLOADS) {
    it(
      `${name}: 50,000 pct + 50,000 random schedules`,
      async () => {
        for (const strategy of ['pct', 'random'] as const) {
          const r = await longRun(name, { strategy, depth: 3, schedules: 50_000, seed: 1 }, setup);
          expect(r.violations.map((v) => `${v.message} ${v.token}`)).toEqual([]);
          expect(r.statuses.ok).toBe(50_000);
          for (const m of windows) expect(r.marks[m] ?? 0, `${name} ${strategy}: ${m}`).toBeGreaterThan(0);
        }
      },
      24 * 3600_000,
    );
  }
});
if (!LONG) console.log('drivers long runs skipped: set MIRRORLAB_LONG=1 to run them');
