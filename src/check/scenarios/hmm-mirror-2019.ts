/**
 * hmm_mirror as it stood in spring 2019 (seed 004, "Use HMM for ODP v4"): one `struct hmm` per mm,
 * reached through `mm->hmm`, registered as a classic mmu notifier, with mirrors hanging off it. The
 * three races of that thread, each behind a switch whose `true` is the fix that went upstream:
 *
 * - `mmgetInFault`: the device fault takes the mmap lock and walks the VMAs (find_vma) holding only
 *   a grab on the mm (mm_count), not a user reference. exit_mmap does not take the mmap lock: it
 *   runs the notifier release (which sets `hmm->dead`) and then frees the VMAs while the fault,
 *   having read `dead` too early, walks them. The fix: mmget_not_zero() around the fault.
 * - `srcuFree`: hmm_free() unregisters with mmu_notifier_unregister_no_release(), which is not a
 *   fence, and kfree()s the struct at once; an invalidation walk that already picked the notifier
 *   up still calls it, and the callback touches the freed struct. The fix ("mm/hmm: fix use after
 *   free with struct hmm in the mmu notifiers"): free after an SRCU grace period.
 * - `containerOf`: the callbacks find their struct hmm through `mm->hmm` rather than from the
 *   notifier they were called for. Once mm->hmm names a newer struct hmm, an old notifier still in
 *   an invalidation walk delivers that invalidation to the new struct, which its own notifier
 *   then delivers again: the same struct hmm is invalidated through two notifiers. The fix:
 *   container_of(mn) and kref_get_unless_zero.
 *
 * Deviation: this is a model of the 2019 design written for the checkers, not a driver of the
 * registry: mirrors keep no device page table (the races are in the struct hmm lifetime and the
 * notifier delivery, which the violations name), and `mm->hmm` is a map beside the mm.
 */
import { EFAULT } from '../../sim/errno.js';
import type { SetupFn, Simulation } from '../../sim/simulation.js';
import { Completion } from '../../sim/sync/completion.js';
import { MmStruct } from '../../mm/mm-struct.js';
import {
  MMU_NOTIFY_CLEAR,
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierRangeInit,
  mmuNotifierRelease,
  mmuNotifierSynchronize,
  MmuNotifier,
  type MmuNotifierRange,
} from '../../notifier/index.js';

/** Which of the 2019 fixes are applied (all true: the code after the seed 004 thread). */
export interface HmmMirror2019Fixes {
  mmgetInFault?: boolean;
  srcuFree?: boolean;
  containerOf?: boolean;
}

const PAGE = 4096;

/** struct hmm (2019): the per-mm mirror hub. */
interface Hmm {
  readonly id: number;
  notifier: MmuNotifier | null;
  kref: number;
  /** Set by the notifier release (exit_mmap): no new faults. Read without a lock, as upstream did. */
  dead: boolean;
  /** Per invalidation in flight: the notifier that delivered it to this struct hmm. */
  readonly via: Map<MmuNotifierRange, MmuNotifier>;
}

/** container_of(mn, struct hmm, mmu_notifier). */
const hmmOfNotifier = new WeakMap<MmuNotifier, Hmm>();

class Hmm2019World {
  /** mm->hmm. */
  current: Hmm | null = null;
  private nextId = 1;
  readonly vmas: object[] = [];
  /** Completed when mm->hmm is cleared (a registration that met a dying struct hmm waits for it). */
  readonly cleared: Completion;

  constructor(
    readonly sim: Simulation,
    readonly mm: MmStruct,
    readonly fixes: Required<HmmMirror2019Fixes>,
  ) {
    this.cleared = new Completion(sim, 'mm->hmm cleared');
    for (let i = 0; i < 2; i++)
      this.vmas.push(sim.kalloc({ vma: i }, `vma 0x${((i + 1) * PAGE).toString(16)}`));
    // exit_mmap of 2019: notifier release first, then the VMAs freed one by one, without the mmap
    // lock (holding it alone does not keep them).
    mm.exitMmap = async (m) => {
      await mmuNotifierRelease(m);
      for (const v of this.vmas) {
        await sim.point('remove_vma', 'vma');
        sim.kfree(v);
      }
    };
  }

