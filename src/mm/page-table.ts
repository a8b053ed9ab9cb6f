/**
 * The per-mm page table: 4 KiB (configurable) PTEs grouped in tables of HPAGE_PMD_NR entries, one per
 * PMD slot, and PMD-level huge entries for PMD-mapped THPs.
 *
 * Layout: a Map from PMD index (va / PMD size) to a PMD slot. A slot holds either a PTE table (three
 * typed arrays: 32-bit payload, 8-bit kind, 8-bit flags; 6 bytes per entry) or one huge entry. A PTE
 * table is allocated when the first entry in its PMD is set and freed when its last entry is cleared,
 * so memory follows the number of populated 2 MiB regions, not the address-space size.
 *
 * Deviation: the kernel frees PTE tables only in free_pgtables() (munmap / exit) or when khugepaged
 * retracts them; the model frees a table once it is empty and no page-table lock is held over it
 * (holdEmptyTables; the owner's lock release calls reapEmptyTables). A table emptied under the lock
 * (a clear-then-set such as make_device_exclusive's, a COW replacement) therefore stays for lockless
 * walkers, whose pmd_none skip (nextPopulatedPmd) must not miss the entry about to be set, as the
 * kernel's never does. Nothing else observes table pages.
 *
 * Every method is synchronous and takes no locks: the caller serialises as the kernel's caller holds
 * the PTE lock (pte_offset_map_lock) or the PMD lock (pmd_lock) and the mmap lock. Bad arguments
 * (misaligned or out-of-range addresses, invalid entries, a PTE write inside a huge PMD) throw: they are
 * bugs in the model.
 */
import { PLAIN_BUFFERS, type BufferSource } from '../sim/buffers.js';
import { HPAGE_PMD_ORDER, PAGE_SHIFT, USER_VA_END } from './constants.js';

// ---------------------------------------------------------------------------------------------
// Entry kinds and flags
// ---------------------------------------------------------------------------------------------

/** pte_none / pmd_none. */
export const PTE_KIND_NONE = 0;
/** pte_present: maps `pfn`. */
export const PTE_KIND_PRESENT = 1;
/** A swap entry (is_swap_pte && !non_swap_entry): the payload is the swap slot. */
export const PTE_KIND_SWAP = 2;
/** is_migration_entry: `pfn` is being migrated; writable with PTE_WRITE, readable-exclusive with PTE_EXCLUSIVE. */
export const PTE_KIND_MIGRATION = 3;
/** is_device_private_entry: `pfn` is a device-private page; writable with PTE_WRITE. */
export const PTE_KIND_DEVICE_PRIVATE = 4;
/**
 * A device-exclusive entry (make_device_exclusive): `pfn` is held exclusively by a device; the CPU must
 * revoke it (an EXCLUSIVE invalidation) before access. Deviation: newer kernels encode it as a special
 * present PTE; it is its own kind here.
 */
export const PTE_KIND_DEVICE_EXCLUSIVE = 5;

/**
 * The kind of a page-table entry: one of the PTE_KIND_* values above. The kernel tells these apart by
 * the entry's bits (pte_present, the swap entry type); the model stores the kind beside the payload.
 */
export type PteKind = 0 | 1 | 2 | 3 | 4 | 5;

/** pte_write: writable (present, migration, device-private, device-exclusive). */
export const PTE_WRITE = 1 << 0;
/** pte_dirty. */
export const PTE_DIRTY = 1 << 1;
/** pte_young (accessed). */
export const PTE_YOUNG = 1 << 2;
/** pte_special: no struct page is refcounted for it (vm_normal_page returns NULL): zero page, PFN maps. */
export const PTE_SPECIAL = 1 << 3;
/** Maps a zero page (is_zero_pfn / is_huge_zero_pmd). A model shortcut; the kernel compares the pfn. */
export const PTE_ZERO = 1 << 4;
/** pte_soft_dirty / pte_swp_soft_dirty. */
export const PTE_SOFT_DIRTY = 1 << 5;
/**
 * The page is exclusive to this mm: pte_swp_exclusive for swap entries, the readable-exclusive
 * migration entry, and for present entries a mirror of PageAnonExclusive the caller may keep.
 */
export const PTE_EXCLUSIVE = 1 << 6;
/** pte_uffd_wp / pte_swp_uffd_wp. */
export const PTE_UFFD_WP = 1 << 7;

