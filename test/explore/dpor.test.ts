/**
 * dpor: one schedule per ordering of conflicting steps. Independent threads need one
 * schedule; a lost update on one shared word is found; exhaustion takes fewer schedules than
 * unbounded dfs on the same program.
 */
import { describe, expect, it } from 'vitest';

import { explore } from '../../src/explore/index.js';
import type { SetupFn } from '../../src/sim/simulation.js';

/** `n` threads, each touching only its own object `steps` times. */
function independent(n: number, steps: number): SetupFn {
  return (sim) => {
    for (let t = 0; t < n; t++) {
      sim.spawn(`t${t}`, async () => {
        for (let i = 0; i < steps; i++) await sim.point('touch', `obj${t}`);
      });
    }
  };
}

/** Two threads incrementing one word with a read and a write step: a lost update. */
function lostUpdate(extraIndependent: number): SetupFn {
  return (sim) => {
    let x = 0;
    let done = 0;
    for (const name of ['a', 'b']) {
      sim.spawn(name, async () => {
        for (let i = 0; i < extraIndependent; i++) await sim.point('local', `${name}.local`);
        await sim.point('read', 'x');
        const v = x;
        await sim.point('write', 'x');
        x = v + 1;
        done++;
        if (done === 2) sim.check(x === 2, `lost update: x = ${x}`);
      });
    }
  };
}

describe('dpor', () => {
  it('runs one schedule for threads that never conflict', async () => {
    const r = await explore({ strategy: 'dpor', schedules: 10_000 }, independent(3, 2));
    expect(r.exhausted).toBe(true);
    expect(r.schedules).toBe(1);
    const dfs = await explore(
      { strategy: 'dfs', preemptionBound: 100, schedules: 100_000 },
      independent(3, 2),
    );
    expect(dfs.exhausted).toBe(true);
    expect(dfs.schedules).toBeGreaterThan(100);
  });

  it('finds the lost update, and exhausts with far fewer schedules than dfs', async () => {
    const r = await explore({ strategy: 'dpor', schedules: 10_000 }, lostUpdate(4));
    expect(r.exhausted).toBe(true);
    expect(r.violations[0]?.message).toBe('lost update: x = 1');
    const dfs = await explore({ strategy: 'dfs', preemptionBound: 100, schedules: 100_000 }, lostUpdate(4));
    expect(dfs.exhausted).toBe(true);
    expect(dfs.violations[0]?.message).toBe('lost update: x = 1');
    expect(r.schedules * 10).toBeLessThanOrEqual(dfs.schedules);
  });

  it('stays silent when the word is updated under a lock', async () => {
    const { Mutex } = await import('../../src/sim/sync/mutex.js');
    const locked: SetupFn = (sim) => {
      const m = new Mutex(sim, 'm');
      let x = 0;
      let done = 0;
      for (const name of ['a', 'b']) {
        sim.spawn(name, async () => {
          await m.lock();
          await sim.point('read', 'x');
          const v = x;
          await sim.point('write', 'x');
          x = v + 1;
          m.unlock();
          if (++done === 2) sim.check(x === 2, `lost update: x = ${x}`);
        });
      }
    };
    const r = await explore({ strategy: 'dpor', schedules: 10_000 }, locked);
    expect(r.exhausted).toBe(true);
    expect(r.violations).toEqual([]);
  });
});
