/**
 * Lost writes: what a device wrote is what the CPU later reads, and the reverse. A value may change
 * between a write and a later read only by another write, or where the program itself discarded it
 * (munmap, mmap over it, MADV_DONTNEED / MADV_FREE on private memory, mremap moving it, exit).
 *
 * Reference model: per address space (mm) and page-aligned VA, a shadow of the bytes last written
 * there by anyone (a CPU thread through Process.read/write, or a device through DeviceMirror.access
 * or a driver's own copy that reports through DeviceMirror.noteCopy), with the step, thread and
 * device of each write. A never-written byte of private anonymous memory is zero (zero-fill). Every
 * load (CPU or device) is compared with the shadow; a difference is a 'lost-write' violation naming
 * the VA, the page read and the page written, the device, the writer's step (conflictStep) and the
 * reader's step.
 *
 * Ordering: the model copies each page of an access in one atomic step (after its scheduling point),
 * so every write the shadow holds completed before any later load began and no other write
 * intervened; the last write is well defined per byte. Accesses that overlap a program call still
 * changing the contents of their page (a concurrent munmap, madvise, mremap, MAP_FIXED mmap) are
 * neither recorded nor checked, and leave those bytes unknown afterwards (the call decides whether
 * they survive); a write during fork leaves the child's copy of that page unknown.
 *
 * Granularity: values per byte (Process.write and device accesses store arbitrary byte ranges);
 * the writer a report names is remembered per 8-byte word (the last store to any byte of it).
 *
 * The checker starts with a run's first DeviceMirror; the address spaces of processes that exist
 * then start from what their present pages hold (pages swapped out, being migrated or in device
 * memory are unknown until their first load, which sets them).
 *
 * Deviation: only private anonymous memory is checked. Shared memory and file mappings change under
 * other address spaces and file I/O, which the shadow does not follow.
 *
 * It observes only: model and driver code never read it to decide anything.
 */
import type { Kernel } from '../mm/kernel.js';
import type { Mm } from '../mm/mm.js';
import type { UserMemoryChange, UserMemoryObserver } from '../mm/access.js';
import { MADV_DONTNEED, MADV_FREE, MADV_REMOVE, VM_SHARED, VM_WIPEONFORK } from '../mm/constants.js';
import { PTE_KIND_PRESENT } from '../mm/page-table.js';
import { registerViolationExplanation } from '../explore/explain.js';
import { checksOf } from './options.js';
import type { BufferSource } from '../sim/buffers.js';

/** The violation kind this checker reports. */
export const KIND_LOST_WRITE = 'lost-write';

registerViolationExplanation(KIND_LOST_WRITE, {
  checker: 'lost writes',
  invariant:
    'A load (CPU or device) returns the value the last store to that address wrote, whoever stored it, ' +
    'unless the program discarded it since (munmap, MADV_DONTNEED or MADV_FREE on private memory, exit); ' +
    'never-written private memory reads as zeros.',
  why:
    'A store that went to a page the CPU no longer maps (a device writing through a mapping kept after the ' +
    'page was migrated, COW-copied or freed; a migration that copied the page before the last store) never ' +
    'reaches the reader: the data is silently lost or stale. A correct driver zaps its device mapping in the ' +
    'invalidate callback before the kernel copies or frees the page, and a device store lands only through a ' +
    'mapping programmed under the collision-retry lock.',
});

/** Ranges up to this many pages are forgotten page by page, pages outside the shadow included. */
const FORGET_SCAN_PAGES = 1024;

/** The thread of the write record standing for the contents met when the checker started. */
const INITIAL = '(checker start)';

/** Writers are remembered per 2^WORD_SHIFT bytes (values and which bytes are known, per byte). */
const WORD_SHIFT = 3;

/** writer[] value of a word nobody wrote: zero-fill. */
const ZERO_FILL = -1;

const hex = (n: number): string => `0x${n.toString(16)}`;

/** The shadow of one page: values, which bytes are known, and who wrote each. */
class PageShadow {
  readonly values: Uint8Array;
  readonly known: Uint8Array;
  /** Per 8-byte word: the record of its last store (the last one wins when two share a word). */
  readonly writer: Int32Array;
  /** An unknown byte takes the value of its first load (false after MADV_FREE: it may still change). */
  learn = true;

