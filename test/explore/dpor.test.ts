/**
 * dpor: one schedule per ordering of conflicting steps. Independent threads need few
 * schedules; a lost update on one shared word is found; exhaustion takes fewer schedules than
 * unbounded dfs on the same program; a preemption bound limits the schedules; tokens replay.
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
    // A thread's first stretch (spawn to first point) touches nothing; the later steps commute.
    const r = await explore({ strategy: 'dpor', schedules: 10_000 }, independent(3, 3));
    expect(r.exhausted).toBe(true);
    expect(r.schedules).toBe(1);
    const dfs = await explore(
      { strategy: 'dfs', preemptionBound: 100, schedules: 100_000 },
      independent(3, 3),
    );
    expect(dfs.exhausted).toBe(true);
    expect(r.schedules * 10).toBeLessThanOrEqual(dfs.schedules);
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

describe('dpor on reads, timers and runs cut short', () => {
  it('lets readers commute: two rwsem readers and two touch reads need one schedule', async () => {
    const { RwSemaphore } = await import('../../src/sim/sync/rwsem.js');
    const setup: SetupFn = (sim) => {
      const sem = new RwSemaphore(sim, 'sem');
      for (const name of ['a', 'b']) {
        sim.spawn(name, async () => {
          await sem.downRead();
          sim.touch('x', true);
          sem.upRead();
          await sim.point('local', `${name}.local`);
        });
      }
    };
    const r = await explore({ strategy: 'dpor', schedules: 1000 }, setup);
    expect(r.exhausted).toBe(true);
    expect(r.schedules).toBe(1);
    // A writer among them: both orders of the writer and each reader.
    const withWriter: SetupFn = (sim) => {
      let x = 0;
      const seen: number[] = [];
      sim.spawn('reader', async () => {
        await sim.point('cpu_pte_read', 'x');
        seen.push(x);
      });
      sim.spawn('writer', async () => {
        await sim.point('write', 'x');
        x = 1;
      });
      sim.spawn('end', async () => {
        await sim.sleep(1000);
        sim.check(seen[0] !== 1, 'the reader saw the write');
      });
    };
    const w = await explore({ strategy: 'dpor', schedules: 1000 }, withWriter);
    expect(w.violations.map((v) => v.message)).toEqual(['the reader saw the write']);
  });

  it('orders the step at whose end a timer fires against every other step', async () => {
    // c's peek comes before the child's write only if the timer fires at the end of a step
    // of a or b, before the child runs: the step that fires it is not fixed.
    const setup: SetupFn = (sim) => {
      const x = [0, 0];
      let peeked = -1;
      let read = -1;
      let live = 3;
      const fin = (): void => {
        if (--live === 0) sim.check(!(read === 1 && peeked === 0), 'c saw x0 = 0 and a saw x1 = 1');
      };
      sim.spawn('a', async () => {
        await sim.point('read', 'x1');
        read = x[1];
        fin();
      });
      sim.spawn('b', async () => {
        live++;
        sim.spawn('child', async () => {
          await sim.point('write', 'x0');
          x[0] = 1;
          fin();
        });
        fin();
      });
      sim.spawn('c', async () => {
        await sim.sleep(30);
        sim.touch('x0', true);
        peeked = x[0];
        await sim.point('write', 'x1');
        x[1] = 1;
        fin();
      });
    };
    const dfs = await explore(
      { strategy: 'dfs', preemptionBound: 100, schedules: 10_000, stepNs: 10 },
      setup,
    );
    expect(dfs.violations.length).toBe(1);
    const r = await explore({ strategy: 'dpor', schedules: 10_000, stepNs: 10 }, setup);
    expect(r.exhausted).toBe(true);
    expect(r.violations.map((v) => v.message)).toEqual(['c saw x0 = 0 and a saw x1 = 1']);
  });
});

describe('dpor with a preemption bound', () => {
  it('runs only schedules within the bound: the lost update needs one preemption', async () => {
    const none = await explore({ strategy: 'dpor', preemptionBound: 0, schedules: 10_000 }, lostUpdate(2));
    expect(none.exhausted).toBe(true);
    expect(none.violations).toEqual([]);
    const one = await explore({ strategy: 'dpor', preemptionBound: 1, schedules: 10_000 }, lostUpdate(2));
    expect(one.exhausted).toBe(true);
    expect(one.violations[0]?.message).toBe('lost update: x = 1');
    const unbounded = await explore({ strategy: 'dpor', schedules: 10_000 }, lostUpdate(2));
    expect(none.schedules).toBeLessThan(one.schedules);
    expect(one.schedules).toBeLessThanOrEqual(unbounded.schedules);
    const dfs = await explore({ strategy: 'dfs', preemptionBound: 1, schedules: 10_000 }, lostUpdate(2));
    expect(dfs.violations[0]?.message).toBe('lost update: x = 1');
    expect(one.schedules).toBeLessThanOrEqual(dfs.schedules);
  });

  it('replays a violation it found from its token', async () => {
    const { replay } = await import('../../src/explore/index.js');
    const r = await explore({ strategy: 'dpor', schedules: 10_000 }, lostUpdate(1));
    const v = r.violations[0];
    expect(typeof v?.token).toBe('string');
    const again = await replay(v.token, lostUpdate(1));
    expect(again.violations.map((x) => x.message)).toContain('lost update: x = 1');
  });
});
