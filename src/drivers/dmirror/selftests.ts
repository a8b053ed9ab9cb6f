/**
 * The kernel's HMM selftests (tools/testing/selftests/mm/hmm-tests.c), every case, re-created from
 * their described behaviour against the model's HMM test device. `mirrorlab selftest` and test/conformance run these same bodies, for both
 * device-memory variants.
 *
 * Adaptations (each keeps what the case asserts): CPU loops over every int are done a page at a
 * time (one read and one write per page: each access still faults and revokes as the kernel's do);
 * /proc/self/pagemap is read as the model's page table; benchmark_thp_migration stops at 4 PMDs
 * (the model's machine has 128 MiB), and checks success only, as the kernel's does.
 */
import {
  MADV_COLLAPSE,
  MADV_FREE,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MAP_ANONYMOUS,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  SIGKILL,
} from '../../mm/constants.js';
import { PTE_KIND_DEVICE_PRIVATE } from '../../mm/page-table.js';
import { EFAULT, EINVAL, ENOENT, EPERM } from '../../sim/errno.js';
import { FOLL_LONGTERM, FOLL_WRITE } from '../../mm/constants.js';
import { gupTest } from '../../mm/gup.js';
import {
  HMM_DMIRROR_FLAG_FAIL_ALLOC,
  HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL,
  HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE,
  HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL,
  HMM_DMIRROR_PROT_ERROR,
  HMM_DMIRROR_PROT_NONE,
  HMM_DMIRROR_PROT_PMD,
  HMM_DMIRROR_PROT_PUD,
  HMM_DMIRROR_PROT_READ,
  HMM_DMIRROR_PROT_WRITE,
  HMM_DMIRROR_PROT_ZERO,
} from './constants.js';
import {
  HMM_BUFFER_SIZE,
  NTIMES,
  SelftestFailure,
  SelftestSkip,
  expectIntsIn,
  runSelftestCase,
  type HmmBuffer,
  type SelftestCase,
  type SelftestContext,
  type SelftestResult,
  type SelftestVariant,
} from './selftest-harness.js';

export {
  runSelftestCase,
  type SelftestCase,
  type SelftestResult,
  type SelftestVariant,
} from './selftest-harness.js';

const I = (i: number): number => i;
const NEG = (i: number): number => -i;

/** A private anonymous RW buffer of `size` bytes filled with ptr[i] = value(i). */
async function anonFilled(
  t: SelftestContext,
  size: number,
  value: (i: number) => number = I,
): Promise<HmmBuffer> {
  const b = t.buffer(size);
  b.ptr = await t.mmap({ length: size });
  await t.writeInts(b.ptr, size / 4, value);
  return b;
}

/** The PMD-aligned window of a 2 x PMD mapping (the tests' THP idiom). */
async function pmdWindow(
  t: SelftestContext,
  prot = PROT_READ | PROT_WRITE,
  advice = MADV_HUGEPAGE,
): Promise<HmmBuffer> {
  const pmd = t.k.pmdSize;
  const map = await t.mmap({ length: 2 * pmd, prot });
  const b = t.buffer(pmd);
  b.ptr = Math.ceil(map / pmd) * pmd;
  if (advice >= 0) t.eq(await t.p.madvise(b.ptr, pmd, advice), 0, 'madvise on the PMD window');
  return b;
}

function mirrorInts(t: SelftestContext, b: HmmBuffer, want: (i: number) => number, what = 'mirror'): void {
  expectIntsIn(t, b.mirror, 0, b.size / 4, want, what);
}

async function migrateToDev(
  t: SelftestContext,
  b: HmmBuffer,
  npages: number,
  fd = t.fd,
  what = 'migrate to device',
): Promise<void> {
  t.eq(await t.cmd(fd, 'migrate-to-dev', b, npages), 0, what);
  t.eq(b.cpages, npages, `${what}: cpages`);
}

/** Reads every int of [addr, addr + n ints) and writes it back incremented, a page at a time. */
async function incrementAll(
  t: SelftestContext,
  addr: number,
  nInts: number,
  want: (i: number) => number,
  p = t.p,
): Promise<void> {
  const per = t.ps / 4;
  for (let first = 0; first < nInts; first += per) {
    const n = Math.min(per, nInts - first);
    const got = await p.read(addr + first * 4, n * 4);
    t.assert(got instanceof Uint8Array, `CPU read at int ${first} failed: ${String(got)}`);
    const view = new DataView(got.buffer, got.byteOffset, got.byteLength);
    for (let i = 0; i < n; i++) {
      t.eq(view.getInt32(i * 4, true), want(first + i), `int ${first + i} before the increment`);
      view.setInt32(i * 4, want(first + i) + 1, true);
    }
    t.eq(await p.write(addr + first * 4, got), 0, `CPU write at int ${first}`);
  }
  await t.expectInts(addr, nInts, (i) => want(i) + 1, 'after the increment', p);
}

function needHugetlb(t: SelftestContext): void {
  if (t.k.hugetlbPages < 1) throw new SelftestSkip('no free default-size huge page');
}

