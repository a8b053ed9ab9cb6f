/**
 * hmm_range_fault (mm/hmm.c): snapshot a range of the CPU page table for a device, faulting pages in
 * where the per-page requests demand it.
 */
import { EBUSY, EFAULT, EINVAL, EPERM } from '../sim/errno.js';
import {
  FAULT_FLAG_REMOTE,
  FAULT_FLAG_WRITE,
  VM_FAULT_ERROR,
  VM_HUGETLB,
  VM_IO,
  VM_PFNMAP,
  VM_READ,
  VM_WRITE,
  HPAGE_PMD_ORDER,
} from '../mm/constants.js';
import {
  PTE_KIND_DEVICE_EXCLUSIVE,
  PTE_KIND_DEVICE_PRIVATE,
  PTE_KIND_MIGRATION,
  PTE_KIND_NONE,
  PTE_KIND_PRESENT,
  PTE_KIND_SWAP,
  PTE_SPECIAL,
  PTE_WRITE,
  PTE_ZERO,
  type PageTableVisitor,
  type PteKind,
} from '../mm/page-table.js';
import { Mm, pteTag } from '../mm/mm.js';
import { handleMmFault } from '../mm/fault.js';
import type { Vma } from '../mm/vma.js';
import {
  HMM_PFN_ERROR,
  HMM_PFN_INOUT_FLAGS,
  HMM_PFN_INPUT_FLAGS,
  HMM_PFN_ORDER_SHIFT,
  HMM_PFN_PFN_MUL,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
} from './pfn.js';
import type { HmmRange, PfnArray } from './types.js';

/** hmm_pte_need_fault result bits. */
const NEED_FAULT = 1;
const NEED_WRITE_FAULT = 2;

/** What the synchronous walk asks the asynchronous driver loop to do next. */
const STOP_FAULT = 1;
const STOP_WAIT_MIGRATION = 2;
const STOP_EFAULT = 3;

/**
 * The state of one hmm_range_fault call (struct hmm_vma_walk): the resume address `last`, and what
 * the walk stopped for.
 */
interface HmmWalk {
  range: HmmRange;
  mm: Mm;
  pfns: PfnArray;
  defaultFlags: number;
  mask: number;
  /** Whether any page can need a fault (default_flags or pfn_flags_mask holds REQ_FAULT). */
  mayFault: boolean;
  last: number;
  vma: Vma | undefined;
  /** End of the part of the range inside the current VMA. */
  vmaEnd: number;
  /** Set when the walk stops. */
  faultStart: number;
  faultEnd: number;
  faultFlags: number;
  waitPfn: number;
  pageShift: number;
  /** 1 / PAGE_SIZE (exact: a power of two). */
  invPageSize: number;
  pmdSize: number;
  /** End of the PMD segment the PTE visitor is in. */
  segEnd: number;
  /** The PTE visitor bound to this walk (created once per call). */
  pteVisitor: PageTableVisitor;
}

/**
 * hmm_range_fault(range): for every base page of [range.start, range.end) of range.notifier's mm,
 * writes the pfn the CPU translation maps, its permission (VALID, WRITE) and the map order into
 * range.hmmPfns (read with hmmPfnFlags / hmmPfnToPfn / hmmPfnToMapOrder); pages the requests
 * (`(hmmPfns[i] & pfnFlagsMask) | defaultFlags`) need valid or writable are faulted in through
 * handle_mm_fault, every page from the first needing one to the end of its PMD segment, and the walk
 * then resumes where it stopped. Device-private pages whose pagemap owner is devPrivateOwner are
 * reported (VALID, WRITE if the entry is writable) and never faulted; those of other owners are
 * faulted back to system memory by their migrateToRam when requested, else reported as 0.
 *
 * Returns 0; -EBUSY when notifier.checkRetry(notifierSeq) is true at the start or after a fault
 * (restart from readBegin; entries from the stop address on still hold their inputs); -EFAULT for a
 * requested page in a hole, in a PROT_NONE / VM_IO / VM_PFNMAP VMA, on a special mapping, or whose fault
 * failed; -EPERM for a write request in a VMA without VM_WRITE; -EINVAL for a misaligned, empty or
 * reversed range, unknown request flags, or a notifier that is not inserted or does not cover the range
 * (nothing is written then). A too-short hmmPfns array throws a RangeError.
 *
 * Locks: the caller holds the mmap lock of the notifier's mm (read or write; asserted, as
 * mmap_assert_locked does) and a user reference (mmget / mmgetNotZero): an mm whose mm_users is zero is
 * reported as a 'kernel-bug' violation (the caller raced exit). May sleep (faults, migration waits).
 *
 * Deviations: no PUD-level mappings and no NUMA-hinting (protnone) PTEs exist in the model; the
 * entry encoding is the model's own (see pfn.ts).
 */
