import { describe, expect, it } from 'vitest';
import { Simulation } from '../../src/sim/index.js';

describe('per-run state (Simulation.runLocal / runMap)', () => {
  const KEY = Symbol('test state');

  it('is undefined until set, then returns what was set', async () => {
    const sim = new Simulation({ seed: 1 });
    expect(sim.runLocal(KEY)).toBeUndefined();
    const value = { n: 1 };
    expect(sim.setRunLocal(KEY, value)).toBe(value);
    expect(sim.runLocal(KEY)).toBe(value);
    await sim.run(() => {});
    // Still readable after the run (observers read it from the finished simulation).
    expect(sim.runLocal(KEY)).toBe(value);
  });

  it('is never shared between runs: a second simulation starts empty', async () => {
    const seen: (number | undefined)[] = [];
    for (let i = 0; i < 3; i++) {
      const sim = new Simulation({ seed: i });
      await sim.run((s) => {
        const counts = s.runMap<object, number>(KEY);
        const obj = {};
        seen.push(counts.get(obj));
        counts.set(obj, (counts.get(obj) ?? 0) + 1);
        seen.push(counts.size);
      });
    }
    expect(seen).toEqual([undefined, 1, undefined, 1, undefined, 1]);
  });

  it('keeps one map per key and per run', () => {
    const sim = new Simulation({ seed: 1 });
    const a = sim.runMap<string, number>(KEY);
    expect(sim.runMap<string, number>(KEY)).toBe(a);
    expect(sim.runMap<string, number>(Symbol('other'))).not.toBe(a);
    expect(new Simulation({ seed: 1 }).runMap<string, number>(KEY)).not.toBe(a);
  });
});
