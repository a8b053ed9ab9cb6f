import { describe, expect, it } from 'vitest';

import { EEXIST, EFAULT, EINVAL, ENOMEM, EPERM, ESRCH, EBADF } from '../../src/sim/errno.js';
import {
  MADV_DONTNEED,
  MADV_FREE,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  SIGKILL,
  VM_HUGEPAGE,
  VM_NOHUGEPAGE,
} from '../../src/mm/constants.js';
import { PTE_KIND_NONE, PTE_KIND_PRESENT, PTE_WRITE, PTE_ZERO } from '../../src/mm/page-table.js';
import { EOPNOTSUPP } from '../../src/mm/mmap.js';
import type { Kernel } from '../../src/mm/kernel.js';
import type { Process } from '../../src/mm/process.js';
import { expectOk, fill, PAGE, runKernel } from './helpers.js';

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;

async function anon(p: Process, npages: number, prot = RW, flags = ANON, addr?: number): Promise<number> {
  const a = await p.mmap({ addr, length: npages * PAGE, prot, flags });
  expect(a).toBeGreaterThan(0);
  return a;
}

async function bytesAt(p: Process, addr: number, n: number): Promise<Uint8Array> {
  const got = await p.read(addr, n);
  if (typeof got === 'number') throw new Error(`read at 0x${addr.toString(16)} failed with ${got}`);
  return got;
}

function run(body: (k: Kernel) => Promise<void>, options = {}) {
  return runKernel(body, options).then(expectOk);
}

describe('faults: zero page, anonymous memory, permissions', () => {
  it('reads of untouched anonymous memory map the shared zero page until written', () =>
    run(async (k) => {
      const p = k.createProcess('app');
      const a = await anon(p, 4);
      const free0 = k.phys.nrFree;
      expect(await bytesAt(p, a, PAGE)).toEqual(new Uint8Array(PAGE));
      expect(await bytesAt(p, a + PAGE, 8)).toEqual(new Uint8Array(8));
      const pt = p.mm.pageTable;
      expect(pt.pfnAt(a)).toBe(k.phys.zeroPfn);
      expect(pt.pfnAt(a + PAGE)).toBe(k.phys.zeroPfn);
      expect(pt.flagsAt(a) & PTE_ZERO).toBeTruthy();
      expect(k.phys.nrFree).toBe(free0); // no page allocated for reads
      expect(await p.write(a + PAGE + 3, fill(1, 9))).toBe(0);
      expect(pt.pfnAt(a + PAGE)).not.toBe(k.phys.zeroPfn);
      expect(pt.flagsAt(a + PAGE) & PTE_WRITE).toBeTruthy();
      expect(pt.pfnAt(a)).toBe(k.phys.zeroPfn);
      expect(k.phys.nrFree).toBe(free0 - 1);
      const b = await bytesAt(p, a + PAGE, PAGE);
      expect(b[3]).toBe(9);
      expect(b[2]).toBe(0);
    }));

  it('a first write allocates a private zeroed page, exclusive and writable', () =>
    run(async (k) => {
      const p = k.createProcess('app');
      const a = await anon(p, 2);
      expect(await p.writeU64(a + 8, 0x1122334455667788n)).toBe(0);
      expect(await p.readU64(a + 8)).toBe(0x1122334455667788n);
      expect(await p.readU32(a + 8)).toBe(0x55667788);
      expect(await p.writeU32(a + 4, 0xdeadbeef)).toBe(0);
      expect(await p.readU32(a + 4)).toBe(0xdeadbeef);
      const pfn = p.mm.pageTable.pfnAt(a);
      expect(k.phys.refcountOf(pfn)).toBe(1);
      expect(k.phys.mapcountOf(pfn)).toBe(1);
      expect(k.phys.rmapCount(pfn)).toBe(1);
    }));

  it('accesses outside mappings, to PROT_NONE, and writes to read-only memory give -EFAULT', () =>
    run(async (k) => {
      const p = k.createProcess('app');
      const a = await anon(p, 2, PROT_READ);
      expect(await p.read(a, 16)).toEqual(new Uint8Array(16));
      expect(await p.write(a, fill(4, 1))).toBe(-EFAULT);
      expect(await p.read(a + 2 * PAGE, 1)).toBe(-EFAULT);
      expect(await p.read(0x1000, 1)).toBe(-EFAULT);
      const n = await anon(p, 1, PROT_NONE);
      expect(await p.read(n, 1)).toBe(-EFAULT);
      expect(await p.write(n, fill(1, 1))).toBe(-EFAULT);
      // A write straddling into an unmapped page writes the first page, then faults.
      const w = await anon(p, 1);
      expect(await p.write(w + PAGE - 2, fill(4, 5))).toBe(-EFAULT);
      expect((await bytesAt(p, w + PAGE - 2, 2))[1]).toBe(5);
    }));

  it('PROT_WRITE alone is readable (x86), and PROT_NONE memory keeps its contents', () =>
    run(async (k) => {
      const p = k.createProcess('app');
      const a = await anon(p, 1, PROT_WRITE);
      expect(await p.write(a, fill(3, 4))).toBe(0);
      expect(await bytesAt(p, a, 3)).toEqual(fill(3, 4));
      expect(await p.mprotect(a, PAGE, PROT_NONE)).toBe(0);
      expect(await p.read(a, 1)).toBe(-EFAULT);
      expect(await p.mprotect(a, PAGE, PROT_READ)).toBe(0);
      expect(await bytesAt(p, a, 3)).toEqual(fill(3, 4));
    }));

  it('running out of memory gives -ENOMEM, not a crash', () =>
    run(
      async (k) => {
        const p = k.createProcess('app');
        const a = await anon(p, 64);
        let ret = 0;
        for (let i = 0; i < 64 && ret === 0; i++) ret = await p.write(a + i * PAGE, fill(1, 1));
        expect(ret).toBe(-ENOMEM);
        await p.exit();
        expect(k.phys.nrFree).toBe(k.phys.totalPages);
      },
      { memoryPages: 16, swapPages: 0 },
    ));
});

