/**
 * hmm_range_fault (mm/hmm.c).
 */
import type { HmmRange } from './types.js';

/**
 * hmm_range_fault(range): snapshot the CPU page table of range.notifier's mm over [start, end) into
 * range.hmmPfns, faulting pages in where the requests demand it. Returns 0, -EBUSY (the notifier
 * sequence moved: restart from readBegin), -EFAULT, -EPERM, -EINVAL (bad range), -ENOMEM.
 *
 * Locks: the caller holds the mm's mmap lock (read or write; asserted) and a user reference on the
 * mm (mmgetNotZero; a zero mm_users is reported as a violation). May sleep (faults).
 */
export async function hmmRangeFault(range: HmmRange): Promise<number> {
  void range;
  return Promise.reject(new Error('hmmRangeFault: not yet'));
}