  constructor(ps: number, zero: boolean, buffers: BufferSource) {
    // One buffer for the three arrays: an array buffer is an allocation outside the heap
    // with bookkeeping of its own, and a page's shadow is made on its first access.
    const buf = buffers.zeroed(2 * ps + 4 * (ps >> WORD_SHIFT));
    this.values = new Uint8Array(buf, 0, ps);
    this.known = new Uint8Array(buf, ps, ps);
    this.writer = new Int32Array(buf, 2 * ps, ps >> WORD_SHIFT).fill(ZERO_FILL);
    if (zero) this.known.fill(1);
  }

  clone(buffers: BufferSource): PageShadow {
    const p = new PageShadow(this.values.length, false, buffers);
    p.values.set(this.values);
    p.known.set(this.known);
    p.writer.set(this.writer);
    p.learn = this.learn;
    return p;
  }
}

/** A program call changing the contents of [start, end) and [start2, end2) (see contentsBegin). */
interface Window {
  start: number;
  end: number;
  start2: number;
  end2: number;
  /** Pages accessed while the call ran. */
  touched: Set<number>;
}

/** The shadow of one address space. */
class MmShadow {
  readonly pages = new Map<number, PageShadow>();
  dead = false;
  readonly windows: Window[] = [];
  /** Per fork in progress: the pages written meanwhile. */
  readonly forks: Set<number>[] = [];
  /** Existed before the checker: pages not in `pages` hold unknown contents (else zero-fill). */
  constructor(readonly seeded: boolean) {}
}

/** The lost-writes checker of one Kernel (its `hooks.userMemory`). */
export class LostWritesChecker implements UserMemoryObserver {
  private readonly mms = new Map<Mm, MmShadow>();
  /** The last address space looked up, and its shadow (accesses come in runs on one mm). */
  private lastMm: Mm | null = null;
  private lastShadow: MmShadow | null = null;
  private readonly ps: number;
  // Write records, by index (parallel arrays: no object per access).
  private readonly recStep: number[] = [];
  private readonly recThread: string[] = [];
  private readonly recWho: string[] = [];
  private readonly recPfn: number[] = [];
  private readonly recRead: boolean[] = [];
  private readonly recMm: (Mm | null)[] = [];
  private readonly recVa: number[] = [];
  /** The last store to each physical page, whoever's address space it went through. */
  private readonly lastStoreToPfn = new Map<number, number>();

  constructor(
    /** The kernel whose user memory accesses the checker shadows (it is `k.hooks.userMemory`). */
    readonly k: Kernel,
  ) {
    this.ps = k.pageSize;
    // Address spaces that exist now start from what they hold now (written before anyone watched).
    for (const p of k.processes.values()) this.mms.set(p.mm as Mm, this.snapshot(p.mm as Mm));
  }

  /**
   * The shadow of an address space the checker meets already populated: each present page of its
   * private anonymous memory holds what it holds now; a page elsewhere (swapped out, being
   * migrated, in device memory) is unknown until its first load; a page with no entry is zero-fill.
   */
  private snapshot(mm: Mm): MmShadow {
    const st = new MmShadow(false);
    const k = this.k;
    const ps = this.ps;
    const rec = this.record(null, -1, true, INITIAL);
    for (const vma of mm.vmas) {
      if (!vma.anonymous || (vma.flags & VM_SHARED) !== 0) continue;
      mm.pageTable.walk(vma.start, vma.end, (va, kind, pfn, _flags, huge) => {
        const base = huge ? va - (va % k.pmdSize) : va;
        const span = huge ? k.pmdSize : ps;
        for (let a = Math.max(base, vma.start); a < Math.min(base + span, vma.end); a += ps) {
          const page = new PageShadow(ps, false, this.k.sim.buffers);
          if (kind === PTE_KIND_PRESENT) {
            k.phys.readBytes(huge ? pfn + (a - base) / ps : pfn, 0, page.values);
            page.known.fill(1);
            page.writer.fill(rec);
          }
          st.pages.set(a, page);
        }
      });
    }
    return st;
  }