  /** mm_get_hmm / container_of: the struct hmm a callback of `sub` acts on, with a reference. */
  private async hmmOf(sub: MmuNotifier, what: string): Promise<Hmm | null> {
    const sim = this.sim;
    if (!this.fixes.containerOf) await sim.point('mm_get_hmm', 'mm->hmm');
    const hmm = this.fixes.containerOf ? (hmmOfNotifier.get(sub) ?? null) : this.current;
    if (hmm === null) return null;
    await sim.point('kref_get_unless_zero', `hmm#${hmm.id}`);
    sim.use(hmm, what);
    if (hmm.kref === 0) return null;
    hmm.kref++;
    return hmm;
  }

  /**
   * The invariant the seed 004 thread asks for: a struct hmm hears of an invalidation through its
   * own notifier, once. A callback that acts on another struct hmm (found through mm->hmm) delivers
   * the invalidation a second time once that struct's own notifier is registered, or delivers a
   * range_start whose range_end goes elsewhere (its `notifiers` count then never drops).
   */
  private deliver(hmm: Hmm, range: MmuNotifierRange, sub: MmuNotifier, end: boolean): void {
    const prev = hmm.via.get(range);
    const own = hmmOfNotifier.get(sub);
    if ((prev !== undefined && prev !== sub) || own !== hmm) {
      const what = end ? 'invalidate_range_end' : 'invalidate_range_start';
      const first = prev !== undefined && prev !== sub ? `${prev.name} then ${sub.name}` : sub.name;
      this.sim.report(
        'notifier-called-twice',
        `struct hmm#${hmm.id} is invalidated for [0x${range.start.toString(16)}, 0x${range.end.toString(16)}) ` +
          `through ${first} (${what}), ` +
          `${own !== undefined && own !== hmm ? `but ${sub.name} belongs to hmm#${own.id}: ` : ''}` +
          'the callbacks find their struct hmm through mm->hmm, so one invalidation reaches the newest ' +
          'struct hmm through the old notifier as well as its own',
        {
          key: 'struct hmm invalidated through a notifier not its own (mm->hmm lookup)',
          objects: [`hmm#${hmm.id}`, sub.name, `0x${range.start.toString(16)}`, 'mm->hmm'],
        },
      );
    }
    if (end) hmm.via.delete(range);
    else hmm.via.set(range, sub);
  }

  private async put(hmm: Hmm): Promise<void> {
    this.sim.use(hmm, 'hmm_put');
    if (--hmm.kref > 0) return;
    // hmm_free
    const n = hmm.notifier!;
    await n.unregisterNoRelease();
    if (this.current === hmm) {
      this.current = null;
      this.cleared.completeAll();
    }
    if (this.fixes.srcuFree) await mmuNotifierSynchronize(this.sim);
    this.sim.kfree(hmm);
  }

  /** hmm_get_or_create + hmm_mirror_register. The caller holds a user reference. May sleep. */
  async mirrorRegister(): Promise<Hmm | null> {
    const sim = this.sim;
    const cur = this.current;
    if (cur !== null) {
      if (cur.kref === 0) return null; // being freed: hmm_get_or_create's cleanup path, try again
      cur.kref++;
      return cur;
    }
    const hmm: Hmm = sim.kalloc(
      { id: this.nextId++, notifier: null, kref: 1, dead: false, via: new Map() },
      'struct hmm',
    );
    this.current = hmm;
    const n = new MmuNotifier(
      {
        invalidateRangeStart: async (range, sub) => {
          const h = await this.hmmOf(sub, 'hmm_invalidate_range_start');
          if (h === null) return 0;
          this.deliver(h, range, sub, false);
          await this.put(h);
          return 0;
        },
        invalidateRangeEnd: async (range, sub) => {
          const h = await this.hmmOf(sub, 'hmm_invalidate_range_end');
          if (h === null) return;
          this.deliver(h, range, sub, true);
          await this.put(h);
        },
        release: async (_mm, sub) => {
          const h = await this.hmmOf(sub, 'hmm_release');
          if (h === null) return;
          h.dead = true;
          await this.put(h);
        },
      },
      `hmm#${hmm.id}.mn`,
    );
    hmmOfNotifier.set(n, hmm);
    hmm.notifier = n;
    const ret = await n.register(this.mm);
    sim.check(ret === 0, `mmu_notifier_register of hmm#${hmm.id} failed: ${ret}`);
    return hmm;
  }