describe('fork and copy-on-write', () => {
  it('isolates parent and child both ways and shares pages until written', () =>
    run(async (k) => {
      const p = k.createProcess('parent');
      const a = await anon(p, 2);
      expect(await p.write(a, fill(2 * PAGE, 1))).toBe(0);
      const child = await p.fork();
      const pfn = p.mm.pageTable.pfnAt(a);
      expect(child.mm.pageTable.pfnAt(a)).toBe(pfn);
      expect(k.phys.mapcountOf(pfn)).toBe(2);
      expect(p.mm.pageTable.flagsAt(a) & PTE_WRITE).toBe(0);
      expect(child.mm.pageTable.flagsAt(a) & PTE_WRITE).toBe(0);
      // The child writes page 0: the parent keeps its bytes.
      expect(await child.write(a, fill(10, 2))).toBe(0);
      expect(await bytesAt(p, a, 10)).toEqual(fill(10, 1));
      expect(await bytesAt(child, a, 10)).toEqual(fill(10, 2));
      expect(child.mm.pageTable.pfnAt(a)).not.toBe(pfn);
      // The parent writes page 1: the child keeps its bytes.
      expect(await p.write(a + PAGE, fill(10, 3))).toBe(0);
      expect(await bytesAt(child, a + PAGE, 10)).toEqual(fill(10, 1));
      expect(await bytesAt(p, a + PAGE, 10)).toEqual(fill(10, 3));
      // Page 0 of the parent is now only the parent's: reused in place, no copy.
      const before = k.phys.nrFree;
      expect(await p.write(a, fill(1, 4))).toBe(0);
      expect(p.mm.pageTable.pfnAt(a)).toBe(pfn);
      expect(k.phys.nrFree).toBe(before);
      await child.exit(0);
      expect(await child.wait()).toEqual({ pid: child.pid, code: 0, signal: 0 });
      k.phys.validate();
    }));

  it('shares MAP_SHARED anonymous memory across fork', () =>
    run(async (k) => {
      const p = k.createProcess('parent');
      const a = await anon(p, 2, RW, MAP_SHARED | MAP_ANONYMOUS);
      expect(await p.write(a, fill(4, 1))).toBe(0);
      const child = await p.fork();
      expect(await bytesAt(child, a, 4)).toEqual(fill(4, 1));
      expect(await child.write(a + PAGE, fill(4, 7))).toBe(0);
      expect(await bytesAt(p, a + PAGE, 4)).toEqual(fill(4, 7));
      expect(await p.write(a, fill(2, 9))).toBe(0);
      expect(await bytesAt(child, a, 2)).toEqual(fill(2, 9));
      await child.exit(0);
      expect(await bytesAt(p, a + PAGE, 4)).toEqual(fill(4, 7));
    }));

  it('a child reads the zero page of an untouched parent mapping and does not copy it', () =>
    run(async (k) => {
      const p = k.createProcess('parent');
      const a = await anon(p, 1);
      expect(await bytesAt(p, a, 1)).toEqual(new Uint8Array(1));
      const child = await p.fork();
      expect(child.mm.pageTable.kindAt(a)).toBe(PTE_KIND_NONE); // no anon_vma: not copied
      expect(await bytesAt(child, a, 1)).toEqual(new Uint8Array(1));
      expect(child.mm.vmas.lookup(a)).toBeDefined();
    }));
});

