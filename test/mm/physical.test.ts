import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { EAGAIN, EBUSY, ENOMEM } from '../../src/sim/errno.js';
import { HPAGE_PMD_NR, HPAGE_PMD_ORDER } from '../../src/mm/constants.js';
import {
  LRU_ACTIVE_ANON,
  LRU_INACTIVE_ANON,
  LRU_INACTIVE_FILE,
  PG_anon,
  PG_anon_exclusive,
  PG_dirty,
  PG_locked,
  PG_lru,
  PhysicalMemory,
  type PageViolationKind,
} from '../../src/mm/physical.js';

interface Recorded {
  kind: PageViolationKind;
  message: string;
}

function mem(npages: number, nodes = 1): { pm: PhysicalMemory<string>; seen: Recorded[] } {
  const seen: Recorded[] = [];
  const pm = new PhysicalMemory<string>({
    npages,
    nodes,
    onViolation: (kind, message) => seen.push({ kind, message }),
  });
  return { pm, seen };
}

describe('PhysicalMemory: allocation', () => {
  it('hands out every page once, then -ENOMEM, and counts', () => {
    const { pm, seen } = mem(64);
    const got = new Set<number>();
    for (let i = 0; i < 64; i++) {
      const pfn = pm.allocPage();
      expect(pfn).toBeGreaterThanOrEqual(0);
      expect(got.has(pfn)).toBe(false);
      got.add(pfn);
      expect(pm.refcountOf(pfn)).toBe(1);
    }
    expect(pm.allocPage()).toBe(-ENOMEM);
    expect(pm.nrFree).toBe(0);
    expect(pm.nrAllocated).toBe(64);
    for (const pfn of got) pm.putPage(pfn);
    expect(pm.nrFree).toBe(64);
    expect(pm.nrAllocated).toBe(0);
    expect(seen).toEqual([]);
  });

  it('allocates a naturally aligned PMD-order folio, and -ENOMEM when no block is wholly free', () => {
    const { pm } = mem(2 * HPAGE_PMD_NR);
    const a = pm.allocPages(HPAGE_PMD_ORDER);
    expect(a % HPAGE_PMD_NR).toBe(0);
    expect(pm.folioOrder(a + 7)).toBe(HPAGE_PMD_ORDER);
    expect(pm.folioHead(a + 7)).toBe(a);
    expect(pm.folioNrPages(a + 300)).toBe(HPAGE_PMD_NR);
    const small = pm.allocPage();
    expect(small >= a && small < a + HPAGE_PMD_NR).toBe(false);
    expect(pm.allocPages(HPAGE_PMD_ORDER)).toBe(-ENOMEM); // the other block is broken by `small`
    pm.putPage(small);
    const b = pm.allocPages(HPAGE_PMD_ORDER);
    expect(b % HPAGE_PMD_NR).toBe(0);
    expect(b).not.toBe(a);
    pm.putPage(a + 3); // any page of the folio drops the folio's reference
    expect(pm.nrFree).toBe(HPAGE_PMD_NR);
    expect(pm.isFree(a + 3)).toBe(true);
  });

  it('order-0 allocations prefer partly used blocks, keeping whole blocks for THP', () => {
    const { pm } = mem(4 * HPAGE_PMD_NR);
    const pages: number[] = [];
    for (let i = 0; i < HPAGE_PMD_NR + 10; i++) pages.push(pm.allocPage());
    for (let i = 0; i < HPAGE_PMD_NR; i += 2) pm.putPage(pages[i]); // free holes in the first block
    for (let i = 0; i < 50; i++) pm.allocPage(); // reuse holes, not fresh blocks
    expect(pm.allocPages(HPAGE_PMD_ORDER)).toBeGreaterThanOrEqual(0);
    expect(pm.allocPages(HPAGE_PMD_ORDER)).toBeGreaterThanOrEqual(0);
  });

  it('splits pages evenly across nodes, allocates on the requested node and falls back', () => {
    const { pm } = mem(1000, 4);
    expect(pm.nodeRange(0)).toEqual({ start: 0, end: 250 });
    expect(pm.nodeRange(3)).toEqual({ start: 750, end: 1000 });
    const p = pm.allocPage(2);
    expect(pm.nodeOf(p)).toBe(2);
    expect(pm.nrFreeOnNode(2)).toBe(249);
    for (let i = 0; i < 249; i++) pm.allocPage(2);
    expect(pm.allocPage(2, true)).toBe(-ENOMEM); // __GFP_THISNODE
    const q = pm.allocPage(2);
    expect(pm.nodeOf(q)).toBe(3);
  });

  it('fails allocations when the fault-injection hook says so', () => {
    let fail = true;
    const pm = new PhysicalMemory({ npages: 8, shouldFailAlloc: () => fail });
    expect(pm.allocPage()).toBe(-ENOMEM);
    expect(pm.nrFree).toBe(8);
    fail = false;
    expect(pm.allocPage()).toBeGreaterThanOrEqual(0);
  });

  it('property: never hands out a page twice; counts, mapcounts, rmap and LRU stay consistent', () => {
    const op = fc.oneof(
      fc.record({
        t: fc.constant('alloc' as const),
        order: fc.constantFrom(0, 0, 0, HPAGE_PMD_ORDER),
        node: fc.nat(2),
      }),
      fc.record({
        t: fc.constantFrom('put' as const, 'get' as const, 'map' as const, 'unmap' as const),
        i: fc.nat(),
      }),
      fc.record({ t: fc.constantFrom('lru' as const, 'isolate' as const), i: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const { pm, seen } = mem(3 * HPAGE_PMD_NR + 100, 3);
        const owner = new Map<number, number>(); // page -> folio head
        interface RefFolio {
          head: number;
          nr: number;
          refs: number;
          maps: Array<{ pfn: number; mm: string; va: number }>;
          lru: boolean;
        }
        const folios: RefFolio[] = [];
        let leaked = 0;
        let nextVa = 0x1000;
        const expectedViolations: PageViolationKind[] = [];
        for (const o of ops) {
          if (o.t === 'alloc') {
            const head = pm.allocPages(o.order, o.node);
            if (head < 0) {
              expect(head).toBe(-ENOMEM);
              continue;
            }
            const nr = 1 << o.order;
            expect(head % nr).toBe(0);
            for (let p = head; p < head + nr; p++) {
              expect(owner.has(p)).toBe(false);
              expect(p).toBeLessThan(pm.totalPages);
              owner.set(p, head);
            }
            folios.push({ head, nr, refs: 1, maps: [], lru: false });
          } else if (folios.length > 0) {
            const k = o.i % folios.length;
            const f = folios[k];
            const pfn = f.head + (o.i % f.nr);
            if (o.t === 'get') {
              pm.getPage(pfn);
              f.refs++;
            } else if (o.t === 'map') {
              const mm = o.i % 2 === 0 ? 'A' : 'B';
              pm.rmapAddPte(pfn, mm, nextVa);
              f.maps.push({ pfn, mm, va: nextVa });
              nextVa += 0x1000;
            } else if (o.t === 'unmap') {
              if (f.maps.length === 0) continue;
              const [m] = f.maps.splice(o.i % f.maps.length, 1);
              pm.rmapRemovePte(m.pfn, m.mm, m.va);
            } else if (o.t === 'lru') {
              pm.lruAdd(pfn, LRU_INACTIVE_ANON);
              if (f.lru) expectedViolations.push('lru-misuse');
              f.lru = true;
            } else if (o.t === 'isolate') {
              expect(pm.lruIsolate(pfn)).toBe(f.lru);
              f.lru = false;
            } else {
              pm.putPage(pfn);
              f.refs--;
              if (f.refs === 0) {
                for (let p = f.head; p < f.head + f.nr; p++) owner.delete(p);
                folios.splice(k, 1);
                if (f.maps.length > 0) {
                  expectedViolations.push('bad-page');
                  leaked += f.nr;
                }
              }
            }
            for (const g of folios) {
              expect(pm.folioMapcountOf(g.head)).toBe(g.maps.length);
              expect(pm.lruListOf(g.head)).toBe(g.lru ? LRU_INACTIVE_ANON : -1);
            }
          }
          expect(pm.nrAllocated).toBe(owner.size);
          expect(pm.nrLeaked).toBe(leaked);
          expect(pm.nrFree + pm.nrAllocated + pm.nrLeaked).toBe(pm.totalPages);
        }
        pm.validate();
        for (const f of folios) {
          expect(pm.refcountOf(f.head)).toBe(f.refs);
          const want = f.maps.map((m) => `${m.mm}@${m.va}:${m.pfn}`).sort();
          const got = pm
            .folioRmapList(f.head)
            .map((e) => `${e.mm}@${e.va}:${e.pfn}`)
            .sort();
          expect(got).toEqual(want);
        }
        expect(seen.map((v) => v.kind)).toEqual(expectedViolations);
      }),
      { numRuns: 200 },
    );
  });
});

