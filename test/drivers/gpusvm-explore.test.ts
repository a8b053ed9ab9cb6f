import { describe, expect, it } from 'vitest';
import { explore } from '../../src/explore/index.js';
import {
  gpuAndNicScenario,
  gpusvmMapOrderScenario,
  gpusvmMirrorScenario,
  nouveauAtomicScenario,
} from '../../src/drivers/gpusvm/scenarios.js';

const PCT = { strategy: 'pct' as const, schedules: 200, depth: 3, seed: 1 };

describe('gpusvm: exploration', () => {
  it('2025 map-order bug: the GPU maps outside its range; the fix stays silent', async () => {
    const bad = await explore(PCT, gpusvmMapOrderScenario({ mapOrderClamp: true }));
    expect(bad.violations[0]?.kind).toBe('stale-mapping');
    expect(bad.violations[0]?.message).toMatch(/gpu0\.vm0 maps 0x40100000 .*the CPU has no entry/);
    const good = await explore(PCT, gpusvmMapOrderScenario());
    expect(good.violations).toEqual([]);
  });

  it('a drm_gpusvm VM and a nouveau2019 VM stay coherent through DONTNEED, mprotect, fork, munmap', async () => {
    expect((await explore(PCT, gpusvmMirrorScenario())).violations).toEqual([]);
    expect((await explore(PCT, gpusvmMirrorScenario('nouveau2019'))).violations).toEqual([]);
  });

  it('a drm_gpusvm VM migrating to VRAM stays coherent through the same CPU operations', async () => {
    expect((await explore(PCT, gpusvmMirrorScenario('drm_gpusvm', true))).violations).toEqual([]);
  });

  it('a GPU and a NIC mirroring one buffer stay coherent', async () => {
    expect((await explore(PCT, gpuAndNicScenario())).violations).toEqual([]);
  });

  it('2025 nouveau atomic retry leaving the folio locked hangs; the fix completes the atomic', async () => {
    const bad = await explore(PCT, nouveauAtomicScenario({ atomicFolioLocked: true }));
    expect(bad.violations[0]?.kind).toBe('deadlock');
    expect(bad.violations[0]?.message).toMatch(/gpu0 waits for waitqueue folio_wait_table/);
    const good = await explore(PCT, nouveauAtomicScenario());
    expect(good.violations).toEqual([]);
  });
});