describe('munmap', () => {
  it('frees the pages (nrFree returns to its value) and splits VMAs at the edges', () =>
    run(async (k) => {
      const p = k.createProcess('app');
      const free0 = k.phys.nrFree;
      const a = await anon(p, 8);
      expect(await p.write(a, fill(8 * PAGE, 5))).toBe(0);
      expect(k.phys.nrFree).toBe(free0 - 8);
      expect(await p.munmap(a + 2 * PAGE, 3 * PAGE)).toBe(0);
      expect(k.phys.nrFree).toBe(free0 - 5);
      expect(p.mm.vmas.count).toBe(2);
      expect(await p.read(a + 2 * PAGE, 1)).toBe(-EFAULT);
      expect(await bytesAt(p, a + PAGE, 4)).toEqual(fill(4, 5));
      expect(await bytesAt(p, a + 5 * PAGE, 4)).toEqual(fill(4, 5));
      expect(await p.munmap(a, 8 * PAGE)).toBe(0);
      expect(k.phys.nrFree).toBe(free0);
      expect(p.mm.vmas.count).toBe(0);
      expect(p.mm.pageTable.entryPages).toBe(0);
      k.phys.validate();
    }));

  it('errors: misaligned, zero length, beyond TASK_SIZE (-EINVAL); nothing mapped is fine; map count (-ENOMEM)', () =>
    run(
      async (k) => {
        const p = k.createProcess('app');
        const a = await anon(p, 5);
        expect(await p.munmap(a + 1, PAGE)).toBe(-EINVAL);
        expect(await p.munmap(a, 0)).toBe(-EINVAL);
        expect(await p.munmap(2 ** 47, PAGE)).toBe(-EINVAL);
        expect(await p.munmap(0x20000000, PAGE)).toBe(0);
        expect(await p.munmap(a + PAGE, 1)).toBe(0); // length rounds up to a page
        expect(p.mm.vmas.count).toBe(2);
        await anon(p, 1, PROT_READ, ANON, 0x30000000);
        await anon(p, 1, PROT_READ, ANON, 0x40000000);
        expect(p.mm.vmas.count).toBe(4);
        // Punching a hole into a VMA would need a fifth.
        const big = p.mm.vmas.lookup(a + 2 * PAGE)!;
        expect(await p.munmap(big.start + PAGE, PAGE)).toBe(-ENOMEM);
      },
      { maxMapCount: 4 },
    ));
});

