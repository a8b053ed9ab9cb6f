/**
 * Vocabulary of the mmu notifier core (include/linux/mmu_notifier.h): the invalidation
 * events, the range handed to every callback, the two callback tables, the numeric bounds
 * the core works with, and the error a convenience function throws.
 *
 * Kernel names map to camelCase: `struct mmu_notifier_range` → {@link MmuNotifierRange},
 * `struct mmu_notifier_ops` → {@link MmuNotifierOps}, `struct mmu_interval_notifier_ops`
 * → {@link MmuIntervalNotifierOps}.
 */
import { errnoName } from '../sim/errno.js';
import type { MmStruct } from '../mm/mm-struct.js';
import type { MmuNotifier } from './classic.js';
import type { MmuIntervalNotifier } from './interval.js';

// ---------------------------------------------------------------------------------------------
// enum mmu_notifier_event (values as in the kernel)
// ---------------------------------------------------------------------------------------------

/** The range is being unmapped (munmap) or moved (mremap). */
export const MMU_NOTIFY_UNMAP = 0;
/** Generic clearing or replacement of PTEs (madvise zap, COW, reclaim, migration, THP split). */
export const MMU_NOTIFY_CLEAR = 1;
/** A protection change applying to the whole range (mprotect). */
export const MMU_NOTIFY_PROTECTION_VMA = 2;
/** A per-page permission change (write-protect for fork, writeback cleaning). */
export const MMU_NOTIFY_PROTECTION_PAGE = 3;
/** Soft-dirty tracking was reset (clear_refs). */
export const MMU_NOTIFY_SOFT_DIRTY = 4;
/** Sent to interval notifiers only, at mm teardown, over [0, ULONG_MAX). */
export const MMU_NOTIFY_RELEASE = 5;
/** Device migration; `owner` is the migrating driver's pgmap owner. */
export const MMU_NOTIFY_MIGRATE = 6;
/** A PTE becomes a device-exclusive entry; `owner` is the caller of make_device_exclusive. */
export const MMU_NOTIFY_EXCLUSIVE = 7;

/** enum mmu_notifier_event. */
export type MmuNotifierEvent = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7;

const EVENT_NAMES = [
  'MMU_NOTIFY_UNMAP',
  'MMU_NOTIFY_CLEAR',
  'MMU_NOTIFY_PROTECTION_VMA',
  'MMU_NOTIFY_PROTECTION_PAGE',
  'MMU_NOTIFY_SOFT_DIRTY',
  'MMU_NOTIFY_RELEASE',
  'MMU_NOTIFY_MIGRATE',
  'MMU_NOTIFY_EXCLUSIVE',
] as const;

/** The kernel name of an event (`5` → `"MMU_NOTIFY_RELEASE"`). */
export function mmuNotifierEventName(event: number): string {
  return EVENT_NAMES[event] ?? `event ${event}`;
}

/** MMU_NOTIFIER_RANGE_BLOCKABLE: bit 0 of `range.flags`; callbacks may sleep. */
export const MMU_NOTIFIER_RANGE_BLOCKABLE = 1;

// ---------------------------------------------------------------------------------------------
// Numeric bounds
// ---------------------------------------------------------------------------------------------

/**
 * ULONG_MAX of the model. Deviation: addresses are JavaScript numbers, so the largest
 * address is 2^53-1 (Number.MAX_SAFE_INTEGER, also the interval tree's bound) instead of
 * 2^64-1. Used consistently: the insert overflow test (`start + length - 1 > ULONG_MAX`),
 * the RELEASE range [0, ULONG_MAX), and `find(mm, ops, 0, ULONG_MAX)`.
 */
export const ULONG_MAX = Number.MAX_SAFE_INTEGER;

/** UINT_MAX: the limit of a classic notifier's get() count (`users`). */
export const UINT_MAX = 0xffff_ffff;

// ---------------------------------------------------------------------------------------------
// struct mmu_notifier_range
// ---------------------------------------------------------------------------------------------

/**
 * struct mmu_notifier_range: the half-open range [start, end) of `mm` whose PTEs change,
 * why (`event`), whether callbacks may sleep (`flags & MMU_NOTIFIER_RANGE_BLOCKABLE`, read
 * as `blockable`), and the `owner` cookie of MIGRATE and EXCLUSIVE events (null otherwise).
 *
 * Build it with {@link mmuNotifierRangeInit} (mmu_notifier_range_init / _init_owner). The
 * start wrappers overwrite the blockable bit, as the kernel's do.
 */