const ALL_FLAGS = 0xff;
/** Flags each kind may carry (index: kind). */
const PT_ALLOWED_FLAGS: readonly number[] = [
  0, // none
  ALL_FLAGS, // present
  PTE_SOFT_DIRTY | PTE_EXCLUSIVE | PTE_UFFD_WP, // swap
  PTE_WRITE | PTE_EXCLUSIVE | PTE_DIRTY | PTE_YOUNG | PTE_SOFT_DIRTY | PTE_UFFD_WP, // migration
  PTE_WRITE | PTE_EXCLUSIVE | PTE_SOFT_DIRTY | PTE_UFFD_WP, // device private
  PTE_WRITE | PTE_DIRTY | PTE_YOUNG | PTE_SOFT_DIRTY | PTE_UFFD_WP, // device exclusive
];

const PT_KIND_NAMES = ['none', 'present', 'swap', 'migration', 'device-private', 'device-exclusive'] as const;
const PT_FLAG_NAMES: ReadonlyArray<readonly [number, string]> = [
  [PTE_DIRTY, 'dirty'],
  [PTE_YOUNG, 'young'],
  [PTE_SPECIAL, 'special'],
  [PTE_ZERO, 'zero'],
  [PTE_SOFT_DIRTY, 'soft-dirty'],
  [PTE_EXCLUSIVE, 'exclusive'],
  [PTE_UFFD_WP, 'uffd-wp'],
];

/** The name of an entry kind: 'none', 'present', 'swap', 'migration', 'device-private', 'device-exclusive'. */
export function pteKindName(kind: number): string {
  return PT_KIND_NAMES[kind] ?? `kind-${kind}`;
}

/**
 * An entry as a trace prints it (the model's pte_t / pmd_t dump):
 * `pte present pfn=0x1a rw dirty young`, `pmd migration pfn=0x200 ro`, `pte swap slot=0x7 exclusive`,
 * `pte none`.
 */
export function entryToString(kind: number, pfnOrSlot: number, flags: number, huge = false): string {
  const level = huge ? 'pmd' : 'pte';
  if (kind === PTE_KIND_NONE) return `${level} none`;
  const parts = [
    level,
    pteKindName(kind),
    `${kind === PTE_KIND_SWAP ? 'slot' : 'pfn'}=0x${pfnOrSlot.toString(16)}`,
  ];
  if (kind !== PTE_KIND_SWAP) parts.push(flags & PTE_WRITE ? 'rw' : 'ro');
  for (const [bit, name] of PT_FLAG_NAMES) if (flags & bit) parts.push(name);
  return parts.join(' ');
}

/**
 * A page-table walk callback (mm_walk_ops.pte_entry / pmd_entry / pte_hole in one): called with the
 * address, the entry's kind, pfn (or swap slot), flags, and whether the entry is a PMD-level huge entry.
 * For a huge entry it is called once, with the first address of the walked range inside that PMD and
 * the pfn that maps that address (head pfn + offset); the entry covers up to the PMD's end.
 * Returning a non-zero number stops the walk, which returns that number.
 */
export type PageTableVisitor = (
  va: number,
  kind: PteKind,
  pfn: number,
  flags: number,
  huge: boolean,
) => number | void;

// ---------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------

const NR = 1 << HPAGE_PMD_ORDER;

/** One PMD slot: a PTE table (payload/kinds/flags non-null) or one huge entry (kinds null). */
class PmdSlot {
  hugeKind: PteKind = PTE_KIND_NONE;
  hugePfn = 0;
  hugeFlags = 0;
  payload: Uint32Array | null;
  kinds: Uint8Array | null;
  flags: Uint8Array | null;
  /** Non-none PTEs in the table. */
  used = 0;

  /** A slot with an empty PTE table (withTable) or, to be filled in at once, a huge entry. */
  constructor(withTable: boolean, buffers: BufferSource) {
    if (withTable) {
      this.payload = null;
      this.kinds = null;
      this.flags = null;
      this.allocTable(buffers);
    } else {
      this.payload = null;
      this.kinds = null;
      this.flags = null;
    }
  }

  /** pte_alloc_one: the three arrays of a PTE table in one buffer. */
  allocTable(buffers: BufferSource): void {
    const buf = buffers.zeroed(NR * 6);
    this.payload = new Uint32Array(buf, 0, NR);
    this.kinds = new Uint8Array(buf, NR * 4, NR);
    this.flags = new Uint8Array(buf, NR * 5, NR);
  }
}

/**
 * A process page table (the pgd → p4d → pud → pmd → pte hierarchy of one mm), reduced to the levels
 * the model needs: PMD slots with PTE tables or huge entries. Addresses are byte addresses (numbers),
 * page-aligned, below 2^47. No locks; the caller serialises (holds the PTE/PMD lock, or the mmap lock
 * for write).
 */
