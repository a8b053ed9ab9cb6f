import { describe, expect, it } from 'vitest';
import { explore, replay } from '../../src/explore/index.js';
import { getScenario } from '../../src/scenario/registry.js';
import '../../src/scenario/builtin/index.js';
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

/**
 * The real bugs planted behind the driver's switches (src/drivers/gpusvm/switches.ts): each found
 * under its scenario's default exploration with the switch on, drawn in at most 25 rows, replayed
 * from its token alone (the token carries the switch); the same program with the switch off (the
 * upstream fix) silent, having reached the race window its coverage marks name.
 */
const SWITCHED = [
  {
    bug: 'nouveau-partial-migrate',
    fixed: 'nouveau-svm-bind',
    kind: 'assertion',
    words: /SVM_BIND of \[0x[0-9a-f]+, 0x[0-9a-f]+\) returned 0 but page 0x[0-9a-f]+ is not in VRAM/,
    rows: [/migrate_vma_setup 0x[0-9a-f]+ \[empty -22\]/],
    windows: ['SVM_BIND batch', 'migrate_to_ram during SVM_BIND'],
  },
  {
    bug: 'xe-atomic-ping-pong',
    fixed: 'xe-atomic-timeslice',
    kind: 'livelock',
    words: /gpu0\.vm0: the device fault on 0x[0-9a-f]+ neither finished nor failed within 32 faults/,
    rows: [/\| device_map 0x[0-9a-f]+ \[gpu0\.vm0/, /cpu_read app\[1\]@0x/, /mn_itree_invalidate gpu0\.vm0/],
    windows: ['migrate_to_ram inside the timeslice'],
  },
  {
    bug: 'svm-remove-in-callback',
    fixed: 'svm-remove-deferred-gc',
    kind: 'lock-order',
    words: /app calls mmu_interval_notifier_remove from inside an mmu notifier invalidate callback/,
    rows: [/mn_itree_invalidate gpu0\.vm0\.notifier@0x/, /set_seq gpu0\.vm0\.notifier@0x/],
    windows: ['remove deferred', 'remove waited'],
  },
] as const;

describe('gpusvm: real bugs behind switches', () => {
  for (const c of SWITCHED) {
    it(`${c.bug}: found, drawn in 25 rows, replayed from its token; ${c.fixed} silent in its window`, async () => {
      const s = getScenario(c.bug);
      const d = s.defaults!;
      expect(s.switches).toBeDefined();
      const bad = await explore(
        {
          strategy: d.strategy,
          schedules: d.schedules,
          depth: d.depth,
          seed: 1,
          stopOnFirst: true,
          switches: s.switches,
        },
        s.setup,
      );
      const v = bad.violations[0];
      expect(v?.kind).toBe(c.kind);
      expect(v.message).toMatch(c.words);
      const rows = v.diagram!.split('\n');
      expect(rows.length).toBeLessThanOrEqual(25);
      expect(v.diagram).toMatch(new RegExp(`^ *${v.step} >>`, 'm'));
      for (const r of c.rows) expect(v.diagram).toMatch(r);
      const again = await replay(v.token, s.setup);
      expect(again.violations[0]?.signature).toBe(v.signature);

      const f = getScenario(c.fixed);
      expect(f.switches).toBeUndefined();
      const good = await explore(
        { strategy: 'pct', schedules: f.defaults!.schedules, depth: 3, seed: 1 },
        f.setup,
      );
      expect(good.violations.map((x) => x.message)).toEqual([]);
      for (const m of c.windows) expect(good.marks[m], m).toBeGreaterThan(0);
    }, 60_000);
  }
});
