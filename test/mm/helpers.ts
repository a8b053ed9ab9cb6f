/**
 * Helpers of the memory-model tests: one simulated run with a fresh kernel, notifier recorders, and
 * byte helpers.
 */
import { expect } from 'vitest';

import { Simulation, type RunResult, type SetupFn } from '../../src/sim/simulation.js';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../src/mm/constants.js';
import type { Process } from '../../src/mm/process.js';
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

/**
 * The race both reclaim and migration tests explore: a process writes two pages at `addr`,
 * then a CPU thread rewrites and rereads page 0 (values 3..5) while `kernelThread` (named
 * `name`) works on the range. Afterwards page 0 must read 5, page 1 its original 2, and the
 * exit must leave no page (and no swap slot) behind.
 */
export function writerRacing(
  options: Partial<KernelOptions>,
  addr: number,
  name: string,
  kernelThread: (k: Kernel, p: Process) => Promise<void>,
): SetupFn {
  return (sim) => {
    const k = new Kernel(sim, { memoryPages: 4096, swapPages: 256, ...options });
    sim.spawn('main', async () => {
      const p = k.createProcess('app');
      const got = await p.mmap({
        addr,
        length: 2 * PAGE,
        prot: PROT_READ | PROT_WRITE,
        flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
      });
      sim.check(got === addr, 'mmap');
      await p.write(addr, fill(8, 1));
      await p.write(addr + PAGE, fill(8, 2));
      const cpu = sim.spawn('cpu', async () => {
        for (let v = 3; v < 6; v++) {
          sim.check((await p.write(addr, fill(8, v))) === 0, 'write failed');
          const bytes = (await p.read(addr, 8)) as Uint8Array;
          sim.check(bytes[0] === v && bytes[7] === v, `read ${bytes[0]} after writing ${v}`);
        }
      });
      const worker = sim.spawn(name, () => kernelThread(k, p));
      await sim.join(cpu);
      await sim.join(worker);
      const last = (await p.read(addr, 8)) as Uint8Array;
      sim.check(last[0] === 5, `final read ${last[0]}`);
      const other = (await p.read(addr + PAGE, 8)) as Uint8Array;
      sim.check(other[0] === 2, `untouched page reads ${other[0]}`);
      await p.exit(0);
      sim.check(k.phys.nrAllocated === 0, `leak: ${k.phys.nrAllocated} pages`);
      sim.check(k.swap.nrUsed === 0, `leak: ${k.swap.nrUsed} swap slots`);
      k.phys.validate();
    });
  };
}