export class PageTable {
  /** Base page shift (PAGE_SHIFT) of the PTEs: log2 of pageSize; 12 by default. */
  readonly pageShift: number;
  /** Bytes mapped by one PTE (PAGE_SIZE); addresses given to the table are multiples of it. */
  readonly pageSize: number;
  /** PMD_SIZE: bytes mapped by one PMD slot (a PTE table or a huge entry). */
  readonly pmdSize: number;

  private readonly pmds = new Map<number, PmdSlot>();
  private cacheIdx = -1;
  private cacheSlot: PmdSlot | undefined = undefined;
  private presentCount = 0;
  private entryCount = 0;
  private hugeCount = 0;
  private tableCount = 0;
  private walking = 0;
  private readonly pendingEmpty: number[] = [];

  /**
   * While this returns true (the owner's page-table lock is held), a table that becomes empty is kept
   * and freed by reapEmptyTables when the lock is dropped. Null: freed at once (a bare table).
   */
  holdEmptyTables: (() => boolean) | null = null;

  /** Where PTE tables take their array buffers (see the constructor's options). */
  private readonly buffers: BufferSource;

  /**
   * pgd_alloc: an empty page table. `buffers`: where PTE tables take their array buffers
   * (the run's `sim.buffers`, recycled between an exploration's schedules; plain by default).
   */
  constructor(options: { pageShift?: number; buffers?: BufferSource } = {}) {
    const pageShift = options.pageShift ?? PAGE_SHIFT;
    this.buffers = options.buffers ?? PLAIN_BUFFERS;
    if (!Number.isInteger(pageShift) || pageShift < 9 || pageShift > 21)
      throw new RangeError(`PageTable: pageShift must be an integer in [9, 21], got ${pageShift}`);
    this.pageShift = pageShift;
    this.pageSize = 2 ** pageShift;
    this.pmdSize = this.pageSize * NR;
  }

  // ===========================================================================================
  // Counters
  // ===========================================================================================

  /** Pages mapped by present entries (a present huge entry counts HPAGE_PMD_NR). */
  get presentPages(): number {
    return this.presentCount;
  }

  /** Pages covered by non-none entries of any kind (a huge entry counts HPAGE_PMD_NR). */
  get entryPages(): number {
    return this.entryCount;
  }

  /** Huge PMD entries (present or migration or device-private). */
  get hugeEntries(): number {
    return this.hugeCount;
  }

  /** Allocated PTE tables (mm_pgtables_bytes / PAGE_SIZE in the kernel's accounting). */
  get tables(): number {
    return this.tableCount;
  }

  /** PMD-aligned start of the PMD containing `va` (va & PMD_MASK). */
  pmdStart(va: number): number {
    return Math.floor(va / this.pmdSize) * this.pmdSize;
  }

  /** End of the PMD containing `va` (pmd_addr_end without the range clamp). */
  pmdEnd(va: number): number {
    return this.pmdStart(va) + this.pmdSize;
  }

  // ===========================================================================================
  // PTE-level access (ptep_get, set_pte_at, pte_clear, ptep_set_wrprotect, ptep_test_and_clear_young)
  // ===========================================================================================

  /**
   * ptep_get(...) kind at `va`: the entry kind of the PTE, or of the huge PMD entry covering `va`.
   * No locks (the caller holds the PTE/PMD lock); allocation-free.
   */
  kindAt(va: number): PteKind {
    this.ptCheckVa(va, 'kindAt');
    const idx = Math.floor(va / this.pmdSize);
    const slot = this.ptLookup(idx);
    if (slot === undefined) return PTE_KIND_NONE;
    if (slot.kinds === null) return slot.hugeKind;
    return slot.kinds[(va - idx * this.pmdSize) / this.pageSize] as PteKind;
  }

  /**
   * pte_pfn / swp_offset at `va`: the pfn of a present, migration, device-private or device-exclusive
   * entry (for a huge entry, head pfn + the page's offset), the slot of a swap entry, 0 for none.
   */
  pfnAt(va: number): number {
    this.ptCheckVa(va, 'pfnAt');
    const idx = Math.floor(va / this.pmdSize);
    const slot = this.ptLookup(idx);
    if (slot === undefined) return 0;
    const off = (va - idx * this.pmdSize) / this.pageSize;
    if (slot.kinds === null) return slot.hugePfn + off;
    return slot.payload![off];
  }

