/**
 * Mapcounts and the reverse map (mm/rmap.c: folio_add_anon_rmap_pte/pmd, folio_remove_rmap_pte/pmd,
 * what rmap_walk finds through anon_vma / address_space, here kept per page).
 */
import { HPAGE_PMD_ORDER } from './constants.js';
import { ST_ALLOCATED, ST_RESERVED, type RmapEntry } from './page-frames.js';
import { PageLru } from './lru.js';

export class FolioRmap<Mm = unknown> extends PageLru {
  /**
   * folio_add_anon_rmap_pte / folio_add_file_rmap_pte / folio_add_new_anon_rmap: `mm` maps this page
   * through a PTE (present, device-private or device-exclusive) at `va`. Increments the page's mapcount
   * and the folio's, and records (mm, va) in the reverse map. No-op on reserved pages (the zero page is
   * not rmapped). A free page is a use-after-free violation. No locks (the caller holds the PTE lock).
   */
  rmapAddPte(pfn: number, mm: Mm, va: number): void {
    this.countAccess?.(this.headArr[pfn], true);
    this.physRmapAdd(pfn, mm, va, false);
  }

  /**
   * folio_remove_rmap_pte: the inverse of rmapAddPte. A missing entry is an 'rmap-missing' violation,
   * a mapcount below zero a 'mapcount-underflow'. No locks (the caller holds the PTE lock).
   */
  rmapRemovePte(pfn: number, mm: Mm, va: number): void {
    this.countAccess?.(this.headArr[pfn], true);
    this.physRmapRemove(pfn, mm, va, false);
  }

  /**
   * folio_add_anon_rmap_pmd / folio_add_file_rmap_pmd: `mm` maps the whole folio through a PMD at the
   * PMD-aligned `va`. Increments the folio's entire mapcount and records (mm, va) on the head page.
   * No locks (the caller holds the PMD lock).
   */
  rmapAddPmd(pfn: number, mm: Mm, va: number): void {
    this.physCheckPfn(pfn);
    const head = this.headArr[pfn];
    if (this.orderArr[head] !== HPAGE_PMD_ORDER && this.state[head] !== ST_RESERVED)
      throw new RangeError(`rmapAddPmd: ${this.physDescribe(pfn)} is not a PMD-order folio`);
    this.countAccess?.(head, true);
    this.physRmapAdd(head, mm, va, true);
  }

  /** folio_remove_rmap_pmd: the inverse of rmapAddPmd. No locks (the caller holds the PMD lock). */
  rmapRemovePmd(pfn: number, mm: Mm, va: number): void {
    this.physCheckPfn(pfn);
    this.countAccess?.(this.headArr[pfn], true);
    this.physRmapRemove(this.headArr[pfn], mm, va, true);
  }

  /**
   * page_mapcount: how many page-table entries map this page (its own PTE mappings plus the folio's
   * PMD mappings).
   */
  mapcountOf(pfn: number): number {
    this.physCheckPfn(pfn);
    this.countAccess?.(this.headArr[pfn], false);
    return this.mapcountArr[pfn] + this.entireMapcountArr[this.headArr[pfn]];
  }

  /** folio_entire_mapcount: PMD mappings of the folio. */
  entireMapcountOf(pfn: number): number {
    this.physCheckPfn(pfn);
    this.countAccess?.(this.headArr[pfn], false);
    return this.entireMapcountArr[this.headArr[pfn]];
  }

  /** folio_mapcount: all mappings of the folio (each PTE of any page, each PMD once). */
  folioMapcountOf(pfn: number): number {
    this.physCheckPfn(pfn);
    this.countAccess?.(this.headArr[pfn], false);
    return this.folioMapcountArr[this.headArr[pfn]];
  }

  /** folio_mapped. */
  folioMapped(pfn: number): boolean {
    return this.folioMapcountOf(pfn) > 0;
  }

  /** Number of reverse mappings recorded on this page (PMD mappings are recorded on the head). */
  rmapCount(pfn: number): number {
    this.physCheckPfn(pfn);
    this.countAccess?.(this.headArr[pfn], false);
    const list = this.rmap[pfn];
    return list === undefined ? 0 : list.length >> 1;
  }

  /** The mm of the page's `i`-th reverse mapping (0 <= i < rmapCount). Allocation-free walk helper. */
  rmapMmAt(pfn: number, i: number): Mm {
    return this.physRmapSlot(pfn, i)[2 * i] as Mm;
  }

  /** The virtual address of the page's `i`-th reverse mapping (PMD-aligned for a PMD mapping). */
  rmapVaAt(pfn: number, i: number): number {
    const code = this.physRmapSlot(pfn, i)[2 * i + 1] as number;
    return code < 0 ? -code - 1 : code;
  }

  /** Whether the page's `i`-th reverse mapping is a PMD mapping of the whole folio. */
  rmapIsPmdAt(pfn: number, i: number): boolean {
    return (this.physRmapSlot(pfn, i)[2 * i + 1] as number) < 0;
  }