describe('PhysicalMemory: contents and the zero page', () => {
  it('a new page reads as zeros; writes persist; freeing drops them', () => {
    const { pm } = mem(4);
    const pfn = pm.allocPage();
    const buf = new Uint8Array(8).fill(0xee);
    pm.readBytes(pfn, 100, buf);
    expect([...buf]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    pm.writeBytes(pfn, 4094, new Uint8Array([1, 2]));
    const two = new Uint8Array(4);
    pm.readBytes(pfn, 4092, two);
    expect([...two]).toEqual([0, 0, 1, 2]);
    pm.putPage(pfn);
    const again = pm.allocPage();
    expect(again).toBe(pfn);
    pm.readBytes(again, 4092, two);
    expect([...two]).toEqual([0, 0, 0, 0]);
  });

  it('copyPage and clearPage', () => {
    const { pm } = mem(4);
    const a = pm.allocPage();
    const b = pm.allocPage();
    pm.writeBytes(a, 0, new Uint8Array([9, 8, 7]));
    pm.copyPage(b, a);
    pm.writeBytes(a, 0, new Uint8Array([1]));
    const out = new Uint8Array(3);
    pm.readBytes(b, 0, out);
    expect([...out]).toEqual([9, 8, 7]);
    pm.clearPage(b);
    pm.readBytes(b, 0, out);
    expect([...out]).toEqual([0, 0, 0]);
  });

  it('rejects accesses outside the page', () => {
    const { pm } = mem(4);
    const a = pm.allocPage();
    expect(() => pm.readBytes(a, 4095, new Uint8Array(2))).toThrow(RangeError);
    expect(() => pm.writeBytes(a, -1, new Uint8Array(1))).toThrow(RangeError);
    expect(() => pm.refcountOf(999)).toThrow(RangeError);
  });

  it('the zero page reads as zeros, is never freed, and rejects writes as a violation', () => {
    const { pm, seen } = mem(4);
    const z = pm.zeroPfn;
    expect(pm.isZeroPfn(z)).toBe(true);
    expect(pm.isReserved(z)).toBe(true);
    pm.getPage(z);
    pm.putPage(z);
    pm.putPage(z);
    pm.rmapAddPte(z, 'mmA', 0x1000);
    expect(pm.mapcountOf(z)).toBe(0);
    expect(pm.isFree(z)).toBe(false);
    pm.writeBytes(z, 0, new Uint8Array([1]));
    expect(seen.map((v) => v.kind)).toEqual(['zero-page-write']);
    const out = new Uint8Array(1);
    pm.readBytes(z, 0, out);
    expect(out[0]).toBe(0);
    expect(pm.nrFree).toBe(4); // not part of allocatable memory
  });

  it('the huge zero folio is allocated once and reserved', () => {
    const { pm } = mem(2 * HPAGE_PMD_NR);
    const h = pm.hugeZeroPfn();
    expect(h % HPAGE_PMD_NR).toBe(0);
    expect(pm.hugeZeroPfn()).toBe(h);
    expect(pm.isHugeZeroPfn(h + 5)).toBe(true);
    expect(pm.isReserved(h + 5)).toBe(true);
    pm.putPage(h);
    expect(pm.isFree(h)).toBe(false);
  });
});

describe('PhysicalMemory: lifetime violations are data', () => {
  it('freeing a mapped page reports bad-page and leaks it', () => {
    const { pm, seen } = mem(4);
    const p = pm.allocPage();
    pm.rmapAddPte(p, 'mmA', 0x4000);
    pm.putPage(p);
    expect(seen).toHaveLength(1);
    expect(seen[0].kind).toBe('bad-page');
    expect(seen[0].message).toContain('mapcount');
    expect(pm.isFree(p)).toBe(false);
    expect(pm.nrLeaked).toBe(1);
    expect(pm.nrFree + pm.nrAllocated + pm.nrLeaked).toBe(4);
    expect(pm.violations).toHaveLength(1);
    pm.validate();
  });

  it('freeing a locked or pinned page is bad; a put below zero underflows; a get after free is use-after-free', () => {
    const { pm, seen } = mem(8);
    const a = pm.allocPage();
    expect(pm.trylockPage(a)).toBe(true);
    pm.putPage(a);
    const b = pm.allocPage();
    pm.putPage(b);
    pm.putPage(b);
    pm.getPage(b);
    const c = pm.allocPage();
    expect(pm.pinPage(c)).toBe(true);
    pm.putPage(c);
    pm.putPage(c); // drops the pin's reference: freed while pinned
    expect(seen.map((v) => v.kind)).toEqual(['bad-page', 'refcount-underflow', 'use-after-free', 'bad-page']);
  });

  it('reading or writing a free page is use-after-free', () => {
    const { pm, seen } = mem(2);
    const a = pm.allocPage();
    pm.putPage(a);
    pm.readBytes(a, 0, new Uint8Array(1));
    pm.writeBytes(a, 0, new Uint8Array(1));
    expect(seen.map((v) => v.kind)).toEqual(['use-after-free', 'use-after-free']);
  });
});

describe('PhysicalMemory: refcount helpers, flags, lock, pin', () => {
  it('tryGetPage fails on free and frozen folios; freeze/unfreeze', () => {
    const { pm, seen } = mem(4);
    const a = pm.allocPage();
    pm.getPage(a);
    expect(pm.freezeRefcount(a, 1)).toBe(false);
    expect(pm.freezeRefcount(a, 2)).toBe(true);
    expect(pm.tryGetPage(a)).toBe(false);
    pm.unfreezeRefcount(a, 1);
    expect(pm.tryGetPage(a)).toBe(true);
    pm.putPage(a, 2);
    expect(pm.isFree(a)).toBe(true);
    expect(pm.tryGetPage(a)).toBe(false);
    expect(seen).toEqual([]);
  });

  it('folio flags are shared by the pages of a folio; per-page flags are not', () => {
    const { pm } = mem(HPAGE_PMD_NR);
    const h = pm.allocPages(HPAGE_PMD_ORDER);
    pm.setFlag(h + 9, PG_dirty | PG_anon);
    expect(pm.testFlag(h, PG_dirty)).toBe(true);
    expect(pm.testFlag(h + 400, PG_anon)).toBe(true);
    pm.setFlag(h + 9, PG_anon_exclusive);
    expect(pm.testFlag(h + 9, PG_anon_exclusive)).toBe(true);
    expect(pm.testFlag(h + 10, PG_anon_exclusive)).toBe(false);
    expect(pm.testAndClearFlag(h, PG_dirty)).toBe(true);
    expect(pm.testAndClearFlag(h, PG_dirty)).toBe(false);
    expect(() => pm.setFlag(h, PG_lru)).toThrow(RangeError);
  });

  it('trylock/unlock', () => {
    const { pm, seen } = mem(2);
    const a = pm.allocPage();
    expect(pm.trylockPage(a)).toBe(true);
    expect(pm.trylockPage(a)).toBe(false);
    expect(pm.testFlag(a, PG_locked)).toBe(true);
    pm.unlockPage(a);
    pm.unlockPage(a);
    expect(seen.map((v) => v.kind)).toEqual(['unlock-unlocked']);
  });

  it('pins count as references and are visible', () => {
    const { pm } = mem(2);
    const a = pm.allocPage();
    expect(pm.pinPage(a)).toBe(true);
    expect(pm.maybeDmaPinned(a)).toBe(true);
    expect(pm.refcountOf(a)).toBe(2);
    pm.unpinPage(a);
    expect(pm.maybeDmaPinned(a)).toBe(false);
    expect(pm.refcountOf(a)).toBe(1);
  });

  it('mapping, index and swap slot are folio-wide with per-page offsets', () => {
    const { pm } = mem(HPAGE_PMD_NR);
    const h = pm.allocPages(HPAGE_PMD_ORDER);
    const file = { name: 'f' };
    pm.setMapping(h + 3, file, 1024);
    expect(pm.mappingOf(h + 100)).toBe(file);
    expect(pm.indexOf(h + 100)).toBe(1124);
    expect(pm.swapSlotOf(h)).toBe(-1);
    pm.setSwapSlot(h, 40);
    expect(pm.swapSlotOf(h + 2)).toBe(42);
  });
});

describe('PhysicalMemory: reverse map and mapcount', () => {
  it('records (mm, va) pairs and counts mappings', () => {
    const { pm, seen } = mem(4);
    const p = pm.allocPage();
    pm.rmapAddPte(p, 'A', 0x1000);
    pm.rmapAddPte(p, 'B', 0x2000);
    expect(pm.mapcountOf(p)).toBe(2);
    expect(pm.folioMapped(p)).toBe(true);
    expect(pm.folioRmapList(p)).toEqual([
      { mm: 'A', va: 0x1000, pfn: p, pmd: false },
      { mm: 'B', va: 0x2000, pfn: p, pmd: false },
    ]);
    expect(pm.rmapCount(p)).toBe(2);
    expect(pm.rmapMmAt(p, 1)).toBe('B');
    expect(pm.rmapVaAt(p, 1)).toBe(0x2000);
    pm.rmapRemovePte(p, 'A', 0x1000);
    pm.rmapRemovePte(p, 'A', 0x1000);
    expect(seen.map((v) => v.kind)).toEqual(['rmap-missing']);
    expect(pm.mapcountOf(p)).toBe(1);
    pm.rmapRemovePte(p, 'B', 0x2000);
    expect(pm.folioMapped(p)).toBe(false);
    pm.putPage(p);
    expect(pm.isFree(p)).toBe(true);
  });

  it('a PMD mapping counts for every page and is recorded on the head', () => {
    const { pm } = mem(HPAGE_PMD_NR);
    const h = pm.allocPages(HPAGE_PMD_ORDER);
    pm.rmapAddPmd(h, 'A', 0x200000);
    pm.rmapAddPte(h + 5, 'B', 0x7000);
    expect(pm.mapcountOf(h + 5)).toBe(2);
    expect(pm.mapcountOf(h + 6)).toBe(1);
    expect(pm.entireMapcountOf(h + 6)).toBe(1);
    expect(pm.folioMapcountOf(h)).toBe(2);
    expect(pm.folioRmapList(h + 9)).toEqual([
      { mm: 'A', va: 0x200000, pfn: h, pmd: true },
      { mm: 'B', va: 0x7000, pfn: h + 5, pmd: false },
    ]);
    expect(pm.rmapIsPmdAt(h, 0)).toBe(true);
  });

  it('splitFolio needs no PMD mapping and no foreign reference, then gives each page its own count', () => {
    const { pm, seen } = mem(HPAGE_PMD_NR);
    const h = pm.allocPages(HPAGE_PMD_ORDER);
    pm.setFlag(h, PG_anon | PG_dirty);
    pm.lruAdd(h, LRU_INACTIVE_ANON);
    expect(pm.trylockPage(h)).toBe(true);
    pm.rmapAddPmd(h, 'A', 0x200000);
    pm.getPage(h);
    expect(pm.splitFolio(h)).toBe(-EBUSY);
    pm.rmapRemovePmd(h, 'A', 0x200000);
    pm.putPage(h);
    pm.rmapAddPte(h + 1, 'A', 0x201000);
    pm.rmapAddPte(h + 2, 'A', 0x202000);
    expect(pm.splitFolio(h)).toBe(-EAGAIN); // refcount 1, expected 1 + 2 mappings
    pm.getPage(h, 2); // the references the two PTEs hold
    pm.writeBytes(h + 2, 0, new Uint8Array([5]));
    expect(pm.splitFolio(h + 1)).toBe(0);
    expect(pm.folioOrder(h + 1)).toBe(0);
    expect(pm.refcountOf(h + 1)).toBe(2); // its mapping + the caller's
    expect(pm.refcountOf(h + 2)).toBe(1);
    expect(pm.testFlag(h + 1, PG_locked)).toBe(true);
    expect(pm.testFlag(h + 2, PG_locked)).toBe(false);
    expect(pm.testFlag(h + 2, PG_dirty)).toBe(true);
    expect(pm.lruListOf(h + 2)).toBe(LRU_INACTIVE_ANON);
    const out = new Uint8Array(1);
    pm.readBytes(h + 2, 0, out);
    expect(out[0]).toBe(5);
    // Unreferenced pages were freed.
    expect(pm.isFree(h)).toBe(true);
    expect(pm.isFree(h + 3)).toBe(true);
    expect(pm.nrAllocated).toBe(2);
    pm.validate();
    expect(seen).toEqual([]);
  });
});

describe('PhysicalMemory: LRU lists', () => {
  it('adds at the newest end, scans from the oldest, isolates, and drops freed folios', () => {
    const { pm } = mem(8);
    const [a, b, c] = [pm.allocPage(), pm.allocPage(), pm.allocPage()];
    pm.lruAdd(a, LRU_INACTIVE_ANON);
    pm.lruAdd(b, LRU_INACTIVE_ANON);
    pm.lruAdd(c, LRU_ACTIVE_ANON);
    expect(pm.lruSize(0, LRU_INACTIVE_ANON)).toBe(2);
    expect(pm.lruOldest(0, LRU_INACTIVE_ANON)).toBe(a);
    expect(pm.lruNewer(a)).toBe(b);
    expect(pm.lruNewer(b)).toBe(-1);
    expect(pm.lruNewest(0, LRU_INACTIVE_ANON)).toBe(b);
    expect(pm.lruOlder(b)).toBe(a);
    expect(pm.testFlag(b, PG_lru)).toBe(true);
    expect(pm.lruIsolate(a)).toBe(true);
    expect(pm.lruIsolate(a)).toBe(false);
    expect(pm.lruOldest(0, LRU_INACTIVE_ANON)).toBe(b);
    pm.putPage(b);
    expect(pm.lruSize(0, LRU_INACTIVE_ANON)).toBe(0);
    expect(pm.lruOldest(0, LRU_INACTIVE_ANON)).toBe(-1);
    expect(pm.lruListOf(c)).toBe(LRU_ACTIVE_ANON);
    expect(pm.lruSize(0, LRU_INACTIVE_FILE)).toBe(0);
    pm.validate();
  });
});

describe('PhysicalMemory: device regions', () => {
  it('adds regions with their own pfns, kind and owner; pages come back through page_free', () => {
    const { pm, seen } = mem(100);
    const freed: number[] = [];
    const ownerA = { dev: 'a' };
    const ownerB = { dev: 'b' };
    const ra = pm.addDeviceRegion(16, 'private', ownerA, { pageFree: (pfn) => freed.push(pfn) });
    const rb = pm.addDeviceRegion(1000, 'coherent', ownerB);
    expect(ra.startPfn).toBeGreaterThan(pm.zeroPfn);
    expect(ra.startPfn % HPAGE_PMD_NR).toBe(0);
    expect(rb.startPfn).toBeGreaterThanOrEqual(ra.startPfn + 16);
    const d = pm.allocDevicePage(ra);
    expect(d).toBeGreaterThanOrEqual(ra.startPfn);
    expect(pm.zoneOf(d)).toBe('device');
    expect(pm.zoneOf(3)).toBe('normal');
    expect(pm.isDevicePrivate(d)).toBe(true);
    expect(pm.isDeviceCoherent(d)).toBe(false);
    expect(pm.deviceOwnerOf(d)).toBe(ownerA);
    expect(pm.deviceRegionOf(d)?.id).toBe(ra.id);
    const e = pm.allocDevicePage(rb);
    expect(pm.isDeviceCoherent(e)).toBe(true);
    expect(pm.deviceOwnerOf(e)).toBe(ownerB);
    expect(pm.deviceOwnerOf(3)).toBeUndefined();
    pm.writeBytes(d, 0, new Uint8Array([7]));
    const out = new Uint8Array(1);
    pm.readBytes(d, 0, out);
    expect(out[0]).toBe(7);
    pm.putPage(d);
    expect(freed).toEqual([d]);
    expect(pm.isFree(d)).toBe(true);
    expect(ra.nrFree).toBe(16);
    for (let i = 0; i < 16; i++) expect(pm.allocDevicePage(ra)).toBeGreaterThanOrEqual(0);
    expect(pm.allocDevicePage(ra)).toBe(-ENOMEM);
    expect(pm.nrFree).toBe(100); // device pages are not system RAM
    expect(seen).toEqual([]);
  });
});

describe('PhysicalMemory: folio-free observers', () => {
  it('calls every observer, in order, before the folio is free; a removed one no more', () => {
    const { pm, seen } = mem(64);
    const calls: string[] = [];
    pm.observeFreeFolio((head, nr) => calls.push(`a ${head}+${nr} free=${pm.isFree(head)}`));
    const removeB = pm.observeFreeFolio((head, nr) => calls.push(`b ${head}+${nr}`));
    const p = pm.allocPage();
    pm.putPage(p);
    expect(calls).toEqual([`a ${p}+1 free=false`, `b ${p}+1`]);
    removeB();
    const q = pm.allocPage();
    pm.putPage(q);
    expect(calls.slice(2)).toEqual([`a ${q}+1 free=false`]);
    expect(seen).toEqual([]);
  });
});