async function anonWriteChild(t: SelftestContext, migrate: boolean, useThp: boolean): Promise<void> {
  const size = useThp ? t.k.pmdSize : HMM_BUFFER_SIZE;
  const npages = size / t.ps;
  let b: HmmBuffer;
  if (useThp) {
    b = await pmdWindow(t);
    await t.writeInts(b.ptr, size / 4, I);
  } else b = await anonFilled(t, size);
  b.mirror.set(intsOf(size / 4, NEG));
  if (migrate) await migrateToDev(t, b, npages);
  if (migrate) b.mirror.set(intsOf(size / 4, NEG));
  const child = await t.p.fork();
  const done = t.sim.spawn(`child ${child.pid}`, async () => {
    await t.expectInts(b.ptr, size / 4, I, 'child sees the parent data', child);
    const fd = await t.dev0.open(child);
    const cb = { ...b, mirror: b.mirror.slice() };
    t.eq(await t.cmd(fd, 'write', cb, npages), 0, 'child device write');
    t.eq(cb.cpages, npages, 'child device write: cpages');
    t.eq(cb.faults, 1, 'child device write: faults');
    if (!migrate) await t.expectInts(b.ptr, size / 4, NEG, 'child sees its device write', child);
    t.eq(await fd.close(), 0, 'child close');
    await child.exit(0);
  });
  await t.sim.join(done);
  const st = await child.wait();
  t.eq(st.signal, 0, 'child exited normally');
  t.eq(st.code, 0, 'child exit status');
  await t.expectInts(b.ptr, size / 4, I, 'parent data after the child wrote its copy');
  t.eq(await t.p.munmap(useThp ? b.ptr : b.ptr, size), 0, 'munmap');
}

function intsOf(n: number, value: (i: number) => number): Uint8Array {
  const out = new Uint8Array(n * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < n; i++) view.setInt32(i * 4, value(i), true);
  return out;
}

