import { describe, expect, it } from 'vitest';
import { explore } from '../../src/explore/index.js';
import type { SetupFn } from '../../src/sim/simulation.js';

/** Four bystanders and two racers: random schedules preempt often; the bug needs one preemption. */
const lostUpdateInCrowd: SetupFn = (sim) => {
  let x = 0;
  const racers = ['a', 'b'].map((name) =>
    sim.spawn(name, async () => {
      const v = x;
      await sim.yield('read x');
      x = v + 1;
    }),
  );
  for (let i = 0; i < 4; i++) {
    sim.spawn(`noise${i}`, async () => {
      for (let k = 0; k < 3; k++) await sim.yield('noise');
    });
  }
  sim.spawn('check', async () => {
    for (const r of racers) await r.join();
    sim.check(x === 2, `lost update: x=${x}`);
  });
};

describe('shrinking', () => {
  it('reduces a noisy random failure to the single preemption the bug needs', async () => {
    const raw = await explore(
      { strategy: 'random', schedules: 200, seed: 5, shrink: false, stopOnFirst: true },
      lostUpdateInCrowd,
    );
    const shrunk = await explore(
      { strategy: 'random', schedules: 200, seed: 5, stopOnFirst: true },
      lostUpdateInCrowd,
    );
    expect(raw.violations.length).toBe(1);
    expect(shrunk.violations.length).toBe(1);
    const rawDiagram = raw.violations[0].diagram.split('\n').length;
    const diagram = shrunk.violations[0].diagram;
    expect(shrunk.violations[0].signature).toBe(raw.violations[0].signature);
    expect(diagram.split('\n').length).toBeLessThanOrEqual(rawDiagram);
    // The minimal interleaving: a reads, b reads (one preemption), both write; no noise thread
    // needs to run before the check.
    const rows = diagram.split('\n').slice(2);
    const readRows = rows.filter((r) => r.includes('read x'));
    expect(readRows.length).toBe(2);
    const firstNoise = rows.findIndex((r) => r.includes('noise'));
    const lastRead = rows.findIndex((r, i) => r.includes('read x') && i > rows.indexOf(readRows[0]));
    expect(firstNoise === -1 || firstNoise > lastRead).toBe(true);
  });
});
