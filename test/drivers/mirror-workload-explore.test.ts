/**
 * The modern drivers' shared mirror workload (src/drivers/mirror-workload.ts) explored with every
 * checker on: each driver stays silent while the CPU reclaims, NUMA-migrates and (ODP) exits under
 * its device accesses, each side reading what the other wrote; and the schedules reached the
 * windows these operations are there for (coverage marks). Two drivers on one page (a GPU and a
 * NIC) stay coherent under dfs with preemption bound 2. The 50,000-schedule budgets live in
 * dfs.test.ts behind MIRRORLAB_LONG.
 */
import { describe, expect, it } from 'vitest';
import { explore, type ExploreOptions } from '../../src/explore/index.js';
import { twoDeviceWorkload } from '../../src/drivers/mirror-workload.js';
import { modernWorkload } from './explore-workloads.js';
import type { SetupFn } from '../../src/sim/simulation.js';

/** pct then random, `n` schedules each: the violations and the marks summed over both. */
async function both(setup: SetupFn, n: number, strategies: ExploreOptions['strategy'][] = ['pct', 'random']) {
  const marks: Record<string, number> = {};
  const violations: string[] = [];
  let ok = 0;
  for (const strategy of strategies) {
    const r = await explore({ strategy, schedules: n, depth: 3, seed: 1 }, setup);
    violations.push(...r.violations.map((v) => `${strategy}: ${v.kind}: ${v.message}`));
    ok += r.statuses.ok ?? 0;
    for (const [k, v] of Object.entries(r.marks)) marks[k] = (marks[k] ?? 0) + v;
  }
  return { marks, violations, ok };
}

const CPU_WINDOWS = [
  'mirror workload: reclaim during a device access',
  'mirror workload: NUMA migration during a device access',
  'swap-in',
  'invalidate hit a subscription',
  'device fault retried',
];

describe('the mirror workload: reclaim, NUMA migration and exit under device accesses', () => {
  it('ODP: silent through reclaim, migration and exit; the device access racing the exit fails cleanly', async () => {
    const r = await both(modernWorkload('odp', { exit: true }), 200);
    expect(r.violations).toEqual([]);
    expect(r.ok).toBe(400);
    for (const m of [
      ...CPU_WINDOWS,
      'mirror workload: exit during a device access',
      'mirror workload: device access failed after exit',
    ])
      expect(r.marks[m] ?? 0, m).toBeGreaterThan(0);
  }, 60_000);

  it('drm_gpusvm and nouveau2019: silent through reclaim, NUMA migration and exit', async () => {
    for (const driver of ['gpusvm', 'nouveau2019'] as const) {
      const r = await both(modernWorkload(driver), 120);
      expect(r.violations).toEqual([]);
      for (const m of CPU_WINDOWS) expect(r.marks[m] ?? 0, `${driver}: ${m}`).toBeGreaterThan(0);
      // The two exit bugs (no mmgrab in drm_gpusvm, no release op in nouveau) live in this window.
      expect(r.marks['mirror workload: exit during a device access'] ?? 0, driver).toBeGreaterThan(0);
    }
  }, 60_000);

  it('drm_gpusvm with VRAM: silent under pct through reclaim and NUMA migration', async () => {
    // Random schedules find a stale VRAM mapping after a partial munmap (the unmapped range is
    // skipped by later invalidations): a gpusvm driver bug reported to its owner, not hidden here.
    const r = await both(modernWorkload('vram'), 150, ['pct']);
    expect(r.violations).toEqual([]);
    for (const m of CPU_WINDOWS.slice(0, 4)) expect(r.marks[m] ?? 0, m).toBeGreaterThan(0);
  }, 60_000);

  it('without exit no exit window is marked, and the last device read gives its own bytes in every schedule', async () => {
    const r = await both(modernWorkload('odp', { exit: false }), 60);
    expect(r.violations).toEqual([]);
    expect(r.marks['mirror workload: exit during a device access']).toBeUndefined();
    expect(r.marks['mirror workload: device access failed after exit']).toBeUndefined();
  }, 60_000);
});

describe('two drivers on one process (a GPU and a NIC mirroring one page)', () => {
  it('dfs with preemption bound 2 exhausts the small case: coherent, and the invalidation found both mapped', async () => {
    const r = await explore(
      { strategy: 'dfs', preemptionBound: 2, schedules: 20_000, seed: 1 },
      twoDeviceWorkload({ threads: 'one', cpu: 'reclaim' }),
    );
    expect(r.exhausted).toBe(true);
    expect(r.violations.map((v) => v.message)).toEqual([]);
    expect(r.schedules).toBeGreaterThan(1000);
    expect(r.marks['two devices: both mapped the page the CPU invalidated']).toBeGreaterThan(0);
    expect(r.marks['read_retry collided']).toBeGreaterThan(0);
    expect(r.marks['swap-in']).toBeGreaterThan(0);
  }, 90_000);

  it('a thread per device, the CPU forking: pct and random stay coherent', async () => {
    const r = await both(twoDeviceWorkload({ threads: 'per-device', cpu: 'fork' }), 150);
    expect(r.violations).toEqual([]);
    expect(r.marks['two devices: both mapped the page the CPU invalidated']).toBeGreaterThan(0);
    expect(r.marks['cow break']).toBeGreaterThan(0);
  }, 60_000);
});
