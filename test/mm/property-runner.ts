/**
 * The property test's operations, their generator, and one run of a sequence in one simulated thread
 * checked against the reference model (test/mm/model.ts).
 */
import fc from 'fast-check';

import { Simulation } from '../../src/sim/simulation.js';
import { EEXIST, EFAULT, EINVAL, ENOMEM } from '../../src/sim/errno.js';
import {
  MADV_DONTNEED,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_PRIVATE,
  MAP_SHARED,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from '../../src/mm/constants.js';
import { Kernel } from '../../src/mm/kernel.js';
import type { Process } from '../../src/mm/process.js';
import type { MemFile } from '../../src/mm/file.js';
import { PAGE, RefModel, type Backing, type SharedObj } from './model.js';

export const REGION_PAGES = 16;
/** Pages of the one file each run maps. */
export const FILE_PAGES = 8;
export const BASE = 0x10000000;

export type Op =
  | { t: 'mmap'; idx: number; n: number; prot: number; shared: boolean; noreplace: boolean }
  | { t: 'mmapfile'; idx: number; n: number; pgoff: number; prot: number; shared: boolean }
  | { t: 'hugeadvise'; idx: number; n: number; on: boolean }
  | { t: 'munmap'; idx: number; n: number }
  | { t: 'mprotect'; idx: number; n: number; prot: number }
  | { t: 'dontneed'; idx: number; n: number }
  | { t: 'write'; idx: number; off: number; len: number; byte: number }
  | { t: 'read'; idx: number; off: number; len: number }
  | { t: 'forkwrite'; idx: number; off: number; len: number; byte: number; both: boolean }
  | {
      t: 'mremap';
      idx: number;
      oldN: number;
      newN: number;
      mode: 'inplace' | 'maymove' | 'fixed';
      idx2: number;
    };

const idx = fc.integer({ min: 0, max: REGION_PAGES - 1 });
const npages = fc.integer({ min: 1, max: 6 });
const prot = fc.constantFrom(
  PROT_NONE,
  PROT_READ,
  PROT_READ | PROT_WRITE,
  PROT_READ | PROT_WRITE,
  PROT_WRITE,
);
const off = fc.integer({ min: 0, max: PAGE - 1 });
const len = fc.integer({ min: 1, max: 2 * PAGE });
const byte = fc.integer({ min: 1, max: 255 });

export const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({
      t: fc.constant('mmap' as const),
      idx,
      n: npages,
      prot,
      shared: fc.boolean(),
      noreplace: fc.boolean(),
    }),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      t: fc.constant('mmapfile' as const),
      idx,
      n: npages,
      pgoff: fc.integer({ min: 0, max: FILE_PAGES - 1 }),
      prot,
      shared: fc.boolean(),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({ t: fc.constant('hugeadvise' as const), idx, n: npages, on: fc.boolean() }),
    weight: 1,
  },
  { arbitrary: fc.record({ t: fc.constant('munmap' as const), idx, n: npages }), weight: 2 },
  { arbitrary: fc.record({ t: fc.constant('mprotect' as const), idx, n: npages, prot }), weight: 2 },
  { arbitrary: fc.record({ t: fc.constant('dontneed' as const), idx, n: npages }), weight: 2 },
  { arbitrary: fc.record({ t: fc.constant('write' as const), idx, off, len, byte }), weight: 5 },
  { arbitrary: fc.record({ t: fc.constant('read' as const), idx, off, len }), weight: 3 },
  {
    arbitrary: fc.record({ t: fc.constant('forkwrite' as const), idx, off, len, byte, both: fc.boolean() }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      t: fc.constant('mremap' as const),
      idx,
      oldN: npages,
      newN: npages,
      mode: fc.constantFrom('inplace' as const, 'maymove' as const, 'fixed' as const),
      idx2: idx,
    }),
    weight: 2,
  },
);

const B = (i: number): number => BASE + i * PAGE;

/** Runs `ops` on a fresh kernel in one simulated thread; returns null or what went wrong. */
export async function runSequence(ops: readonly Op[], seed = 1): Promise<string | null> {
  const sim = new Simulation({ seed, maxSteps: 2_000_000, trace: false });
  const run = await sim.run((s) => {
    const k = new Kernel(s, { memoryPages: 1024, swapPages: 0 });
    s.spawn('main', () => runOps(k, ops));
  });
  if (run.status === 'ok') return null;
  const v = run.violations[0];
  return v ? `${v.kind}: ${v.message}` : run.status;
}

function fail(what: string): never {
  throw new Error(what);
}