  /** The PTE_* flags of the entry at `va` (of the huge entry covering it), 0 for none. */
  flagsAt(va: number): number {
    this.ptCheckVa(va, 'flagsAt');
    const idx = Math.floor(va / this.pmdSize);
    const slot = this.ptLookup(idx);
    if (slot === undefined) return 0;
    if (slot.kinds === null) return slot.hugeFlags;
    return slot.flags![(va - idx * this.pmdSize) / this.pageSize];
  }

  /** pmd_trans_huge || is_pmd_migration_entry ...: whether `va` is covered by a huge PMD entry. */
  isHugeAt(va: number): boolean {
    this.ptCheckVa(va, 'isHugeAt');
    const slot = this.ptLookup(Math.floor(va / this.pmdSize));
    return slot !== undefined && slot.kinds === null;
  }

  /** pmd_none: the PMD covering `va` has neither a huge entry nor any PTE. */
  pmdNone(va: number): boolean {
    this.ptCheckVa(va, 'pmdNone');
    const slot = this.ptLookup(Math.floor(va / this.pmdSize));
    return slot === undefined || (slot.kinds !== null && slot.used === 0);
  }

  /**
   * set_pte_at: installs the entry (kind, pfn-or-slot, flags) at `va`, replacing whatever PTE was there.
   * Setting PTE_KIND_NONE clears. Throws if the PMD holds a huge entry (split it first), if the flags
   * are not valid for the kind, or if the payload is not a 32-bit unsigned integer.
   * No locks (the caller holds the PTE lock); allocation-free unless the PMD had no table.
   */
  set(va: number, kind: PteKind, pfnOrSlot: number, flags: number): void {
    this.ptCheckVa(va, 'set');
    if (kind === PTE_KIND_NONE) {
      if (pfnOrSlot !== 0 || flags !== 0) throw new RangeError('set: a none entry has no payload or flags');
      this.clear(va);
      return;
    }
    this.ptCheckEntry('set', kind, pfnOrSlot, flags);
    const idx = Math.floor(va / this.pmdSize);
    let slot = this.ptLookup(idx);
    if (slot === undefined) slot = this.ptCreate(idx);
    else if (slot.kinds === null)
      throw new Error(
        `set: 0x${va.toString(16)} lies in a huge PMD entry (${this.describe(va)}); split it first`,
      );
    const i = (va - idx * this.pmdSize) / this.pageSize;
    const kinds = slot.kinds!;
    const old = kinds[i];
    if (old === PTE_KIND_NONE) {
      slot.used++;
      this.entryCount++;
    } else if (old === PTE_KIND_PRESENT) this.presentCount--;
    if (kind === PTE_KIND_PRESENT) this.presentCount++;
    kinds[i] = kind;
    slot.payload![i] = pfnOrSlot;
    slot.flags![i] = flags;
  }

  /**
   * pte_clear (ptep_get_and_clear without the return: read the entry first): makes the PTE at `va`
   * none. Frees the PTE table when it becomes empty. Throws if `va` is covered by a huge entry (use
   * clearHuge). No locks (the caller holds the PTE lock).
   */
  clear(va: number): void {
    this.ptCheckVa(va, 'clear');
    const idx = Math.floor(va / this.pmdSize);
    const slot = this.ptLookup(idx);
    if (slot === undefined) return;
    if (slot.kinds === null)
      throw new Error(
        `clear: 0x${va.toString(16)} lies in a huge PMD entry (${this.describe(va)}); use clearHuge`,
      );
    const i = (va - idx * this.pmdSize) / this.pageSize;
    const old = slot.kinds[i];
    if (old === PTE_KIND_NONE) return;
    if (old === PTE_KIND_PRESENT) this.presentCount--;
    slot.kinds[i] = PTE_KIND_NONE;
    slot.payload![i] = 0;
    slot.flags![i] = 0;
    slot.used--;
    this.entryCount--;
    if (slot.used === 0) this.ptReleaseTable(idx);
  }

  /**
   * Changes the flags of the existing PTE at `va` in place (ptep_set_wrprotect, pte_mkold through
   * ptep_test_and_clear_young, pte_mkclean, ptep_modify_prot_commit ...): clears `clearMask`, then sets
   * `setMask`. Returns the old flags. Throws on a none entry, a huge entry or flags invalid for the kind.
   * No locks (the caller holds the PTE lock); allocation-free.
   */
  updateFlags(va: number, clearMask: number, setMask: number): number {
    this.ptCheckVa(va, 'updateFlags');
    const idx = Math.floor(va / this.pmdSize);
    const slot = this.ptLookup(idx);
    if (
      slot === undefined ||
      (slot.kinds !== null && slot.kinds[(va - idx * this.pmdSize) / this.pageSize] === 0)
    )
      throw new Error(`updateFlags: no entry at 0x${va.toString(16)}`);
    if (slot.kinds === null)
      throw new Error(`updateFlags: 0x${va.toString(16)} lies in a huge PMD entry; use updateHugeFlags`);
    const i = (va - idx * this.pmdSize) / this.pageSize;
    const old = slot.flags![i];
    const next = (old & ~clearMask) | setMask;
    this.ptCheckFlags('updateFlags', slot.kinds[i], next);
    slot.flags![i] = next;
    return old;
  }