  private shadowOf(mm: Mm): MmShadow {
    if (mm === this.lastMm) return this.lastShadow!;
    let st = this.mms.get(mm);
    if (st === undefined) {
      st = new MmShadow(true);
      this.mms.set(mm, st);
    }
    this.lastMm = mm;
    this.lastShadow = st;
    return st;
  }

  /** A new process's address space: never written, so it reads as zeros. Atomic. */
  newMm(mm: Mm): void {
    this.mms.set(mm, new MmShadow(false));
    if (mm === this.lastMm) this.lastMm = null;
  }

  /** A CPU load or store of `n` bytes (Process.read / write through accessUserMemory): checked or recorded. Atomic. */
  cpuCopy(
    mm: Mm,
    va: number,
    off: number,
    pfn: number,
    buf: Uint8Array,
    at: number,
    n: number,
    write: boolean,
  ): void {
    this.copy(mm, null, va, off, pfn, buf, at, n, write);
  }

  /** Checked or recorded like cpuCopy: a device `device` copied `n` bytes between page `va` + `off` of `mm` (bytes of page `pfn`) and `buf[at..]`. */
  deviceCopy(
    mm: Mm,
    device: string,
    va: number,
    off: number,
    pfn: number,
    buf: Uint8Array,
    at: number,
    n: number,
    write: boolean,
  ): void {
    this.copy(mm, device, va, off, pfn, buf, at, n, write);
  }

  private copy(
    mm: Mm,
    device: string | null,
    va: number,
    off: number,
    pfn: number,
    buf: Uint8Array,
    at: number,
    n: number,
    write: boolean,
  ): void {
    const st = this.shadowOf(mm);
    if (st.dead) return;
    if (st.windows.length > 0 && this.inWindow(st, va)) return;
    if (write && st.forks.length > 0) for (let i = 0; i < st.forks.length; i++) st.forks[i].add(va);
    let page = st.pages.get(va);
    if (page === undefined) {
      if (!this.tracked(mm, va)) return;
      page = new PageShadow(this.ps, !st.seeded, this.k.sim.buffers);
      st.pages.set(va, page);
    }
    if (write) {
      const rec = this.record(device, pfn, false, undefined, mm, va);
      this.lastStoreToPfn.set(pfn, rec);
      // A device store has no scheduling point of its own: the trace (and a lost write's race
      // diagram) shows it as an event. CPU stores are their cpu_write points.
      if (device !== null && this.k.sim.tracing)
        this.k.sim.traceEvent('device_store', hex(va), `${device} → pfn ${pfn}: ${n} bytes at +${off}`);
      const { values, known, writer } = page;
      if (n <= 64) {
        for (let i = 0; i < n; i++) {
          values[off + i] = buf[at + i];
          known[off + i] = 1;
        }
      } else {
        values.set(buf.subarray(at, at + n), off);
        known.fill(1, off, off + n);
      }
      writer.fill(rec, off >> WORD_SHIFT, ((off + n - 1) >> WORD_SHIFT) + 1);
      return;
    }
    const { values, known } = page;
    let learned = -1;
    for (let i = 0; i < n; i++) {
      const j = off + i;
      const b = buf[at + i];
      if (known[j] === 1) {
        if (values[j] !== b) this.report(mm, page, device, va, j, pfn, buf, at - off);
      } else if (page.learn) {
        if (learned < 0) learned = this.record(device, pfn, true, undefined, mm, va);
        if (page.writer[j >> WORD_SHIFT] === ZERO_FILL) page.writer[j >> WORD_SHIFT] = learned;
        values[j] = b;
        known[j] = 1;
      }
    }
  }

  /** Private anonymous memory (the only kind the shadow follows). */
  private tracked(mm: Mm, va: number): boolean {
    const vma = mm.vmas.lookup(va);
    return vma !== undefined && vma.anonymous && (vma.flags & VM_SHARED) === 0;
  }