/** Every case of E.2, in the catalogue's order. */
export const HMM_SELFTESTS: readonly SelftestCase[] = [
  { name: 'open_close', fixture: 'hmm', run: async () => {} },
  {
    name: 'anon_read',
    fixture: 'hmm',
    async run(t) {
      const npages = HMM_BUFFER_SIZE / t.ps;
      const b = t.buffer(HMM_BUFFER_SIZE);
      b.ptr = await t.mmap({ length: HMM_BUFFER_SIZE });
      const skip = (2 * t.ps) / 4;
      const tail = await t.p.write(
        b.ptr + 2 * t.ps,
        intsOf(HMM_BUFFER_SIZE / 4 - skip, (i) => i + skip),
      );
      t.eq(tail, 0, 'fill all but the first two pages');
      t.eq(await t.p.mprotect(b.ptr, HMM_BUFFER_SIZE, PROT_READ), 0, 'mprotect READ');
      await t.expectInts(b.ptr + t.ps, 1, () => 0, 'CPU read of page 1 (zero page)');
      t.eq(await t.cmd(t.fd, 'read', b, npages), 0, 'device read');
      t.eq(b.cpages, npages, 'cpages');
      t.eq(b.faults, 1, 'faults');
      mirrorInts(t, b, (i) => (i < skip ? 0 : i));
    },
  },
  {
    name: 'anon_read_prot',
    fixture: 'hmm',
    async run(t) {
      const npages = HMM_BUFFER_SIZE / t.ps;
      const b = await anonFilled(t, HMM_BUFFER_SIZE);
      b.mirror.set(intsOf(HMM_BUFFER_SIZE / 4, NEG));
      t.eq(await t.p.mprotect(b.ptr, HMM_BUFFER_SIZE, PROT_NONE), 0, 'mprotect NONE');
      t.eq(await t.cmd(t.fd, 'read', b, npages), -EFAULT, 'device read of a PROT_NONE range');
      t.eq(await t.p.mprotect(b.ptr, HMM_BUFFER_SIZE, PROT_READ), 0, 'mprotect READ');
      await t.expectInts(b.ptr, HMM_BUFFER_SIZE / 4, I, 'CPU data');
      mirrorInts(t, b, NEG, 'mirror untouched');
    },
  },
  {
    name: 'anon_write',
    fixture: 'hmm',
    async run(t) {
      const npages = HMM_BUFFER_SIZE / t.ps;
      const b = t.buffer(HMM_BUFFER_SIZE);
      b.ptr = await t.mmap({ length: HMM_BUFFER_SIZE });
      b.mirror.set(intsOf(HMM_BUFFER_SIZE / 4, I));
      t.eq(await t.cmd(t.fd, 'write', b, npages), 0, 'device write');
      t.eq(b.cpages, npages, 'cpages');
      t.eq(b.faults, 1, 'faults');
      await t.expectInts(b.ptr, HMM_BUFFER_SIZE / 4, I, 'CPU sees the device write');
    },
  },
  {
    name: 'anon_write_prot',
    fixture: 'hmm',
    async run(t) {
      const npages = HMM_BUFFER_SIZE / t.ps;
      const b = t.buffer(HMM_BUFFER_SIZE);
      b.ptr = await t.mmap({ length: HMM_BUFFER_SIZE, prot: PROT_READ });
      t.eq(await t.cmd(t.fd, 'read', b, 1), 0, 'device read of one page');
      t.eq(b.cpages, 1, 'read cpages');
      t.eq(b.faults, 1, 'read faults');
      b.mirror.set(intsOf(HMM_BUFFER_SIZE / 4, I));
      t.eq(await t.cmd(t.fd, 'write', b, npages), -EPERM, 'device write to a read-only VMA');
      await t.expectInts(b.ptr, HMM_BUFFER_SIZE / 4, () => 0, 'memory unchanged');
      t.eq(await t.p.mprotect(b.ptr, HMM_BUFFER_SIZE, PROT_READ | PROT_WRITE), 0, 'mprotect RW');
      t.eq(await t.cmd(t.fd, 'write', b, npages), 0, 'device write');
      t.eq(b.cpages, npages, 'cpages');
      t.eq(b.faults, 1, 'faults');
      await t.expectInts(b.ptr, HMM_BUFFER_SIZE / 4, I, 'CPU sees the device write');
    },
  },
  {
    name: 'anon_write_child',
    fixture: 'hmm',
    async run(t) {
      for (const migrate of [false, true])
        for (const thp of [false, true]) await anonWriteChild(t, migrate, thp);
    },
  },
  {
    name: 'anon_write_child_shared',
    fixture: 'hmm',
    async run(t) {
      const size = HMM_BUFFER_SIZE;
      const npages = size / t.ps;
      const b = t.buffer(size);
      b.ptr = await t.mmap({ length: size, flags: MAP_SHARED | MAP_ANONYMOUS });
      await t.writeInts(b.ptr, size / 4, I);
      b.mirror.set(intsOf(size / 4, NEG));
      const child = await t.p.fork();
      const done = t.sim.spawn(`child ${child.pid}`, async () => {
        const fd = await t.dev0.open(child);
        const cb = { ...b, mirror: b.mirror.slice() };
        t.eq(await t.cmd(fd, 'write', cb, npages), 0, 'child device write');
        t.eq(cb.cpages, npages, 'child cpages');
        t.eq(cb.faults, 1, 'child faults');
        await t.expectInts(b.ptr, size / 4, NEG, 'child sees its device write', child);
        t.eq(await fd.close(), 0, 'child close');
        await child.exit(0);
      });
      await t.sim.join(done);
      const st = await child.wait();
      t.eq(st.code, 0, 'child exit status');
      await t.expectInts(b.ptr, size / 4, NEG, 'parent sees the child device write (shared)');
    },
  },
  {
    name: 'anon_write_huge',
    fixture: 'hmm',
    async run(t) {
      const b = await pmdWindow(t);
      const npages = b.size / t.ps;
      b.mirror.set(intsOf(b.size / 4, I));
      t.eq(await t.cmd(t.fd, 'write', b, npages), 0, 'device write');
      t.eq(b.cpages, npages, 'cpages');
      t.eq(b.faults, 1, 'faults');
      await t.expectInts(b.ptr, b.size / 4, I, 'CPU sees the device write');
    },
  },
  {
    name: 'anon_write_hugetlbfs',
    fixture: 'hmm',
    async run(t) {
      needHugetlb(t);
      const size = Math.ceil((2 << 20) / t.k.hugePageSize) * t.k.hugePageSize;
      const npages = size / t.ps;
      const b = t.buffer(size);
      const addr = await t.p.mmap({
        length: size,
        prot: PROT_READ | PROT_WRITE,
        flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB,
      });
      if (addr < 0) throw new SelftestSkip(`MAP_HUGETLB mmap failed: ${addr}`);
      b.ptr = addr;
      b.mirror.set(intsOf(size / 4, I));
      t.eq(await t.cmd(t.fd, 'write', b, npages), 0, 'device write');
      t.eq(b.cpages, npages, 'cpages');
      t.eq(b.faults, 1, 'faults');
      await t.expectInts(b.ptr, size / 4, I, 'CPU sees the device write');
    },
  },
  {
    name: 'file_read',
    fixture: 'hmm',
    async run(t) {
      const size = HMM_BUFFER_SIZE;
      const npages = size / t.ps;
      const f = t.k.createFile('hmm-test', size);
      t.eq(await f.pwrite(intsOf(size / 4, I), 0), size, 'pwrite');
      const b = t.buffer(size);
      b.ptr = await t.mmap({ length: size, prot: PROT_READ, flags: MAP_SHARED, file: f });
      t.eq(await t.cmd(t.fd, 'read', b, npages), 0, 'device read');
      t.eq(b.cpages, npages, 'cpages');
      t.eq(b.faults, 1, 'faults');
      mirrorInts(t, b, I);
    },
  },
  {
    name: 'file_write',
    fixture: 'hmm',
    async run(t) {
      const size = HMM_BUFFER_SIZE;
      const npages = size / t.ps;
      const f = t.k.createFile('hmm-test', size);
      const b = t.buffer(size);
      b.ptr = await t.mmap({ length: size, flags: MAP_SHARED, file: f });
      b.mirror.set(intsOf(size / 4, I));
      t.eq(await t.cmd(t.fd, 'write', b, npages), 0, 'device write');
      t.eq(b.cpages, npages, 'cpages');
      t.eq(b.faults, 1, 'faults');
      await t.expectInts(b.ptr, size / 4, I, 'CPU sees the device write');
      const back = await f.pread(size, 0);
      expectIntsIn(t, back, 0, size / 4, I, 'pread of the file');
    },
  },
  {
    name: 'migrate',
    fixture: 'hmm',
    async run(t) {
      const b = await anonFilled(t, HMM_BUFFER_SIZE);
      await migrateToDev(t, b, b.size / t.ps);
      mirrorInts(t, b, I);
    },
  },
  {
    name: 'migrate_file_private',
    fixture: 'hmm',
    async run(t) {
      const size = HMM_BUFFER_SIZE;
      const f = t.k.createFile('hmm-test', size);
      const b = t.buffer(size);
      b.ptr = await t.mmap({ length: size, flags: MAP_PRIVATE, file: f });
      await t.writeInts(b.ptr, size / 4, I);
      await migrateToDev(t, b, size / t.ps);
      mirrorInts(t, b, I);
    },
  },
  {
    name: 'migrate_fault',
    fixture: 'hmm',
    async run(t) {
      const b = await anonFilled(t, HMM_BUFFER_SIZE);
      const npages = b.size / t.ps;
      await migrateToDev(t, b, npages);
      mirrorInts(t, b, I);
      await t.expectInts(b.ptr, b.size / 8, I, 'CPU reads the first half');
      await migrateToDev(t, b, npages);
      mirrorInts(t, b, I, 'mirror after the second migration');
    },
  },
  {
    name: 'migrate_release',
    fixture: 'hmm',
    async run(t) {
      const b = await anonFilled(t, HMM_BUFFER_SIZE);
      await migrateToDev(t, b, b.size / t.ps);
      mirrorInts(t, b, I);
      t.eq(await t.cmd(t.fd, 'release', b, b.size / t.ps), 0, 'release');
      await t.expectInts(b.ptr, b.size / 8, I, 'CPU reads the first half');
    },
  },
  {
    name: 'migrate_shared',
    fixture: 'hmm',
    async run(t) {
      const b = t.buffer(HMM_BUFFER_SIZE);
      b.ptr = await t.mmap({ length: b.size, flags: MAP_SHARED | MAP_ANONYMOUS });
      t.eq(
        await t.cmd(t.fd, 'migrate-to-dev', b, b.size / t.ps),
        -ENOENT,
        'migrate of shared anonymous memory',
      );
    },
  },
  {
    name: 'migrate_mixed',
    fixture: 'hmm2',
    async run(t) {
      const ps = t.ps;
      const b = t.buffer(6 * ps);
      b.ptr = await t.mmap({ length: 6 * ps, prot: PROT_NONE });
      const at = (page: number, pages: number): HmmBuffer => ({
        ...t.buffer(pages * ps),
        ptr: b.ptr + page * ps,
      });
      t.eq(await t.cmd(t.fd1, 'migrate-to-dev', b, 6), -EINVAL, 'migrate of a PROT_NONE range');
      t.eq(await t.p.munmap(b.ptr + ps, ps), 0, 'munmap page 1');
      t.eq(await t.cmd(t.fd1, 'migrate-to-dev', at(0, 3), 3), -EINVAL, 'migrate across a hole');
      t.eq(await t.p.mprotect(b.ptr + 2 * ps, ps, PROT_READ), 0, 'mprotect page 2 READ');
      await t.expectInts(b.ptr + 2 * ps, 1, () => 0, 'CPU read of page 2');
      t.eq(await t.p.mprotect(b.ptr + 3 * ps, ps, PROT_READ | PROT_WRITE), 0, 'mprotect page 3 RW');
      await t.writeInts(b.ptr + 3 * ps, 1, () => 3);
      t.eq(await t.p.mprotect(b.ptr + 3 * ps, ps, PROT_READ), 0, 'mprotect page 3 READ');
      t.eq(await t.p.mprotect(b.ptr + 4 * ps, 2 * ps, PROT_READ | PROT_WRITE), 0, 'mprotect pages 4-5 RW');
      await t.writeInts(b.ptr + 4 * ps, (2 * ps) / 4, I);
      const mid = at(2, 4);
      t.eq(await t.cmd(t.fd1, 'migrate-to-dev', mid, 4), 0, 'migrate pages 2-5 to dev1');
      t.eq(mid.cpages, 4, 'cpages');
      t.eq(await t.cmd(t.fd0, 'migrate-to-dev', at(5, 1), 1), -ENOENT, "migrate of dev1's page to dev0");
    },
  },
  {
    name: 'migrate_multiple',
    fixture: 'hmm',
    async run(t) {
      for (let c = 0; c < NTIMES; c++) {
        const b = await anonFilled(t, HMM_BUFFER_SIZE);
        const npages = b.size / t.ps;
        await migrateToDev(t, b, npages);
        mirrorInts(t, b, I);
        if (t.variant === 'coherent') {
          t.eq(await t.cmd(t.fd, 'migrate-to-sys', b, npages), 0, 'migrate back to system memory');
          t.eq(b.cpages, npages, 'migrate back: cpages');
        }
        await t.expectInts(b.ptr, b.size / 4, I, `CPU data (round ${c})`);
        t.eq(await t.p.munmap(b.ptr, b.size), 0, 'munmap');
      }
    },
  },
  {
    name: 'anon_read_multiple',
    fixture: 'hmm',
    async run(t) {
      for (let c = 0; c < NTIMES; c++) {
        const b = await anonFilled(t, HMM_BUFFER_SIZE, (i) => i + c);
        const npages = b.size / t.ps;
        t.eq(await t.cmd(t.fd, 'read', b, npages), 0, `device read (round ${c})`);
        t.eq(b.cpages, npages, 'cpages');
        t.eq(b.faults, 1, 'faults');
        mirrorInts(t, b, (i) => i + c);
        t.eq(await t.p.munmap(b.ptr, b.size), 0, 'munmap');
      }
    },
  },
  {
    name: 'anon_teardown',
    fixture: 'hmm',
    async run(t) {
      for (let c = 0; c < NTIMES; c++) {
        const b = await anonFilled(t, HMM_BUFFER_SIZE, (i) => i + c);
        const npages = b.size / t.ps;
        const unmapper = t.sim.spawn(`unmap ${c}`, async () => {
          await t.sim.sleep(1000 * Math.floor(t.sim.random() * 33));
          await t.p.munmap(b.ptr + b.size / 2, b.size / 2);
        });
        const ret = await t.cmd(t.fd, 'read', b, npages);
        await t.sim.join(unmapper);
        if (ret === 0) {
          t.eq(b.cpages, npages, 'cpages');
          t.eq(b.faults, 1, 'faults');
          mirrorInts(t, b, (i) => i + c);
        }
        t.eq(await t.p.munmap(b.ptr, b.size), 0, 'munmap');
      }
    },
  },
  {
    name: 'mixedmap',
    fixture: 'hmm',
    async run(t) {
      const b = t.buffer(t.ps, 1);
      b.ptr = await t.mmap({ length: t.ps, flags: MAP_PRIVATE, file: t.fd });
      t.eq(await t.cmd(t.fd, 'snapshot', b, 1), 0, 'snapshot');
      t.eq(b.cpages, 1, 'cpages');
      t.eq(b.mirror[0], HMM_DMIRROR_PROT_READ, 'snapshot byte');
    },
  },
  {
    name: 'compound',
    fixture: 'hmm',
    async run(t) {
      needHugetlb(t);
      const size = Math.ceil((2 << 20) / t.k.hugePageSize) * t.k.hugePageSize;
      const npages = size / t.ps;
      const addr = await t.p.mmap({
        length: size,
        prot: PROT_READ | PROT_WRITE,
        flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB,
      });
      if (addr < 0) return;
      const b = { ...t.buffer(size, npages), ptr: addr };
      await t.writeInts(addr, size / 4, I);
      const level = (): number => {
        const l = b.mirror[0] & (HMM_DMIRROR_PROT_PMD | HMM_DMIRROR_PROT_PUD);
        if (l === 0)
          throw new SelftestFailure(`snapshot byte 0 (0x${b.mirror[0].toString(16)}) has no PMD or PUD bit`);
        return b.mirror[0] & HMM_DMIRROR_PROT_PUD ? HMM_DMIRROR_PROT_PUD : HMM_DMIRROR_PROT_PMD;
      };
      t.eq(await t.cmd(t.fd, 'snapshot', b, npages), 0, 'snapshot');
      t.eq(b.cpages, npages, 'cpages');
      let l = level();
      for (let i = 0; i < npages; i++) t.eq(b.mirror[i], HMM_DMIRROR_PROT_WRITE | l, `snapshot byte ${i}`);
      t.eq(await t.p.mprotect(addr, size, PROT_READ), 0, 'mprotect READ');
      t.eq(await t.cmd(t.fd, 'snapshot', b, npages), 0, 'second snapshot');
      t.eq(b.cpages, npages, 'second cpages');
      l = level();
      for (let i = 0; i < npages; i++)
        t.eq(b.mirror[i], HMM_DMIRROR_PROT_READ | l, `second snapshot byte ${i}`);
    },
  },
  {
    name: 'snapshot',
    fixture: 'hmm2',
    async run(t) {
      const ps = t.ps;
      const b = t.buffer(7 * ps, 7);
      b.ptr = await t.mmap({ length: 7 * ps, prot: PROT_NONE });
      const at = (page: number): HmmBuffer => ({ ...t.buffer(ps), ptr: b.ptr + page * ps });
      t.eq(await t.p.munmap(b.ptr + ps, ps), 0, 'munmap page 1');
      t.eq(await t.p.mprotect(b.ptr + 2 * ps, ps, PROT_READ), 0, 'mprotect page 2');
      await t.expectInts(b.ptr + 2 * ps, 1, () => 0, 'CPU read of page 2');
      t.eq(await t.p.mprotect(b.ptr + 3 * ps, ps, PROT_READ | PROT_WRITE), 0, 'mprotect page 3 RW');
      await t.writeInts(b.ptr + 3 * ps, 1, () => 3);
      t.eq(await t.p.mprotect(b.ptr + 3 * ps, ps, PROT_READ), 0, 'mprotect page 3 READ');
      t.eq(await t.p.mprotect(b.ptr + 4 * ps, 3 * ps, PROT_READ | PROT_WRITE), 0, 'mprotect pages 4-6 RW');
      await t.writeInts(b.ptr + 4 * ps, 1, () => 4);
      const p5 = at(5);
      t.eq(await t.cmd(t.fd0, 'migrate-to-dev', p5, 1), 0, 'migrate page 5 to dev0');
      t.eq(p5.cpages, 1, 'page 5 cpages');
      const p6 = at(6);
      t.eq(await t.cmd(t.fd1, 'migrate-to-dev', p6, 1), 0, 'migrate page 6 to dev1');
      t.eq(p6.cpages, 1, 'page 6 cpages');
      t.eq(await t.cmd(t.fd0, 'snapshot', b, 7), 0, 'snapshot');
      t.eq(b.cpages, 7, 'cpages');
      const want = [
        HMM_DMIRROR_PROT_ERROR,
        HMM_DMIRROR_PROT_ERROR,
        HMM_DMIRROR_PROT_ZERO | HMM_DMIRROR_PROT_READ,
        HMM_DMIRROR_PROT_READ,
        HMM_DMIRROR_PROT_WRITE,
        t.variant === 'private'
          ? HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | HMM_DMIRROR_PROT_WRITE
          : HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL | HMM_DMIRROR_PROT_WRITE,
        t.variant === 'private'
          ? HMM_DMIRROR_PROT_NONE
          : HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE | HMM_DMIRROR_PROT_WRITE,
      ];
      for (let i = 0; i < 7; i++) t.eq(b.mirror[i], want[i], `snapshot byte ${i}`);
    },
  },
  {
    name: 'double_map',
    fixture: 'hmm2',
    async run(t) {
      const b = await anonFilled(t, 6 * t.ps);
      t.eq(await t.p.mprotect(b.ptr, b.size, PROT_READ), 0, 'mprotect READ');
      const read = async (fd: typeof t.fd, what: string): Promise<void> => {
        b.mirror.fill(0);
        t.eq(await t.cmd(fd, 'read', b, 6), 0, what);
        t.eq(b.cpages, 6, `${what}: cpages`);
        t.eq(b.faults, 1, `${what}: faults`);
        mirrorInts(t, b, I, `${what}: mirror`);
      };
      await read(t.fd0, 'dev0 read');
      await read(t.fd1, 'dev1 read');
      await migrateToDev(t, b, 6, t.fd1);
      await read(t.fd0, 'dev0 read after the migration to dev1');
    },
  },
  {
    name: 'exclusive',
    fixture: 'hmm',
    async run(t) {
      const b = await anonFilled(t, HMM_BUFFER_SIZE);
      const npages = b.size / t.ps;
      t.eq(await t.cmd(t.fd, 'exclusive', b, npages), 0, 'exclusive');
      t.eq(b.cpages, npages, 'cpages');
      mirrorInts(t, b, I);
      await incrementAll(t, b.ptr, b.size / 4, I);
      t.eq(await t.cmd(t.fd, 'check-exclusive', b, npages), 0, 'check-exclusive after CPU access');
    },
  },
  {
    name: 'exclusive_mprotect',
    fixture: 'hmm',
    async run(t) {
      const b = await anonFilled(t, HMM_BUFFER_SIZE);
      const npages = b.size / t.ps;
      t.eq(await t.cmd(t.fd, 'exclusive', b, npages), 0, 'exclusive');
      t.eq(b.cpages, npages, 'cpages');
      mirrorInts(t, b, I);
      t.eq(await t.p.mprotect(b.ptr, b.size, PROT_READ), 0, 'mprotect READ');
      t.eq(await t.cmd(t.fd, 'write', b, npages), -EPERM, 'device write after mprotect READ');
    },
  },
  {
    name: 'exclusive_cow',
    fixture: 'hmm',
    async run(t) {
      const b = await anonFilled(t, HMM_BUFFER_SIZE);
      const npages = b.size / t.ps;
      t.eq(await t.cmd(t.fd, 'exclusive', b, npages), 0, 'exclusive');
      t.eq(b.cpages, npages, 'cpages');
      const child = await t.p.fork();
      let childFailure: unknown = null;
      const done = t.sim.spawn(`child ${child.pid}`, async () => {
        try {
          await incrementAll(t, b.ptr, b.size / 4, I, child);
          await child.exit(0);
        } catch (e) {
          childFailure = e;
          await child.exit(134);
        }
      });
      await incrementAll(t, b.ptr, b.size / 4, I);
      await t.sim.join(done);
      const st = await child.wait();
      t.eq(st.pid, child.pid, 'waitpid returns the child');
      if (childFailure !== null) throw childFailure;
      t.eq(st.code, 0, 'child exit status');
    },
  },
  {
    name: 'hmm_gup_test',
    fixture: 'hmm',
    async run(t) {
      const ps = t.ps;
      const b = await anonFilled(t, 4 * ps);
      await migrateToDev(t, b, 4);
      mirrorInts(t, b, I);
      const cmds = ['basic', 'fast-benchmark', 'pin-fast-benchmark', 'pin-longterm-benchmark'] as const;
      for (let i = 0; i < 4; i++) {
        const flags = FOLL_WRITE | (i === 2 ? FOLL_LONGTERM : 0);
        const ret = await gupTest(t.k, t.p, cmds[i], {
          addr: b.ptr + i * ps,
          size: ps,
          nrPagesPerCall: 1,
          gupFlags: flags,
        });
        t.eq(ret, 0, `gup_test ${cmds[i]} on page ${i}`);
      }
      const s = { ...t.buffer(4 * ps, 4), ptr: b.ptr };
      t.eq(await t.cmd(t.fd, 'snapshot', s, 4), 0, 'snapshot');
      t.eq(s.cpages, 4, 'snapshot cpages');
      const first =
        t.variant === 'coherent'
          ? HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL | HMM_DMIRROR_PROT_WRITE
          : HMM_DMIRROR_PROT_WRITE;
      t.eq(s.mirror[0], first, 'snapshot byte 0');
      t.eq(s.mirror[1], first, 'snapshot byte 1');
      t.eq(s.mirror[2], HMM_DMIRROR_PROT_WRITE, 'snapshot byte 2 (long-term pin migrated it)');
      t.eq(s.mirror[3], HMM_DMIRROR_PROT_WRITE, 'snapshot byte 3 (long-term pin migrated it)');
      await t.expectInts(b.ptr, b.size / 4, I, 'CPU data');
    },
  },
  {
    name: 'hmm_cow_in_device',
    fixture: 'hmm',
    async run(t) {
      const ps = t.ps;
      const b = await anonFilled(t, 4 * ps);
      await migrateToDev(t, b, 4);
      const child = await t.p.fork();
      await t.writeInts(b.ptr, b.size / 4, NEG);
      t.eq(await child.kill(SIGKILL), 0, 'kill the child');
      const st = await child.wait();
      t.eq(st.pid, child.pid, 'waitpid returns the child');
      t.eq(st.signal, SIGKILL, 'child terminated by SIGKILL');
      const s = { ...t.buffer(4 * ps, 4), ptr: b.ptr };
      t.eq(await t.cmd(t.fd, 'snapshot', s, 4), 0, 'snapshot');
      t.eq(s.cpages, 4, 'snapshot cpages');
      for (let i = 0; i < 4; i++) t.eq(s.mirror[i], HMM_DMIRROR_PROT_WRITE, `snapshot byte ${i}`);
    },
  },
  {
    name: 'migrate_anon_huge_empty',
    fixture: 'hmm',
    async run(t) {
      const b = await pmdWindow(t, PROT_READ);
      b.mirror.fill(0xff);
      await migrateToDev(t, b, b.size / t.ps);
      mirrorInts(t, b, () => 0);
    },
  },
  {
    name: 'migrate_anon_huge_zero',
    fixture: 'hmm',
    async run(t) {
      const b = await pmdWindow(t, PROT_READ);
      await t.expectInts(b.ptr, 1, () => 0, 'CPU read of the first int');
      b.mirror.fill(0xff);
      await migrateToDev(t, b, b.size / t.ps);
      mirrorInts(t, b, () => 0);
      await t.expectInts(b.ptr, b.size / 4, () => 0, 'CPU reads');
    },
  },
  {
    name: 'migrate_anon_huge_free',
    fixture: 'hmm',
    async run(t) {
      const b = await pmdWindow(t);
      await t.writeInts(b.ptr, b.size / 4, I);
      await migrateToDev(t, b, b.size / t.ps);
      mirrorInts(t, b, I);
      t.eq(await t.p.madvise(b.ptr, b.size, MADV_FREE), 0, 'MADV_FREE');
    },
  },
  {
    name: 'migrate_anon_huge_fault',
    fixture: 'hmm',
    async run(t) {
      const b = await pmdWindow(t, PROT_READ | PROT_WRITE, -1);
      const npages = b.size / t.ps;
      await t.writeInts(b.ptr, b.size / 4, I);
      t.eq(await t.p.madvise(b.ptr, b.size, MADV_COLLAPSE), 0, 'MADV_COLLAPSE');
      await migrateToDev(t, b, npages);
      mirrorInts(t, b, I);
      if (t.variant === 'private') {
        const s = { ...t.buffer(b.size, npages), ptr: b.ptr };
        t.eq(await t.cmd(t.fd, 'snapshot', s, npages), 0, 'snapshot');
        t.eq(s.cpages, npages, 'snapshot cpages');
        const want = HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | HMM_DMIRROR_PROT_WRITE | HMM_DMIRROR_PROT_PMD;
        for (let i = 0; i < npages; i++) t.eq(s.mirror[i], want, `snapshot byte ${i}`);
        const pt = t.p.mm.pageTable;
        for (let i = 0; i < npages; i++)
          t.eq(
            pt.kindAt(b.ptr + i * t.ps),
            PTE_KIND_DEVICE_PRIVATE,
            `pagemap entry ${i}: a non-present device-private entry`,
          );
      }
      await t.expectInts(b.ptr, b.size / 4, I, 'CPU data');
    },
  },
  {
    name: 'migrate_partial_unmap_fault',
    fixture: 'hmm',
    async run(t) {
      const pmd = t.k.pmdSize;
      for (const thp of [true, false])
        for (const offset of [0, pmd / 4, pmd / 2]) {
          const b = await pmdWindow(t, PROT_READ | PROT_WRITE, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
          await t.writeInts(b.ptr, b.size / 4, I);
          await migrateToDev(t, b, b.size / t.ps);
          mirrorInts(t, b, I);
          await t.p.munmap(b.ptr + offset, pmd / 2);
          const per = t.ps / 4;
          for (let page = 0; page < b.size / t.ps; page++) {
            const a = page * t.ps;
            if (a >= offset && a < offset + pmd / 2) continue;
            await t.expectInts(
              b.ptr + a,
              per,
              (i) => i + page * per,
              `CPU data outside the hole (thp ${thp}, offset ${offset})`,
            );
          }
          await t.p.munmap(b.ptr - pmd, 3 * pmd);
        }
    },
  },
  {
    name: 'migrate_remap_fault',
    fixture: 'hmm',
    async run(t) {
      const pmd = t.k.pmdSize;
      for (const before of [false, true])
        for (const dontUnmap of [false, true])
          for (const thp of [false, true])
            for (const offset of [0, pmd / 4, pmd / 2]) {
              const map = await t.mmap({ length: 8 * pmd });
              const w = Math.ceil(map / pmd) * pmd;
              t.eq(await t.p.madvise(w, pmd, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE), 0, 'madvise');
              t.eq(await t.p.munmap(w + pmd, 2 * pmd), 0, 'munmap after the window');
              await t.writeInts(w, pmd / 4, I);
              const target = w + pmd + offset;
              const flags = MREMAP_MAYMOVE | MREMAP_FIXED | (dontUnmap ? MREMAP_DONTUNMAP : 0);
              const b = { ...t.buffer(pmd), ptr: w };
              const what = `migrate (before ${before}, dontunmap ${dontUnmap}, thp ${thp}, offset ${offset})`;
              if (!before) await migrateToDev(t, b, pmd / t.ps, t.fd, what);
              const r = await t.p.mremap(w, pmd, pmd, flags, target);
              t.eq(
                r,
                target,
                `mremap (before ${before}, dontunmap ${dontUnmap}, thp ${thp}, offset ${offset})`,
              );
              b.ptr = target;
              if (before) await migrateToDev(t, b, pmd / t.ps, t.fd, what);
              mirrorInts(t, b, I);
              await t.expectInts(target, pmd / 4, I, 'CPU data at the new address');
              await t.p.munmap(map, 8 * pmd + pmd);
            }
    },
  },
  {
    name: 'migrate_anon_huge_err',
    fixture: 'hmm',
    async run(t) {
      let b = await pmdWindow(t);
      const npages = b.size / t.ps;
      await t.writeInts(b.ptr, b.size / 4, I);
      const flags = { ...t.buffer(0), ptr: b.ptr };
      t.eq(
        (
          await t.fd.command('flags', {
            addr: b.ptr,
            npages: HMM_DMIRROR_FLAG_FAIL_ALLOC,
            flags: HMM_DMIRROR_FLAG_FAIL_ALLOC,
          })
        ).ret,
        0,
        'FLAGS',
      );
      void flags;
      await migrateToDev(t, b, npages);
      mirrorInts(t, b, I);
      await t.expectInts(b.ptr + 2048 * 4, 1, () => 2048, 'ptr[2048]');
      t.eq(await t.p.munmap(b.ptr - t.k.pmdSize, 3 * t.k.pmdSize), 0, 'munmap');
      b = await pmdWindow(t);
      await t.writeInts(b.ptr, b.size / 4, I);
      await migrateToDev(t, b, npages);
      mirrorInts(t, b, I);
      t.eq(
        (await t.fd.command('flags', { addr: b.ptr, npages: HMM_DMIRROR_FLAG_FAIL_ALLOC })).ret,
        0,
        'FLAGS',
      );
      t.eq(await t.cmd(t.fd, 'migrate-to-sys', b, npages), 0, 'migrate to system memory');
      await t.expectInts(b.ptr + 2048 * 4, 1, () => 2048, 'ptr[2048] after migrating back');
    },
  },
  {
    name: 'migrate_anon_huge_zero_err',
    fixture: 'hmm',
    async run(t) {
      let b = await pmdWindow(t, PROT_READ);
      const npages = b.size / t.ps;
      t.eq(
        (await t.fd.command('flags', { addr: b.ptr, npages: HMM_DMIRROR_FLAG_FAIL_ALLOC })).ret,
        0,
        'FLAGS',
      );
      await migrateToDev(t, b, npages);
      mirrorInts(t, b, () => 0);
      await t.expectInts(b.ptr + 2048 * 4, 1, () => 0, 'ptr[2048]');
      t.eq(await t.p.munmap(b.ptr - t.k.pmdSize, 3 * t.k.pmdSize), 0, 'munmap');
      b = await pmdWindow(t, PROT_READ);
      await t.expectInts(b.ptr, 1, () => 0, 'CPU read of the first int');
      t.eq(
        (await t.fd.command('flags', { addr: b.ptr, npages: HMM_DMIRROR_FLAG_FAIL_ALLOC })).ret,
        0,
        'FLAGS',
      );
      await migrateToDev(t, b, npages);
      mirrorInts(t, b, () => 0);
      await t.expectInts(b.ptr, b.size / 4, () => 0, 'CPU reads');
    },
  },
  {
    name: 'benchmark_thp_migration',
    fixture: 'hmm',
    async run(t) {
      const pmd = t.k.pmdSize;
      for (const size of [pmd / 4, pmd / 2, pmd, 2 * pmd, 4 * pmd])
        for (const advice of [MADV_HUGEPAGE, MADV_NOHUGEPAGE]) {
          const b = t.buffer(size);
          b.ptr = await t.mmap({ length: size });
          t.eq(await t.p.madvise(b.ptr, size, advice), 0, 'madvise');
          await t.writeInts(b.ptr, size / 4, I);
          for (let round = 0; round < 6; round++) {
            t.eq(
              await t.cmd(t.fd, 'migrate-to-dev', b, size / t.ps),
              0,
              `migrate to device (${size} bytes, round ${round})`,
            );
            t.eq(
              await t.cmd(t.fd, 'migrate-to-sys', b, size / t.ps),
              0,
              `migrate to system (${size} bytes, round ${round})`,
            );
          }
          t.eq(await t.p.munmap(b.ptr, size), 0, 'munmap');
        }
    },
  },
];

/** The names of every case, in order. */
export const HMM_SELFTEST_NAMES: readonly string[] = HMM_SELFTESTS.map((c) => c.name);

/**
 * Runs the cases (all, or those named) in each variant; `onResult` sees each result as it lands.
 * Throws for an unknown case name, naming the known ones.
 */
export async function runHmmSelftests(
  options: {
    cases?: readonly string[];
    variants?: readonly SelftestVariant[];
    onResult?: (r: SelftestResult) => void;
  } = {},
): Promise<SelftestResult[]> {
  const names = options.cases ?? HMM_SELFTEST_NAMES;
  for (const n of names)
    if (!HMM_SELFTEST_NAMES.includes(n))
      throw new Error(`unknown selftest '${n}'; known: ${HMM_SELFTEST_NAMES.join(', ')}`);
  const out: SelftestResult[] = [];
  for (const c of HMM_SELFTESTS) {
    if (!names.includes(c.name)) continue;
    for (const v of options.variants ?? (['private', 'coherent'] as const)) {
      const r = await runSelftestCase(c, v);
      out.push(r);
      options.onResult?.(r);
    }
  }
  return out;
}
