import { describe, expect, it } from 'vitest';
import { explore } from '../../src/explore/index.js';
import {
  newOdpWindows,
  odpDeregRaceScenario,
  odpImplicitReclaimScenario,
  odpInvalidateBeforeMrScenario,
  odpMirrorScenario,
} from '../../src/drivers/odp/scenarios.js';

const PCT = { strategy: 'pct' as const, schedules: 300, depth: 3, seed: 1 };

/** Each real ODP bug is found behind its switch, and the upstream fix stays silent having reached the window. */
describe('odp: real bugs found by exploration', () => {
  it('CVE-2025-21732: UMR on a revoked key; the fix skips it', async () => {
    const bad = await explore(PCT, odpDeregRaceScenario({ deregRevokeRace: true }));
    expect(bad.violations[0]?.kind).toBe('umr-error');
    expect(bad.violations[0]?.message).toMatch(/UMR 'zap' posted on the revoked key .*CVE-2025-21732/);
    const w = newOdpWindows();
    const good = await explore(PCT, odpDeregRaceScenario({}, w));
    expect(good.violations).toEqual([]);
    expect(w.revokedSkips).toBeGreaterThan(0);
  });

  it('2019: an invalidation before the MR exists; the fix sees npages == 0', async () => {
    const bad = await explore(PCT, odpInvalidateBeforeMrScenario({ invalidateBeforeMr: true }));
    expect(bad.violations[0]?.kind).toBe('kernel-bug');
    expect(bad.violations[0]?.message).toMatch(/NULL pointer dereference in mlx5_ib_invalidate_range/);
    const w = newOdpWindows();
    const good = await explore(PCT, odpInvalidateBeforeMrScenario({}, w));
    expect(good.violations).toEqual([]);
    expect(w.emptyInvalidations).toBeGreaterThan(0);
  });

  it('the 2019 switch reports only an invalidation before the MR exists, not one after its deregistration', async () => {
    // With the 2019 bug planted, an invalidation racing the deregistration finds odp->private
    // cleared by the revoke: that is the revoked skip, not the 2019 NULL dereference.
    const w = newOdpWindows();
    const r = await explore(PCT, odpDeregRaceScenario({ invalidateBeforeMr: true }, w));
    expect(r.violations).toEqual([]);
    expect(w.revokedSkips).toBeGreaterThan(0);
  });

  it('CVE-2025-21714 and the parent-dereg hang; the fixes refuse the second reclaim', async () => {
    const uaf = await explore(PCT, odpImplicitReclaimScenario({ implicitDoubleReclaim: true }));
    expect(uaf.violations[0]?.kind).toBe('use-after-free');
    const hang = await explore(PCT, odpImplicitReclaimScenario({ implicitParentHang: true }));
    expect(hang.violations[0]?.kind).toBe('deadlock');
    const w = newOdpWindows();
    const good = await explore(PCT, odpImplicitReclaimScenario({}, w));
    expect(good.violations).toEqual([]);
    expect(w.reclaimSkips).toBeGreaterThan(0);
  });

  it('an MR through DONTNEED, mprotect, fork and munmap stays coherent (pct)', async () => {
    const r = await explore({ ...PCT, schedules: 300 }, odpMirrorScenario());
    expect(r.violations).toEqual([]);
  });
});
