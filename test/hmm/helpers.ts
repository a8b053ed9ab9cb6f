/**
 * Helpers of the HMM tests: a subscription that records and honours invalidations, and the
 * canonical populate call (readBegin, mmap read lock, hmmRangeFault, unlock).
 */
import { expect } from 'vitest';

import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../src/mm/constants.js';
import type { Process } from '../../src/mm/process.js';
import type { Mm } from '../../src/mm/mm.js';
import { mmuIntervalNotifierInsert } from '../../src/notifier/interval.js';
import type { MmuIntervalNotifier } from '../../src/notifier/interval.js';
import { mmuNotifierEventName } from '../../src/notifier/types.js';
import { hmmRangeFault } from '../../src/hmm/range-fault.js';
import type { PfnArray } from '../../src/hmm/types.js';

export { expectOk, fill, PAGE, recordNotifier, runKernel, starts } from '../mm/helpers.js';

export const RW = PROT_READ | PROT_WRITE;
export const A = 0x40000000;

/** Maps `length` bytes of private anonymous memory at `addr` with `prot`. */
export async function mapAnon(p: Process, length: number, prot = RW, addr = A): Promise<number> {
  const got = await p.mmap({ addr, length, prot, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED });
  expect(got).toBe(addr);
  return got;
}

/** One invalidation an interval subscription received: [event name, start, end, owner]. */
export type SeenInvalidation = [string, number, number, unknown];

/** A subscription over [start, start + length) that sets its sequence on every invalidation. */
export async function subscribe(
  mm: Mm,
  start: number,
  length: number,
): Promise<{ sub: MmuIntervalNotifier; seen: SeenInvalidation[] }> {
  const seen: SeenInvalidation[] = [];
  const sub = await mmuIntervalNotifierInsert(mm, start, length, {
    invalidate(s, range, curSeq) {
      seen.push([mmuNotifierEventName(range.event), range.start, range.end, range.owner]);
      s.setSeq(curSeq);
      return true;
    },
  });
  return { sub, seen };
}

/** readBegin, mmap read lock, one hmmRangeFault, unlock: its return value. */
export async function rangeFaultOnce(
  sub: MmuIntervalNotifier,
  start: number,
  end: number,
  hmmPfns: PfnArray,
  defaultFlags: number,
  pfnFlagsMask = 0,
  devPrivateOwner?: unknown,
): Promise<number> {
  const mm = sub.mm as Mm;
  const seq = await sub.readBegin();
  await mm.mmapLock.downRead();
  try {
    return await hmmRangeFault({
      notifier: sub,
      notifierSeq: seq,
      start,
      end,
      hmmPfns,
      defaultFlags,
      pfnFlagsMask,
      devPrivateOwner,
    });
  } finally {
    mm.mmapLock.upRead();
  }
}
