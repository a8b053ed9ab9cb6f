/**
 * Helpers of the memory-model tests: one simulated run with a fresh kernel, notifier recorders, and
 * byte helpers.
 */
import { expect } from 'vitest';

import { Simulation, type RunResult } from '../../src/sim/simulation.js';
import { Kernel, type KernelOptions } from '../../src/mm/kernel.js';
import { mmuNotifierEventName, type MmuNotifierRange } from '../../src/notifier/types.js';
import { mmuNotifierRegister } from '../../src/notifier/classic.js';
import type { Mm } from '../../src/mm/mm.js';

export const PAGE = 4096;

/** Runs `body` as the only thread ('main') of a fresh simulation with a fresh kernel. */
export async function runKernel(
  body: (k: Kernel, sim: Simulation) => Promise<void>,
  options: Partial<KernelOptions> = {},
  seed = 1,
): Promise<RunResult> {
  const sim = new Simulation({ seed, maxSteps: 5_000_000 });
  return sim.run((s) => {
    const k = new Kernel(s, { memoryPages: 4096, swapPages: 256, ...options });
    s.spawn('main', () => body(k, s));
  });
}

/** Asserts the run ended cleanly, showing the violation otherwise. */
export function expectOk(run: RunResult): void {
  const v = run.violations[0];
  if (run.status !== 'ok') throw new Error(v ? `${v.kind}: ${v.message}` : `run ended ${run.status}`);
  expect(run.status).toBe('ok');
}

/** One invalidation as a classic notifier saw it. */
export interface Seen {
  what: 'start' | 'end';
  event: string;
  start: number;
  end: number;
  blockable: boolean;
  owner: unknown;
}

/** Registers a classic notifier on `mm` recording every start and end. Call from a thread. */
export async function recordNotifier(mm: Mm): Promise<Seen[]> {
  const seen: Seen[] = [];
  const rec =
    (what: 'start' | 'end') =>
    (r: MmuNotifierRange): void => {
      seen.push({
        what,
        event: mmuNotifierEventName(r.event),
        start: r.start,
        end: r.end,
        blockable: r.blockable,
        owner: r.owner,
      });
    };
  await mmuNotifierRegister(mm, {
    invalidateRangeStart(r) {
      rec('start')(r);
      return 0;
    },
    invalidateRangeEnd: rec('end'),
  });
  return seen;
}

/** The starts only, as [event, start, end, blockable, owner] tuples. */
export function starts(seen: Seen[]): Array<[string, number, number, boolean, unknown]> {
  return seen.filter((s) => s.what === 'start').map((s) => [s.event, s.start, s.end, s.blockable, s.owner]);
}

/** `n` bytes of `value`. */
export function fill(n: number, value: number): Uint8Array {
  return new Uint8Array(n).fill(value);
}
