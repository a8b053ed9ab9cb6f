import { describe, expect, it } from 'vitest';
import { Completion, decodeToken, Mutex, type SetupFn } from '../../src/sim/index.js';
import { explore, replay, simulate, type StrategyName } from '../../src/explore/index.js';

/**
 * Two threads increment a shared counter: read it, yield, write it back plus one. A
 * checker joins both and asserts the sum. Without the mutex an interleaving loses an
 * update.
 */
function counter(withMutex: boolean, ncpus = 2): SetupFn {
  return (sim) => {
    let value = 0;
    const lock = new Mutex(sim, 'counter_lock');
    const names = Array.from({ length: ncpus }, (_, i) => `cpu${i}`);
    const cpus = names.map((name) =>
      sim.spawn(name, async () => {
        if (withMutex) await lock.lock();
        await sim.point('READ_ONCE', 'counter');
        const v = value;
        await sim.yield();
        await sim.point('WRITE_ONCE', 'counter');
        value = v + 1;
        if (withMutex) lock.unlock();
      }),
    );
    sim.spawn('checker', async () => {
      for (const t of cpus) await t.join();
      sim.check(value === ncpus, `lost update: counter is ${value}, expected ${ncpus}`);
    });
  };
}

const STRATEGIES: StrategyName[] = ['random', 'pct', 'dfs'];

describe('explore: lost update', () => {
  for (const strategy of STRATEGIES) {
    it(`is found by ${strategy}`, async () => {
      const r = await explore({ strategy, schedules: 200, seed: 7 }, counter(false));
      expect(r.violations).toHaveLength(1);
      const v = r.violations[0];
      expect(v.kind).toBe('assertion');
      expect(v.message).toBe('lost update: counter is 1, expected 2');
      expect(v.thread).toBe('checker');
      expect(v.token).toMatch(/^m1\./);
      // The diagram shows both CPUs' columns and marks the failing step.
      expect(v.diagram).toContain('cpu0');
      expect(v.diagram).toContain('cpu1');
      expect(v.diagram).toContain('>>');
      expect(r.statuses.violation).toBeGreaterThan(0);
      expect(r.statuses.ok).toBeGreaterThan(0);
      // The token replays the lost update.
      const again = await replay(v.token, counter(false));
      expect(again.status).toBe('violation');
      expect(again.violations[0].message).toBe(v.message);
    });
  }

  for (const strategy of STRATEGIES) {
    it(`finds no violation in 10,000 ${strategy} schedules with the mutex`, async () => {
      // Three CPUs, so that dfs's space exceeds the budget.
      const r = await explore(
        { strategy, schedules: 10_000, seed: 3, preemptionBound: 3, shrink: false },
        counter(true, 3),
      );
      expect(r.violations).toEqual([]);
      expect(r.schedules).toBe(10_000);
      expect(r.statuses).toEqual({ ok: 10_000 });
      expect(r.exhausted).toBe(false);
    });
  }

  it('dfs covers the mutex program exhaustively within a small bound, without a violation', async () => {
    const r = await explore({ strategy: 'dfs', schedules: 10_000, preemptionBound: 2 }, counter(true));
    expect(r.exhausted).toBe(true);
    expect(r.schedules).toBeGreaterThan(10);
    expect(r.violations).toEqual([]);
  });

  it('stopOnFirst stops at the first violating schedule', async () => {
    const r = await explore({ strategy: 'dfs', stopOnFirst: true, schedules: 1000 }, counter(false));
    expect(r.violations).toHaveLength(1);
    expect(r.statuses.violation).toBe(1);
    expect(r.schedules).toBe((r.statuses.ok ?? 0) + 1);
  });

  it('is deterministic: the same options find the same schedules', async () => {
    const a = await explore({ strategy: 'pct', schedules: 300, seed: 11 }, counter(false));
    const b = await explore({ strategy: 'pct', schedules: 300, seed: 11 }, counter(false));
    expect(b.statuses).toEqual(a.statuses);
    expect(b.totalSteps).toBe(a.totalSteps);
    expect(b.violations.map((v) => v.token)).toEqual(a.violations.map((v) => v.token));
  });

  it('shards partition the schedules and merge to the unsharded result', async () => {
    const all = await explore({ strategy: 'random', schedules: 300, seed: 5, shrink: false }, counter(false));
    let schedules = 0;
    let violating = 0;
    for (let index = 0; index < 3; index++) {
      const part = await explore(
        { strategy: 'random', schedules: 300, seed: 5, shrink: false, shard: { index, count: 3 } },
        counter(false),
      );
      schedules += part.schedules;
      violating += part.statuses.violation ?? 0;
    }
    expect(schedules).toBe(300);
    expect(violating).toBe(all.statuses.violation);
  });
});

/** Two threads take mutexes A and B in opposite orders. */
function abba(sequential: boolean): SetupFn {
  return (sim) => {
    const a = new Mutex(sim, 'A');
    const b = new Mutex(sim, 'B');
    const first = new Completion(sim, 't1_done');
    sim.spawn('t1', async () => {
      await a.lock();
      await b.lock();
      b.unlock();
      a.unlock();
      first.complete();
    });
    sim.spawn('t2', async () => {
      if (sequential) await first.wait();
      await b.lock();
      await a.lock();
      a.unlock();
      b.unlock();
    });
  };
}

