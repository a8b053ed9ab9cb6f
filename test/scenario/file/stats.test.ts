/**
 * Run statistics: retries and collisions are counted from the notifier's trace events, and a
 * scenario whose fault loop races invalidations shows both over a few seeds; a provider's
 * figures are added in.
 */
import { describe, expect, it } from 'vitest';
import '../../../src/scenario/builtin/index.js';
import { getScenario } from '../../../src/scenario/registry.js';
import { registerStatsProvider, runStats } from '../../../src/scenario/file/stats.js';
import { Simulation } from '../../../src/sim/simulation.js';

describe('run statistics', () => {
  it('counts collisions (set_seq) and retries (read_retry that must go again) of seq-retry', async () => {
    const s = getScenario('seq-retry');
    let withCollision = 0;
    let withRetry = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const sim = new Simulation({ seed, trace: true });
      const run = await sim.run(s.setup);
      const st = runStats(sim, run);
      const events = run.trace!.filter((e) => e.event === true);
      const setSeq = events.filter((e) => e.label === 'set_seq').length;
      const mustRetry = events.filter(
        (e) =>
          (e.label === 'read_retry' || e.label === 'check_retry') && / vs \d+: retry$/.test(e.note ?? ''),
      ).length;
      expect(st.collisions).toBe(setSeq);
      expect(st.retries).toBe(mustRetry);
      expect(st.steps).toBe(run.steps);
      if (setSeq > 0) withCollision++;
      if (mustRetry > 0) withRetry++;
    }
    expect(withCollision).toBeGreaterThan(0);
    expect(withRetry).toBeGreaterThan(0);
  });

  it('without a trace retries and collisions are not observable (null), not zero', async () => {
    const sim = new Simulation({ seed: 1 });
    const run = await sim.run(getScenario('seq-retry').setup);
    const st = runStats(sim, run);
    expect(st.retries).toBeNull();
    expect(st.collisions).toBeNull();
  });

  it("adds a provider's CPU faults and invalidations by event", async () => {
    registerStatsProvider(() => ({ cpuFaults: 3, invalidations: { UNMAP: 2 } }));
    const sim = new Simulation({ seed: 1, trace: true });
    const run = await sim.run(getScenario('seq-retry').setup);
    const st = runStats(sim, run);
    expect(st.cpuFaults).toBe(3);
    expect(st.invalidations).toEqual({ UNMAP: 2 });
    expect(st.deviceFaults).toBeNull();
  });
});
