/**
 * The OOM killer's kill and the OOM reaper (mm/oom_kill.c): SIGKILL to the victim, then the reaper
 * frees its private memory without waiting for the victim to exit — under the mmap lock taken with a
 * trylock, with non-blockable MMU_NOTIFY_UNMAP invalidations that a notifier may refuse (the VMA is
 * then skipped and the whole reap retried a bounded number of times).
 *
 * The mm flags the kernel keeps for this (MMF_OOM_VICTIM, MMF_UNSTABLE, MMF_OOM_SKIP) live here, per
 * mm, until mm_struct grows a flags word.
 */
import {
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStartNonblock,
} from '../notifier/invalidate.js';
import { MMU_NOTIFY_UNMAP, mmuNotifierRangeInit } from '../notifier/types.js';
import { ESRCH } from '../sim/errno.js';
import { SIGKILL, VM_HUGETLB, VM_PFNMAP, VM_SHARED } from './constants.js';
import { unmapSingleVma } from './memory.js';
import type { Mm } from './mm.js';
import type { Kernel } from './kernel.js';
import type { Process } from './process.js';

/** MAX_OOM_REAP_RETRIES: attempts of oom_reap_task. */
export const MAX_OOM_REAP_RETRIES = 10;
/** The pause between attempts: schedule_timeout_idle(HZ / 10), in virtual ns. */
export const OOM_REAP_RETRY_NS = 100_000_000;

/** The OOM-related mm flags: MMF_OOM_VICTIM, MMF_UNSTABLE, MMF_OOM_SKIP. */
export interface OomMmFlags {
  /** MMF_OOM_VICTIM: the mm belongs to an OOM victim (mark_oom_victim). */
  victim: boolean;
  /** MMF_UNSTABLE: the reaper has started; its contents may read as zeros (check_stable_address_space). */
  unstable: boolean;
  /** MMF_OOM_SKIP: the reaper is done with the mm (reaped, or gave up). */
  skip: boolean;
  /** Reap attempts made (oom_reap_task's loop). */
  attempts: number;
}

/** Per run: the flags of each mm ever chosen (Simulation.runMap). */
const OOM_FLAGS = Symbol('oom flags');

/** The OOM flags of `mm` (all clear for an mm never chosen). */
export function mmOomFlags(mm: Mm): Readonly<OomMmFlags> {
  return (
    mm.sim.runLocal<Map<Mm, OomMmFlags>>(OOM_FLAGS)?.get(mm) ?? {
      victim: false,
      unstable: false,
      skip: false,
      attempts: 0,
    }
  );
}

function oomFlagsOf(mm: Mm): OomMmFlags {
  const oomFlags = mm.sim.runMap<Mm, OomMmFlags>(OOM_FLAGS);
  let f = oomFlags.get(mm);
  if (f === undefined) {
    f = { victim: false, unstable: false, skip: false, attempts: 0 };
    oomFlags.set(mm, f);
  }
  return f;
}

/** Options of {@link oomKill}. */
export interface OomKillOptions {
  /** OOM_REAPER_DELAY: virtual ns the reaper waits for the victim to exit by itself. Default 0. */
  reaperDelayNs?: number;
}

/**
 * oom_kill_process → __oom_kill_process + the OOM reaper for `p`: mark_oom_victim (the mm is pinned
 * with mmgrab and flagged MMF_OOM_VICTIM), SIGKILL (p.kill: the task drops its mm; the address space is
 * torn down now if that was its last user), then, after `reaperDelayNs`, oom_reap_task on the mm.
 * Returns 0, or -ESRCH when `p` is already dead.
 *
 * Invalidations: those of oomReapMm (non-blockable MMU_NOTIFY_UNMAP per reaped VMA); exit's own when
 * the kill was the last user. Caller holds no mm lock. May sleep (virtual time passes between attempts).
 * Deviations: the victim is given, not chosen (no select_bad_process / oom_badness); the reaper runs in
 * the caller's thread rather than in the oom_reaper kthread; other threads acting for `p` get no
 * signal (they finish their call).
 */