describe('mmap', () => {
  it('MAP_FIXED replaces what was there; MAP_FIXED_NOREPLACE refuses', () =>
    run(async (k) => {
      const p = k.createProcess('app');
      const a = await anon(p, 4);
      expect(await p.write(a, fill(4 * PAGE, 1))).toBe(0);
      const free1 = k.phys.nrFree;
      expect(
        await p.mmap({ addr: a + PAGE, length: 2 * PAGE, prot: PROT_READ, flags: ANON | MAP_FIXED }),
      ).toBe(a + PAGE);
      expect(k.phys.nrFree).toBe(free1 + 2);
      expect(await bytesAt(p, a + PAGE, 4)).toEqual(new Uint8Array(4));
      expect(await p.write(a + PAGE, fill(1, 1))).toBe(-EFAULT);
      expect(await bytesAt(p, a, 4)).toEqual(fill(4, 1));
      expect(p.mm.vmas.count).toBe(3);
      expect(await p.mmap({ addr: a, length: PAGE, prot: RW, flags: ANON | MAP_FIXED_NOREPLACE })).toBe(
        -EEXIST,
      );
    }));

  it('uses a free hint, otherwise searches top-down; adjacent anonymous mappings merge', () =>
    run(async (k) => {
      const p = k.createProcess('app');
      expect(await p.mmap({ addr: 0x30000000, length: PAGE, prot: RW, flags: ANON })).toBe(0x30000000);
      expect(await p.mmap({ addr: 0x30000000, length: PAGE, prot: RW, flags: ANON })).not.toBe(0x30000000);
      expect(await p.mmap({ addr: 0x30001000, length: PAGE, prot: RW, flags: ANON })).toBe(0x30001000);
      expect(p.mm.vmas.lookup(0x30000000)!.end).toBe(0x30002000);
      const b = await p.mmap({ length: 3 * PAGE, prot: RW, flags: ANON });
      expect(b).toBe(k.mmapBase - 4 * PAGE); // below the one placed at the top
      // A hint below mmap_min_addr is raised to it.
      expect(await p.mmap({ addr: 0x1000, length: PAGE, prot: RW, flags: ANON })).toBe(0x10000);
    }));

  it('bad arguments: -EINVAL, -EBADF, -EOPNOTSUPP, -ENOMEM, -EPERM as the kernel', () =>
    run(
      async (k) => {
        const p = k.createProcess('app');
        expect(await p.mmap({ length: 0, prot: RW, flags: ANON })).toBe(-EINVAL);
        expect(await p.mmap({ length: PAGE, prot: RW, flags: MAP_ANONYMOUS })).toBe(-EINVAL); // no type
        expect(await p.mmap({ length: PAGE, prot: RW, flags: MAP_PRIVATE })).toBe(-EBADF); // no file
        expect(await p.mmap({ length: PAGE, prot: RW, flags: 0x03 | MAP_ANONYMOUS | 0x4000000 })).toBe(
          -EOPNOTSUPP,
        );
        expect(await p.mmap({ addr: 0x30000001, length: PAGE, prot: RW, flags: ANON | MAP_FIXED })).toBe(
          -EINVAL,
        );
        expect(await p.mmap({ addr: 0x1000, length: PAGE, prot: RW, flags: ANON | MAP_FIXED })).toBe(-EPERM);
        expect(await p.mmap({ addr: 2 ** 47 - PAGE, length: PAGE, prot: RW, flags: ANON | MAP_FIXED })).toBe(
          -ENOMEM,
        );
        expect(await p.mmap({ length: 2 ** 47, prot: RW, flags: ANON })).toBe(-ENOMEM);
        expect(await p.mmap({ length: PAGE, prot: RW, flags: ANON, offset: 100 })).toBe(-EINVAL);
        expect(await p.mmap({ length: PAGE, prot: 0x100, flags: ANON })).toBe(-EINVAL);
        // Too many mappings: the count may exceed the limit by one, then mmap fails.
        for (let i = 0; i < 3; i++)
          expect(
            await p.mmap({
              addr: 0x30000000 + 2 * i * PAGE,
              length: PAGE,
              prot: RW,
              flags: ANON | MAP_FIXED,
            }),
          ).toBeGreaterThan(0);
        expect(p.mm.vmas.count).toBe(3);
        expect(await p.mmap({ addr: 0x40000000, length: PAGE, prot: RW, flags: ANON })).toBe(0x40000000);
        expect(await p.mmap({ addr: 0x50000000, length: PAGE, prot: RW, flags: ANON })).toBe(-ENOMEM);
      },
      { maxMapCount: 3 },
    ));

  it('MAP_POPULATE faults the range in (write faults for private writable memory)', () =>
    run(async (k) => {
      const p = k.createProcess('app');
      const free0 = k.phys.nrFree;
      const a = await p.mmap({ length: 3 * PAGE, prot: RW, flags: ANON | MAP_POPULATE });
      expect(k.phys.nrFree).toBe(free0 - 3);
      expect(p.mm.pageTable.presentPages).toBe(3);
      const r = await p.mmap({ length: 3 * PAGE, prot: PROT_READ, flags: ANON | MAP_POPULATE });
      expect(p.mm.pageTable.pfnAt(r)).toBe(k.phys.zeroPfn);
      expect(a).toBeGreaterThan(0);
    }));
});