  /** hmm_mirror_unregister: drops the mirror's reference (the last one frees the struct hmm). */
  async mirrorUnregister(hmm: Hmm): Promise<void> {
    await this.put(hmm);
  }

  /**
   * The device fault (ib_umem_odp_map_dma_pages over hmm_range_fault in 2019): under the mmap lock
   * for read, checks `hmm->dead`, then walks the VMA of `va`. 0 or -EFAULT.
   */
  async deviceFault(hmm: Hmm, va: number): Promise<number> {
    const sim = this.sim;
    const mm = this.mm;
    if (this.fixes.mmgetInFault && !mm.mmgetNotZero()) return -EFAULT;
    await mm.mmapLock.downRead();
    let ret = 0;
    if (hmm.dead) ret = -EFAULT;
    else {
      await sim.point('find_vma', `0x${va.toString(16)}`);
      sim.use(this.vmas[va / PAGE - 1], `find_vma(0x${va.toString(16)}) in hmm_range_fault`);
    }
    mm.mmapLock.upRead();
    if (this.fixes.mmgetInFault) await mm.mmput();
    return ret;
  }

  /** One CPU invalidation of [start, end) (a CLEAR). Needs a user reference. May sleep. */
  async invalidate(start: number, end: number): Promise<void> {
    const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, this.mm, start, end);
    await mmuNotifierInvalidateRangeStart(range);
    await this.sim.point('cpu_pte_write', `0x${start.toString(16)}`);
    await mmuNotifierInvalidateRangeEnd(range);
  }
}

function allFixed(f: HmmMirror2019Fixes): Required<HmmMirror2019Fixes> {
  return {
    mmgetInFault: f.mmgetInFault ?? true,
    srcuFree: f.srcuFree ?? true,
    containerOf: f.containerOf ?? true,
  };
}

/**
 * Seed 004's exit race: a device faults a page while the process exits (the last mmput runs
 * exit_mmap). Found as a use-after-free of the VMA unless `mmgetInFault`.
 */
export function hmmMirror2019ExitScenario(fixes: HmmMirror2019Fixes = {}): SetupFn {
  return (sim) => {
    const mm = new MmStruct(sim, 'app');
    const w = new Hmm2019World(sim, mm, allFixed(fixes));
    const registered = new Completion(sim, 'mirror registered');
    mm.mmgrab(); // the struct hmm's grab on the mm
    sim.spawn('dev', async () => {
      const hmm = (await w.mirrorRegister())!;
      registered.completeAll();
      await w.deviceFault(hmm, PAGE);
      await w.deviceFault(hmm, 2 * PAGE);
    });
    sim.spawn('exit', async () => {
      await registered.wait();
      await mm.mmput();
    });
  };
}

/**
 * Seed 004's struct hmm lifetime: one mirror comes and goes, a second one registers after it, and
 * the CPU invalidates throughout. Without `srcuFree` a callback touches the freed struct hmm;
 * without `containerOf` one invalidation reaches the new struct hmm through both notifiers.
 */
export function hmmMirror2019LifetimeScenario(fixes: HmmMirror2019Fixes = {}): SetupFn {
  return (sim) => {
    const mm = new MmStruct(sim, 'app');
    const w = new Hmm2019World(sim, mm, allFixed(fixes));
    const first = new Completion(sim, 'first mirror registered');
    const cpuDone = new Completion(sim, 'cpu done');
    sim.spawn('drv1', async () => {
      const hmm = (await w.mirrorRegister())!;
      first.completeAll();
      await w.mirrorUnregister(hmm);
    });
    sim.spawn('drv2', async () => {
      await first.wait();
      let hmm = await w.mirrorRegister();
      if (hmm === null) {
        await w.cleared.wait();
        hmm = (await w.mirrorRegister())!;
      }
      await cpuDone.wait();
      await w.mirrorUnregister(hmm);
    });
    sim.spawn('cpu', async () => {
      await first.wait();
      await w.invalidate(PAGE, 2 * PAGE);
      await w.invalidate(PAGE, 3 * PAGE);
      cpuDone.completeAll();
    });
  };
}
