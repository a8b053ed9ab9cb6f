/**
 * The mmu notifier core (mm/mmu_notifier.c, include/linux/mmu_notifier.h).
 *
 * Kernel → model names:
 *   mmu_notifier_register / __mmu_notifier_register → mmuNotifierRegister(mm, ops) (throws),
 *     sub.register(mm) / mmuNotifierRegisterSub(sub, mm), sub.registerLocked(mm) / mmuNotifierRegisterLocked
 *   mmu_notifier_unregister        → sub.unregister() / mmuNotifierUnregister(sub, mm)
 *   mmu_notifier_unregister_no_release (since removed upstream) → sub.unregisterNoRelease()
 *   mmu_notifier_get(_locked)      → mmuNotifierGet(ops, mm) / mmuNotifierGetLocked (notifier or -errno)
 *   mmu_notifier_put               → sub.put() / mmuNotifierPut(sub)
 *   mmu_notifier_synchronize       → mmuNotifierSynchronize(sim)
 *   mmu_interval_notifier_insert(_locked) → new MmuIntervalNotifier(ops).insert(mm, start, length) /
 *     insertLocked (0/-errno); the sketch's mmuIntervalNotifierInsert(mm, start, length, ops) returns the
 *     subscription and throws NotifierError
 *   mmu_interval_notifier_remove   → sub.remove();  proposed _put/remove_deferred → sub.removeDeferred()
 *   proposed _find / _synchronize  → mmuIntervalNotifierFind(mm, ops, start, last) / mmuIntervalNotifierSynchronize(mm)
 *   mmu_interval_read_begin / read_retry / check_retry / set_seq → sub.readBegin() / readRetry(seq) /
 *     checkRetry(seq) / setSeq(curSeq)
 *   mmu_notifier_invalidate_range_start(_nonblock) / _end → mmuNotifierInvalidateRangeStart(range) /
 *     mmuNotifierInvalidateRangeStartNonblock(range) / mmuNotifierInvalidateRangeEnd(range)
 *   mmu_notifier_release (from exit_mmap) → mmuNotifierRelease(mm)
 *   mmu_notifier_range_init(_owner) → mmuNotifierRangeInit(event, flags, mm, start, end, owner?)
 */
export * from './types.js';
export {
  INSERT_NOT_DEFERRED,
  REMOVE_NO_WAIT,
  REMOVE_SEQ_READ_UNLOCKED,
  PANIC_ON_WARN,
  mmuNotifierWarnings,
  KIND_WARNING,
  KIND_INVARIANT,
} from './debug.js';
export { mmuNotifierSrcu } from './srcu.js';
export { mmInflightInvalidations, type MmAllLocks } from './all-locks.js';
export {
  MmuNotifierSubscriptions,
  mmuNotifierState,
  mmuNotifierSubscriptionsDestroy,
  type MmuNotifierState,
} from './subscriptions.js';
export { mmuNotifierRegisterLocked, mmuNotifierRegisterSub } from './register.js';
export {
  MmuNotifier,
  mmuNotifierRegister,
  mmuNotifierGet,
  mmuNotifierGetLocked,
  mmuNotifierPut,
  mmuNotifierUnregister,
  mmuNotifierUnregisterNoRelease,
  mmuNotifierSynchronize,
} from './classic.js';
export {
  MmuIntervalNotifier,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierFind,
  mmuIntervalNotifierSynchronize,
  type IntervalNotifierState,
  type MmuIntervalNotifierOptions,
} from './interval.js';
export {
  mmuNotifierInvalidateRangeStart,
  mmuNotifierInvalidateRangeStartNonblock,
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierRelease,
  mmuNotifierClearFlushYoung,
  mmuNotifierClearYoung,
  mmuNotifierTestYoung,
  mmuNotifierArchInvalidateSecondaryTlbs,
} from './invalidate.js';
