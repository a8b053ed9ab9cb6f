import { describe, expect, it } from 'vitest';
import { explore, type Simulation } from '../../src/index.js';

/**
 * `n` threads that each yield once: two steps per thread (the yield and the exit).
 * Every run appends the order in which the threads' steps ran to `seen` when it ends,
 * so that the schedules dfs ran can be compared afterwards (setup runs afresh per
 * schedule; the closure collects across them).
 */
function yielders(n: number, seen: string[]): (sim: Simulation) => void {
  return (sim) => {
    const order: string[] = [];
    for (let i = 0; i < n; i++) {
      const name = String.fromCharCode(65 + i);
      sim.spawn(name, async () => {
        order.push(`${name}1`);
        await sim.yield();
        order.push(`${name}2`);
      });
    }
    sim.hooks.onEnd.push(() => seen.push(order.join(' ')));
  };
}

/** Each thread's own steps stay in program order, whatever the interleaving. */
function inProgramOrder(order: string): boolean {
  const seen = new Set<string>();
  for (const s of order.split(' ')) {
    if (s.endsWith('2') && !seen.has(`${s[0]}1`)) return false;
    seen.add(s);
  }
  return true;
}

describe('dfs', () => {
  it('enumerates the 6 schedules of two threads that yield once, each exactly once', async () => {
    const seen: string[] = [];
    const r = await explore({ strategy: 'dfs', preemptionBound: 10, schedules: 1000 }, yielders(2, seen));
    expect(r.schedules).toBe(6);
    expect(r.exhausted).toBe(true);
    expect(r.violations).toEqual([]);
    expect(r.statuses).toEqual({ ok: 6 });
    expect(r.maxSteps).toBe(4);
    expect(seen).toHaveLength(6);
    expect(new Set(seen).size).toBe(6);
    expect(seen.every(inProgramOrder)).toBe(true);
  });

  it('enumerates the 90 schedules of three such threads, pairwise distinct', async () => {
    const seen: string[] = [];
    const r = await explore({ strategy: 'dfs', preemptionBound: 10, schedules: 1000 }, yielders(3, seen));
    expect(r.schedules).toBe(90);
    expect(r.exhausted).toBe(true);
    expect(r.totalSteps).toBe(90 * 6);
    expect(seen).toHaveLength(90);
    expect(new Set(seen).size).toBe(90);
    expect(seen.every(inProgramOrder)).toBe(true);
  });

  it('uses the default preemption bound of 2 when none is given', async () => {
    const seen: string[] = [];
    const r = await explore({ strategy: 'dfs' }, yielders(2, seen));
    expect(r.schedules).toBe(6);
    expect(r.exhausted).toBe(true);
  });

  it('with preemption bound 0 gives 2 schedules for two threads and 6 for three', async () => {
    for (const [n, expected] of [
      [2, 2],
      [3, 6],
    ] as const) {
      const seen: string[] = [];
      const r = await explore({ strategy: 'dfs', preemptionBound: 0, schedules: 1000 }, yielders(n, seen));
      expect(r.schedules).toBe(expected);
      expect(r.exhausted).toBe(true);
      expect(new Set(seen).size).toBe(expected);
      // Without preemption, every thread runs to its end once started.
      for (const order of seen) {
        const steps = order.split(' ');
        for (let i = 0; i < steps.length; i += 2) {
          expect(steps[i + 1]).toBe(`${steps[i][0]}2`);
        }
      }
    }
  });

  it('with preemption bound 1 lies strictly between bound 0 and the full enumeration', async () => {
    const r = await explore({ strategy: 'dfs', preemptionBound: 1, schedules: 1000 }, (sim) => {
      for (const name of ['A', 'B']) sim.spawn(name, () => sim.yield());
    });
    // Of the 6 interleavings of A1 A2 / B1 B2, only A1 B1 A2 B2 and B1 A1 B2 A2 need two
    // preemptions (a switch away from a runnable thread at each of the first two steps).
    expect(r.schedules).toBe(4);
    expect(r.exhausted).toBe(true);
  });

  it('stops at the schedule budget without claiming exhaustion', async () => {
    const seen: string[] = [];
    const r = await explore({ strategy: 'dfs', preemptionBound: 10, schedules: 10 }, yielders(3, seen));
    expect(r.schedules).toBe(10);
    expect(r.exhausted).toBe(false);
    expect(new Set(seen).size).toBe(10);
  });

  it('covers every value of sim.choose', async () => {
    const seen: string[] = [];
    const r = await explore({ strategy: 'dfs', schedules: 100 }, (sim) => {
      sim.spawn('t', async () => {
        const a = sim.choose(3);
        await sim.yield();
        const b = sim.choose(2);
        seen.push(`${a}${b}`);
      });
    });
    expect(r.schedules).toBe(6);
    expect(r.exhausted).toBe(true);
    expect([...seen].sort()).toEqual(['00', '01', '10', '11', '20', '21']);
  });

  it('reports a program that is not deterministic across schedules', async () => {
    let run = 0;
    await expect(
      explore({ strategy: 'dfs', schedules: 100 }, (sim) => {
        const n = 2 + (run++ % 2);
        for (let i = 0; i < n; i++) sim.spawn(`t${i}`, () => sim.yield());
      }),
    ).rejects.toThrow(/dfs: the program is not deterministic/);
  });
});