function same(a: Uint8Array | number, b: Uint8Array | number): boolean {
  if (typeof a === 'number' || typeof b === 'number') return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function show(x: Uint8Array | number): string {
  if (typeof x === 'number') return String(x);
  const firstDiff = x.findIndex((v) => v !== x[0]);
  return `bytes(len ${x.length}, [0]=${x[0]}${firstDiff >= 0 ? `, [${firstDiff}]=${x[firstDiff]}` : ''})`;
}

async function checkRead(p: Process, model: RefModel, addr: number, n: number, what: string): Promise<void> {
  const got = await p.read(addr, n);
  const want = model.read(addr, n);
  if (!same(got, want))
    fail(`${what}: read 0x${addr.toString(16)}+${n} gave ${show(got)}, model ${show(want)}`);
}

interface World {
  k: Kernel;
  file: MemFile;
  fileObj: SharedObj;
}

async function runOps(k: Kernel, ops: readonly Op[]): Promise<void> {
  const file = k.createFile('data', FILE_PAGES * PAGE);
  const fileObj: SharedObj = { sizePages: FILE_PAGES, pages: new Map() };
  for (let i = 0; i < FILE_PAGES; i++) {
    const content = new Uint8Array(PAGE).fill(0x80 + i);
    await file.pwrite(content, i * PAGE);
    fileObj.pages.set(i, content.slice());
  }
  const free0 = k.phys.nrFree;
  const p = k.createProcess('prop');
  const model = new RefModel();
  const w: World = { k, file, fileObj };
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    const tag = `op ${i} ${JSON.stringify(op)}`;
    await applyOp(w, p, model, op, tag);
    p.mm.vmas.validate();
  }
  // Every page the model knows, and every region page, reads as the model says.
  const addrs = new Set<number>(model.pages.keys());
  for (let i = 0; i < REGION_PAGES; i++) addrs.add(B(i));
  for (const va of [...addrs].sort((a, b) => a - b)) await checkRead(p, model, va, PAGE, 'final');
  await p.exit(0);
  await p.wait();
  // The file holds what shared mappings wrote.
  for (let i = 0; i < FILE_PAGES; i++) {
    const got = await file.pread(PAGE, i * PAGE);
    const want = fileObj.pages.get(i) ?? new Uint8Array(PAGE);
    if (!same(got, want)) fail(`file page ${i}: ${show(got)}, model ${show(want)}`);
  }
  if (k.phys.nrFree !== free0) fail(`after exit ${free0 - k.phys.nrFree} pages are still allocated`);
  k.phys.validate();
}

async function applyOp(w: World, p: Process, model: RefModel, op: Op, tag: string): Promise<void> {
  const expectRet = (got: number, want: number): void => {
    if (got !== want) fail(`${tag}: returned ${got}, expected ${want}`);
  };
  switch (op.t) {
    case 'mmap': {
      const n = Math.min(op.n, REGION_PAGES - op.idx);
      const addr = B(op.idx);
      let overlap = false;
      for (let j = 0; j < n; j++) overlap ||= model.mapped(addr + j * PAGE);
      const flags =
        (op.shared ? MAP_SHARED : MAP_PRIVATE) |
        MAP_ANONYMOUS |
        (op.noreplace ? MAP_FIXED_NOREPLACE : MAP_FIXED);
      const ret = await p.mmap({ addr, length: n * PAGE, prot: op.prot, flags });
      if (op.noreplace && overlap) return expectRet(ret, -EEXIST);
      expectRet(ret, addr);
      model.unmap(addr, n);
      model.map(addr, n, op.prot, op.shared);
      return;
    }
    case 'mmapfile': {
      const n = Math.min(op.n, REGION_PAGES - op.idx);
      const addr = B(op.idx);
      const flags = (op.shared ? MAP_SHARED : MAP_PRIVATE) | MAP_FIXED;
      const ret = await p.mmap({
        addr,
        length: n * PAGE,
        prot: op.prot,
        flags,
        file: w.file,
        offset: op.pgoff * PAGE,
      });
      expectRet(ret, addr);
      model.unmap(addr, n);
      model.mapFile(addr, n, op.prot, op.shared, w.fileObj, op.pgoff);
      return;
    }
    case 'hugeadvise': {
      const n = Math.min(op.n, REGION_PAGES - op.idx);
      let want = 0;
      for (let j = 0; j < n; j++) if (!model.mapped(B(op.idx + j))) want = -ENOMEM;
      expectRet(await p.madvise(B(op.idx), n * PAGE, op.on ? MADV_HUGEPAGE : MADV_NOHUGEPAGE), want);
      return;
    }
    case 'munmap': {
      const n = Math.min(op.n, REGION_PAGES - op.idx);
      expectRet(await p.munmap(B(op.idx), n * PAGE), 0);
      model.unmap(B(op.idx), n);
      return;
    }
    case 'mprotect': {
      const n = Math.min(op.n, REGION_PAGES - op.idx);
      let want = 0;
      for (let j = 0; j < n; j++) {
        const st = model.pages.get(B(op.idx + j));
        if (st === undefined) {
          want = -ENOMEM;
          break;
        }
        st.prot = op.prot;
      }
      expectRet(await p.mprotect(B(op.idx), n * PAGE, op.prot), want);
      return;
    }
    case 'dontneed': {
      const n = Math.min(op.n, REGION_PAGES - op.idx);
      let want = 0;
      for (let j = 0; j < n; j++) {
        if (!model.mapped(B(op.idx + j))) want = -ENOMEM;
        else model.dontneed(B(op.idx + j));
      }
      expectRet(await p.madvise(B(op.idx), n * PAGE, MADV_DONTNEED), want);
      return;
    }
    case 'write': {
      const addr = B(op.idx) + op.off;
      const n = Math.min(op.len, B(REGION_PAGES) - addr);
      const data = new Uint8Array(n).fill(op.byte);
      const want = model.write(addr, data);
      expectRet(await p.write(addr, data), want);
      return;
    }
    case 'read': {
      const addr = B(op.idx) + op.off;
      await checkRead(p, model, addr, Math.min(op.len, B(REGION_PAGES) - addr), tag);
      return;
    }
    case 'forkwrite': {
      const addr = B(op.idx) + op.off;
      const n = Math.min(op.len, B(REGION_PAGES) - addr);
      const child = await p.fork();
      const cm = model.clone();
      const data = new Uint8Array(n).fill(op.byte);
      if (op.both) {
        // The parent writes first: the child must not see it (unless shared).
        const other = new Uint8Array(n).fill(op.byte ^ 0xff);
        expectRet(await p.write(addr, other), model.write(addr, other));
        await checkRead(child, cm, addr, n, `${tag} child after parent write`);
      }
      expectRet(await child.write(addr, data), cm.write(addr, data));
      await checkRead(child, cm, addr, n, `${tag} child`);
      await checkRead(p, model, addr, n, `${tag} parent after child write`);
      await child.exit(0);
      await child.wait();
      return;
    }
    case 'mremap':
      return applyMremap(p, model, op, expectRet);
  }
}

