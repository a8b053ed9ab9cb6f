/**
 * hmmRangeFault conformance: per-page requests, what is faulted and what is only snapshotted, the
 * errors (-EBUSY, -EFAULT, -EPERM, -EINVAL), map orders, and the preconditions reported as violations.
 */
import { describe, expect, it } from 'vitest';

import { EBUSY, EFAULT, EINVAL, EPERM } from '../../src/sim/errno.js';
import {
  MADV_HUGEPAGE,
  MAP_FIXED,
  MAP_SHARED,
  PMD_SIZE,
  PROT_NONE,
  PROT_READ,
  VM_IO,
  VM_PFNMAP,
} from '../../src/mm/constants.js';
import { PTE_KIND_NONE, PTE_KIND_PRESENT, PTE_SPECIAL, PTE_WRITE } from '../../src/mm/page-table.js';
import {
  HMM_PFN_ERROR,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  hmmPfnFlags,
  hmmPfnToMapOrder,
  hmmPfnToPfn,
} from '../../src/hmm/pfn.js';
import { hmmRangeFault } from '../../src/hmm/range-fault.js';
import { A, expectOk, fill, mapAnon, PAGE, rangeFaultOnce, RW, runKernel, subscribe } from './helpers.js';

const flagsOf = (a: ArrayLike<number>): number[] => Array.from(a, (e) => hmmPfnFlags(e));