export async function hmmRangeFault(range: HmmRange): Promise<number> {
  const w = hmmRangeCheck(range);
  if (typeof w === 'number') return w;
  const { mm } = w;
  mm.sim.mightSleep('hmm_range_fault');
  mm.assertMmapLocked('hmm_range_fault');
  if (mm.users <= 0)
    mm.sim.bug(
      `hmm_range_fault on ${mm.name} with mm_users ${mm.users}: the caller holds no mmget reference (mmgetNotZero skipped, raced exit)`,
    );
  for (;;) {
    if (range.notifier.checkRetry(range.notifierSeq)) return -EBUSY;
    const ret = hmmWalk(w);
    if (ret === 0) return 0;
    if (ret === STOP_EFAULT) return -EFAULT;
    if (ret === STOP_WAIT_MIGRATION) {
      const k = mm.kernel;
      const va = w.faultStart;
      const pt = mm.pageTable;
      const pfn = w.waitPfn;
      await k.folioWaitUnlocked(pfn, () => pt.kindAt(va) !== PTE_KIND_MIGRATION || pt.pfnAt(va) !== pfn);
      continue;
    }
    // STOP_FAULT: hmm_vma_fault.
    const r = await hmmVmaFault(w);
    if (r !== -EBUSY) return r;
  }
}

/** Validates the range; the walk state or -errno. Nothing is written. */
function hmmRangeCheck(range: HmmRange): HmmWalk | number {
  if (range === null || typeof range !== 'object')
    throw new TypeError('hmmRangeFault: range must be an object');
  const sub = range.notifier;
  if (sub === null || typeof sub !== 'object' || typeof sub.checkRetry !== 'function')
    throw new TypeError('hmmRangeFault: range.notifier must be an MmuIntervalNotifier');
  const mm = sub.mm;
  if (mm === null || !sub.inTree) return -EINVAL; // never inserted, or removed: a stale notifier
  if (!(mm instanceof Mm)) throw new TypeError(`hmmRangeFault: ${sub.name} is on an mm without a page table`);
  const ps = mm.kernel.pageSize;
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end)) return -EINVAL;
  if (start % ps !== 0 || end % ps !== 0 || end <= start) return -EINVAL;
  if (start < sub.start || end - 1 > sub.last) return -EINVAL; // the notifier does not cover the range
  const df = range.defaultFlags;
  const mask = range.pfnFlagsMask;
  if (!Number.isInteger(df) || (df & ~HMM_PFN_INPUT_FLAGS) !== 0 || df < 0) return -EINVAL;
  if (!Number.isInteger(mask) || (mask & ~HMM_PFN_INPUT_FLAGS) !== 0 || mask < 0) return -EINVAL;
  const n = (end - start) / ps;
  const pfns = range.hmmPfns;
  if (pfns === null || typeof pfns !== 'object' || typeof pfns.length !== 'number')
    throw new TypeError('hmmRangeFault: range.hmmPfns must be a number[] or Float64Array');
  if (pfns.length < n)
    throw new RangeError(`hmmRangeFault: hmmPfns has ${pfns.length} entries, the range needs ${n}`);
  const w: HmmWalk = {
    range,
    mm,
    pfns,
    defaultFlags: df,
    mask,
    mayFault: ((df | mask) & HMM_PFN_REQ_FAULT) !== 0,
    last: start,
    vma: undefined,
    vmaEnd: start,
    faultStart: 0,
    faultEnd: 0,
    faultFlags: 0,
    waitPfn: -1,
    pageShift: mm.kernel.pageShift,
    invPageSize: 1 / ps,
    pmdSize: mm.kernel.pmdSize,
    segEnd: 0,
    // Created inside the literal, not assigned afterwards: a function literal assigned to a
    // property is allocated in V8's old space and keeps the walk (and the run) alive through
    // scavenges (see the no-restricted-syntax rule in eslint.config.js).
    pteVisitor: (va, kind, pfn, flags) => hmmPteEntry(w, va, kind, pfn, flags),
  };
  return w;
}

