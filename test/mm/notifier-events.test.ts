/**
 * The invalidations each operation raises, exactly as a classic notifier receives them:
 * (event, start, end, blockable, owner), each start followed by its end. The expected sequences are
 * those the functions' doc comments give for the kernel.
 */
import { describe, expect, it } from 'vitest';

import {
  MADV_DONTNEED,
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from '../../src/mm/constants.js';
import {
  PTE_DIRTY,
  PTE_KIND_DEVICE_EXCLUSIVE,
  PTE_KIND_PRESENT,
  PTE_WRITE,
} from '../../src/mm/page-table.js';
import { ptepSet } from '../../src/mm/memory.js';
import { ULONG_MAX, mmuNotifierEventName } from '../../src/notifier/types.js';
import { mmuNotifierRegister } from '../../src/notifier/classic.js';
import { mmuIntervalNotifierInsert } from '../../src/notifier/interval.js';
import type { Kernel } from '../../src/mm/kernel.js';
import type { Mm } from '../../src/mm/mm.js';
import type { Process } from '../../src/mm/process.js';
import { expectOk, fill, PAGE, recordNotifier, runKernel, type Seen } from './helpers.js';

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;
const A = 0x30000000;

type Ev = [string, number, number];

/** The expected start/end pairs, all blockable with owner null. */
function pairs(...events: Ev[]): Seen[] {
  const out: Seen[] = [];
  for (const [event, start, end] of events) {
    out.push({ what: 'start', event: `MMU_NOTIFY_${event}`, start, end, blockable: true, owner: null });
    out.push({ what: 'end', event: `MMU_NOTIFY_${event}`, start, end, blockable: true, owner: null });
  }
  return out;
}

async function map(p: Process, addr: number, npages: number, prot = RW, flags = ANON): Promise<number> {
  const a = await p.mmap({ addr, length: npages * PAGE, prot, flags: flags | MAP_FIXED });
  expect(a).toBe(addr);
  return a;
}

/** Runs `body` with a process and a recorder registered on it; setup output is discarded. */
function withRecorder(
  body: (k: Kernel, p: Process, seen: Seen[], reset: () => void) => Promise<void>,
): Promise<void> {
  return runKernel(async (k) => {
    const p = k.createProcess('app');
    const seen = await recordNotifier(p.mm);
    await body(k, p, seen, () => (seen.length = 0));
  }).then(expectOk);
}

describe('notifier events: munmap and mmap', () => {
  it('munmap raises one UNMAP over exactly the requested range', () =>
    withRecorder(async (_k, p, seen, reset) => {
      await map(p, A, 4);
      await p.write(A, fill(4 * PAGE, 1));
      reset();
      expect(await p.munmap(A + PAGE, 2 * PAGE)).toBe(0);
      expect(seen).toEqual(pairs(['UNMAP', A + PAGE, A + 3 * PAGE]));
    }));

  it('munmap over two VMAs and a hole: still one UNMAP over the whole request', () =>
    withRecorder(async (_k, p, seen, reset) => {
      await map(p, A, 2);
      await map(p, A + 3 * PAGE, 1, PROT_READ);
      reset();
      expect(await p.munmap(A - PAGE, 6 * PAGE)).toBe(0);
      expect(seen).toEqual(pairs(['UNMAP', A - PAGE, A + 5 * PAGE]));
    }));

  it('munmap of nothing raises nothing', () =>
    withRecorder(async (_k, p, seen) => {
      expect(await p.munmap(A, PAGE)).toBe(0);
      expect(seen).toEqual([]);
    }));

  it('mmap: MAP_FIXED over a mapping raises UNMAP over the new range; over nothing, none', () =>
    withRecorder(async (_k, p, seen, reset) => {
      await map(p, A, 4);
      reset();
      await map(p, A + PAGE, 4, PROT_READ);
      expect(seen).toEqual(pairs(['UNMAP', A + PAGE, A + 5 * PAGE]));
      reset();
      await map(p, A + 0x100000, 2);
      expect(await p.mmap({ length: PAGE, prot: RW, flags: ANON })).toBeGreaterThan(0);
      expect(seen).toEqual([]);
    }));
});

describe('notifier events: mprotect', () => {
  it('PROTECTION_VMA over the changed part of a populated VMA; none when nothing changes', () =>
    withRecorder(async (_k, p, seen, reset) => {
      await map(p, A, 4);
      await p.write(A, fill(1, 1));
      reset();
      expect(await p.mprotect(A + PAGE, 2 * PAGE, PROT_READ)).toBe(0);
      expect(seen).toEqual(pairs(['PROTECTION_VMA', A + PAGE, A + 3 * PAGE]));
      reset();
      expect(await p.mprotect(A + PAGE, 2 * PAGE, PROT_READ)).toBe(0);
      expect(seen).toEqual([]);
    }));

  it('one PROTECTION_VMA per VMA part, in address order', () =>
    withRecorder(async (_k, p, seen, reset) => {
      await map(p, A, 2);
      await map(p, A + 2 * PAGE, 2, PROT_READ);
      await p.write(A, fill(1, 1));
      reset();
      expect(await p.mprotect(A, 4 * PAGE, PROT_NONE)).toBe(0);
      expect(seen).toEqual(
        pairs(['PROTECTION_VMA', A, A + 2 * PAGE], ['PROTECTION_VMA', A + 2 * PAGE, A + 4 * PAGE]),
      );
    }));

  it('lazy, as change_pud_range: a range without page tables raises none', () =>
    withRecorder(async (_k, p, seen, reset) => {
      await map(p, A, 4);
      reset();
      expect(await p.mprotect(A, 4 * PAGE, PROT_READ)).toBe(0);
      expect(seen).toEqual([]);
      // A populated neighbour in the same 1 GiB region makes the PUD present.
      await map(p, A + 0x200000, 1);
      await p.write(A + 0x200000, fill(1, 1));
      reset();
      expect(await p.mprotect(A, 4 * PAGE, PROT_NONE)).toBe(0);
      expect(seen).toEqual(pairs(['PROTECTION_VMA', A, A + 4 * PAGE]));
    }));
});

describe('notifier events: madvise', () => {
  it('MADV_DONTNEED: one CLEAR per VMA part, raised even where nothing is mapped', () =>
    withRecorder(async (_k, p, seen, reset) => {
      await map(p, A, 2);
      await map(p, A + 2 * PAGE, 2, PROT_READ);
      await p.write(A, fill(1, 1));
      reset();
      expect(await p.madvise(A + PAGE, 2 * PAGE, MADV_DONTNEED)).toBe(0);
      expect(seen).toEqual(pairs(['CLEAR', A + PAGE, A + 2 * PAGE], ['CLEAR', A + 2 * PAGE, A + 3 * PAGE]));
    }));

  it('MADV_HUGEPAGE changes flags only: no invalidation', () =>
    withRecorder(async (_k, p, seen, reset) => {
      await map(p, A, 4);
      await p.write(A, fill(4 * PAGE, 1));
      reset();
      expect(await p.madvise(A, 2 * PAGE, MADV_HUGEPAGE)).toBe(0);
      expect(seen).toEqual([]);
    }));
});

describe('notifier events: faults', () => {
  it('reads and first writes of anonymous memory raise nothing; a write to the zero page raises CLEAR', () =>
    withRecorder(async (_k, p, seen, reset) => {
      await map(p, A, 2);
      reset();
      await p.read(A, 1);
      await p.write(A + PAGE, fill(1, 1));
      expect(seen).toEqual([]);
      await p.write(A + 5, fill(1, 1));
      expect(seen).toEqual(pairs(['CLEAR', A, A + PAGE]));
    }));

  it("copy-on-write after fork: CLEAR on the writer's page; none once the page is exclusive again", () =>
    runKernel(async (k) => {
      const p = k.createProcess('parent');
      await map(p, A, 2);
      await p.write(A, fill(2 * PAGE, 1));
      const child = await p.fork();
      const ps = await recordNotifier(p.mm);
      const cs = await recordNotifier(child.mm);
      expect(await child.write(A + PAGE, fill(1, 2))).toBe(0);
      expect(cs).toEqual(pairs(['CLEAR', A + PAGE, A + 2 * PAGE]));
      expect(ps).toEqual([]);
      cs.length = 0;
      expect(await p.write(A, fill(1, 3))).toBe(0);
      expect(ps).toEqual(pairs(['CLEAR', A, A + PAGE]));
      ps.length = 0;
      // The parent's page 1 is no longer shared: written in place.
      expect(await p.write(A + PAGE, fill(1, 3))).toBe(0);
      expect(ps).toEqual([]);
      expect(cs).toEqual([]);
    }).then(expectOk));

  it('private file mapping: a write after a read copies the page-cache page (CLEAR)', () =>
    withRecorder(async (k, p, seen, reset) => {
      const f = k.createFile('f', 2 * PAGE);
      await f.pwrite(fill(2 * PAGE, 5), 0);
      expect(
        await p.mmap({ addr: A, length: 2 * PAGE, prot: RW, flags: MAP_PRIVATE | MAP_FIXED, file: f }),
      ).toBe(A);
      reset();
      await p.read(A, 1);
      await p.write(A + PAGE, fill(1, 1)); // first touch: do_cow_fault, no invalidation
      expect(seen).toEqual([]);
      await p.write(A, fill(1, 1));
      expect(seen).toEqual(pairs(['CLEAR', A, A + PAGE]));
    }));

  it('device-exclusive revocation by a CPU access: CLEAR over the page, owner null (v6.15+)', () =>
    withRecorder(async (k, p, seen, reset) => {
      await map(p, A, 2);
      await p.write(A, fill(2 * PAGE, 4));
      await makeExclusive(p.mm, A + PAGE);
      reset();
      expect(await p.read(A + PAGE, 2)).toEqual(fill(2, 4));
      expect(seen).toEqual(pairs(['CLEAR', A + PAGE, A + 2 * PAGE]));
      expect(p.mm.pageTable.kindAt(A + PAGE)).toBe(PTE_KIND_PRESENT);
      expect(p.mm.pageTable.flagsAt(A + PAGE) & PTE_WRITE).toBeTruthy();
      expect(k.phys.mapcountOf(p.mm.pageTable.pfnAt(A + PAGE))).toBe(1);
    }));
});

describe('notifier events: fork', () => {
  it('PROTECTION_PAGE over each private VMA with anonymous pages; none for untouched or shared ones', () =>
    withRecorder(async (_k, p, seen, reset) => {
      await map(p, A, 2);
      await map(p, A + 4 * PAGE, 2, PROT_READ); // only the zero page: no anon_vma
      await map(p, A + 8 * PAGE, 2, RW, MAP_SHARED | MAP_ANONYMOUS);
      await map(p, A + 12 * PAGE, 3);
      await p.write(A, fill(1, 1));
      await p.read(A + 4 * PAGE, 1);
      await p.write(A + 8 * PAGE, fill(1, 1));
      await p.write(A + 14 * PAGE, fill(1, 1));
      reset();
      const child = await p.fork();
      expect(seen).toEqual(
        pairs(['PROTECTION_PAGE', A, A + 2 * PAGE], ['PROTECTION_PAGE', A + 12 * PAGE, A + 15 * PAGE]),
      );
      await child.exit(0);
    }));
});

describe('notifier events: mremap', () => {
  it('move: UNMAP from move_page_tables, then UNMAP from unmapping the old range', () =>
    withRecorder(async (_k, p, seen, reset) => {
      await map(p, A, 2);
      await map(p, A + 2 * PAGE, 1, PROT_READ);
      await p.write(A, fill(2 * PAGE, 1));
      reset();
      const b = await p.mremap(A, 2 * PAGE, 3 * PAGE, MREMAP_MAYMOVE);
      expect(b).toBeGreaterThan(0);
      expect(seen).toEqual(pairs(['UNMAP', A, A + 2 * PAGE], ['UNMAP', A, A + 2 * PAGE]));
    }));

  it('MREMAP_FIXED onto a mapping: UNMAP of the target first', () =>
    withRecorder(async (_k, p, seen, reset) => {
      const T = A + 0x100000;
      await map(p, A, 2);
      await map(p, T, 2);
      await p.write(A, fill(PAGE, 1));
      reset();
      expect(await p.mremap(A, 2 * PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, T)).toBe(T);
      expect(seen).toEqual(
        pairs(['UNMAP', T, T + 2 * PAGE], ['UNMAP', A, A + 2 * PAGE], ['UNMAP', A, A + 2 * PAGE]),
      );
    }));

  it('shrink: UNMAP over the tail; grow in place: nothing', () =>
    withRecorder(async (_k, p, seen, reset) => {
      await map(p, A, 4);
      await p.write(A, fill(4 * PAGE, 1));
      reset();
      expect(await p.mremap(A, 4 * PAGE, PAGE, 0)).toBe(A);
      expect(seen).toEqual(pairs(['UNMAP', A + PAGE, A + 4 * PAGE]));
      reset();
      expect(await p.mremap(A, PAGE, 3 * PAGE, 0)).toBe(A);
      expect(seen).toEqual([]);
    }));
});

describe('notifier events: exit', () => {
  it('release first (classic: ->release, then no invalidation); interval notifiers: RELEASE then UNMAP [0, ULONG_MAX)', () =>
    runKernel(async (k) => {
      const p = k.createProcess('app');
      await map(p, A, 2);
      await p.write(A, fill(PAGE, 1));
      const log: string[] = [];
      await mmuNotifierRegister(p.mm, {
        release: () => {
          log.push('release');
        },
        invalidateRangeStart: (r) => {
          log.push(`classic ${mmuNotifierEventName(r.event)}`);
          return 0;
        },
      });
      await mmuIntervalNotifierInsert(p.mm, A, PAGE, {
        invalidate: (sub, r, seq) => {
          sub.setSeq(seq);
          log.push(`interval ${mmuNotifierEventName(r.event)} ${r.start} ${r.end} ${r.blockable}`);
          return true;
        },
      });
      await p.exit(0);
      expect(log).toEqual([
        `interval MMU_NOTIFY_RELEASE 0 ${ULONG_MAX} true`,
        'release',
        `interval MMU_NOTIFY_UNMAP 0 ${ULONG_MAX} true`,
      ]);
    }).then(expectOk));
});

describe('interval notifiers see only overlapping invalidations', () => {
  it('a subscription over one page is called for ranges that overlap it and no others', () =>
    runKernel(async (k) => {
      const p = k.createProcess('app');
      await map(p, A, 8);
      await p.write(A, fill(8 * PAGE, 1));
      const got: Ev[] = [];
      await mmuIntervalNotifierInsert(p.mm, A + 2 * PAGE, PAGE, {
        invalidate: (sub, r, seq) => {
          sub.setSeq(seq);
          got.push([mmuNotifierEventName(r.event), r.start, r.end]);
          return true;
        },
      });
      await p.madvise(A, 2 * PAGE, MADV_DONTNEED); // ends where the subscription starts
      await p.mprotect(A + 3 * PAGE, PAGE, PROT_READ);
      await p.write(A + 5 * PAGE, fill(1, 1));
      expect(got).toEqual([]);
      await p.madvise(A + PAGE, 2 * PAGE, MADV_DONTNEED);
      await p.mprotect(A, 8 * PAGE, PROT_READ);
      await p.munmap(A + 2 * PAGE, PAGE);
      expect(got).toEqual([
        ['MMU_NOTIFY_CLEAR', A + PAGE, A + 3 * PAGE],
        ['MMU_NOTIFY_PROTECTION_VMA', A, A + 3 * PAGE],
        ['MMU_NOTIFY_UNMAP', A + 2 * PAGE, A + 3 * PAGE],
      ]);
    }).then(expectOk));
});

/** make_device_exclusive's end state for `va`, without its EXCLUSIVE invalidation (test setup). */
async function makeExclusive(mm: Mm, va: number): Promise<void> {
  await mm.mmapLock.downRead();
  await mm.ptl.lock();
  const pfn = mm.pageTable.pfnAt(va);
  const flags = mm.pageTable.flagsAt(va);
  await ptepSet(mm, va, PTE_KIND_DEVICE_EXCLUSIVE, pfn, (flags & PTE_WRITE) | PTE_DIRTY);
  mm.ptl.unlock();
  mm.mmapLock.upRead();
}