describe('file and shmem mappings', () => {
  it('file mappings read file contents; MAP_SHARED writes reach the file; MAP_PRIVATE writes do not', () =>
    run(async (k) => {
      const f = k.createFile('data', 3 * PAGE);
      const content = new Uint8Array(3 * PAGE).map((_, i) => i & 0xff);
      expect(await f.pwrite(content, 0)).toBe(3 * PAGE);
      const p = k.createProcess('app');
      const s = await p.mmap({ length: 3 * PAGE, prot: RW, flags: MAP_SHARED, file: f, offset: 0 });
      const q = await p.mmap({ length: 2 * PAGE, prot: RW, flags: MAP_PRIVATE, file: f, offset: PAGE });
      expect(await bytesAt(p, s, 3 * PAGE)).toEqual(content);
      expect(await bytesAt(p, q, 2 * PAGE)).toEqual(content.subarray(PAGE));
      // The private mapping maps the page-cache page read-only until written.
      expect(p.mm.pageTable.pfnAt(q)).toBe(f.pageAt(1));
      expect(await p.write(s + PAGE + 1, fill(2, 0xee))).toBe(0);
      expect(await f.pread(4, PAGE)).toEqual(new Uint8Array([content[PAGE], 0xee, 0xee, content[PAGE + 3]]));
      expect((await bytesAt(p, q, 3))[1]).toBe(0xee); // not yet copied: sees the file
      expect(await p.write(q + 2, fill(1, 0x11))).toBe(0);
      expect((await f.pread(3, PAGE))[2]).toBe(0xee);
      expect((await bytesAt(p, q, 3))[2]).toBe(0x11);
      expect(p.mm.pageTable.pfnAt(q)).not.toBe(f.pageAt(1));
      // Beyond the end of the file: SIGBUS, reported as -EFAULT.
      const big = await p.mmap({ length: 5 * PAGE, prot: PROT_READ, flags: MAP_SHARED, file: f, offset: 0 });
      expect(await p.read(big + 4 * PAGE, 1)).toBe(-EFAULT);
      const free = k.phys.nrFree;
      await p.exit();
      expect(k.phys.nrFree).toBe(free + 1); // the COW page; page-cache pages stay with the file
      expect(await f.pread(3, PAGE + 1)).toEqual(new Uint8Array([0xee, 0xee, content[PAGE + 3]]));
    }));

  it('MADV_DONTNEED drops private anonymous data but shmem data refaults', () =>
    run(async (k) => {
      const p = k.createProcess('app');
      const a = await anon(p, 2);
      const s = await anon(p, 2, RW, MAP_SHARED | MAP_ANONYMOUS);
      expect(await p.write(a, fill(PAGE, 3))).toBe(0);
      expect(await p.write(s, fill(PAGE, 4))).toBe(0);
      const free = k.phys.nrFree;
      expect(await p.madvise(a, 2 * PAGE, MADV_DONTNEED)).toBe(0);
      expect(await p.madvise(s, 2 * PAGE, MADV_DONTNEED)).toBe(0);
      expect(k.phys.nrFree).toBe(free + 1); // the anonymous page; the shmem page stays in its file
      expect(await bytesAt(p, a, 4)).toEqual(new Uint8Array(4));
      expect(await bytesAt(p, s, 4)).toEqual(fill(4, 4));
      expect(await p.madvise(a, PAGE, MADV_FREE)).toBe(0);
      expect(await p.madvise(s, PAGE, MADV_FREE)).toBe(-EINVAL);
    }));
});