  // ===========================================================================================
  // PMD-level huge entries (set_pmd_at, pmdp_huge_get_and_clear, split_huge_pmd, collapse)
  // ===========================================================================================

  /**
   * set_pmd_at: installs a huge entry (present, migration or device-private) for the PMD at the
   * PMD-aligned `va`; `pfn` is the head of a PMD-order folio (aligned). Replaces an existing huge entry
   * (set_pmd_migration_entry, remove_migration_pmd); the PMD must otherwise be empty (pmd_none; use
   * collapseToHugePmd to replace PTEs). No locks (the caller holds the PMD lock).
   */
  setHuge(va: number, kind: PteKind, pfn: number, flags: number): void {
    this.ptCheckPmdVa(va, 'setHuge');
    this.ptCheckHugeEntry('setHuge', kind, pfn, flags);
    const idx = va / this.pmdSize;
    const slot = this.ptLookup(idx);
    if (slot !== undefined && slot.kinds !== null && slot.used > 0)
      throw new Error(
        `setHuge: the PMD at 0x${va.toString(16)} has ${slot.used} PTEs; use collapseToHugePmd`,
      );
    this.ptInstallHuge(idx, slot, kind, pfn, flags);
  }

  /**
   * pmdp_huge_get_and_clear / zap_huge_pmd's clear: removes the huge entry of the PMD covering `va`
   * (read it first). Throws if there is none. No locks (the caller holds the PMD lock).
   */
  clearHuge(va: number): void {
    this.ptCheckVa(va, 'clearHuge');
    const idx = Math.floor(va / this.pmdSize);
    const slot = this.ptLookup(idx);
    if (slot === undefined || slot.kinds !== null)
      throw new Error(`clearHuge: no huge entry at 0x${va.toString(16)}`);
    this.ptDropHuge(slot);
    this.pmds.delete(idx);
    if (this.cacheIdx === idx) this.cacheSlot = undefined;
  }

  /**
   * Changes the flags of the huge entry covering `va` in place (pmdp_set_wrprotect, pmdp_test_and_clear_young,
   * pmd_mkclean ...). Returns the old flags. No locks (the caller holds the PMD lock).
   */
  updateHugeFlags(va: number, clearMask: number, setMask: number): number {
    this.ptCheckVa(va, 'updateHugeFlags');
    const slot = this.ptLookup(Math.floor(va / this.pmdSize));
    if (slot === undefined || slot.kinds !== null)
      throw new Error(`updateHugeFlags: no huge entry at 0x${va.toString(16)}`);
    const old = slot.hugeFlags;
    const next = (old & ~clearMask) | setMask;
    this.ptCheckFlags('updateHugeFlags', slot.hugeKind, next);
    slot.hugeFlags = next;
    return old;
  }

  /**
   * __split_huge_pmd_locked: replaces the huge entry covering `va` by HPAGE_PMD_NR PTEs of the same kind
   * and flags mapping pfn + i (a huge zero-page entry, PTE_ZERO, becomes PTEs of the small zero page
   * `zeroPfn`, which is then required). Returns false, doing nothing, when `va` is not covered by a huge
   * entry (split_huge_pmd on a PTE table is a no-op). The folio is not split and mapcounts and rmap are
   * the caller's (remove the PMD mapping, add the PTE ones). No locks (the caller holds the PMD lock).
   */
  splitHugePmd(va: number, zeroPfn?: number): boolean {
    this.ptCheckVa(va, 'splitHugePmd');
    const idx = Math.floor(va / this.pmdSize);
    const slot = this.ptLookup(idx);
    if (slot === undefined || slot.kinds !== null) return false;
    const kind = slot.hugeKind;
    const flags = slot.hugeFlags;
    const zero = (flags & PTE_ZERO) !== 0 && kind === PTE_KIND_PRESENT;
    if (zero && (zeroPfn === undefined || zeroPfn >>> 0 !== zeroPfn))
      throw new RangeError('splitHugePmd: splitting a huge zero-page entry needs the small zero pfn');
    const pfn = slot.hugePfn;
    this.ptDropHuge(slot);
    slot.allocTable(this.buffers);
    slot.kinds!.fill(kind);
    slot.flags!.fill(flags);
    const payload = slot.payload!;
    for (let i = 0; i < NR; i++) payload[i] = zero ? zeroPfn! : pfn + i;
    slot.used = NR;
    this.tableCount++;
    this.entryCount += NR;
    if (kind === PTE_KIND_PRESENT) this.presentCount += NR;
    return true;
  }

