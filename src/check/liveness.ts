/**
 * Liveness of device faults: a device access whose faults neither finish nor fail within a bound
 * (a number of faults, or virtual time) is a `livelock`, whichever path noticed it (the
 * DeviceMirror base counting faults per access, or a modern driver's fault loop under its retry
 * policy). One report form: the device, the VA, what bound was crossed and why, and a signature
 * that names the device and the path, never the VA or the counts.
 *
 * A thread that never ends is reported by the runtime when a run outlives its step limit, naming
 * each such thread and what it was doing or waits on; a wait-for cycle is a `deadlock`.
 */
import type { Simulation } from '../sim/simulation.js';
import type { Kernel } from '../mm/kernel.js';
import { checksOf } from './options.js';

/** The liveness bounds of `k`'s run (Kernel option `checks`). */
export interface LivenessBounds {
  /** The liveness check is on (Kernel option `checks.liveness` and run switch `check.liveness`). */
  on: boolean;
  /** Faults one device access may take. */
  maxDeviceFaults: number;
  /** Virtual ms one device access may spend faulting. */
  maxDeviceFaultMs: number;
}

/** The liveness bounds of `k`'s run. Atomic. */
export function livenessOf(k: Kernel): LivenessBounds {
  const c = checksOf(k);
  return { on: c.liveness, maxDeviceFaults: c.maxDeviceFaults, maxDeviceFaultMs: c.maxDeviceFaultMs };
}

/**
 * Reports a device fault that outlived its bound: `device` and `where` (a VA or range) name it,
 * `bound` says which bound and `detail` what happened meanwhile (attempts, collisions, policy).
 * `path` names the fault path in the signature. Ends the run. Atomic.
 */
export function reportFaultLivelock(
  sim: Simulation,
  device: string,
  where: string,
  bound: string,
  detail: string,
  path: string,
): never {
  return sim.report(
    'livelock',
    `${device}: the device fault on ${where} neither finished nor failed within ${bound} (${detail})`,
    {
      key: `${device} device fault livelock (${path})`,
      objects: [where.split('..')[0], device],
    },
  );
}
