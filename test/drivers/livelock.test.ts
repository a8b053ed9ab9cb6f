import { describe, expect, it } from 'vitest';
import { Simulation } from '../../src/sim/simulation.js';
import '../../src/drivers/index.js';
import { livelockScenario, type LivelockOutcome } from '../../src/drivers/livelock.js';
import type { FaultRetryPolicy } from '../../src/drivers/fault-retry.js';

async function once(driver: 'odp' | 'gpusvm', policy: FaultRetryPolicy) {
  const outcome = {} as LivelockOutcome;
  const sim = new Simulation({ seed: 1, maxSteps: 3_000_000 });
  const run = await sim.run(livelockScenario({ driver, policy, outcome }));
  return { run, outcome };
}

/** Seed 003: the three retry policies of the device fault loop against a CPU that keeps invalidating. */
describe('device fault loop retry policies (seed 003)', () => {
  for (const driver of ['odp', 'gpusvm'] as const) {
    it(`${driver}: 'none' is reported as a livelock`, async () => {
      const { run, outcome } = await once(driver, 'none');
      expect(run.violations[0]?.kind).toBe('livelock');
      expect(run.violations[0]?.message).toMatch(
        /neither finished nor failed within 20 ms .*retry policy 'none'/,
      );
      expect(outcome.accessesOk + outcome.accessesFailed).toBeLessThan(3);
      expect(outcome.stats!.retried + outcome.stats!.busy).toBeGreaterThan(100);
    });

    it(`${driver}: 'timeout' fails the fault with -EBUSY and the system goes on`, async () => {
      const { run, outcome } = await once(driver, 'timeout');
      expect(run.violations).toEqual([]);
      expect(run.status).toBe('ok');
      expect(outcome.stats!.timedOut).toBeGreaterThanOrEqual(1);
      expect(outcome.accessesFailed).toBeGreaterThanOrEqual(1);
    });

    it(`${driver}: 'mmap-write-fallback' completes every fault`, async () => {
      const { run, outcome } = await once(driver, 'mmap-write-fallback');
      expect(run.violations).toEqual([]);
      expect(outcome.accessesOk).toBe(3);
      expect(outcome.stats!.writeLocked).toBeGreaterThanOrEqual(1);
      expect(outcome.stats!.failed).toBe(0);
      expect(outcome.stats!.completed).toBeGreaterThanOrEqual(1);
      expect(outcome.invalidations).toBeGreaterThan(0);
    });
  }
});