  /**
   * collapse_huge_page's final step (pmd_populate of a huge entry after pmdp_collapse_flush): replaces the
   * PTE table of the PMD at the PMD-aligned `va` (whatever it holds: read it first and drop what it
   * references) with a present huge entry for the PMD-order folio `pfn`. Throws if the PMD already holds
   * a huge entry. No locks (the caller holds the mmap lock for write and the PMD lock).
   */
  collapseToHugePmd(va: number, pfn: number, flags: number): void {
    this.ptCheckPmdVa(va, 'collapseToHugePmd');
    this.ptCheckHugeEntry('collapseToHugePmd', PTE_KIND_PRESENT, pfn, flags);
    const idx = va / this.pmdSize;
    const slot = this.ptLookup(idx);
    if (slot !== undefined && slot.kinds === null)
      throw new Error(`collapseToHugePmd: 0x${va.toString(16)} already holds ${this.describe(va)}`);
    this.ptInstallHuge(idx, slot, PTE_KIND_PRESENT, pfn, flags);
  }

  // ===========================================================================================
  // Range operations (walk_page_range, zap)
  // ===========================================================================================

  /**
   * walk_page_range over [start, end): calls `visitor` for every non-none PTE, once per huge entry
   * overlapping the range, and, when `holes` is true, for every none page too (pte_hole, per page).
   * In address order; no allocation per page. Returns the first non-zero number the visitor returns,
   * or 0. The visitor may modify or clear the entry it visits and any entry after it (a zap); entries
   * it adds in PMDs the walk has not reached may or may not be visited; a split or collapse of the PMD
   * being walked ends that PMD's walk. No locks (the caller holds the mmap lock and, per PMD, the PTE
   * lock, as the kernel's walker takes it).
   */
  walk(start: number, end: number, visitor: PageTableVisitor, holes = false): number {
    this.ptCheckRange(start, end, 'walk');
    if (start === end) return 0;
    const first = Math.floor(start / this.pmdSize);
    const last = Math.floor((end - 1) / this.pmdSize);
    this.walking++;
    try {
      if (!holes && last - first + 1 > 4 * this.pmds.size + 16) {
        // Sparse: visit only the populated PMDs, in order.
        const keys: number[] = [];
        for (const k of this.pmds.keys()) if (k >= first && k <= last) keys.push(k);
        keys.sort((a, b) => a - b);
        for (let j = 0; j < keys.length; j++) {
          const r = this.ptWalkPmd(keys[j], start, end, visitor, holes);
          if (r !== 0) return r;
        }
      } else {
        for (let idx = first; idx <= last; idx++) {
          const r = this.ptWalkPmd(idx, start, end, visitor, holes);
          if (r !== 0) return r;
        }
      }
      return 0;
    } finally {
      this.walking--;
      if (this.walking === 0 && this.pendingEmpty.length > 0) this.ptReapEmpty();
    }
  }

  /**
   * Clears every entry in [start, end) (the page-table half of zap_page_range / free_pgtables: read and
   * release what the entries reference first, e.g. with walk). A huge entry must lie entirely inside the
   * range (split it first otherwise); if one does not, nothing is cleared and it throws. No locks (the caller holds the mmap lock and the PTE/PMD locks).
   */
  clearRange(start: number, end: number): void {
    this.ptCheckRange(start, end, 'clearRange');
    if (start === end) return;
    const first = Math.floor(start / this.pmdSize);
    const last = Math.floor((end - 1) / this.pmdSize);
    const keys: number[] = [];
    if (last - first + 1 > 4 * this.pmds.size + 16) {
      for (const k of this.pmds.keys()) if (k >= first && k <= last) keys.push(k);
    } else for (let idx = first; idx <= last; idx++) if (this.pmds.has(idx)) keys.push(idx);
    for (const idx of keys) {
      const base = idx * this.pmdSize;
      if (this.pmds.get(idx)!.kinds === null && (start > base || end < base + this.pmdSize))
        throw new Error(
          `clearRange: huge entry at 0x${base.toString(16)} only partly inside the range; split it first`,
        );
    }
    for (const idx of keys) {
      const slot = this.pmds.get(idx)!;
      const base = idx * this.pmdSize;
      if (slot.kinds === null) {
        this.clearHuge(base);
        continue;
      }
      const hi = Math.min(end, base + this.pmdSize);
      for (let va = Math.max(start, base); va < hi; va += this.pageSize) this.clear(va);
    }
  }