export class MmuNotifierRange {
  constructor(
    /** The address space whose PTEs change (range->mm). */
    readonly mm: MmStruct,
    /** First address of the range, inclusive (range->start). */
    public start: number,
    /** End of the range, exclusive (range->end). */
    public end: number,
    /** Why the PTEs change, one of MMU_NOTIFY_* (range->event). */
    public event: MmuNotifierEvent,
    /**
     * MMU_NOTIFIER_RANGE_* bits (range->flags). The invalidate-start wrappers set or clear
     * MMU_NOTIFIER_RANGE_BLOCKABLE before calling the subscribers.
     */
    public flags = 0,
    /**
     * The owner cookie of MIGRATE and EXCLUSIVE events (range->owner), compared by subscribers
     * with their own to skip their own migrations; null for other events.
     */
    public owner: unknown = null,
  ) {}

  /** mmu_notifier_range_blockable(): callbacks may sleep. */
  get blockable(): boolean {
    return (this.flags & MMU_NOTIFIER_RANGE_BLOCKABLE) !== 0;
  }

  /** The range, its event and `nonblock` when not blockable, for messages and traces. */
  toString(): string {
    return (
      `[0x${this.start.toString(16)}, 0x${this.end.toString(16)}) ${mmuNotifierEventName(this.event)}` +
      `${this.blockable ? '' : ' nonblock'}`
    );
  }
}

/**
 * mmu_notifier_range_init() and mmu_notifier_range_init_owner(): a range of `mm` for
 * `event`. Atomic (no locks, never sleeps). Addresses must be integers with
 * 0 <= start <= end <= ULONG_MAX and `event` one of MMU_NOTIFY_* (RangeError otherwise).
 */
export function mmuNotifierRangeInit(
  event: MmuNotifierEvent | number,
  flags: number,
  mm: MmStruct,
  start: number,
  end: number,
  owner: unknown = null,
): MmuNotifierRange {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || start > end) {
    throw new RangeError(
      `mmuNotifierRangeInit: need integers 0 <= start <= end <= 2^53-1, got start=${start} end=${end}`,
    );
  }
  if (!Number.isInteger(event) || event < MMU_NOTIFY_UNMAP || event > MMU_NOTIFY_EXCLUSIVE) {
    throw new RangeError(`mmuNotifierRangeInit: unknown event ${String(event)} (expected 0..7)`);
  }
  return new MmuNotifierRange(mm, start, end, event as MmuNotifierEvent, flags, owner);
}

// ---------------------------------------------------------------------------------------------
// Callback tables
// ---------------------------------------------------------------------------------------------

/** A callback result the core awaits: callbacks may be async (they may sleep when blockable). */
export type MaybePromise<T> = T | Promise<T>;

/**
 * struct mmu_notifier_ops: the classic (whole-mm) notifier callbacks. Every member is
 * optional, as in the kernel.
 *
 * Deviation: the subscription is passed as the LAST argument (`invalidateRangeStart(range,
 * sub)`, `release(mm, sub)`) rather than the first, so that the one-argument forms of the
 * public API sketch (`invalidateRangeStart(range) { return 0; }`) work unchanged.
 */
export interface MmuNotifierOps {
  /**
   * The mm is being torn down (exit_mmap) or the notifier unregistered: stop the secondary
   * MMU and drop every SPTE. Runs under the notifier SRCU read lock; may sleep.
   */
  release?(mm: MmStruct, sub: MmuNotifier): MaybePromise<void>;
  /**
   * PTEs in `range` are about to change. Returns 0, or -EAGAIN only when `range` is not
   * blockable and the callback would have to sleep. A notifier whose start can fail must
   * not have `invalidateRangeEnd` (the kernel warns; the model reports).
   */
  invalidateRangeStart?(range: MmuNotifierRange, sub: MmuNotifier): MaybePromise<number>;
  /** PTEs in `range` have changed; always paired with a successful start. */
  invalidateRangeEnd?(range: MmuNotifierRange, sub: MmuNotifier): MaybePromise<void>;
  /** Page aging: test-and-clear young in the secondary MMU with a flush; results are OR-ed. */
  clearFlushYoung?(mm: MmStruct, start: number, end: number, sub: MmuNotifier): MaybePromise<boolean>;
  /** Like clearFlushYoung without the mandatory flush. */
  clearYoung?(mm: MmStruct, start: number, end: number, sub: MmuNotifier): MaybePromise<boolean>;
  /** Query the secondary MMU's accessed bit without clearing; the first true wins. */
  testYoung?(mm: MmStruct, address: number, sub: MmuNotifier): MaybePromise<boolean>;
  /**
   * arch_invalidate_secondary_tlbs: secondary TLBs sharing the CPU page tables. Never
   * sleeps. A notifier may not have both this and a range start/end callback (-EINVAL).
   */
  archInvalidateSecondaryTlbs?(mm: MmStruct, start: number, end: number, sub: MmuNotifier): void;
  /**
   * For mmuNotifierGet(): allocate the notifier for `mm` (a new MmuNotifier, usually a
   * subclass carrying the driver's state), or return a negative errno. Deviation: when
   * absent, the core allocates a plain `MmuNotifier` (the kernel requires the callback).
   */
  allocNotifier?(mm: MmStruct): MmuNotifier | number;
  /**
   * For mmuNotifierPut(): free the notifier. Runs from an SRCU callback after a grace
   * period and must not sleep. Deviation: upstream requires it for get/put (a missing one
   * would be a NULL call); when absent the model kfree()s the notifier instead.
   */
  freeNotifier?(sub: MmuNotifier): void;
}