export async function oomKill(k: Kernel, p: Process, options: OomKillOptions = {}): Promise<number> {
  const sim = k.sim;
  sim.mightSleep('oom_kill_process');
  if (p.state !== 'alive') return -ESRCH;
  const mm = p.mm;
  mm.mmgrab();
  oomFlagsOf(mm).victim = true;
  await p.kill(SIGKILL);
  const delay = options.reaperDelayNs ?? 0;
  if (delay > 0) await sim.sleep(delay, 'oom_reaper_delay');
  await oomReapTask(k, mm);
  mm.mmdrop();
  return 0;
}

/**
 * oom_reap_task: up to MAX_OOM_REAP_RETRIES attempts of oomReapTaskMm, sleeping OOM_REAP_RETRY_NS
 * between them, then MMF_OOM_SKIP. Returns whether an attempt reaped everything it meant to. Caller
 * holds an mm_count reference (mmgrab) and no mm lock. May sleep.
 */
export async function oomReapTask(k: Kernel, mm: Mm): Promise<boolean> {
  const sim = k.sim;
  sim.mightSleep('oom_reap_task');
  const flags = oomFlagsOf(mm);
  let done = false;
  for (;;) {
    flags.attempts++;
    done = await oomReapTaskMm(mm);
    if (done || flags.attempts >= MAX_OOM_REAP_RETRIES) break;
    await sim.sleep(OOM_REAP_RETRY_NS, 'oom_reaper_retry');
  }
  flags.skip = true;
  return done;
}

/**
 * oom_reap_task_mm: mmap_read_trylock (false when contended: retry later); nothing to do once the mm is
 * being torn down by exit_mmap or was already given up on (MMF_OOM_SKIP); otherwise oomReapMm. Returns
 * false when it must be retried. Caller holds an mm_count reference. May sleep (scheduling points only;
 * it never waits for the mmap lock).
 */
export async function oomReapTaskMm(mm: Mm): Promise<boolean> {
  if (!(await mm.mmapLock.downReadTrylock())) return false;
  let ret = true;
  if (!mm.exiting && !oomFlagsOf(mm).skip) ret = await oomReapMm(mm);
  mm.mmapLock.upRead();
  return ret;
}

/**
 * __oom_reap_task_mm: sets MMF_UNSTABLE, then for every VMA that is anonymous or private (VM_HUGETLB
 * and VM_PFNMAP skipped; shared file and shmem mappings left to exit): a non-blockable
 * MMU_NOTIFY_UNMAP invalidation over [vm_start, vm_end) (owner null) via
 * mmuNotifierInvalidateRangeStartNonblock; if a notifier refuses (-EAGAIN) the VMA is skipped (its
 * pages stay mapped, no end is called) and the result is false; otherwise the whole VMA is zapped
 * (unmap_page_range: pages, swap entries and migration entries released, freed when unreferenced) and
 * the range ended. Exit later finds those entries none, so nothing is freed twice.
 *
 * Caller holds the mmap lock for read (asserted). Never sleeps (notifier callbacks run non-blockable);
 * only scheduling points.
 */
export async function oomReapMm(mm: Mm): Promise<boolean> {
  mm.assertMmapLocked('__oom_reap_task_mm');
  oomFlagsOf(mm).unstable = true;
  mm.unstable = true;
  let ret = true;
  for (const vma of mm.vmas.toArray()) {
    if (vma.flags & (VM_HUGETLB | VM_PFNMAP)) continue;
    if (!vma.anonymous && vma.flags & VM_SHARED) continue;
    const range = mmuNotifierRangeInit(MMU_NOTIFY_UNMAP, 0, mm, vma.start, vma.end);
    if ((await mmuNotifierInvalidateRangeStartNonblock(range)) !== 0) {
      mm.sim.mark('oom reaper skipped a vma');
      ret = false;
      continue;
    }
    await unmapSingleVma(mm, vma, range.start, range.end);
    await mmuNotifierInvalidateRangeEnd(range);
  }
  return ret;
}