/** hmm_pte_need_fault for one entry: NEED_FAULT / NEED_WRITE_FAULT bits given the CPU's `cpu` flags. */
function needFault(w: HmmWalk, input: number, cpu: number): number {
  if (!w.mayFault) return 0;
  const req = (((input >>> 0) & w.mask) | w.defaultFlags) & (HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE);
  if (!(req & HMM_PFN_REQ_FAULT)) return 0;
  if (req & HMM_PFN_REQ_WRITE && !(cpu & HMM_PFN_WRITE)) return NEED_FAULT | NEED_WRITE_FAULT;
  if (!(cpu & HMM_PFN_VALID)) return NEED_FAULT;
  return 0;
}

/** hmm_range_need_fault over [start, end): OR over the entries, stopping once both bits are set. */
function rangeNeedFault(w: HmmWalk, start: number, end: number, cpu: number): number {
  if (!w.mayFault) return 0;
  const base = w.range.start;
  const sh = w.pageShift;
  let r = 0;
  for (let i = (start - base) / 2 ** sh, e = (end - base) / 2 ** sh; i < e; i++) {
    r |= needFault(w, w.pfns[i], cpu);
    if (r === (NEED_FAULT | NEED_WRITE_FAULT)) break;
  }
  return r;
}

/** Writes `value` (flags, no pfn) into [start, end), keeping the sticky bits. */
function fillFlags(w: HmmWalk, start: number, end: number, value: number): void {
  const base = w.range.start;
  const pfns = w.pfns;
  const div = 2 ** w.pageShift;
  for (let i = (start - base) / div, e = (end - base) / div; i < e; i++)
    pfns[i] = ((pfns[i] >>> 0) & HMM_PFN_INOUT_FLAGS) | value;
}

/** Records a fault of [start, end) and stops the walk. */
function stopForFault(w: HmmWalk, start: number, end: number, need: number): number {
  w.faultStart = start;
  w.faultEnd = end;
  w.faultFlags = need;
  w.last = start;
  return STOP_FAULT;
}

/**
 * walk_page_range with hmm_walk_ops from w.last to the range end: 0 when every entry holds its
 * output, or a STOP_* code with w updated. Synchronous: the kernel's walker runs under the PTE lock.
 */
function hmmWalk(w: HmmWalk): number {
  const { mm, range } = w;
  const end = range.end;
  let addr = w.last;
  // For dpor: the walk reads the page table without a scheduling point (as the kernel's
  // lockless walk does); the PTE writers' steps conflict with it.
  mm.sim.touch(pteTag(mm, addr), true);
  while (addr < end) {
    const vma = mm.vmas.find(addr);
    if (vma === undefined || vma.start >= end) {
      // A hole without a VMA up to the range end.
      if (rangeNeedFault(w, addr, end, 0)) return STOP_EFAULT;
      fillFlags(w, addr, end, HMM_PFN_ERROR);
      w.last = end;
      return 0;
    }
    if (vma.start > addr) {
      if (rangeNeedFault(w, addr, vma.start, 0)) return STOP_EFAULT;
      fillFlags(w, addr, vma.start, HMM_PFN_ERROR);
      addr = vma.start;
      w.last = addr;
    }
    const vEnd = Math.min(vma.end, end);
    // hmm_vma_walk_test.
    if (!(vma.flags & VM_READ) || vma.flags & (VM_IO | VM_PFNMAP)) {
      if (rangeNeedFault(w, addr, vEnd, 0)) return STOP_EFAULT;
      fillFlags(w, addr, vEnd, HMM_PFN_ERROR);
      addr = vEnd;
      w.last = addr;
      continue;
    }
    w.vma = vma;
    w.vmaEnd = vEnd;
    const r = hmmWalkVma(w, addr, vEnd);
    if (r !== 0) return r;
    addr = vEnd;
    w.last = addr;
  }
  return 0;
}

