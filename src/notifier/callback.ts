/**
 * How the core runs any subscriber callback (classic or interval, first or finish pass):
 * counted as running on its subscription, inside a non-blockable context when the range
 * is not blockable. Internal to the core.
 */
import type { Simulation } from '../sim/simulation.js';
import type { MaybePromise } from './types.js';

/** A subscription whose running callbacks the core counts (remove/unregister postconditions). */
export interface MnCallbackCounted {
  callbacksRunning: number;
}

/**
 * Runs `fn`, one callback of `owner`: `owner.callbacksRunning` is raised while it runs, and
 * when `blockable` is false the thread is marked non-blockable around it (the kernel's
 * non_block_start/end), so a callback that sleeps there is reported. The caller has already
 * checked that the callback may run at all.
 */
export async function mnRunCallback<T>(
  sim: Simulation,
  owner: MnCallbackCounted,
  blockable: boolean,
  fn: () => MaybePromise<T>,
): Promise<T> {
  owner.callbacksRunning++;
  if (!blockable) sim.enterNonBlock();
  try {
    const r = fn();
    return r instanceof Promise ? await r : r;
  } finally {
    if (sim.status === 'running') {
      if (!blockable) sim.exitNonBlock();
      owner.callbacksRunning--;
    }
  }
}