  private record(
    device: string | null,
    pfn: number,
    read: boolean,
    thread?: string,
    mm: Mm | null = null,
    va = -1,
  ): number {
    const sim = this.k.sim;
    this.recMm.push(mm);
    this.recVa.push(va);
    this.recStep.push(sim.steps);
    this.recThread.push(thread ?? sim.current?.name ?? '-');
    this.recWho.push(device ?? 'CPU');
    this.recPfn.push(pfn);
    this.recRead.push(read);
    return this.recStep.length - 1;
  }

  /** Whether page `va` lies in a program call changing contents; marks it touched there. */
  private inWindow(st: MmShadow, va: number): boolean {
    const end = va + this.ps;
    let hit = false;
    for (const w of st.windows)
      if ((va < w.end && end > w.start) || (va < w.end2 && end > w.start2)) {
        w.touched.add(va);
        hit = true;
      }
    return hit;
  }

  /** A program call starts changing what [start, end) (and [start2, end2)) holds: see UserMemoryObserver. Atomic. */
  contentsBegin(mm: Mm, start: number, end: number, start2 = 0, end2 = 0): object {
    const w: Window = { start, end, start2, end2, touched: new Set() };
    this.shadowOf(mm).windows.push(w);
    return w;
  }

  /** The call of `handle` returned `ret`: the shadow follows what it did to the contents. Atomic. */
  contentsEnd(mm: Mm, handle: object, what: UserMemoryChange, ret: number): void {
    const st = this.shadowOf(mm);
    const w = handle as Window;
    const i = st.windows.indexOf(w);
    if (i >= 0) st.windows.splice(i, 1);
    if (st.dead) return;
    const ps = this.ps;
    const align = (n: number): number => Math.ceil(n / ps) * ps;
    let learn = true;
    switch (what.kind) {
      case 'mmap':
        if (ret >= 0) this.drop(st, ret, ret + align(what.length));
        break;
      case 'munmap':
        if (ret === 0) this.drop(st, w.start, w.end);
        break;
      case 'madvise':
        if (what.advice === MADV_DONTNEED) {
          if (ret === 0) this.drop(st, w.start, w.end);
          else this.forget(mm, st, w.start, w.end, true);
        } else if (what.advice === MADV_FREE || (what.advice === MADV_REMOVE && ret === 0)) {
          // MADV_FREE may have applied to part of the range even when it fails. MADV_REMOVE is not
          // modelled: it is refused (-EINVAL) before any VMA is touched, so only a success forgets.
          this.forget(mm, st, w.start, w.end, false);
          learn = false;
        }
        break;
      case 'mremap': {
        if (ret < 0) break;
        const oldLen = align(what.oldLength);
        const newLen = align(what.newLength);
        if (ret === what.oldAddr) {
          if (newLen < oldLen) this.drop(st, ret + newLen, ret + oldLen);
          break;
        }
        this.drop(st, ret, ret + newLen);
        const moved: [number, PageShadow][] = [];
        for (const [va, p] of st.pages)
          if (va >= what.oldAddr && va < what.oldAddr + Math.min(oldLen, newLen)) moved.push([va, p]);
        this.drop(st, what.oldAddr, what.oldAddr + oldLen);
        for (const [va, p] of moved) st.pages.set(ret + (va - what.oldAddr), p);
        for (const va of w.touched)
          if (va >= what.oldAddr && va < what.oldAddr + oldLen) w.touched.add(ret + (va - what.oldAddr));
        break;
      }
    }
    for (const va of w.touched) this.forget(mm, st, va, va + ps, learn);
  }

  /** The program discarded [start, end): its pages are what a new mapping there starts with. */
  private drop(st: MmShadow, start: number, end: number): void {
    const ps = this.ps;
    if ((end - start) / ps <= st.pages.size) {
      for (let va = start - (start % ps); va < end; va += ps) st.pages.delete(va);
    } else {
      for (const va of [...st.pages.keys()]) if (va >= start && va < end) st.pages.delete(va);
    }
  }