/** The PMD and PTE levels over [addr, vEnd) of w.vma. */
function hmmWalkVma(w: HmmWalk, addr: number, vEnd: number): number {
  const pt = w.mm.pageTable;
  const pmdSize = w.pmdSize;
  const hugetlb = (w.vma!.flags & VM_HUGETLB) !== 0;
  while (addr < vEnd) {
    const segEnd = Math.min(vEnd, (Math.floor(addr / pmdSize) + 1) * pmdSize);
    let r: number;
    if (pt.pmdNone(addr)) {
      // hmm_vma_walk_hole with a VMA: fault the whole hole if any page needs it.
      const need = hugetlb
        ? needFault(w, w.pfns[(addr - w.range.start) / 2 ** w.pageShift], 0)
        : rangeNeedFault(w, addr, segEnd, 0);
      if (need) return stopForFault(w, addr, segEnd, need);
      fillFlags(w, addr, segEnd, 0);
      r = 0;
    } else if (pt.isHugeAt(addr)) {
      r = hmmHandlePmd(w, addr, segEnd, hugetlb);
    } else {
      r = hmmHandlePtes(w, addr, segEnd);
    }
    if (r !== 0) return r;
    addr = segEnd;
    w.last = addr;
  }
  return 0;
}

/** hmm_vma_handle_pmd / hmm_vma_walk_hugetlb_entry: a huge entry over [addr, segEnd). */
function hmmHandlePmd(w: HmmWalk, addr: number, segEnd: number, hugetlb: boolean): number {
  const pt = w.mm.pageTable;
  const kind = pt.kindAt(addr);
  const pfn = pt.pfnAt(addr);
  const flags = pt.flagsAt(addr);
  const base = w.range.start;
  const div = 2 ** w.pageShift;
  const first = (addr - base) / div;
  if (kind === PTE_KIND_PRESENT) {
    const cpu = HMM_PFN_VALID | (flags & PTE_WRITE ? HMM_PFN_WRITE : 0);
    const need = hugetlb ? needFault(w, w.pfns[first], cpu) : rangeNeedFault(w, addr, segEnd, cpu);
    if (need) return stopForFault(w, addr, segEnd, need);
    hmmFillPfns(w, first, (segEnd - base) / div, pfn, cpu, HPAGE_PMD_ORDER);
    return 0;
  }
  if (kind === PTE_KIND_DEVICE_PRIVATE && w.mm.kernel.phys.deviceOwnerOf(pfn) === w.range.devPrivateOwner) {
    const cpu = HMM_PFN_VALID | (flags & PTE_WRITE ? HMM_PFN_WRITE : 0);
    hmmFillPfns(w, first, (segEnd - base) / div, pfn, cpu, HPAGE_PMD_ORDER);
    return 0;
  }
  const need = rangeNeedFault(w, addr, segEnd, 0);
  if (kind === PTE_KIND_MIGRATION) {
    if (need) {
      w.last = addr;
      w.faultStart = addr;
      w.waitPfn = pfn;
      return STOP_WAIT_MIGRATION;
    }
    fillFlags(w, addr, segEnd, 0);
    return 0;
  }
  if (need) {
    if (kind === PTE_KIND_DEVICE_PRIVATE) return stopForFault(w, addr, segEnd, need);
    return STOP_EFAULT;
  }
  fillFlags(w, addr, segEnd, kind === PTE_KIND_DEVICE_PRIVATE ? 0 : HMM_PFN_ERROR);
  return 0;
}

