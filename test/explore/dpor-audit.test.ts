/**
 * The audit of dpor's dependency relation (src/explore/dpor/audit.ts): the commutation check
 * finds a shared access that no point or touch names, and is silent once it is touched; on
 * small built-ins the relation passes it, schedules of one trace end alike, and dpor runs one
 * schedule per trace where its relation allows no fewer.
 */
import { describe, expect, it } from 'vitest';

import { checkCommutation, countTraces, type AuditTarget } from '../../src/explore/dpor/audit.js';
import { explore } from '../../src/explore/index.js';
import { getScenario } from '../../src/scenario/registry.js';
import '../../src/scenario/builtin/index.js';
import type { SetupFn } from '../../src/sim/simulation.js';

/** A writer sets a flag in a step named after another object; a reader tests it. */
function hiddenFlag(touched: boolean): SetupFn {
  return (sim) => {
    let flag = false;
    sim.spawn('writer', async () => {
      await sim.point('work', 'w.local');
      if (touched) sim.touch('flag');
      flag = true;
      await sim.point('work', 'w.local');
    });
    sim.spawn('reader', async () => {
      await sim.point('work', 'r.local');
      if (touched) sim.touch('flag', true);
      // What it saw decides its next step.
      await sim.point(flag ? 'saw' : 'missed', 'r.local');
    });
  };
}

function builtin(name: string): AuditTarget {
  const s = getScenario(name);
  return { setup: s.setup, switches: s.switches };
}

describe('dpor relation audit', () => {
  it('finds an access no point or touch names, and is silent once it is touched', async () => {
    const hidden = await checkCommutation({ setup: hiddenFlag(false) }, 100);
    expect([...hidden.keys()]).toContain('work w.local <-> work r.local');
    expect((await checkCommutation({ setup: hiddenFlag(true) }, 100)).size).toBe(0);
  });

  it('passes the relation on small built-ins', async () => {
    // userptr-list-race: its GUP walk read PTEs, and the mirror checker read the device's
    // entries and its own registry, without a touch, until the check found them.
    const names = ['odp-dereg-race', 'gpusvm-map-order', 'dmirror-skip-private-zap', 'userptr-list-race'];
    for (const name of names) {
      expect([name, (await checkCommutation(builtin(name), 2)).size]).toEqual([name, 0]);
      const c = await countTraces(builtin(name), 2);
      expect(c.exhausted).toBe(true);
      expect(c.inconsistent).toBe(0);
      expect(c.lockTraces).toBeLessThanOrEqual(c.dporTraces);
      expect(c.dporTraces).toBeLessThan(c.schedules);
    }
  }, 60_000);

  it('passes the relation, sampled, on the built-ins where it once had holes', async () => {
    // Each found by the sampled check (bench/dpor-traces.ts all commute), each failing here
    // without its fix: [scenario, dfs schedules sampled, what was missing].
    const cases: [string, number, string][] = [
      ['dmirror-map-before-pages', 100, 'the folio lock bit and flags (a fault on a migrating page)'],
      ['odp2019-counter', 100, 'reinit_completion'],
      ['hmm2019-exit-no-mmget', 1000, "struct hmm's lockless state (dead, range valid)"],
      ['mm-mirror-no-set-seq', 1000, "the device walk's lockless PTE read"],
      ['seq-retry-set-seq-outside-lock', 1000, "the toy world's invalidation windows"],
      ['dmirror-cpu-storm', 1000, 'the process state fork reads; rmap counts'],
    ];
    for (const [name, budget, what] of cases)
      expect([name, what, (await checkCommutation(builtin(name), 2, budget)).size]).toEqual([name, what, 0]);
  }, 120_000);

  it('runs one schedule per trace where its relation allows no fewer (gpusvm-map-order-fixed)', async () => {
    const c = await countTraces(builtin('gpusvm-map-order-fixed'), 1_000_000);
    expect(c).toMatchObject({
      exhausted: true,
      schedules: 210,
      dporTraces: 2,
      lockTraces: 2,
      inconsistent: 0,
    });
    const s = getScenario('gpusvm-map-order-fixed');
    const r = await explore(
      { strategy: 'dpor', schedules: 1000, switches: s.switches, shrink: false },
      s.setup,
    );
    expect(r.exhausted).toBe(true);
    expect(r.schedules).toBe(2);
  }, 60_000);
});
