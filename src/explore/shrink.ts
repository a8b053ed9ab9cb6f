import { Simulation, type RunResult, type SetupFn } from '../sim/simulation.js';
import { GuidedStrategy } from '../sim/strategy.js';
import type { RunOptions } from './options.js';

/** A run's deviations from the non-preemptive default: decision → thread id (or value). */
export function deviationsOf(run: RunResult): Map<number, number> {
  const dev = new Map<number, number>();
  for (let d = 0; d < run.choices.length; d++) {
    if (run.choices[d] !== run.choiceDefaults[d]) {
      dev.set(d, run.choiceThreads[d] >= 0 ? run.choiceThreads[d] : run.choices[d]);
    }
  }
  return dev;
}

/**
 * Shrinks a failing run. A schedule is the set of its deviations from the non-preemptive
 * default (decision → thread or value). Two moves, tried until neither helps or the budget
 * (`budget` runs) is spent: drop a deviation (latest first), or send a deviation to another
 * thread. A candidate is kept when it fails with the same signature, is no longer than the
 * original, and is smaller: fewer preemptions, then fewer steps, then fewer deviations.
 */
export async function shrinkRun(
  run: RunResult,
  signature: string,
  setup: SetupFn,
  o: RunOptions,
  budget: number,
): Promise<RunResult> {
  let best = run;
  let bestDeviations = deviationsOf(run).size;
  const threadIds = [...new Set(run.choiceThreads.filter((id) => id >= 0))].sort((a, b) => a - b);
  const smaller = (r: RunResult, deviations: number): boolean =>
    r.preemptions !== best.preemptions
      ? r.preemptions < best.preemptions
      : r.steps !== best.steps
        ? r.steps < best.steps
        : deviations < bestDeviations;
  const attempt = async (candidate: Map<number, number>): Promise<boolean> => {
    budget--;
    const sim = new Simulation({
      seed: best.seed,
      strategy: new GuidedStrategy(candidate),
      maxSteps: o.maxSteps,
      stepNs: o.stepNs,
      switches: o.switches,
    });
    const r = await sim.run(setup);
    const same = r.violations.some((v) => v.signature === signature);
    const deviations = deviationsOf(r).size;
    if (!same || r.steps > run.steps || !smaller(r, deviations)) return false;
    best = r;
    bestDeviations = deviations;
    return true;
  };
  let improved = true;
  while (improved && budget > 0) {
    improved = false;
    const dev = deviationsOf(best);
    const keys = [...dev.keys()].sort((a, b) => b - a);
    for (const k of keys) {
      if (budget <= 0) break;
      const candidate = new Map(dev);
      candidate.delete(k);
      if (await attempt(candidate)) {
        improved = true;
        break;
      }
    }
    if (improved) continue;
    search: for (const k of keys) {
      if (best.choiceThreads[k] < 0) continue; // a value choice: dropping it was tried above
      for (const id of threadIds) {
        if (budget <= 0) break search;
        if (id === dev.get(k)) continue;
        const candidate = new Map(dev);
        candidate.set(k, id);
        if (await attempt(candidate)) {
          improved = true;
          break search;
        }
      }
    }
  }
  return best;
}
