/**
 * struct hmm as it stood in spring 2019 (mm/hmm.c before the seed 004 review): one per mm, reached
 * through `mm->hmm`, registered as a classic mmu notifier, with a list of mirrors (under
 * `mirrors_sem`) and a list of ranges being faulted (under `hmm->lock`), a count of invalidations
 * in flight (`notifiers`) and an unlocked `dead` flag set by the notifier release.
 *
 * The 2019 flaws, each with the fix upstream made behind a switch of the run (src/drivers/legacy/
 * switches.ts; off = the 2019 code):
 * - the callbacks find their struct hmm through `mm->hmm` (`hmm2019.containerOf` fixes it): once
 *   mm->hmm names a newer struct hmm, an old notifier still in an invalidation walk delivers that
 *   invalidation to the new struct, which also hears it through its own notifier;
 * - hmm_free unregisters with mmu_notifier_unregister_no_release, which is not a fence, and frees
 *   the struct at once (`hmm2019.srcuFree` frees it after an SRCU grace period): a callback that
 *   already picked the notifier up uses the freed struct.
 * The third flaw, hmm_range_fault without mmget_not_zero, is in the mirror's fault
 * (hmm-mirror-2019.ts).
 *
 * With the fix the free is a call_srcu callback (mmu_notifier_call_srcu), never a wait in the
 * putting thread: the last reference may be dropped by a notifier callback, inside the very SRCU
 * read section a synchronous grace period would wait for.
 */
import { EAGAIN } from '../../sim/errno.js';
import type { Simulation } from '../../sim/simulation.js';
import { Mutex } from '../../sim/sync/mutex.js';
import { RwSemaphore } from '../../sim/sync/rwsem.js';
import { WaitQueue } from '../../sim/sync/waitqueue.js';
import type { Mm } from '../../mm/mm.js';
import { MmuNotifier } from '../../notifier/classic.js';
import type { MmuNotifierOps } from '../../notifier/types.js';
import { mmuNotifierSrcu } from '../../notifier/srcu.js';
import type { MmuNotifierRange } from '../../notifier/types.js';
import { HMM2019_CONTAINER_OF, HMM2019_SRCU_FREE } from './switches.js';

/** What struct hmm calls back on each of its mirrors (struct hmm_mirror_ops of 2019). */
export interface Hmm2019MirrorOps {
  /** sync_cpu_device_pagetables: zap the device's entries of [start, end). May sleep. */
  syncCpuDevicePagetables(start: number, end: number): Promise<void>;
  /** release: the mm is going away; zap everything. May sleep. */
  release(): Promise<void>;
}

/** struct hmm_range of 2019: a range being faulted, invalidated by `valid = false`. */
export interface Hmm2019Range {
  /** First virtual address of the range, in bytes. */
  readonly start: number;
  /** End of the range in bytes, exclusive. */
  readonly end: number;
  /**
   * range->valid: cleared by an overlapping invalidate_range_start (and the release), set again
   * when the last invalidation in flight ends; the driver maps only while it is true.
   */
  valid: boolean;
}

const hex = (n: number): string => `0x${n.toString(16)}`;

/** Per run (Simulation.runMap): mm->hmm of each mm. */
const MM_HMM = Symbol('mm->hmm');
/** The dpor object of mm->hmm (the point mm_get_hmm names it): read and written by hmm_get_or_create and hmm_put. */
const MM_HMM_TAG = 'mm->hmm';
/** Per run (Simulation.runLocal): the last struct hmm id handed out. */
const NEXT_ID = Symbol('hmm ids');

/** The notifier embedded in a struct hmm: container_of(mn, struct hmm, mmu_notifier) is `hmm`. */
class HmmNotifier extends MmuNotifier {
  constructor(
    ops: MmuNotifierOps,
    name: string,
    readonly hmm: Hmm2019,
  ) {
    super(ops, name);
  }
}

/** container_of(mn, struct hmm, mmu_notifier). */
function hmmOfNotifier(sub: MmuNotifier): Hmm2019 | undefined {
  return sub instanceof HmmNotifier ? sub.hmm : undefined;
}

