/**
 * The teardown race of a device driver, explored: one thread makes a device access while another
 * tears the mirror down (detach, close, deregistration). Shared by the drivers' tests.
 */
import { expect } from 'vitest';
import { explore } from '../../src/explore/index.js';
import { Kernel } from '../../src/mm/kernel.js';
import type { Process } from '../../src/mm/process.js';
import type { Violation } from '../../src/sim/violation.js';

/** What one schedule's setup gives the race: the two sides, and what is left once both ended. */
export interface TeardownSides {
  /** The device access (faults as needed); its result is recorded. */
  access(): Promise<unknown>;
  /** The teardown. */
  teardown(): Promise<void>;
  /** What the mirror still holds once both ended (entries, notifiers, children...): should be 0. */
  leftover(): number | Promise<number>;
}

/** One schedule's outcome. */
export interface TeardownOutcome {
  /** The teardown began while the access was in flight: the race window was reached. */
  window: boolean;
  /** leftover() once both ended. */
  leftover: number;
  /** What the access gave. */
  access: unknown;
}

/**
 * Explores `schedules` random schedules (seed `seed`) of the race: `build` sets up the process and
 * the device in the main thread and gives the two sides. Returns the run's violations and every
 * schedule's outcome.
 */
export async function exploreTeardownRace(
  build: (k: Kernel, p: Process) => Promise<TeardownSides>,
  schedules = 150,
  seed = 5,
): Promise<{ violations: Violation[]; outcomes: TeardownOutcome[] }> {
  const outcomes: TeardownOutcome[] = [];
  const r = await explore({ strategy: 'random', schedules, seed, shrink: false }, (sim) => {
    const k = new Kernel(sim, { memoryPages: 256 });
    const p = k.createProcess('app');
    sim.spawn('main', async () => {
      const sides = await build(k, p);
      let inAccess = false;
      let window = false;
      let access: unknown;
      const dev = sim.spawn('dev', async () => {
        inAccess = true;
        access = await sides.access();
        inAccess = false;
      });
      const down = sim.spawn('teardown', async () => {
        window = inAccess;
        await sides.teardown();
      });
      await sim.join(dev);
      await sim.join(down);
      outcomes.push({ window, leftover: await sides.leftover(), access });
    });
  });
  return { violations: r.violations, outcomes };
}

/**
 * What every teardown race must show: no violation, every schedule ran, the window was reached
 * (the teardown began while the access was in flight, in more than 10 schedules), and nothing was
 * left behind in any schedule.
 */
export function expectReachedAndClean(
  r: { violations: Violation[]; outcomes: TeardownOutcome[] },
  schedules: number,
): void {
  expect(r.violations).toEqual([]);
  expect(r.outcomes.length).toBe(schedules);
  expect(r.outcomes.filter((o) => o.window).length).toBeGreaterThan(10);
  expect(r.outcomes.filter((o) => o.leftover !== 0)).toEqual([]);
}