describe('hmmRangeFault', () => {
  it('a pure snapshot of an untouched range reports 0 everywhere and faults nothing', async () => {
    const run = await runKernel(async (k) => {
      const p = k.createProcess('app');
      await mapAnon(p, 8 * PAGE);
      const { sub } = await subscribe(p.mm, A, 8 * PAGE);
      const pfns = new Float64Array(8);
      expect(await rangeFaultOnce(sub, A, A + 8 * PAGE, pfns, 0)).toBe(0);
      expect(flagsOf(pfns)).toEqual(new Array(8).fill(0));
      for (let i = 0; i < 8; i++) expect(p.mm.pageTable.kindAt(A + i * PAGE)).toBe(PTE_KIND_NONE);
    });
    expectOk(run);
  });

  it('REQ_FAULT read-faults the range: the zero page, VALID without WRITE, order 0', async () => {
    const run = await runKernel(async (k) => {
      const p = k.createProcess('app');
      await mapAnon(p, 4 * PAGE);
      const { sub } = await subscribe(p.mm, A, 4 * PAGE);
      const pfns: number[] = new Array(4).fill(0);
      expect(await rangeFaultOnce(sub, A, A + 4 * PAGE, pfns, HMM_PFN_REQ_FAULT)).toBe(0);
      expect(flagsOf(pfns)).toEqual(new Array(4).fill(HMM_PFN_VALID));
      for (const e of pfns) {
        expect(hmmPfnToPfn(e)).toBe(k.phys.zeroPfn);
        expect(hmmPfnToMapOrder(e)).toBe(0);
      }
    });
    expectOk(run);
  });

  it('snapshots populated pages with their pfn and write permission', async () => {
    const run = await runKernel(async (k) => {
      const p = k.createProcess('app');
      await mapAnon(p, 3 * PAGE);
      expect(await p.write(A + PAGE, fill(4, 7))).toBe(0);
      const { sub } = await subscribe(p.mm, A, 3 * PAGE);
      const pfns = new Float64Array(3);
      expect(await rangeFaultOnce(sub, A, A + 3 * PAGE, pfns, 0)).toBe(0);
      expect(flagsOf(pfns)).toEqual([0, HMM_PFN_VALID | HMM_PFN_WRITE, 0]);
      expect(hmmPfnToPfn(pfns[1])).toBe(p.mm.pageTable.pfnAt(A + PAGE));
    });
    expectOk(run);
  });

  it('a per-page write request after a read fault: the COW break invalidates, -EBUSY, then writable from that page to the segment end', async () => {
    const run = await runKernel(async (k) => {
      const p = k.createProcess('app');
      await mapAnon(p, 4 * PAGE);
      expect(await p.read(A, 4 * PAGE)).toEqual(fill(4 * PAGE, 0)); // zero page everywhere
      const { sub, seen } = await subscribe(p.mm, A, 4 * PAGE);
      const pfns = [0, 0, HMM_PFN_REQ_WRITE, 0];
      const ret = await rangeFaultOnce(sub, A, A + 4 * PAGE, pfns, HMM_PFN_REQ_FAULT, HMM_PFN_REQ_WRITE);
      expect(ret).toBe(-EBUSY);
      // The write fault covered pages 2 and 3 (the rest of the segment), each a CLEAR of one page.
      expect(seen).toEqual([
        ['MMU_NOTIFY_CLEAR', A + 2 * PAGE, A + 3 * PAGE, null],
        ['MMU_NOTIFY_CLEAR', A + 3 * PAGE, A + 4 * PAGE, null],
      ]);
      // Entries from the stop address on still hold their inputs.
      expect(pfns[2]).toBe(HMM_PFN_REQ_WRITE);
      expect(await rangeFaultOnce(sub, A, A + 4 * PAGE, pfns, HMM_PFN_REQ_FAULT, HMM_PFN_REQ_WRITE)).toBe(0);
      expect(flagsOf(pfns)).toEqual([
        HMM_PFN_VALID,
        HMM_PFN_VALID,
        HMM_PFN_VALID | HMM_PFN_WRITE,
        HMM_PFN_VALID | HMM_PFN_WRITE,
      ]);
      expect(hmmPfnToPfn(pfns[0])).toBe(k.phys.zeroPfn);
      expect(hmmPfnToPfn(pfns[2])).not.toBe(k.phys.zeroPfn);
    });
    expectOk(run);
  });

  it('honours only the bits pfnFlagsMask selects; an empty PMD is faulted whole, a PTE table from the requested page on', async () => {
    const run = await runKernel(async (k) => {
      const p = k.createProcess('app');
      await mapAnon(p, 3 * PAGE);
      const { sub } = await subscribe(p.mm, A, 3 * PAGE);
      const pt = p.mm.pageTable;
      // Per-page REQ_FAULT with mask 0 is ignored: a snapshot.
      const pfns = [HMM_PFN_REQ_FAULT, HMM_PFN_REQ_FAULT, 0];
      expect(await rangeFaultOnce(sub, A, A + 3 * PAGE, pfns, 0, 0)).toBe(0);
      expect(flagsOf(pfns)).toEqual([0, 0, 0]);
      // The PMD is empty: a request for page 1 faults the whole hole, page 0 included.
      const pfns2 = [0, HMM_PFN_REQ_FAULT, 0];
      expect(await rangeFaultOnce(sub, A, A + 3 * PAGE, pfns2, 0, HMM_PFN_REQ_FAULT)).toBe(0);
      expect(flagsOf(pfns2)).toEqual([HMM_PFN_VALID, HMM_PFN_VALID, HMM_PFN_VALID]);
      expect(await p.madvise(A, 3 * PAGE, 4 /* MADV_DONTNEED */)).toBe(0);
      expect(await p.write(A + 2 * PAGE, fill(1, 1))).toBe(0);
      // A PTE table exists now: only from page 1 to the segment end is faulted.
      const pfns3 = [0, HMM_PFN_REQ_FAULT, 0];
      expect(await rangeFaultOnce(sub, A, A + 3 * PAGE, pfns3, 0, HMM_PFN_REQ_FAULT)).toBe(0);
      expect(flagsOf(pfns3)).toEqual([0, HMM_PFN_VALID, HMM_PFN_VALID | HMM_PFN_WRITE]);
      expect(pt.kindAt(A)).toBe(PTE_KIND_NONE);
      expect(pt.kindAt(A + PAGE)).toBe(PTE_KIND_PRESENT);
      void k;
    });
    expectOk(run);
  });

  it('-EBUSY when the sequence moved before the call, without touching the array', async () => {
    const run = await runKernel(async (k) => {
      const p = k.createProcess('app');
      await mapAnon(p, 2 * PAGE);
      expect(await p.write(A, fill(1, 1))).toBe(0);
      const { sub } = await subscribe(p.mm, A, 2 * PAGE);
      const seq = await sub.readBegin();
      expect(await p.mprotect(A, 2 * PAGE, PROT_READ)).toBe(0);
      await p.mm.mmapLock.downRead();
      const pfns = [HMM_PFN_REQ_FAULT, 0];
      const ret = await hmmRangeFault({
        notifier: sub,
        notifierSeq: seq,
        start: A,
        end: A + 2 * PAGE,
        hmmPfns: pfns,
        defaultFlags: 0,
        pfnFlagsMask: HMM_PFN_REQ_FAULT,
      });
      p.mm.mmapLock.upRead();
      expect(ret).toBe(-EBUSY);
      expect(pfns).toEqual([HMM_PFN_REQ_FAULT, 0]);
      void k;
    });
    expectOk(run);
  });

  it('-EFAULT for a requested hole; ERROR for an unrequested one', async () => {
    const run = await runKernel(async (k) => {
      const p = k.createProcess('app');
      await mapAnon(p, PAGE);
      await mapAnon(p, PAGE, RW, A + 2 * PAGE); // hole at A + PAGE
      const { sub } = await subscribe(p.mm, A, 3 * PAGE);
      const pfns = new Float64Array(3);
      expect(await rangeFaultOnce(sub, A, A + 3 * PAGE, pfns, 0)).toBe(0);
      expect(flagsOf(pfns)).toEqual([0, HMM_PFN_ERROR, 0]);
      expect(await rangeFaultOnce(sub, A, A + 3 * PAGE, new Float64Array(3), HMM_PFN_REQ_FAULT)).toBe(
        -EFAULT,
      );
      void k;
    });
    expectOk(run);
  });

  it('-EFAULT for a requested PROT_NONE page, ERROR when only snapshotted', async () => {
    const run2 = await runKernel(async (k) => {
      const p = k.createProcess('app');
      await mapAnon(p, 2 * PAGE, PROT_NONE);
      const { sub } = await subscribe(p.mm, A, 2 * PAGE);
      const pfns = new Float64Array(2);
      expect(await rangeFaultOnce(sub, A, A + 2 * PAGE, pfns, 0)).toBe(0);
      expect(flagsOf(pfns)).toEqual([HMM_PFN_ERROR, HMM_PFN_ERROR]);
      expect(await rangeFaultOnce(sub, A, A + 2 * PAGE, new Float64Array(2), HMM_PFN_REQ_FAULT)).toBe(
        -EFAULT,
      );
      void k;
    });
    expectOk(run2);
  });

  it('-EPERM for a write request on a read-only VMA; a read request succeeds', async () => {
    const run2 = await runKernel(async (k) => {
      const p = k.createProcess('app');
      await mapAnon(p, 2 * PAGE, PROT_READ);
      const { sub } = await subscribe(p.mm, A, 2 * PAGE);
      const w = HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE;
      expect(await rangeFaultOnce(sub, A, A + 2 * PAGE, new Float64Array(2), w)).toBe(-EPERM);
      const pfns = new Float64Array(2);
      expect(await rangeFaultOnce(sub, A, A + 2 * PAGE, pfns, HMM_PFN_REQ_FAULT)).toBe(0);
      expect(flagsOf(pfns)).toEqual([HMM_PFN_VALID, HMM_PFN_VALID]);
      void k;
    });
    expectOk(run2);
  });

  it('a PMD-mapped THP is reported with order 9 and consecutive pfns', async () => {
    const run = await runKernel(
      async (k) => {
        const p = k.createProcess('app');
        await mapAnon(p, PMD_SIZE);
        expect(await p.madvise(A, PMD_SIZE, MADV_HUGEPAGE)).toBe(0);
        expect(await p.write(A, fill(1, 1))).toBe(0);
        expect(p.mm.pageTable.isHugeAt(A)).toBe(true);
        const { sub } = await subscribe(p.mm, A, PMD_SIZE);
        const n = PMD_SIZE / PAGE;
        const pfns = new Float64Array(4);
        // A sub-range in the middle of the THP.
        const s = A + 10 * PAGE;
        expect(await rangeFaultOnce(sub, s, s + 4 * PAGE, pfns, HMM_PFN_REQ_FAULT)).toBe(0);
        const head = p.mm.pageTable.pfnAt(A);
        for (let i = 0; i < 4; i++) {
          expect(hmmPfnFlags(pfns[i])).toBe(HMM_PFN_VALID | HMM_PFN_WRITE);
          expect(hmmPfnToMapOrder(pfns[i])).toBe(9);
          expect(hmmPfnToPfn(pfns[i])).toBe(head + 10 + i);
        }
        void n;
      },
      { memoryPages: 8192 },
    );
    expectOk(run);
  });

  it('VM_PFNMAP / VM_IO mappings and special PTEs: ERROR when snapshotted, -EFAULT when requested', async () => {
    const run = await runKernel(async (k) => {
      const p = k.createProcess('app');
      // A driver mapping raw pfns (remap_pfn_range): VM_IO | VM_PFNMAP.
      const pfnmap = {
        name: 'pfnmap',
        mmap(_mm: unknown, vma: { flags: number }) {
          vma.flags |= VM_IO | VM_PFNMAP;
          return 0;
        },
        get() {},
        put() {},
      };
      const f = await p.mmap({
        addr: A,
        length: 2 * PAGE,
        prot: RW,
        flags: MAP_SHARED | MAP_FIXED,
        file: pfnmap,
      });
      expect(f).toBe(A);
      const { sub } = await subscribe(p.mm, A, 4 * PAGE);
      const snap = new Float64Array(2);
      expect(await rangeFaultOnce(sub, A, A + 2 * PAGE, snap, 0)).toBe(0);
      expect(flagsOf(snap)).toEqual([HMM_PFN_ERROR, HMM_PFN_ERROR]);
      expect(await rangeFaultOnce(sub, A, A + 2 * PAGE, new Float64Array(2), HMM_PFN_REQ_FAULT)).toBe(
        -EFAULT,
      );
      // A special PTE (vm_insert_pfn in a mixed map) in an ordinary readable VMA.
      await mapAnon(p, 2 * PAGE, RW, A + 2 * PAGE);
      await p.mm.ptl.lock();
      p.mm.pageTable.set(A + 2 * PAGE, PTE_KIND_PRESENT, 3, PTE_SPECIAL | PTE_WRITE);
      p.mm.ptl.unlock();
      const s2 = new Float64Array(2);
      expect(await rangeFaultOnce(sub, A + 2 * PAGE, A + 4 * PAGE, s2, 0)).toBe(0);
      expect(flagsOf(s2)).toEqual([HMM_PFN_ERROR, 0]);
      expect(
        await rangeFaultOnce(sub, A + 2 * PAGE, A + 4 * PAGE, new Float64Array(2), HMM_PFN_REQ_FAULT),
      ).toBe(-EFAULT);
      p.mm.pageTable.clear(A + 2 * PAGE);
    });
    expectOk(run);
  });

  it('bad input: misaligned, empty, reversed, unknown flags, stale notifier give -EINVAL and leave the array alone', async () => {
    const run = await runKernel(async (k) => {
      const p = k.createProcess('app');
      await mapAnon(p, 8 * PAGE);
      const { sub } = await subscribe(p.mm, A, 8 * PAGE);
      const seq = await sub.readBegin();
      await p.mm.mmapLock.downRead();
      const pfns = [HMM_PFN_REQ_FAULT, 0, 0, 0];
      const call = (start: number, end: number, defaultFlags = HMM_PFN_REQ_FAULT, pfnFlagsMask = 0) =>
        hmmRangeFault({
          notifier: sub,
          notifierSeq: seq,
          start,
          end,
          hmmPfns: pfns,
          defaultFlags,
          pfnFlagsMask,
        });
      expect(await call(A + 1, A + PAGE)).toBe(-EINVAL);
      expect(await call(A, A + PAGE + 5)).toBe(-EINVAL);
      expect(await call(A, A)).toBe(-EINVAL);
      expect(await call(A + PAGE, A)).toBe(-EINVAL);
      expect(await call(A, A + PAGE, 1 << 12)).toBe(-EINVAL);
      expect(await call(A, A + PAGE, 0, 1 << 12)).toBe(-EINVAL);
      expect(await call(A, A + 9 * PAGE)).toBe(-EINVAL); // beyond the notifier
      await expect(call(A, A + 5 * PAGE)).rejects.toThrow(/hmmPfns has 4 entries/);
      p.mm.mmapLock.upRead();
      expect(pfns).toEqual([HMM_PFN_REQ_FAULT, 0, 0, 0]);
      expect(p.mm.pageTable.kindAt(A)).toBe(PTE_KIND_NONE);
      await sub.remove();
      await p.mm.mmapLock.downRead();
      expect(await call(A, A + PAGE)).toBe(-EINVAL); // removed: stale
      p.mm.mmapLock.upRead();
      void k;
    });
    expectOk(run);
  });

  it('calling it without the mmap lock is a lock-misuse violation', async () => {
    const run = await runKernel(async (k) => {
      const p = k.createProcess('app');
      await mapAnon(p, PAGE);
      const { sub } = await subscribe(p.mm, A, PAGE);
      const seq = await sub.readBegin();
      await hmmRangeFault({
        notifier: sub,
        notifierSeq: seq,
        start: A,
        end: A + PAGE,
        hmmPfns: [0],
        defaultFlags: HMM_PFN_REQ_FAULT,
        pfnFlagsMask: 0,
      });
    });
    expect(run.status).not.toBe('ok');
    expect(run.violations[0].kind).toBe('lock-misuse');
    expect(run.violations[0].message).toMatch(/hmm_range_fault.*mmap_lock/);
  });

  it('calling it on an mm whose users dropped to zero is a violation', async () => {
    const run = await runKernel(async (k) => {
      const p = k.createProcess('app');
      await mapAnon(p, PAGE);
      const { sub } = await subscribe(p.mm, A, PAGE);
      const mm = p.mm;
      const seq = await sub.readBegin();
      await p.exit(0);
      expect(mm.users).toBe(0);
      await mm.mmapLock.downRead();
      await hmmRangeFault({
        notifier: sub,
        notifierSeq: seq,
        start: A,
        end: A + PAGE,
        hmmPfns: [0],
        defaultFlags: 0,
        pfnFlagsMask: 0,
      });
      mm.mmapLock.upRead();
    });
    expect(run.status).not.toBe('ok');
    expect(run.violations[0].kind).toBe('kernel-bug');
    expect(run.violations[0].message).toMatch(/mm_users 0/);
  });
});