describe('explore: ABBA locking', () => {
  it('is reported as lock-order in a run that did not deadlock', async () => {
    for (let seed = 1; seed <= 20; seed++) {
      const r = await simulate({ seed }, abba(true));
      expect(r.status).toBe('violation');
      expect(r.violations).toHaveLength(1);
      const v = r.violations[0];
      expect(v.kind).toBe('lock-order');
      expect(v.thread).toBe('t2');
      expect(v.threads).toEqual(['t2', 't1']);
      expect(v.message).toContain('t2 takes A while holding B');
      expect(v.message).toContain('t1 took B while holding A');
      expect(v.signature).toBe('lock-order: inversion A <-> B');
    }
  });

  it('is reported as a deadlock with the wait-for graph in a run that deadlocked', async () => {
    const r = await explore({ strategy: 'dfs', schedules: 1000 }, abba(false));
    expect(r.exhausted).toBe(true);
    const kinds = r.violations.map((v) => v.kind).sort();
    expect(kinds).toEqual(['deadlock', 'lock-order']);
    const d = r.violations.find((v) => v.kind === 'deadlock')!;
    expect(d.message).toContain('t1 waits for mutex B held by t2');
    expect(d.message).toContain('t2 waits for mutex A held by t1');
    expect([...d.threads].sort()).toEqual(['t1', 't2']);
    expect(d.details?.waitFor).toEqual(
      expect.arrayContaining([
        { thread: 't1', waitsFor: 'mutex B', heldBy: ['t2'] },
        { thread: 't2', waitsFor: 'mutex A', heldBy: ['t1'] },
      ]),
    );
    const again = await replay(d.token, abba(false));
    expect(again.status).toBe('deadlock');
    expect(again.violations[0].message).toBe(d.message);
    // The deadlocking run needs one preemption: 4 steps, then both threads are stuck.
    expect(r.statuses.deadlock).toBeGreaterThan(0);
  });

  it('random exploration finds the deadlock too', async () => {
    const r = await explore({ strategy: 'random', schedules: 300, seed: 2 }, abba(false));
    expect(r.violations.some((v) => v.kind === 'deadlock')).toBe(true);
  });
});

describe('lockdep and trylock', () => {
  /** t1 takes `first` then `second` (the second by trylock when asked); later t2 takes them reversed. */
  function order(trySecond: boolean, tryFirst = false): SetupFn {
    return (sim) => {
      const a = new Mutex(sim, 'A');
      const b = new Mutex(sim, 'B');
      const done = new Completion(sim, 'done');
      sim.spawn('t1', async () => {
        if (tryFirst) sim.check(await a.trylock(), 'trylock A failed');
        else await a.lock();
        if (trySecond) sim.check(await b.trylock(), 'trylock B failed');
        else await b.lock();
        b.unlock();
        a.unlock();
        done.complete();
      });
      sim.spawn('t2', async () => {
        await done.wait();
        await b.lock();
        await a.lock();
        a.unlock();
        b.unlock();
      });
    };
  }

  it('a trylock adds no dependency, so taking the locks in reverse later is no inversion', async () => {
    const r = await simulate({ seed: 1 }, order(true));
    expect(r.status).toBe('ok');
  });

  it('a lock taken while holding a trylocked lock does depend on it', async () => {
    const r = await simulate({ seed: 1 }, order(false, true));
    expect(r.violations.map((v) => v.kind)).toEqual(['lock-order']);
  });
});

describe('explore: shrinking', () => {
  /**
   * A lost update preceded by much unrelated work, so that a random schedule that
   * finds it carries many needless preemptions.
   */
  const deep: SetupFn = (sim) => {
    let value = 0;
    const cpus = ['cpu0', 'cpu1'].map((name) =>
      sim.spawn(name, async () => {
        for (let i = 0; i < 20; i++) await sim.yield('noise');
        const v = value;
        await sim.yield('between');
        value = v + 1;
      }),
    );
    sim.spawn('checker', async () => {
      for (const t of cpus) await t.join();
      sim.check(value === 2, `lost update: counter is ${value}`);
    });
  };

  it('gives a schedule no longer than the original, with the same signature', async () => {
    const raw = await explore({ strategy: 'random', schedules: 200, seed: 9, shrink: false }, deep);
    const shrunk = await explore({ strategy: 'random', schedules: 200, seed: 9, shrink: true }, deep);
    expect(raw.violations).toHaveLength(1);
    expect(shrunk.violations).toHaveLength(1);
    const [a] = raw.violations;
    const [b] = shrunk.violations;
    expect(b.signature).toBe(a.signature);
    const ra = await replay(a.token, deep);
    const rb = await replay(b.token, deep);
    expect(rb.violations[0].signature).toBe(a.signature);
    expect(rb.steps).toBeLessThanOrEqual(ra.steps);
    expect(rb.preemptions).toBeLessThanOrEqual(ra.preemptions);
    // Shrinking does work here: the random schedule had needless switches.
    expect(rb.preemptions).toBeLessThan(ra.preemptions);
    expect(decodeToken(b.token).choices.length).toBeLessThanOrEqual(decodeToken(a.token).choices.length);
  });
});

describe('sim.mightLock (might_lock)', () => {
  it('records the dependency without taking the lock, so a path that skips it still closes the cycle', async () => {
    const r = await simulate({ seed: 1 }, (sim) => {
      const a = new Mutex(sim, 'A');
      const b = new Mutex(sim, 'B');
      sim.spawn('t', async () => {
        await a.lock();
        await b.lock(); // A -> B
        b.unlock();
        a.unlock();
        await b.lock();
        sim.mightLock(a); // B -> A, though A is not taken here
        expect(a.isLocked()).toBe(false);
        b.unlock();
      });
    });
    expect(r.violations.map((v) => v.signature)).toEqual(['lock-order: inversion A <-> B']);
  });
});
