/**
 * The device fault loop every modern driver runs, with the retry policy
 * of seed 003 as an option of the device:
 *
 *   loop:
 *     seq = read_begin(notifier)
 *     mmap lock (read; or write under the fallback); r = hmm_range_fault(seq); unlock
 *     r == -EBUSY → collided, go round;  r < 0 → fail
 *     driver lock; read_retry(seq) → unlock, collided, go round
 *     program the device; unlock
 *
 * Policies (what a driver does when the CPU keeps invalidating the page it faults):
 * - `none`: go round forever. A fault that neither finishes nor fails within the liveness bound
 *   is reported as a `livelock`, the outcome seed 003 warns about.
 * - `timeout`: what nouveau, ODP and drm_gpusvm do today: give up after HMM_RANGE_DEFAULT_TIMEOUT
 *   (1000 ms of virtual time) with -EBUSY, which the device sees as a failed access.
 * - `mmap-write-fallback`: seed 003's proposal: after `fallbackAfter` collisions take the mmap
 *   lock for write, so no munmap/mprotect/madvise can start an invalidation while the device
 *   faults and commits; CPU and device then "cleanly take turns". Invalidations that do not take
 *   the mmap lock (reclaim, NUMA migration through the rmap) can still collide; the loop then
 *   keeps going under the write lock.
 *
 * Deviation: under the fallback the model keeps the mmap write lock across the driver-lock
 * commit (seed 003's hmm_range_start_and_lock … hmm_range_unregister_and_unlock shape), where
 * the upstream pattern drops the mmap lock after the walk.
 */
import { EBUSY } from '../sim/errno.js';
import type { Simulation } from '../sim/simulation.js';
import type { MmStruct } from '../mm/mm-struct.js';
import type { MmuIntervalNotifier } from '../notifier/interval.js';
import { HMM_RANGE_DEFAULT_TIMEOUT } from '../hmm/pfn.js';
import type { DriverOptionSchema } from './options.js';
import { reportFaultLivelock } from '../check/liveness.js';

/** The retry policies of the device fault loop (seed 003). */
export type FaultRetryPolicy = 'none' | 'timeout' | 'mmap-write-fallback';

/** Every retry policy of the device fault loop, for option validation and help texts. */
export const FAULT_RETRY_POLICIES: readonly FaultRetryPolicy[] = ['none', 'timeout', 'mmap-write-fallback'];

/** Options of the loop, shared by every modern driver's createDevice. */
export interface FaultRetryOptions {
  /** The retry policy (option `retry`): 'none', 'timeout' (the default) or 'mmap-write-fallback'. */
  retry: FaultRetryPolicy;
  /** `timeout`: the budget in ms of virtual time (HMM_RANGE_DEFAULT_TIMEOUT). */
  retryTimeoutMs: number;
  /** `mmap-write-fallback`: collisions before the mmap lock is taken for write. */
  fallbackAfter: number;
  /** Virtual time one hmm walk plus device update costs, in ns (the device's fault latency). */
  faultCostNs: number;
  /** The liveness bound: a fault running longer than this (virtual ms) is a livelock. */
  livelockBoundMs: number;
}

/** The createDevice options schema of the loop (merged into each modern driver's schema). */
export const FAULT_RETRY_SCHEMA: DriverOptionSchema = {
  retry: {
    type: 'enum',
    values: FAULT_RETRY_POLICIES,
    default: 'timeout',
    doc: 'device fault loop policy when the page keeps being invalidated (seed 003)',
  },
  retryTimeoutMs: {
    type: 'number',
    integer: true,
    min: 1,
    default: HMM_RANGE_DEFAULT_TIMEOUT,
    doc: "the 'timeout' policy's budget (HMM_RANGE_DEFAULT_TIMEOUT)",
  },
  fallbackAfter: {
    type: 'number',
    integer: true,
    min: 0,
    default: 4,
    doc: "'mmap-write-fallback': collisions before the mmap lock is taken for write",
  },
  faultCostNs: {
    type: 'number',
    integer: true,
    min: 0,
    default: 0,
    doc: 'virtual time one walk + device update costs (0: free, no timer)',
  },
  livelockBoundMs: {
    type: 'number',
    integer: true,
    min: 1,
    default: 10 * HMM_RANGE_DEFAULT_TIMEOUT,
    doc: 'liveness bound: a device fault running longer is reported as a livelock',
  },
};