  /**
   * The PMD-aligned start of the first populated PMD slot (a PTE table or a huge entry) whose PMD
   * overlaps [from, end), or -1 (the `pmd_none` skip of the kernel's range walkers, zap_pmd_range and
   * change_pmd_range). Lets a caller that must await between PMDs find the next one lazily, seeing the
   * table as it is then. O(PMDs in range) or O(populated PMDs), whichever is smaller. No locks.
   */
  nextPopulatedPmd(from: number, end: number): number {
    this.ptCheckRange(from, end, 'nextPopulatedPmd');
    if (from === end) return -1;
    const first = Math.floor(from / this.pmdSize);
    const last = Math.floor((end - 1) / this.pmdSize);
    if (last - first + 1 <= 4 * this.pmds.size + 16) {
      for (let idx = first; idx <= last; idx++) if (this.pmds.has(idx)) return idx * this.pmdSize;
      return -1;
    }
    let best = Infinity;
    for (const k of this.pmds.keys()) if (k >= first && k <= last && k < best) best = k;
    return best === Infinity ? -1 : best * this.pmdSize;
  }

  /** A trace line for the entry at `va`: `0x7f0000001000: pte present pfn=0x2a rw dirty`. */
  describe(va: number): string {
    this.ptCheckVa(va, 'describe');
    return `0x${va.toString(16)}: ${entryToString(this.kindAt(va), this.pfnAt(va), this.flagsAt(va), this.isHugeAt(va))}`;
  }

  // ===========================================================================================
  // Internal (pt* helpers)
  // ===========================================================================================

  private ptWalkPmd(
    idx: number,
    start: number,
    end: number,
    visitor: PageTableVisitor,
    holes: boolean,
  ): number {
    const base = idx * this.pmdSize;
    const lo = start > base ? start : base;
    const hi = end < base + this.pmdSize ? end : base + this.pmdSize;
    const pageSize = this.pageSize;
    const slot = this.pmds.get(idx);
    if (slot === undefined) {
      if (!holes) return 0;
      for (let va = lo; va < hi; va += pageSize) {
        const r = visitor(va, PTE_KIND_NONE, 0, 0, false);
        if (r !== undefined && r !== 0) return r;
      }
      return 0;
    }
    const kinds = slot.kinds;
    if (kinds === null) {
      const r = visitor(lo, slot.hugeKind, slot.hugePfn + (lo - base) / pageSize, slot.hugeFlags, true);
      return r !== undefined && r !== 0 ? r : 0;
    }
    const payload = slot.payload!;
    const flags = slot.flags!;
    const iEnd = (hi - base) / pageSize;
    for (let i = (lo - base) / pageSize; i < iEnd; i++) {
      const k = kinds[i];
      if (k === PTE_KIND_NONE && !holes) continue;
      const r = visitor(base + i * pageSize, k as PteKind, payload[i], flags[i], false);
      if (r !== undefined && r !== 0) return r;
      if (slot.kinds !== kinds) return 0; // split or collapsed under us
    }
    return 0;
  }

  private ptLookup(idx: number): PmdSlot | undefined {
    if (idx === this.cacheIdx) return this.cacheSlot;
    const slot = this.pmds.get(idx);
    this.cacheIdx = idx;
    this.cacheSlot = slot;
    return slot;
  }

  /** pte_alloc: a new, empty PTE table for PMD `idx`. */
  private ptCreate(idx: number): PmdSlot {
    const slot = new PmdSlot(true, this.buffers);
    this.pmds.set(idx, slot);
    this.tableCount++;
    this.cacheIdx = idx;
    this.cacheSlot = slot;
    return slot;
  }

  /** Frees the empty table of PMD `idx`, or defers it to the end of the running walk. */
  private ptReleaseTable(idx: number): void {
    if (this.walking > 0 || (this.holdEmptyTables !== null && this.holdEmptyTables())) {
      this.pendingEmpty.push(idx);
      return;
    }
    this.pmds.delete(idx);
    this.tableCount--;
    if (this.cacheIdx === idx) this.cacheSlot = undefined;
  }

  /**
   * Frees the tables left empty while a walk ran or the page-table lock was held (the owner calls it
   * after dropping that lock). No-op while either still holds them. No locks; allocation-free.
   */
  reapEmptyTables(): void {
    if (this.pendingEmpty.length > 0) this.ptReapEmpty();
  }