describe('mprotect', () => {
  it('downgrades: write after PROT_READ faults, read after PROT_NONE faults; VMAs split and merge', () =>
    run(async (k) => {
      const p = k.createProcess('app');
      const a = await anon(p, 4);
      expect(await p.write(a, fill(4 * PAGE, 2))).toBe(0);
      expect(await p.mprotect(a + PAGE, PAGE, PROT_READ)).toBe(0);
      expect(p.mm.vmas.count).toBe(3);
      expect(p.mm.pageTable.flagsAt(a + PAGE) & PTE_WRITE).toBe(0);
      expect(await p.write(a + PAGE, fill(1, 1))).toBe(-EFAULT);
      expect(await bytesAt(p, a + PAGE, 2)).toEqual(fill(2, 2));
      expect(await p.write(a, fill(1, 1))).toBe(0);
      expect(await p.mprotect(a + PAGE, PAGE, PROT_NONE)).toBe(0);
      expect(await p.read(a + PAGE, 1)).toBe(-EFAULT);
      expect(await p.mprotect(a + PAGE, PAGE, RW)).toBe(0);
      expect(p.mm.vmas.count).toBe(1);
      // The exclusive anonymous page becomes writable again at once (MM_CP_TRY_CHANGE_WRITABLE).
      expect(p.mm.pageTable.flagsAt(a + PAGE) & PTE_WRITE).toBeTruthy();
      expect(await p.write(a + PAGE, fill(1, 1))).toBe(0);
      expect(await bytesAt(p, a + PAGE, 2)).toEqual(new Uint8Array([1, 2]));
    }));

  it('errors: misaligned or bad prot (-EINVAL), holes (-ENOMEM, applied up to the hole), len 0', () =>
    run(async (k) => {
      const p = k.createProcess('app');
      const a = await anon(p, 4);
      expect(await p.mprotect(a + 1, PAGE, PROT_READ)).toBe(-EINVAL);
      expect(await p.mprotect(a, PAGE, 0x40)).toBe(-EINVAL);
      expect(await p.mprotect(a, 0, PROT_READ)).toBe(0);
      expect(await p.munmap(a + 2 * PAGE, PAGE)).toBe(0);
      expect(await p.mprotect(a, 4 * PAGE, PROT_READ)).toBe(-ENOMEM);
      expect(p.mm.vmas.lookup(a)!.flags & PROT_WRITE).toBe(0); // applied before the hole
      expect(p.mm.vmas.lookup(a + 3 * PAGE)!.flags & PROT_WRITE).toBeTruthy();
      expect(await p.mprotect(a + 2 * PAGE, PAGE, PROT_READ)).toBe(-ENOMEM);
    }));
});

describe('madvise', () => {
  it('HUGEPAGE / NOHUGEPAGE change VMA flags only; gaps give -ENOMEM; bad arguments -EINVAL', () =>
    run(async (k) => {
      const p = k.createProcess('app');
      const a = await anon(p, 4);
      expect(await p.write(a, fill(4, 1))).toBe(0);
      expect(await p.madvise(a + PAGE, 2 * PAGE, MADV_HUGEPAGE)).toBe(0);
      expect(p.mm.vmas.lookup(a + PAGE)!.flags & VM_HUGEPAGE).toBeTruthy();
      expect(p.mm.vmas.lookup(a)!.flags & VM_HUGEPAGE).toBe(0);
      expect(p.mm.vmas.count).toBe(3);
      expect(await p.madvise(a + PAGE, 2 * PAGE, MADV_NOHUGEPAGE)).toBe(0);
      expect(p.mm.vmas.lookup(a + PAGE)!.flags & VM_NOHUGEPAGE).toBeTruthy();
      expect(await bytesAt(p, a, 4)).toEqual(fill(4, 1));
      expect(await p.madvise(a + 1, PAGE, MADV_DONTNEED)).toBe(-EINVAL);
      expect(await p.madvise(a, PAGE, 12345)).toBe(-EINVAL);
      expect(await p.madvise(a, 0, MADV_DONTNEED)).toBe(0);
      expect(await p.madvise(0x20000000, PAGE, MADV_DONTNEED)).toBe(-ENOMEM);
      expect(await p.munmap(a + PAGE, PAGE)).toBe(0);
      expect(await p.write(a + 2 * PAGE, fill(4, 6))).toBe(0);
      expect(await p.madvise(a, 4 * PAGE, MADV_DONTNEED)).toBe(-ENOMEM);
      expect(await bytesAt(p, a + 2 * PAGE, 4)).toEqual(new Uint8Array(4)); // applied despite the gap
    }));
});