/** struct hmm (2019). Made by hmmGetOrCreate; freed by the last hmmPut. */
export class Hmm2019 {
  /** A number unique within the run, naming the struct (`hmm#<id>`) in locks and reports. */
  readonly id: number;
  /** hmm->mmu_notifier: the classic notifier embedded in the struct, registered on `mm`. */
  readonly notifier: MmuNotifier;
  /** kref. */
  kref = 1;
  /** Set by the notifier release (exit_mmap). Read without a lock, as upstream did. */
  dead = false;
  /** hmm->notifiers: invalidations in flight. */
  notifiers = 0;
  /** Invalidations started (read by the `hmm2019.seqRetry` fix, the later interval-notifier seq). */
  seq = 0;
  /** hmm->mirrors, under mirrorsSem. */
  readonly mirrors: Hmm2019MirrorOps[] = [];
  /** hmm->ranges, under lock. */
  readonly ranges = new Set<Hmm2019Range>();
  /** hmm->lock: guards `ranges`, `notifiers`, `seq` and each range's `valid`. */
  readonly lock: Mutex;
  /** hmm->mirrors_sem: guards `mirrors` (write to add or remove, read to call them back). */
  readonly mirrorsSem: RwSemaphore;
  /** hmm->wq: ranges waiting to become valid. */
  readonly wq: WaitQueue;
  /** Model tracking, per invalidation in flight: the notifier that delivered it to this struct. */
  readonly via = new Map<MmuNotifierRange, MmuNotifier>();

  constructor(
    /** The simulation the struct, its locks and its allocation belong to. */
    readonly sim: Simulation,
    /** hmm->mm: the address space the struct mirrors. */
    readonly mm: Mm,
  ) {
    this.id = sim.setRunLocal(NEXT_ID, (sim.runLocal<number>(NEXT_ID) ?? 0) + 1);
    this.lock = new Mutex(sim, `hmm#${this.id}.lock`);
    this.mirrorsSem = new RwSemaphore(sim, `hmm#${this.id}.mirrors_sem`);
    this.wq = new WaitQueue(sim, `hmm#${this.id}.wq`);
    this.notifier = new HmmNotifier(
      {
        invalidateRangeStart: (range, sub) => hmmInvalidateRangeStart(range, sub),
        invalidateRangeEnd: (range, sub) => hmmInvalidateRangeEnd(range, sub),
        release: (_mm, sub) => hmmRelease(sub),
      },
      `hmm#${this.id}.mn`,
      this,
    );
  }

  /**
   * For dpor: an access of the state faults read without hmm->lock (`dead`, `seq`, each range's
   * `valid`, `notifiers` at register), a read when `read`; the writers touch it too, under the lock.
   */
  touchState(read = false): void {
    this.sim.touch(`hmm#${this.id}.state`, read);
  }

  /** `hmm#<id>`, for messages (the prefix of its locks' names). */
  toString(): string {
    return `hmm#${this.id}`;
  }
}

/** The struct hmm `mm->hmm` names now (for tests and reports). */
export function mmHmmOf(mm: Mm): Hmm2019 | undefined {
  mm.sim.touch(MM_HMM_TAG, true);
  return mm.sim.runLocal<Map<Mm, Hmm2019>>(MM_HMM)?.get(mm);
}

/**
 * hmm_get_or_create(mm): mm->hmm with one more reference, or (none, or the one there is being
 * freed) a new struct hmm that replaces it in mm->hmm and then registers its notifier. Gives the
 * struct hmm or -errno. The caller holds a user reference on the mm and no mmap lock. May sleep.
 */
