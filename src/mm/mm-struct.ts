import type { Simulation } from '../sim/simulation.js';
import { RwSemaphore } from '../sim/sync/rwsem.js';
import type { MmuNotifierSubscriptions } from '../notifier/subscriptions.js';
import type { MmAllLocks } from '../notifier/all-locks.js';

/** Per run (Simulation.runLocal): the last address-space id handed out. */
const NEXT_MM_ID = Symbol('mm ids');

/**
 * One address space (struct mm_struct): its two reference counts, its mmap lock and
 * the notifier container. The memory model's operations hang the page table and VMAs
 * off it; the notifier core reaches it only through this shape.
 *
 * `users` (mm_users) keeps the address space alive: when it drops to zero, `exitMmap`
 * runs (notifier release first, then teardown). `count` (mm_count) keeps this
 * structure allocated: when it drops to zero the structure is freed (kfree), after
 * which any use reports use-after-free.
 */
export class MmStruct {
  /**
   * A number unique among the address spaces of this simulation, from 1 (per run, so that a
   * replay numbers them as the original did, whatever ran before it in the process).
   */
  readonly id: number;
  /** mm_users. */
  users = 1;
  /** mm_count (the users collectively hold one). */
  count = 1;
  /** mmap_lock. */
  readonly mmapLock: RwSemaphore;
  /** mm->notifier_subscriptions: created by the first notifier registration, freed with the mm. */
  notifierSubscriptions: MmuNotifierSubscriptions | null = null;
  /** The notifier core's in-flight invalidation count and mm_take_all_locks state (created on first use). */
  allLocks: MmAllLocks | null = null;
  /** Set once exit_mmap has started (the address space is being torn down). */
  exiting = false;
  /**
   * exit_mmap: installed by the memory model. Runs when the last user goes away.
   * Must call the notifier release before tearing down the page tables.
   */
  exitMmap: (mm: MmStruct) => Promise<void> = async () => {};

  /**
   * mm_users and mm_count as dpor names them (atomics without a scheduling point). Plain
   * increments commute with each other (a read for dpor); a decrement, or an increment that
   * tests for zero, does not commute with any of them (a write).
   */
  private readonly refTag: string;

  constructor(
    /** The simulation the address space lives in (its checkers see its allocation and free). */
    readonly sim: Simulation,
    /** Names the address space in traces and reports (a process's is `name[pid]`). */
    readonly name: string,
  ) {
    this.id = sim.setRunLocal(NEXT_MM_ID, (sim.runLocal<number>(NEXT_MM_ID) ?? 0) + 1);
    this.refTag = `mm_refs ${name}`;
    this.mmapLock = new RwSemaphore(sim, `mmap_lock`);
    sim.kalloc(this, `mm_struct ${name}`);
  }

  /** mmget(): takes a user reference; the caller must already hold one (BUG otherwise). */
  mmget(): void {
    this.sim.use(this, 'mmget');
    this.sim.touch(this.refTag, true);
    if (this.users <= 0) this.sim.bug(`mmget on ${this.name} with mm_users ${this.users}`);
    this.users++;
  }

  /** mmget_not_zero(): takes a user reference unless the address space is already exiting. */
  mmgetNotZero(): boolean {
    this.sim.use(this, 'mmget_not_zero');
    this.sim.touch(this.refTag);
    if (this.users === 0) return false;
    this.users++;
    return true;
  }

  /**
   * mmput(): drops a user reference; the last one runs exit_mmap and then drops the
   * users' mm_count reference. May sleep.
   */
  async mmput(): Promise<void> {
    this.sim.use(this, 'mmput');
    if (this.users <= 0) this.sim.bug(`mmput on ${this.name} with mm_users ${this.users}`);
    this.users--;
    this.sim.touch(this.refTag);
    if (this.users > 0) return;
    this.sim.mightSleep('mmput');
    this.exiting = true;
    await this.exitMmap(this);
    this.mmdrop();
  }

  /** mmgrab(): pins the structure (mm_count), not the address space. */
  mmgrab(): void {
    this.sim.use(this, 'mmgrab');
    this.sim.touch(this.refTag, true);
    if (this.count <= 0) this.sim.bug(`mmgrab on ${this.name} with mm_count ${this.count}`);
    this.count++;
  }

  /** mmdrop(): drops a pin; the last one frees the structure (and its notifier container). */
  mmdrop(): void {
    this.sim.use(this, 'mmdrop');
    if (this.count <= 0) this.sim.bug(`mmdrop on ${this.name} with mm_count ${this.count}`);
    this.count--;
    this.sim.touch(this.refTag);
    if (this.count > 0) return;
    if (this.notifierSubscriptions !== null) this.sim.kfree(this.notifierSubscriptions);
    this.sim.kfree(this);
  }

  /**
   * mmap_assert_locked(): reports `lock-misuse` unless the running thread holds the mmap lock (read or
   * write), as lockdep_assert_held does in the kernel. `what` names the function whose contract it is.
   * Silent outside a running simulation thread. Atomic.
   */
  assertMmapLocked(what: string): void {
    const sim = this.sim;
    const t = sim.current;
    if (t === null || sim.status !== 'running' || this.mmapLock.isHeldBy(t)) return;
    sim.report('lock-misuse', `${what} on ${this.name} without mmap_lock held (thread ${t.name})`, {
      key: `mmap_lock not held ${what}`,
    });
  }

  /**
   * mmap_assert_write_locked(): reports `lock-misuse` unless the running thread holds the mmap lock
   * for write. Silent outside a running simulation thread. Atomic.
   */
  assertMmapWriteLocked(what: string): void {
    const sim = this.sim;
    const t = sim.current;
    if (t === null || sim.status !== 'running' || this.mmapLock.isWriteHeldBy(t)) return;
    sim.report('lock-misuse', `${what} on ${this.name} without mmap_lock held for write (thread ${t.name})`, {
      key: `mmap_lock not write-held ${what}`,
    });
  }

  /** `mm <name>`, for messages. */
  toString(): string {
    return `mm ${this.name}`;
  }
}

/** mmap_assert_locked(mm): {@link MmStruct.assertMmapLocked}. */
export function mmapAssertLocked(mm: MmStruct, what: string): void {
  mm.assertMmapLocked(what);
}

/** mmap_assert_write_locked(mm): {@link MmStruct.assertMmapWriteLocked}. */
export function mmapAssertWriteLocked(mm: MmStruct, what: string): void {
  mm.assertMmapWriteLocked(what);
}

/** A short trace object for a PTE of `mm` at `va` (formatted only when tracing). */
export function pteTag(mm: MmStruct, va: number): string {
  return mm.sim.tracing ? `${mm.name}@0x${va.toString(16)}` : mm.name;
}