describe('mremap', () => {
  it('moves contents with MREMAP_MAYMOVE, growing; the old range is gone', () =>
    run(async (k) => {
      const p = k.createProcess('app');
      const a = await anon(p, 2);
      await anon(p, 1, RW, ANON | MAP_FIXED, a + 2 * PAGE); // something in the way (different VMA)
      await p.mprotect(a + 2 * PAGE, PAGE, PROT_READ);
      expect(await p.write(a, fill(2 * PAGE, 8))).toBe(0);
      const pfn = p.mm.pageTable.pfnAt(a);
      const b = await p.mremap(a, 2 * PAGE, 4 * PAGE, MREMAP_MAYMOVE);
      expect(b).toBeGreaterThan(0);
      expect(b).not.toBe(a);
      expect(await bytesAt(p, b, 2 * PAGE)).toEqual(fill(2 * PAGE, 8));
      expect(await bytesAt(p, b + 2 * PAGE, 4)).toEqual(new Uint8Array(4));
      expect(p.mm.pageTable.pfnAt(b)).toBe(pfn); // the page moved, not copied
      expect(k.phys.rmapVaAt(pfn, 0)).toBe(b);
      expect(await p.read(a, 1)).toBe(-EFAULT);
      k.phys.validate();
    }));

  it('grows in place when free, shrinks in place, refuses to move without MAYMOVE', () =>
    run(async (k) => {
      const p = k.createProcess('app');
      const a = await anon(p, 2, RW, ANON, 0x30000000);
      expect(await p.write(a, fill(4, 1))).toBe(0);
      expect(await p.mremap(a, 2 * PAGE, 3 * PAGE, 0)).toBe(a);
      expect(p.mm.vmas.lookup(a)!.end).toBe(a + 3 * PAGE);
      expect(await p.write(a + 2 * PAGE, fill(4, 2))).toBe(0);
      await anon(p, 1, RW, ANON | MAP_FIXED, a + 4 * PAGE);
      expect(await p.mremap(a, 3 * PAGE, 5 * PAGE, 0)).toBe(-ENOMEM);
      const free = k.phys.nrFree;
      expect(await p.mremap(a, 3 * PAGE, PAGE, 0)).toBe(a);
      expect(k.phys.nrFree).toBe(free + 1);
      expect(await p.read(a + PAGE, 1)).toBe(-EFAULT);
      expect(await bytesAt(p, a, 4)).toEqual(fill(4, 1));
    }));

  it('MREMAP_FIXED replaces the target; DONTUNMAP keeps the old VMA empty', () =>
    run(async (k) => {
      const p = k.createProcess('app');
      const a = await anon(p, 2, RW, ANON, 0x30000000);
      const t = await anon(p, 2, RW, ANON, 0x40000000);
      expect(await p.write(a, fill(2 * PAGE, 5))).toBe(0);
      expect(await p.write(t, fill(2 * PAGE, 6))).toBe(0);
      expect(await p.mremap(a, 2 * PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, t)).toBe(t);
      expect(await bytesAt(p, t, 2 * PAGE)).toEqual(fill(2 * PAGE, 5));
      expect(await p.read(a, 1)).toBe(-EFAULT);
      const d = await p.mremap(t, 2 * PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_DONTUNMAP);
      expect(d).toBeGreaterThan(0);
      expect(await bytesAt(p, d, 4)).toEqual(fill(4, 5));
      expect(await bytesAt(p, t, 4)).toEqual(new Uint8Array(4)); // still mapped, empty
    }));

  it('errors: flags, alignment, lengths (-EINVAL); nothing at addr or crossing VMAs (-EFAULT)', () =>
    run(async (k) => {
      const p = k.createProcess('app');
      const a = await anon(p, 2, RW, ANON, 0x30000000);
      expect(await p.mremap(a, PAGE, PAGE, 8)).toBe(-EINVAL);
      expect(await p.mremap(a, PAGE, 2 * PAGE, MREMAP_FIXED, 0x50000000)).toBe(-EINVAL);
      expect(await p.mremap(a, PAGE, 2 * PAGE, MREMAP_DONTUNMAP | MREMAP_MAYMOVE)).toBe(-EINVAL);
      expect(await p.mremap(a + 1, PAGE, 2 * PAGE, MREMAP_MAYMOVE)).toBe(-EINVAL);
      expect(await p.mremap(a, PAGE, 0, MREMAP_MAYMOVE)).toBe(-EINVAL);
      expect(await p.mremap(0x50000000, PAGE, 2 * PAGE, MREMAP_MAYMOVE)).toBe(-EFAULT);
      expect(await p.mremap(a, 3 * PAGE, 4 * PAGE, MREMAP_MAYMOVE)).toBe(-EFAULT);
      expect(await p.mremap(a, 2 * PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, a + PAGE)).toBe(-EINVAL);
      expect(await p.mremap(a, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, a + 1)).toBe(-EINVAL);
    }));
});