async function applyMremap(
  p: Process,
  model: RefModel,
  op: Extract<Op, { t: 'mremap' }>,
  expectRet: (got: number, want: number) => void,
): Promise<void> {
  const addr = B(op.idx);
  const oldN = Math.min(op.oldN, REGION_PAGES - op.idx);
  let oldLen = oldN * PAGE;
  const newN = op.mode === 'fixed' ? Math.min(op.newN, REGION_PAGES - op.idx2) : op.newN;
  const newLen = newN * PAGE;
  const found = p.mm.vmas.lookup(addr);
  // Snapshot: the kernel changes the VMA object in place.
  const vma = found === undefined ? undefined : { start: found.start, end: found.end };
  const flags =
    op.mode === 'inplace' ? 0 : op.mode === 'maymove' ? MREMAP_MAYMOVE : MREMAP_MAYMOVE | MREMAP_FIXED;
  const newAddr = op.mode === 'fixed' ? B(op.idx2) : 0;
  const ret = await p.mremap(addr, oldLen, newLen, flags, newAddr);
  if (vma === undefined) return expectRet(ret, -EFAULT);
  const tailBacking = (last: Backing, j: number): Backing =>
    last.kind === 'private'
      ? { kind: 'private', data: null }
      : last.kind === 'shared'
        ? { kind: 'shared', obj: last.obj, index: last.index + 1 + j }
        : { kind: 'cow', obj: last.obj, index: last.index + 1 + j, data: null };
  const move = (from: number, to: number, movedN: number, totalN: number): void => {
    const moved = [];
    for (let j = 0; j < movedN; j++) moved.push(model.pages.get(from + j * PAGE)!);
    const protOf = moved[movedN - 1].prot;
    const last = moved[movedN - 1].backing;
    model.unmap(from, movedN);
    for (let j = 0; j < movedN; j++) model.pages.set(to + j * PAGE, moved[j]);
    for (let j = movedN; j < totalN; j++)
      model.pages.set(to + j * PAGE, { prot: protOf, backing: tailBacking(last, j - movedN) });
  };
  if (op.mode === 'fixed') {
    if (addr + oldLen > newAddr && newAddr + newLen > addr) return expectRet(ret, -EINVAL);
    let end = vma.end;
    if (newAddr >= addr + oldLen && newAddr < end) end = newAddr;
    model.unmap(newAddr, newN);
    if (oldLen > newLen) {
      model.unmap(addr + newLen, (oldLen - newLen) / PAGE);
      end = Math.min(end, addr + newLen);
      oldLen = newLen;
    }
    if (oldLen > end - addr) return expectRet(ret, -EFAULT);
    expectRet(ret, newAddr);
    move(addr, newAddr, oldLen / PAGE, newN);
    return;
  }
  if (newLen <= oldLen) {
    expectRet(ret, addr);
    model.unmap(addr + newLen, (oldLen - newLen) / PAGE);
    return;
  }
  if (oldLen > vma.end - addr) return expectRet(ret, -EFAULT);
  let free = addr + oldLen === vma.end;
  for (let j = oldN; j < newN && free; j++) free = !model.mapped(addr + j * PAGE);
  if (free) {
    expectRet(ret, addr);
    move(addr, addr, oldN, newN);
    return;
  }
  if (op.mode === 'inplace') return expectRet(ret, -ENOMEM);
  if (ret < 0 || ret === addr) expectRet(ret, Number.NaN);
  move(addr, ret, oldN, newN);
  await checkRead(p, model, ret, newLen, `mremap moved to 0x${ret.toString(16)}`);
}