  /**
   * Makes the pages of [start, end) hold unknown contents, learned at their next load when `learn`
   * (pages outside the shadow too, for ranges up to FORGET_SCAN_PAGES long). Pages outside private
   * anonymous memory leave the shadow.
   */
  private forget(mm: Mm, st: MmShadow, start: number, end: number, learn: boolean): void {
    const ps = this.ps;
    const pages: number[] = [];
    if ((end - start) / ps <= Math.max(FORGET_SCAN_PAGES, st.pages.size)) {
      for (let va = start - (start % ps); va < end; va += ps) pages.push(va);
    } else {
      for (const va of st.pages.keys()) if (va >= start && va < end) pages.push(va);
    }
    for (const va of pages) {
      if (!this.tracked(mm, va)) {
        st.pages.delete(va);
        continue;
      }
      let p = st.pages.get(va);
      if (p === undefined) {
        p = new PageShadow(ps, false, this.k.sim.buffers);
        st.pages.set(va, p);
      }
      p.known.fill(0);
      p.writer.fill(ZERO_FILL);
      p.learn = learn;
    }
  }

  /** dup_mmap of `parent` starts: stores meanwhile leave the child's copy of their page unknown. Atomic. */
  forkBegin(parent: Mm): object {
    const touched = new Set<number>();
    this.shadowOf(parent).forks.push(touched);
    return touched;
  }

  /** dup_mmap finished: the child's private anonymous pages start as copies of the parent's. Atomic. */
  forkEnd(parent: Mm, handle: object, child: Mm | null): void {
    const st = this.shadowOf(parent);
    const touched = handle as Set<number>;
    const i = st.forks.indexOf(touched);
    if (i >= 0) st.forks.splice(i, 1);
    if (child === null) return;
    const cst = new MmShadow(st.seeded);
    this.mms.set(child, cst);
    if (child === this.lastMm) this.lastMm = null;
    if (st.dead) {
      cst.dead = true;
      return;
    }
    for (const [va, p] of st.pages) {
      const vma = child.vmas.lookup(va);
      if (vma === undefined || !vma.anonymous || (vma.flags & (VM_SHARED | VM_WIPEONFORK)) !== 0) continue;
      const c = p.clone(this.k.sim.buffers);
      if (touched.has(va)) {
        c.known.fill(0);
        c.writer.fill(ZERO_FILL);
      }
      cst.pages.set(va, c);
    }
    // A page first written during the fork (not in the shadow before) may or may not be in the copy.
    for (const va of touched)
      if (!cst.pages.has(va) && this.tracked(child, va))
        cst.pages.set(va, new PageShadow(this.ps, false, this.k.sim.buffers));
  }

  /** The process exits or is killed: nothing of `mm` is checked any more. Atomic. */
  exit(mm: Mm): void {
    const st = this.shadowOf(mm);
    st.dead = true;
    st.pages.clear();
  }