  /**
   * rmap_walk over a folio: every (mm, va) that maps any page of the folio containing `pfn`, in page
   * order then insertion order (PMD mappings on the head first). Allocates; for reclaim, migration and
   * checkers, not for hot paths. No locks (the caller holds the folio lock).
   */
  folioRmapList(pfn: number): Array<RmapEntry<Mm>> {
    this.physCheckPfn(pfn);
    const head = this.headArr[pfn];
    this.countAccess?.(head, false);
    const nr = 1 << this.orderArr[head];
    const out: Array<RmapEntry<Mm>> = [];
    for (let p = head; p < head + nr; p++) {
      const list = this.rmap[p];
      if (list === undefined) continue;
      for (let i = 0; i < list.length; i += 2) {
        const code = list[i + 1] as number;
        out.push({ mm: list[i] as Mm, va: code < 0 ? -code - 1 : code, pfn: p, pmd: code < 0 });
      }
    }
    return out;
  }

  /**
   * The bookkeeping of rmapAddPte / rmapAddPmd: records (mm, va) on page `pfn` (for a PMD mapping the
   * head, with va stored as -va - 1) and raises the page's mapcount, or the folio's entire mapcount for
   * a PMD, and the folio's total mapcount. No-op on reserved pages; a free folio is a 'use-after-free'
   * violation and records nothing; a bad va throws a RangeError. Not a dpor access (the callers count
   * it). Takes no lock; atomic (called inside the page-table updates of src/mm).
   */
  protected physRmapAdd(pfn: number, mm: Mm, va: number, pmd: boolean): void {
    this.physCheckPfn(pfn);
    const head = this.headArr[pfn];
    if (this.state[head] === ST_RESERVED) return;
    if (this.state[head] !== ST_ALLOCATED) {
      this.physViolation(
        'use-after-free',
        `rmap add (${pmd ? 'pmd' : 'pte'}) at 0x${va.toString(16)} of ${this.physDescribe(pfn)}`,
      );
      return;
    }
    if (!(va >= 0) || !Number.isInteger(va)) throw new RangeError(`rmap: bad va ${va}`);
    let list = this.rmap[pfn];
    if (list === undefined) {
      list = [];
      this.rmap[pfn] = list;
    }
    list.push(mm, pmd ? -va - 1 : va);
    if (pmd) this.entireMapcountArr[head]++;
    else this.mapcountArr[pfn]++;
    this.folioMapcountArr[head]++;
  }

  /**
   * The inverse of physRmapAdd, for rmapRemovePte / rmapRemovePmd: removes the (mm, va) entry of that
   * kind from page `pfn` (the last entry takes its place) and lowers the matching mapcounts. No-op on
   * reserved pages; a missing entry is an 'rmap-missing' violation and changes nothing; a mapcount
   * already at zero is a 'mapcount-underflow' (the entry is removed, the counts stay). Not a dpor
   * access. Takes no lock; atomic (called inside the page-table updates of src/mm).
   */
  protected physRmapRemove(pfn: number, mm: Mm, va: number, pmd: boolean): void {
    this.physCheckPfn(pfn);
    const head = this.headArr[pfn];
    if (this.state[head] === ST_RESERVED) return;
    const list = this.rmap[pfn];
    const code = pmd ? -va - 1 : va;
    let i = -1;
    if (list !== undefined) {
      for (let j = 0; j < list.length; j += 2) {
        if (list[j] === mm && list[j + 1] === code) {
          i = j;
          break;
        }
      }
    }
    if (i < 0 || list === undefined) {
      this.physViolation('rmap-missing', this.rmapRemoveWhat(pfn, va, pmd));
      return;
    }
    const last = list.length - 2;
    list[i] = list[last];
    list[i + 1] = list[last + 1];
    list.length = last;
    if (last === 0) this.rmap[pfn] = undefined;
    const counter = pmd ? this.entireMapcountArr : this.mapcountArr;
    const idx = pmd ? head : pfn;
    if (counter[idx] <= 0 || this.folioMapcountArr[head] <= 0) {
      this.physViolation('mapcount-underflow', this.rmapRemoveWhat(pfn, va, pmd));
      return;
    }
    counter[idx]--;
    this.folioMapcountArr[head]--;
  }

  /** The violation message of physRmapRemove (built only when one is reported). */
  private rmapRemoveWhat(pfn: number, va: number, pmd: boolean): string {
    return `rmap remove (${pmd ? 'pmd' : 'pte'}) at 0x${va.toString(16)} of ${this.physDescribe(pfn)}`;
  }

  /**
   * Page `pfn`'s reverse-map list once it is known to hold an `i`-th entry (RangeError otherwise):
   * the entry's mm is at [2i] and its va at [2i + 1] (-va - 1 for a PMD mapping). For rmapMmAt,
   * rmapVaAt and rmapIsPmdAt. No locks; atomic.
   */
  protected physRmapSlot(pfn: number, i: number): unknown[] {
    this.physCheckPfn(pfn);
    const list = this.rmap[pfn];
    if (list === undefined || !(i >= 0 && 2 * i < list.length))
      throw new RangeError(`rmap index ${i} out of range for pfn ${pfn}`);
    return list;
  }
}