  private ptReapEmpty(): void {
    if (this.walking > 0 || (this.holdEmptyTables !== null && this.holdEmptyTables())) return;
    for (const idx of this.pendingEmpty) {
      const slot = this.pmds.get(idx);
      if (slot !== undefined && slot.kinds !== null && slot.used === 0) this.ptReleaseTable(idx);
    }
    this.pendingEmpty.length = 0;
  }

  /** Makes PMD `idx` (no slot, a table of any content, or a huge entry) the given huge entry. */
  private ptInstallHuge(
    idx: number,
    existing: PmdSlot | undefined,
    kind: PteKind,
    pfn: number,
    flags: number,
  ): void {
    let slot = existing;
    if (slot === undefined) {
      slot = new PmdSlot(false, this.buffers);
      this.pmds.set(idx, slot);
      this.cacheIdx = idx;
      this.cacheSlot = slot;
    } else if (slot.kinds === null) this.ptDropHuge(slot);
    else {
      let present = 0;
      const kinds = slot.kinds;
      if (slot.used > 0) for (let i = 0; i < NR; i++) if (kinds[i] === PTE_KIND_PRESENT) present++;
      this.presentCount -= present;
      this.entryCount -= slot.used;
      this.tableCount--;
      slot.used = 0;
      slot.kinds = null;
      slot.payload = null;
      slot.flags = null;
    }
    slot.hugeKind = kind;
    slot.hugePfn = pfn;
    slot.hugeFlags = flags;
    this.hugeCount++;
    this.entryCount += NR;
    if (kind === PTE_KIND_PRESENT) this.presentCount += NR;
  }

  /** Forgets the huge entry of `slot` in the counters (the slot is then reused or deleted). */
  private ptDropHuge(slot: PmdSlot): void {
    this.hugeCount--;
    this.entryCount -= NR;
    if (slot.hugeKind === PTE_KIND_PRESENT) this.presentCount -= NR;
    slot.hugeKind = PTE_KIND_NONE;
    slot.hugePfn = 0;
    slot.hugeFlags = 0;
  }

  private ptCheckVa(va: number, what: string): void {
    if (!(va >= 0 && va < USER_VA_END) || va % this.pageSize !== 0)
      throw new RangeError(
        `${what}: address ${typeof va === 'number' ? '0x' + va.toString(16) : String(va)} is not a ` +
          `${this.pageSize}-byte aligned user address below 2^47`,
      );
  }

  private ptCheckPmdVa(va: number, what: string): void {
    this.ptCheckVa(va, what);
    if (va % this.pmdSize !== 0)
      throw new RangeError(
        `${what}: address 0x${va.toString(16)} is not aligned to the PMD size 0x${this.pmdSize.toString(16)}`,
      );
  }

  private ptCheckRange(start: number, end: number, what: string): void {
    this.ptCheckVa(start, what);
    if (!(end >= start && end <= USER_VA_END) || end % this.pageSize !== 0)
      throw new RangeError(
        `${what}: end ${String(end)} must be page-aligned, >= start 0x${start.toString(16)} and <= 2^47`,
      );
  }

  private ptCheckFlags(what: string, kind: number, flags: number): void {
    if ((flags | 0) !== flags || (flags & ~PT_ALLOWED_FLAGS[kind]) !== 0)
      throw new RangeError(
        `${what}: flags 0x${flags.toString(16)} are not valid for a ${pteKindName(kind)} entry`,
      );
  }

  private ptCheckEntry(what: string, kind: number, payload: number, flags: number): void {
    if (!(kind >= PTE_KIND_PRESENT && kind <= PTE_KIND_DEVICE_EXCLUSIVE) || (kind | 0) !== kind)
      throw new RangeError(`${what}: bad entry kind ${String(kind)}`);
    if (payload >>> 0 !== payload) throw new RangeError(`${what}: pfn/slot ${String(payload)} is not a u32`);
    this.ptCheckFlags(what, kind, flags);
  }

  private ptCheckHugeEntry(what: string, kind: number, pfn: number, flags: number): void {
    this.ptCheckEntry(what, kind, pfn, flags);
    if (kind !== PTE_KIND_PRESENT && kind !== PTE_KIND_MIGRATION && kind !== PTE_KIND_DEVICE_PRIVATE)
      throw new RangeError(`${what}: a huge PMD entry cannot be ${pteKindName(kind)}`);
    if (pfn % NR !== 0) throw new RangeError(`${what}: huge pfn 0x${pfn.toString(16)} is not ${NR}-aligned`);
  }
}