describe('exit, kill, wait and mm lifetime', () => {
  it('exit frees everything; wait returns the status; calls on a dead process give -ESRCH', () =>
    run(async (k) => {
      const free0 = k.phys.nrFree;
      const p = k.createProcess('app');
      const a = await anon(p, 4);
      const s = await anon(p, 2, RW, MAP_SHARED | MAP_ANONYMOUS);
      expect(await p.write(a, fill(4 * PAGE, 1))).toBe(0);
      expect(await p.write(s, fill(2 * PAGE, 1))).toBe(0);
      const child = await p.fork();
      expect(p.children).toEqual([child]);
      expect(await child.write(a, fill(1, 2))).toBe(0);
      p.mm.mmgrab();
      await p.exit(7);
      // Reparented (to nobody: the model has no init): neither side names the other.
      expect([p.children, child.parent]).toEqual([[], null]);
      expect(await p.wait()).toEqual({ pid: p.pid, code: 7, signal: 0 });
      expect(p.mm.mmgetNotZero()).toBe(false);
      p.mm.mmdrop();
      expect(await p.read(a, 1)).toBe(-ESRCH);
      expect(await p.exit(1)).toBe(-ESRCH);
      expect(await bytesAt(child, s, 2)).toEqual(fill(2, 1));
      expect(await child.kill(SIGKILL)).toBe(0);
      expect(await child.wait()).toEqual({ pid: child.pid, code: 0, signal: SIGKILL });
      expect(k.phys.nrFree).toBe(free0);
      expect(k.processes.size).toBe(0);
      k.phys.validate();
    }));

  it('a call in flight keeps the address space until it finishes (mm_users)', () =>
    run(async (k) => {
      const p = k.createProcess('app');
      const a = await anon(p, 1);
      expect(p.mm.users).toBe(1);
      expect(p.mm.mmgetNotZero()).toBe(true);
      await p.exit(0);
      expect(p.mm.users).toBe(1);
      expect(p.mm.vmas.count).toBe(1); // still there: our reference
      await p.mm.mmput();
      expect(p.mm.vmas.count).toBe(0);
      expect(p.mm.exiting).toBe(true);
      expect(a).toBeGreaterThan(0);
    }));

  it('a forked child stays alive without a thread until killed; wait blocks until then', () =>
    runKernel(async (k, sim) => {
      const p = k.createProcess('app');
      const child = await p.fork();
      let status: unknown = null;
      const t = sim.spawn('waiter', async () => {
        status = await child.wait();
      });
      await sim.yield();
      await sim.yield();
      expect(status).toBeNull();
      expect(child.state).toBe('alive');
      await child.kill();
      await sim.join(t);
      expect(status).toEqual({ pid: child.pid, code: 0, signal: SIGKILL });
    }).then(expectOk));
});

describe('pages on the way to the checks', () => {
  it('present PTEs of a process are what physical memory says they are', () =>
    run(async (k) => {
      const p = k.createProcess('app');
      const a = await anon(p, 3);
      await p.write(a, fill(3 * PAGE, 1));
      p.mm.pageTable.walk(a, a + 3 * PAGE, (va, kind, pfn) => {
        expect(kind).toBe(PTE_KIND_PRESENT);
        expect(k.phys.rmapMmAt(pfn, 0)).toBe(p.mm);
        expect(k.phys.rmapVaAt(pfn, 0)).toBe(va);
      });
    }));
});

describe('ids', () => {
  it('kernels and address spaces are numbered per simulation, so a replay numbers them alike', async () => {
    const ids = async (): Promise<number[]> => {
      let got: number[] = [];
      expectOk(
        await runKernel(async (k) => {
          const a = k.createProcess('a');
          const b = k.createProcess('b');
          got = [k.id, a.mm.id, b.mm.id];
        }),
      );
      return got;
    };
    const first = await ids();
    expect(first[1]).not.toBe(first[2]);
    expect(await ids()).toEqual(first);
  });
});
