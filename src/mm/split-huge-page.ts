/**
 * Splitting a THP folio (mm/huge_memory.c split_huge_page_to_list_to_order, and the debugfs
 * split_huge_pages_pid): unmap to migration entries through the rmap walk, split the folio, remap.
 * Kept apart from huge-memory.ts (the PMD-level operations the rmap walk itself calls) so that
 * imports point one way: rmap-walk.ts -> huge-memory.ts, split-huge-page.ts -> rmap-walk.ts.
 */
import { EAGAIN, EBUSY, EINTR } from '../sim/errno.js';
import { PTE_KIND_PRESENT, PTE_SPECIAL, PTE_ZERO } from './page-table.js';
import { PG_anon, PG_locked, PG_swapcache } from './physical.js';
import { removeMigrationPtes, tryToMigrate } from './rmap-walk.js';
import { folioPutAfterUnmap } from './swap-state.js';
import type { Mm } from './mm.js';
import type { Kernel } from './kernel.js';

/**
 * split_huge_page_to_list_to_order(page, list, 0): splits the anonymous PMD-order folio containing
 * `pfn` into order-0 folios.
 *  1. can_split_folio: the only references must be its mappings and the caller's (else -EAGAIN);
 *  2. unmap_folio: try_to_migrate with TTU_SPLIT_HUGE_PMD — every PMD mapping is split straight into
 *     PTE migration entries (CLEAR over [haddr, haddr + PMD_SIZE)), then per VMA a CLEAR over the
 *     folio's extent, every PTE mapping becoming a migration entry; faults on them wait;
 *  3. the split itself (every page gets its own folio, one base reference each; the tails stay locked
 *     until remapped);
 *  4. remap_page: remove_migration_ptes per page (no invalidation), then the tails are unlocked and, with
 *     `list`, handed to the caller with their base reference as an isolation reference (the caller
 *     isolated the folio from the LRU); without `list` the base references are dropped (unmapped pages
 *     are freed) and, if the folio was on an LRU list, every page stays on it.
 * If anything still maps the folio after step 2, or its references changed, it is remapped as it was
 * and -EAGAIN is returned. The page `pfn` keeps the caller's reference and lock.
 *
 * Returns 0, -EAGAIN, or -EBUSY for what the model does not split (file THPs, a THP in the swap cache).
 * Locks: caller holds the folio lock and one reference; no mmap lock needed (rmap walks). May sleep.
 */
export async function splitHugePage(k: Kernel, pfn: number, list?: number[]): Promise<number> {
  k.folioAssertLocked(pfn, 'split_huge_page');
  const sim = k.sim;
  const phys = k.phys;
  sim.mightSleep('split_huge_page');
  const head = phys.folioHead(pfn);
  if (phys.folioOrder(head) === 0) return 0;
  if (!phys.testFlag(head, PG_locked)) sim.bug(`split_huge_page of unlocked ${phys.describePage(head)}`);
  if (!phys.testFlag(head, PG_anon) || phys.testFlag(head, PG_swapcache)) return -EBUSY;
  if (list !== undefined && phys.lruListOf(head) !== -1)
    sim.bug(`split_huge_page to a list of a folio on the LRU: ${phys.describePage(head)}`);
  if (phys.maybeDmaPinned(head) || phys.refcountOf(head) !== 1 + phys.folioMapcountOf(head)) return -EAGAIN;
  const nr = phys.folioNrPages(head);
  if (phys.folioMapped(head)) await tryToMigrate(k, head, { splitPmd: true });
  if (phys.folioMapped(head) || phys.refcountOf(head) !== 1) {
    await removeMigrationPtes(k, head, head, nr);
    return -EAGAIN;
  }
  phys.getPage(head, nr);
  const ret = phys.splitFolio(pfn, 1);
  if (ret !== 0) {
    phys.putPage(head, nr);
    await removeMigrationPtes(k, head, head, nr);
    return ret;
  }
  sim.mark('thp split');
  for (let p = head; p < head + nr; p++)
    if (p !== pfn) if (!phys.trylockPage(p)) sim.bug(`split_huge_page: tail ${p} locked by someone else`);
  await removeMigrationPtes(k, head, head, nr);
  for (let p = head; p < head + nr; p++) {
    if (p === pfn) continue;
    k.folioUnlock(p);
    if (list !== undefined) list.push(p);
    else folioPutAfterUnmap(k, p);
  }
  phys.putPage(pfn);
  return 0;
}

/**
 * split_huge_pages_pid (debugfs split_huge_pages "<pid>,<start>,<end>"): under the mmap lock for read,
 * every large folio mapped in [start, end) is referenced, trylocked and split (splitHugePage). Returns
 * the number of folios split, or -EINTR. Caller holds no mm lock and a user reference on `mm`.
 * May sleep.
 */
export async function splitHugePagesInRange(mm: Mm, start: number, end: number): Promise<number> {
  mm.sim.mightSleep('split_huge_pages_pid');
  const k = mm.kernel;
  const phys = k.phys;
  const pt = mm.pageTable;
  const ps = k.pageSize;
  if ((await mm.mmapLock.downReadKillable()) !== 0) return -EINTR;
  let split = 0;
  for (let addr = Math.floor(start / ps) * ps; addr < end; addr += ps) {
    const vma = mm.vmas.lookup(addr);
    if (vma === undefined) continue;
    if (pt.kindAt(addr) !== PTE_KIND_PRESENT || pt.flagsAt(addr) & (PTE_SPECIAL | PTE_ZERO)) continue;
    const head = phys.folioHead(pt.pfnAt(addr));
    if (phys.folioOrder(head) === 0 || !phys.tryGetPage(head)) continue;
    if (k.folioTrylock(head)) {
      if ((await splitHugePage(k, head)) === 0) split++;
      k.folioUnlock(head);
    }
    phys.putPage(head);
  }
  mm.mmapLock.upRead();
  return split;
}