  private report(
    mm: Mm,
    page: PageShadow,
    device: string | null,
    va: number,
    j: number,
    pfn: number,
    buf: Uint8Array,
    base: number,
  ): never {
    const sim = this.k.sim;
    const rec = page.writer[j >> WORD_SHIFT];
    // The run of differing bytes with the same writer, up to 8, for the message.
    let e = j;
    while (
      e < page.values.length &&
      e - j < 8 &&
      base + e < buf.length &&
      page.known[e] === 1 &&
      page.writer[e >> WORD_SHIFT] === rec &&
      page.values[e] !== buf[base + e]
    )
      e++;
    const bytes = (a: ArrayLike<number>, from: number): string => {
      let s = '';
      for (let x = from; x < from + (e - j); x++) s += a[x].toString(16).padStart(2, '0');
      return s;
    };
    const expected = bytes(page.values, j);
    const actual = bytes(buf, base + j);
    const reader = device ?? 'CPU';
    const thread = sim.current?.name ?? '-';
    const at = va + j;
    const writer = rec === ZERO_FILL ? null : rec;
    const wWho = writer === null ? null : this.recWho[writer];
    const wPfn = writer === null ? null : this.recPfn[writer];
    const wStep = writer === null ? null : this.recStep[writer];
    const wThread = writer === null ? null : this.recThread[writer];
    const wRead = writer !== null && this.recRead[writer];
    const source =
      writer === null
        ? `nothing was written there since the program mapped or discarded it (zero-fill: ${expected})`
        : wThread === INITIAL
          ? `it held ${expected} when the checker started (step ${wStep}) and nothing wrote it since`
          : wRead
            ? `step ${wStep} (${wThread}, ${wWho}) read ${expected} there from pfn ${hex(wPfn!)} and nothing wrote it since`
            : `step ${wStep} (${wThread}, ${wWho}) wrote ${expected} there, to pfn ${hex(wPfn!)}`;
    // Who stored to the page that was read, through another address space or address: the store
    // that landed where it must not (a device store through a stale or read-only mapping).
    const c = this.lastStoreToPfn.get(pfn);
    const culprit =
      c !== undefined && c !== writer && this.recStep[c] >= (wStep ?? -1) && this.recStep[c] <= sim.steps
        ? c
        : null;
    const cWho = culprit === null ? null : this.recWho[culprit];
    const stray =
      culprit === null
        ? ''
        : `; pfn ${hex(pfn)} was last stored to at step ${this.recStep[culprit]} (${this.recThread[culprit]}, ` +
          `${cWho}) through ${this.recMm[culprit]?.name ?? '?'} ${hex(this.recVa[culprit])}`;
    const message =
      `lost write at ${hex(at)} in ${mm.name}: ${reader} (${thread}) reads ${actual} from pfn ${hex(pfn)}, ` +
      `but ${source}${stray}; the program discarded nothing there since`;
    const devices: string[] = [];
    if (device !== null) devices.push(device);
    if (wWho !== null && wWho !== 'CPU' && wThread !== INITIAL && !devices.includes(wWho)) devices.push(wWho);
    if (cWho !== null && cWho !== 'CPU' && !devices.includes(cWho)) devices.push(cWho);
    const objects = [hex(va), `pfn ${pfn}`];
    if (wPfn !== null && wPfn !== pfn) objects.push(`pfn ${wPfn}`);
    objects.push(...devices);
    const threads = [thread];
    if (wThread !== null && wThread !== INITIAL && !threads.includes(wThread)) threads.push(wThread);
    if (culprit !== null && !threads.includes(this.recThread[culprit])) threads.push(this.recThread[culprit]);
    const key =
      culprit !== null
        ? `${reader} read sees a ${cWho} store made through another mapping of the page`
        : writer === null
          ? `${reader} read of never-written memory is not zero`
          : wThread === INITIAL
            ? `${reader} read of a value that changed with no write since the checker started`
            : wRead
              ? `${reader} read of a value that changed with no write (${wWho} read it before)`
              : `${wWho} write not seen by ${reader} read`;
    return sim.report(KIND_LOST_WRITE, message, {
      key,
      threads,
      objects,
      conflictStep: culprit !== null ? this.recStep[culprit] : (wStep ?? undefined),
      details: {
        va: at,
        page: va,
        reader,
        readerThread: thread,
        readStep: sim.steps,
        readPfn: pfn,
        expected,
        actual,
        writer: wWho,
        writerThread: wThread,
        writeStep: wStep,
        writePfn: wPfn,
        zeroFill: writer === null,
        strayStoreStep: culprit === null ? null : this.recStep[culprit],
        strayStoreBy: cWho,
      },
    });
  }
}

/** Per run (Simulation.runMap): each kernel's checker, null when switched off. */
const CHECKERS = Symbol('lost-writes checkers');

/**
 * Installs the lost-writes checker of `k`'s run (once; a DeviceMirror's constructor calls it) and
 * returns it, or null when the run switched it off (Kernel option `checks: { lostWrites: false }`).
 * Atomic.
 */
export function lostWritesOf(k: Kernel): LostWritesChecker | null {
  const checkers = k.sim.runMap<Kernel, LostWritesChecker | null>(CHECKERS);
  let c = checkers.get(k);
  if (c !== undefined) return c;
  c = null;
  if (checksOf(k).lostWrites) {
    const existing = k.hooks.userMemory;
    if (existing instanceof LostWritesChecker) c = existing;
    else if (existing === undefined) {
      c = new LostWritesChecker(k);
      k.hooks.userMemory = c;
    }
  }
  checkers.set(k, c);
  return c;
}