/**
 * struct mmu_interval_notifier_finish: the token a two-pass callback hands back from its
 * first pass to be called again in the second (see
 * {@link MmuIntervalNotifierOps.invalidateStart}). Drivers extend it with what the second
 * pass needs, as the kernel's embed it in a larger struct. Each in-flight invalidation
 * needs its own token: queueing one that another invalidation has queued and not yet
 * finished corrupts the kernel's list, and is reported as a kernel bug.
 */
export interface MmuIntervalNotifierFinish {
  /** Set by the core when it queues the token: the subscription whose pass it finishes. */
  notifier?: MmuIntervalNotifier;
}

/**
 * struct mmu_interval_notifier_ops. A subscription has `invalidate`, or the two-pass pair
 * `invalidateStart` + `invalidateFinish` (which wins when both are given, as upstream).
 */
export interface MmuIntervalNotifierOps {
  /**
   * An invalidation overlaps the subscription's interval. Upon return the device must no
   * longer use SPTEs in the overlap. A driver using the read_begin/read_retry protocol
   * takes its user lock, calls `sub.setSeq(curSeq)`, zaps, and unlocks. May sleep only when
   * `range.blockable`; returns false only if it would have had to sleep on a non-blockable
   * range.
   */
  invalidate?(sub: MmuIntervalNotifier, range: MmuNotifierRange, curSeq: number): MaybePromise<boolean>;
  /**
   * The first pass of a two-pass invalidation (invalidate_start, from the two-pass
   * series for multi-GPU drivers; newest tree only). As `invalidate`, but the callback may
   * start the device work and return a finish token instead of `true`: once every
   * overlapping subscription had its first pass, the core calls `invalidateFinish(token)`
   * for each queued token in the order they were returned, before the invalidation start
   * returns. Returning `true` means the whole invalidation was done here; `false` refuses a
   * non-blockable range as `invalidate` does (the tokens already queued are still finished).
   */
  invalidateStart?(
    sub: MmuIntervalNotifier,
    range: MmuNotifierRange,
    curSeq: number,
  ): MaybePromise<boolean | MmuIntervalNotifierFinish>;
  /**
   * The second pass (invalidate_finish) for a token `invalidateStart` returned; on return the
   * device must no longer use SPTEs in the overlap. Cannot fail. Runs in the same context as
   * the first pass (it may sleep only when the range is blockable).
   */
  invalidateFinish?(finish: MmuIntervalNotifierFinish): MaybePromise<void>;
  /**
   * Only for {@link MmuIntervalNotifier.removeDeferred} (the proposed
   * mmu_interval_notifier_put, not in mainline): called once the subscription has left the tree
   * and no callback of it can run any more; the owner may free it here. Must not sleep.
   * Not called by `remove()`, and unrelated to the RELEASE event of mm teardown (which
   * arrives through `invalidate`).
   */
  release?(sub: MmuIntervalNotifier): void;
}

// ---------------------------------------------------------------------------------------------
// Errors of the convenience functions
// ---------------------------------------------------------------------------------------------

/**
 * Thrown by the convenience forms (`mmuNotifierRegister(mm, ops)`,
 * `mmuIntervalNotifierInsert(mm, start, length, ops)`) when the kernel-shaped call they wrap
 * returns a negative errno. `errno` holds that negative value (e.g. -EOVERFLOW).
 */
export class NotifierError extends Error {
  constructor(
    /** The negative errno the wrapped call returned. */
    readonly errno: number,
    what: string,
  ) {
    super(`${what} failed with ${errnoName(errno)}`);
    this.name = 'NotifierError';
  }
}
