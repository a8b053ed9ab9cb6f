/**
 * Helpers of the notifier tests: one simulated run with a fresh mm, and small sync aids.
 */
import { expect } from 'vitest';

import { Simulation, type RunResult, type SimulationOptions } from '../../src/sim/simulation.js';
import { Completion } from '../../src/sim/sync/completion.js';
import { MmStruct } from '../../src/mm/mm-struct.js';
import { mmuNotifierRelease, type MmuNotifierOps } from '../../src/notifier/index.js';

/** A world for one run: the simulation and one mm whose exit_mmap calls the notifier release. */
export interface World {
  sim: Simulation;
  mm: MmStruct;
}

/** Builds an mm whose exit_mmap runs mmu_notifier_release first, as the memory model must. */
export function newMm(sim: Simulation, name = 'test'): MmStruct {
  const mm = new MmStruct(sim, name);
  mm.exitMmap = async (m) => {
    await mmuNotifierRelease(m);
  };
  return mm;
}

/**
 * Runs `setup` (which spawns threads using the world) in one simulation with the random
 * strategy seeded by `seed`, and the run `options` given (switches, step limit).
 */
export async function runWorld(
  setup: (w: World) => void,
  seed = 1,
  options: SimulationOptions = {},
): Promise<RunResult> {
  const sim = new Simulation({ seed, maxSteps: 200_000, ...options });
  return sim.run((s) => setup({ sim: s, mm: newMm(s) }));
}

/** Runs `body` as the only thread of a fresh world. */
export async function runMain(
  body: (w: World) => Promise<void>,
  seed = 1,
  options: SimulationOptions = {},
): Promise<RunResult> {
  return runWorld(
    (w) => {
      w.sim.spawn('main', () => body(w));
    },
    seed,
    options,
  );
}

/** Run options under which a kernel WARN_ON is logged and the run goes on (no panic_on_warn). */
export const noPanicOnWarn: SimulationOptions = { switches: { 'notifier.panicOnWarn': false } };

/** Asserts the run ended cleanly, showing the violation otherwise. */
export function expectOk(run: RunResult): void {
  const v = run.violations[0];
  expect(v ? `${v.kind}: ${v.message}` : run.status).toBe('ok');
}

/** Asserts the run stopped on a violation of `kind` whose message matches `pattern`. */
export function expectViolation(run: RunResult, kind: string, pattern: RegExp): void {
  const v = run.violations[0];
  expect(v, `expected a ${kind} violation, run ended ${run.status}`).toBeDefined();
  expect(`${v.kind}: ${v.message}`).toMatch(new RegExp(`^${kind}: .*${pattern.source}`));
}

/** A one-shot event between simulated threads. */
export class Flag {
  private readonly c: Completion;
  constructor(sim: Simulation, name: string) {
    this.c = new Completion(sim, name);
  }
  set(): void {
    this.c.completeAll();
  }
  async wait(): Promise<void> {
    await this.c.wait();
  }
  get isSet(): boolean {
    return this.c.isDone();
  }
}

/** Yields until `cond()` holds (at most `limit` times; fails the run beyond). */
export async function until(sim: Simulation, cond: () => boolean, what: string, limit = 1000): Promise<void> {
  for (let i = 0; i < limit; i++) {
    if (cond()) return;
    await sim.yield();
  }
  sim.check(false, `timed out waiting for ${what}`);
}

/** Classic ops logging every call as "name:start", "name:end", "name:release"; `extra` overrides. */
export function logging(log: string[], name: string, extra: Partial<MmuNotifierOps> = {}): MmuNotifierOps {
  return {
    release: () => void log.push(`${name}:release`),
    invalidateRangeStart: () => {
      log.push(`${name}:start`);
      return 0;
    },
    invalidateRangeEnd: () => void log.push(`${name}:end`),
    ...extra,
  };
}