export async function hmmGetOrCreate(sim: Simulation, mm: Mm): Promise<Hmm2019 | number> {
  if (mm.users <= 0)
    sim.bug(`hmm_get_or_create on ${mm.name} without a user reference (mm_users ${mm.users})`);
  const mmHmm = sim.runMap<Mm, Hmm2019>(MM_HMM);
  sim.touch(MM_HMM_TAG, true);
  const cur = mmHmm.get(mm);
  if (cur !== undefined) {
    sim.use(cur, 'hmm_get_or_create');
    sim.touch(`hmm#${cur.id}`); // for dpor: the kref, as kref_get_unless_zero names it
    if (cur.kref > 0) {
      cur.kref++;
      return cur;
    }
  }
  if (cur !== undefined) sim.mark('hmm_get_or_create replaced a dying struct hmm');
  const hmm = sim.kalloc(new Hmm2019(sim, mm), 'struct hmm');
  sim.touch(MM_HMM_TAG);
  mmHmm.set(mm, hmm);
  const ret = await hmm.notifier.register(mm);
  if (ret !== 0) {
    sim.touch(MM_HMM_TAG);
    if (mmHmm.get(mm) === hmm) mmHmm.delete(mm);
    sim.kfree(hmm);
    return ret;
  }
  return hmm;
}

/**
 * kref_get(&hmm->kref): one more reference on a struct hmm. The caller holds one already (a
 * mirror's, or a range's); a struct with none left is a kernel bug, reported as such. Atomic.
 */
export function hmmGet(hmm: Hmm2019): void {
  const sim = hmm.sim;
  sim.use(hmm, 'kref_get');
  sim.touch(`hmm#${hmm.id}`); // for dpor: the kref, as kref_get_unless_zero names it
  if (hmm.kref <= 0) sim.bug(`kref_get on struct hmm#${hmm.id} with kref ${hmm.kref}`);
  hmm.kref++;
}

/**
 * hmm_put: drops a reference; the last one runs hmm_free: mmu_notifier_unregister_no_release (not
 * a fence), mm->hmm cleared if it still names this struct, and the struct freed (after an SRCU grace
 * period with `hmm2019.srcuFree`, at once without). May sleep.
 */
export async function hmmPut(hmm: Hmm2019): Promise<void> {
  const sim = hmm.sim;
  sim.use(hmm, 'hmm_put');
  sim.touch(`hmm#${hmm.id}`); // for dpor: the kref, as kref_get_unless_zero names it
  if (--hmm.kref > 0) return;
  await hmm.notifier.unregisterNoRelease();
  const mmHmm = sim.runMap<Mm, Hmm2019>(MM_HMM);
  sim.touch(MM_HMM_TAG);
  if (mmHmm.get(hmm.mm) === hmm) mmHmm.delete(hmm.mm);
  if (sim.switchOn(HMM2019_SRCU_FREE)) {
    // mmu_notifier_call_srcu(&hmm->rcu, hmm_free_rcu): freed once every reader that may still
    // reach the struct has left; a synchronous wait here deadlocks when a callback drops the last ref.
    mmuNotifierSrcu(sim).callSrcu(() => sim.kfree(hmm));
    return;
  }
  sim.kfree(hmm);
}

/**
 * The struct hmm a callback of `sub` acts on, with a reference: mm_get_hmm(mm) in 2019 (the
 * struct mm->hmm names when the callback reads it), container_of(sub) with the fix; then
 * kref_get_unless_zero (a dereference: a use-after-free when the struct was already freed).
 */
async function hmmOf(sub: MmuNotifier, what: string): Promise<Hmm2019 | null> {
  const own = hmmOfNotifier(sub);
  if (own === undefined) return null;
  const sim = own.sim;
  let hmm: Hmm2019 | undefined;
  if (sim.switchOn(HMM2019_CONTAINER_OF)) hmm = own;
  else {
    await sim.point('mm_get_hmm', 'mm->hmm');
    hmm = mmHmmOf(own.mm);
  }
  if (hmm === undefined) return null;
  await sim.point('kref_get_unless_zero', `hmm#${hmm.id}`);
  sim.use(hmm, what);
  if (hmm.kref === 0) return null;
  hmm.kref++;
  return hmm;
}

/**
 * The invariant the seed 004 review asks for: a struct hmm hears of an invalidation through its own
 * notifier, once. A delivery through another struct's notifier (found through mm->hmm) is either a
 * second delivery of the same invalidation, or a range_start whose range_end goes elsewhere.
 */