/** Writes pfn + i with `cpu` flags and `order` into entries [from, to), keeping the sticky bits. */
function hmmFillPfns(w: HmmWalk, from: number, to: number, pfn: number, cpu: number, order: number): void {
  const pfns = w.pfns;
  const low = (order << HMM_PFN_ORDER_SHIFT) | cpu;
  for (let i = from; i < to; i++, pfn++)
    pfns[i] = pfn * HMM_PFN_PFN_MUL + (((pfns[i] >>> 0) & HMM_PFN_INOUT_FLAGS) | low);
}

/**
 * hmm_vma_walk_pmd's PTE loop over [addr, segEnd) of one PTE table, through PageTable.walk (holes
 * included) with the walk's one visitor: no allocation per page.
 */
function hmmHandlePtes(w: HmmWalk, addr: number, segEnd: number): number {
  w.segEnd = segEnd;
  return w.mm.pageTable.walk(addr, segEnd, w.pteVisitor, true);
}

/** hmm_vma_handle_pte for one entry; 0 to continue, or a STOP_* code. */
function hmmPteEntry(w: HmmWalk, va: number, kind: PteKind, pfn: number, flags: number): number {
  const pfns = w.pfns;
  const i = (va - w.range.start) * w.invPageSize;
  const input = pfns[i];
  const sticky = (input >>> 0) & HMM_PFN_INOUT_FLAGS;
  if (kind === PTE_KIND_PRESENT) {
    if (flags & PTE_SPECIAL && !(flags & PTE_ZERO)) {
      if (needFault(w, input, 0)) return STOP_EFAULT;
      pfns[i] = sticky | HMM_PFN_ERROR;
      return 0;
    }
    const cpu = flags & PTE_WRITE ? HMM_PFN_VALID | HMM_PFN_WRITE : HMM_PFN_VALID;
    if (w.mayFault) {
      const need = needFault(w, input, cpu);
      if (need) return stopForFault(w, va, w.segEnd, need);
    }
    pfns[i] = pfn * HMM_PFN_PFN_MUL + (sticky | cpu);
    return 0;
  }
  if (kind === PTE_KIND_NONE) {
    const need = needFault(w, input, 0);
    if (need) return stopForFault(w, va, w.segEnd, need);
    pfns[i] = sticky;
    return 0;
  }
  if (kind === PTE_KIND_DEVICE_PRIVATE && w.mm.kernel.phys.deviceOwnerOf(pfn) === w.range.devPrivateOwner) {
    pfns[i] =
      pfn * HMM_PFN_PFN_MUL + (sticky | (flags & PTE_WRITE ? HMM_PFN_VALID | HMM_PFN_WRITE : HMM_PFN_VALID));
    return 0;
  }
  const need = needFault(w, input, 0);
  if (!need) {
    pfns[i] = sticky;
    return 0;
  }
  if (kind === PTE_KIND_MIGRATION) {
    w.last = va;
    w.faultStart = va;
    w.waitPfn = pfn;
    return STOP_WAIT_MIGRATION;
  }
  if (kind === PTE_KIND_SWAP || kind === PTE_KIND_DEVICE_PRIVATE || kind === PTE_KIND_DEVICE_EXCLUSIVE)
    return stopForFault(w, va, w.segEnd, need);
  return STOP_EFAULT;
}

/**
 * hmm_vma_fault: -EPERM for a write fault in a VMA without VM_WRITE; else handle_mm_fault (remote,
 * write if required) for every page of [faultStart, faultEnd); -EFAULT if one fails; -EBUSY to walk
 * again from faultStart.
 */
async function hmmVmaFault(w: HmmWalk): Promise<number> {
  const vma = w.vma!;
  const write = (w.faultFlags & NEED_WRITE_FAULT) !== 0;
  if (write && !(vma.flags & VM_WRITE)) return -EPERM;
  const flags = FAULT_FLAG_REMOTE | (write ? FAULT_FLAG_WRITE : 0);
  const ps = w.mm.kernel.pageSize;
  for (let va = w.faultStart; va < w.faultEnd; va += ps) {
    if (vma.detached || !vma.contains(va)) return -EFAULT;
    const ret = await handleMmFault(w.mm, vma, va, flags);
    if (ret & VM_FAULT_ERROR) return -EFAULT;
  }
  return -EBUSY;
}
