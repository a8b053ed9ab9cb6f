/**
 * The exploration engine's search and bookkeeping: swarm by default finds both the bugs pct
 * finds and the one it is blind to (the 2022 remove race); tokens replay one schedule;
 * coverage grows with schedules and counts lock-order edges; time limit, abort and
 * stop-on-first end an exploration cleanly with what was found.
 */
import { describe, expect, it } from 'vitest';

import { explore, replay } from '../../src/explore/index.js';
import { Mutex } from '../../src/sim/sync/mutex.js';
import type { SetupFn } from '../../src/sim/simulation.js';
import { classicScenario, faultScenario, lifecycleScenario } from '../../src/scenario/toy/scenarios.js';

describe('swarm (the default strategy)', () => {
  it('is what explore runs when no strategy is named, mixing random and pct at several depths', async () => {
    const r = await explore({ schedules: 60, seed: 3 }, faultScenario());
    expect(r.strategy).toBe('swarm');
    expect(r.violations).toEqual([]);
    expect(r.schedules).toBe(60);
  });

  it('finds the 2022 remove race that pct at depth 3 misses, and replays it from its token', async () => {
    const switches = { 'notifier.removeSeqReadUnlocked': true };
    for (const scenario of [lifecycleScenario, classicScenario]) {
      const pct = await explore({ strategy: 'pct', depth: 3, schedules: 600, seed: 1, switches }, scenario());
      expect(pct.violations).toEqual([]);
      const swarm = await explore({ schedules: 600, seed: 1, stopOnFirst: true, switches }, scenario());
      const v = swarm.violations[0];
      expect(v?.kind).toBe('notifier-invariant');
      expect(v.message).toMatch(/still on the deferred list/);
      expect(swarm.stopped).toBe('first-violation');
      expect(Object.values(swarm.firstFound)[0].strategy).toMatch(/^random/);
      const again = await replay(v.token, scenario());
      expect(again.violations[0]?.signature).toBe(v.signature);
    }
  });

  it('finds a bug pct is good at (a driver that forgets set_seq)', async () => {
    const r = await explore(
      { schedules: 2000, seed: 1, stopOnFirst: true },
      faultScenario({ noSetSeq: true }),
    );
    expect(r.violations[0]?.message).toMatch(/stale|maps|device/);
  });

  it('is deterministic: the same seed gives the same result', async () => {
    const a = await explore({ schedules: 120, seed: 9 }, lifecycleScenario());
    const b = await explore({ schedules: 120, seed: 9 }, lifecycleScenario());
    expect(b.totalSteps).toBe(a.totalSteps);
    expect(b.coverage).toEqual(a.coverage);
  });
});

describe('coverage', () => {
  const abba: SetupFn = (sim) => {
    const a = new Mutex(sim, 'A');
    const b = new Mutex(sim, 'B');
    sim.spawn('t1', async () => {
      await a.lock();
      await b.lock();
      b.unlock();
      a.unlock();
    });
    sim.spawn('t2', async () => {
      if (sim.choose(2) === 1) {
        await b.lock();
        b.unlock();
      }
    });
  };

  it('counts distinct (thread, operation, object kind) triples and lock-order edges', async () => {
    const r = await explore({ strategy: 'random', schedules: 20, seed: 1 }, abba);
    expect(r.coverage.lockEdges).toEqual(['A -> B']);
    expect(r.coverage.operations).toContain('t1 mutex_lock A');
    expect(r.coverage.operations.some((o) => o.startsWith('t2 mutex_lock B'))).toBe(true);
    // One schedule that skips t2's branch reaches less.
    const one = await explore({ strategy: 'dfs', schedules: 1 }, abba);
    expect(one.coverage.operations.length).toBeLessThan(r.coverage.operations.length);
  });

  it('grows with schedules and is reported to onProgress', async () => {
    const seen: number[] = [];
    const r = await explore(
      {
        schedules: 200,
        seed: 1,
        progressEvery: 50,
        onProgress: (_d, _t, _v, c) => seen.push(c.operations),
      },
      lifecycleScenario(),
    );
    expect(seen.length).toBeGreaterThanOrEqual(4);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1]);
    expect(seen[seen.length - 1]).toBe(r.coverage.operations.length);
    const few = await explore({ schedules: 2, seed: 1 }, lifecycleScenario());
    expect(few.coverage.operations.length).toBeLessThan(r.coverage.operations.length);
  });

  it('coverage: false records no operations and changes nothing else', async () => {
    const on = await explore({ schedules: 60, seed: 3, shrink: false }, lifecycleScenario());
    const off = await explore(
      { schedules: 60, seed: 3, shrink: false, coverage: false },
      lifecycleScenario(),
    );
    expect(on.coverage.operations.length).toBeGreaterThan(0);
    expect(off.coverage.operations).toEqual([]);
    expect(off.statuses).toEqual(on.statuses);
    expect(off.totalSteps).toBe(on.totalSteps);
    expect(off.violations.map((v) => v.token)).toEqual(on.violations.map((v) => v.token));
    await expect(explore({ coverage: 'yes' as unknown as boolean }, lifecycleScenario())).rejects.toThrow(
      "option 'coverage' must be a boolean",
    );
  });
});

describe('stopping early', () => {
  const spin: SetupFn = (sim) => {
    sim.spawn('a', async () => {
      for (let i = 0; i < 2000; i++) await sim.yield();
    });
    sim.spawn('b', async () => {
      for (let i = 0; i < 2000; i++) await sim.yield();
    });
  };

  it('a time limit stops between schedules', async () => {
    const r = await explore({ strategy: 'random', schedules: 1_000_000, timeLimitMs: 200 }, spin);
    expect(r.stopped).toBe('time-limit');
    expect(r.schedules).toBeGreaterThan(0);
    expect(r.schedules).toBeLessThan(1_000_000);
  });

  it('an abort signal stops cleanly and keeps what was found', async () => {
    const ac = new AbortController();
    const r = await explore(
      {
        schedules: 100_000,
        seed: 1,
        signal: ac.signal,
        switches: { 'notifier.removeSeqReadUnlocked': true },
        onProgress: (done, _t, violations) => {
          if (violations > 0 || done >= 5000) ac.abort();
        },
        progressEvery: 10,
      },
      lifecycleScenario(),
    );
    expect(r.stopped).toBe('aborted');
    expect(r.violations[0]?.token).toMatch(/^m1\./);
    expect(r.violations[0]?.diagram).toContain('>>');
  });
});
