/**
 * Seed 003's livelock, as a scenario any modern driver can run: a device faults a page while a
 * CPU thread keeps invalidating exactly that page (MADV_DONTNEED every `periodNs`), and each
 * device walk takes longer than the period, so every attempt collides. The device fault loop's
 * retry policy decides what happens:
 * - `none`: the fault goes round forever and is reported as a `livelock` once it outlives the
 *   liveness bound;
 * - `timeout`: the fault fails with -EBUSY after the budget (the device sees an error, the system
 *   stays up);
 * - `mmap-write-fallback`: after a few collisions the fault takes the mmap lock for write, the
 *   CPU's madvise waits, and the fault completes: CPU and device take turns.
 */
import { MADV_DONTNEED, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../mm/constants.js';
import { Kernel } from '../mm/kernel.js';
import type { SetupFn, Simulation } from '../sim/simulation.js';
import type { FaultLoopStats, FaultRetryPolicy } from './fault-retry.js';
import type { AttachedMirror } from './registry.js';
import './registry.js';

/** What one livelock run measured (filled as the run goes). */
export interface LivelockOutcome {
  driver: string;
  policy: FaultRetryPolicy;
  /** Device accesses that returned data. */
  accessesOk: number;
  /** Device accesses that failed (-errno). */
  accessesFailed: number;
  /** CPU invalidations made while the device was faulting. */
  invalidations: number;
  /** Virtual ns from the first access to the last answer. */
  elapsedNs: number;
  stats: FaultLoopStats | null;
}

/** Parameters of the scenario (small defaults keep a run under a second). */
export interface LivelockParams {
  driver: 'odp' | 'gpusvm';
  policy: FaultRetryPolicy;
  /** Device accesses to make. */
  accesses?: number;
  /** The CPU's invalidation period. */
  periodNs?: number;
  /** The device walk's cost (longer than the period: every walk collides). */
  faultCostNs?: number;
  /** The 'timeout' budget in ms (HMM_RANGE_DEFAULT_TIMEOUT is 1000; smaller keeps runs short). */
  retryTimeoutMs?: number;
  /** The liveness bound in ms. */
  livelockBoundMs?: number;
  /** Where the outcome goes. */
  outcome?: LivelockOutcome;
}

/** The scenario's setup. */
export function livelockScenario(params: LivelockParams): SetupFn {
  const accesses = params.accesses ?? 3;
  const periodNs = params.periodNs ?? 10_000;
  const faultCostNs = params.faultCostNs ?? 25_000;
  return (sim: Simulation) => {
    const k = new Kernel(sim, { memoryPages: 256 });
    const p = k.createProcess('app');
    const out = params.outcome;
    if (out !== undefined) {
      Object.assign(out, { driver: params.driver, policy: params.policy, accessesOk: 0, accessesFailed: 0 });
      Object.assign(out, { invalidations: 0, elapsedNs: 0, stats: null });
    }
    const page = k.pageSize;
    let addr = 0;
    let done = false;
    let mirror: AttachedMirror | null = null;
    sim.spawn('app', async () => {
      addr = await p.mmap({ length: page, prot: PROT_READ | PROT_WRITE, flags: MAP_PRIVATE | MAP_ANONYMOUS });
      await p.write(addr, new Uint8Array([42]));
      const dev = await k.createDevice(params.driver, {
        name: params.driver === 'odp' ? 'mlx0' : 'gpu0',
        retry: params.policy,
        faultCostNs,
        retryTimeoutMs: params.retryTimeoutMs ?? 2,
        livelockBoundMs: params.livelockBoundMs ?? 20,
        fallbackAfter: 2,
      });
      if (out !== undefined) out.stats = (dev as unknown as { stats: FaultLoopStats }).stats;
      mirror = await dev.attach(p, params.driver === 'odp' ? { start: addr, length: page } : {});
      sim.spawn('cpu-zap', async () => {
        // For dpor: `done` is shared with the app thread (touched as the object 'livelock done').
        while ((sim.touch('livelock done', true), !done)) {
          await p.madvise(addr, page, MADV_DONTNEED);
          if (out !== undefined) out.invalidations++;
          await sim.sleep(periodNs, 'cpu period');
        }
      });
      const t0 = sim.now();
      for (let i = 0; i < accesses; i++) {
        const r = await mirror.access(addr, 'read', 1);
        if (out !== undefined) {
          if (r instanceof Uint8Array) out.accessesOk++;
          else out.accessesFailed++;
        }
      }
      if (out !== undefined) out.elapsedNs = sim.now() - t0;
      sim.touch('livelock done');
      done = true;
      await mirror.detach();
    });
  };
}