/** Counters of a device's fault loop (read by tests and the benchmark). */
export class FaultLoopStats {
  /** Device faults started. */
  faults = 0;
  /** Faults that finished with the device programmed. */
  completed = 0;
  /** Faults that failed (-errno given to the device). */
  failed = 0;
  /** Attempts (read_begin calls). */
  attempts = 0;
  /** hmm_range_fault gave -EBUSY. */
  busy = 0;
  /** read_retry under the driver lock said the walk was stale. */
  retried = 0;
  /** Faults that gave up on the timeout. */
  timedOut = 0;
  /** Attempts made under the mmap write lock. */
  writeLocked = 0;
  /** Virtual ns spent in completed faults. */
  completedNs = 0;
  /** Scheduler steps spent in completed faults. */
  completedSteps = 0;
}

/** One attempt's walk: runs hmm_range_fault for `seq` (the mmap lock is held). 0 or -errno. */
export type FaultWalk = (seq: number) => Promise<number>;
/**
 * One attempt's commit: take the driver lock, `readRetry(seq)`; stale → unlock and give false;
 * else program the device, unlock, give true. May also give -errno (a device error).
 */
export type FaultCommit = (seq: number) => Promise<boolean | number>;

/**
 * The device fault loop (read_begin → hmm_range_fault under the mmap lock → driver lock →
 * read_retry → program) under the device's retry policy. Returns 0 or -errno (-EBUSY when the
 * `timeout` policy gave up). Reports `livelock` when a fault outlives the liveness bound.
 *
 * Locks: the caller holds no mmap lock and no driver lock, and holds a user reference on the mm
 * (mmget_not_zero). May sleep.
 */
export async function deviceFaultLoop(
  sim: Simulation,
  device: string,
  mm: MmStruct,
  notifier: MmuIntervalNotifier,
  opts: FaultRetryOptions,
  stats: FaultLoopStats,
  walk: FaultWalk,
  commit: FaultCommit,
  what: string,
): Promise<number> {
  sim.mightSleep(`${device} fault`);
  sim.mark('device fault');
  stats.faults++;
  const t0 = sim.now();
  const s0 = sim.steps;
  const timeoutNs = opts.retryTimeoutMs * 1_000_000;
  const boundNs = opts.livelockBoundMs * 1_000_000;
  let collisions = 0;
  for (let attempt = 0; ; attempt++) {
    const elapsed = sim.now() - t0;
    if (opts.retry === 'timeout' && elapsed > timeoutNs) {
      stats.timedOut++;
      stats.failed++;
      return -EBUSY;
    }
    if (elapsed > boundNs || attempt > 1_000_000) {
      reportFaultLivelock(
        sim,
        device,
        what,
        `${opts.livelockBoundMs} ms`,
        `${attempt} attempts, ${collisions} collisions, retry policy '${opts.retry}'`,
        `fault loop, retry ${opts.retry}`,
      );
    }
    const write = opts.retry === 'mmap-write-fallback' && collisions >= opts.fallbackAfter;
    stats.attempts++;
    const seq = await notifier.readBegin();
    if (write) {
      stats.writeLocked++;
      await mm.mmapLock.downWrite();
    } else await mm.mmapLock.downRead();
    const ret = await walk(seq);
    if (opts.faultCostNs > 0) await sim.sleep(opts.faultCostNs, `${device} walk`);
    if (!write) mm.mmapLock.upRead();
    if (ret === -EBUSY) {
      if (write) mm.mmapLock.upWrite();
      stats.busy++;
      collisions++;
      sim.mark('device fault retried');
      continue;
    }
    if (ret < 0) {
      if (write) mm.mmapLock.upWrite();
      stats.failed++;
      return ret;
    }
    const done = await commit(seq);
    if (write) mm.mmapLock.upWrite();
    if (typeof done === 'number') {
      stats.failed++;
      return done;
    }
    if (!done) {
      stats.retried++;
      collisions++;
      sim.mark('device fault retried');
      continue;
    }
    stats.completed++;
    stats.completedNs += sim.now() - t0;
    stats.completedSteps += sim.steps - s0;
    return 0;
  }
}