function deliver(hmm: Hmm2019, range: MmuNotifierRange, sub: MmuNotifier, end: boolean): void {
  const prev = hmm.via.get(range);
  const own = hmmOfNotifier(sub);
  if ((prev !== undefined && prev !== sub) || own !== hmm) {
    const what = end ? 'invalidate_range_end' : 'invalidate_range_start';
    const first = prev !== undefined && prev !== sub ? `${prev.name} then ${sub.name}` : sub.name;
    hmm.sim.report(
      'notifier-called-twice',
      `struct hmm#${hmm.id} is invalidated for [${hex(range.start)}, ${hex(range.end)}) ` +
        `through ${first} (${what}), ` +
        `${own !== undefined && own !== hmm ? `but ${sub.name} belongs to hmm#${own.id}: ` : ''}` +
        'the callbacks find their struct hmm through mm->hmm, so one invalidation reaches the newest ' +
        'struct hmm through the old notifier as well as its own',
      {
        key: 'struct hmm invalidated through a notifier not its own (mm->hmm lookup)',
        objects: [`hmm#${hmm.id}`, sub.name, hex(range.start), 'mm->hmm'],
      },
    );
  }
  if (end) hmm.via.delete(range);
  else hmm.via.set(range, sub);
}

/**
 * hmm_invalidate_range_start (2019): the struct hmm (see hmmOf); under hmm->lock count the
 * invalidation and mark every overlapping range invalid; under mirrors_sem call every mirror's
 * sync_cpu_device_pagetables. -EAGAIN for a non-blockable range. Called by the notifier core under
 * its SRCU read lock. May sleep.
 */
async function hmmInvalidateRangeStart(range: MmuNotifierRange, sub: MmuNotifier): Promise<number> {
  if (!range.blockable) return -EAGAIN;
  const hmm = await hmmOf(sub, 'hmm_invalidate_range_start');
  if (hmm === null) return 0;
  deliver(hmm, range, sub, false);
  await hmm.lock.lock();
  hmm.touchState();
  hmm.notifiers++;
  hmm.seq++;
  for (const r of hmm.ranges) if (r.start < range.end && r.end > range.start) r.valid = false;
  hmm.lock.unlock();
  await hmm.mirrorsSem.downRead();
  for (const m of hmm.mirrors) await m.syncCpuDevicePagetables(range.start, range.end);
  hmm.mirrorsSem.upRead();
  await hmmPut(hmm);
  return 0;
}

/**
 * hmm_invalidate_range_end (2019): under hmm->lock uncount the invalidation; the last one marks
 * every range valid again and wakes the faults waiting on hmm->wq. May sleep.
 */
async function hmmInvalidateRangeEnd(range: MmuNotifierRange, sub: MmuNotifier): Promise<void> {
  const hmm = await hmmOf(sub, 'hmm_invalidate_range_end');
  if (hmm === null) return;
  deliver(hmm, range, sub, true);
  await hmm.lock.lock();
  hmm.touchState();
  hmm.notifiers--;
  if (hmm.notifiers === 0) for (const r of hmm.ranges) r.valid = true;
  hmm.lock.unlock();
  hmm.wq.wakeUpAll();
  await hmmPut(hmm);
}

/**
 * hmm_release (2019): `dead` set (no lock), every range marked invalid under hmm->lock and its
 * waiters woken, every mirror released (zapped). May sleep.
 */
async function hmmRelease(sub: MmuNotifier): Promise<void> {
  const hmm = await hmmOf(sub, 'hmm_release');
  if (hmm === null) return;
  hmm.touchState();
  hmm.dead = true;
  hmm.sim.note(`hmm#${hmm.id}->dead = true`);
  await hmm.lock.lock();
  hmm.touchState();
  for (const r of hmm.ranges) r.valid = false;
  hmm.lock.unlock();
  hmm.wq.wakeUpAll();
  await hmm.mirrorsSem.downRead();
  for (const m of hmm.mirrors) await m.release();
  hmm.mirrorsSem.upRead();
  await hmmPut(hmm);
}
