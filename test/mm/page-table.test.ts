import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { HPAGE_PMD_NR } from '../../src/mm/constants.js';
import {
  PTE_DIRTY,
  PTE_EXCLUSIVE,
  PTE_KIND_DEVICE_EXCLUSIVE,
  PTE_KIND_DEVICE_PRIVATE,
  PTE_KIND_MIGRATION,
  PTE_KIND_NONE,
  PTE_KIND_PRESENT,
  PTE_KIND_SWAP,
  PTE_SOFT_DIRTY,
  PTE_SPECIAL,
  PTE_WRITE,
  PTE_YOUNG,
  PTE_ZERO,
  PageTable,
  entryToString,
  type PteKind,
} from '../../src/mm/page-table.js';

const PAGE = 4096;
const PMD = PAGE * HPAGE_PMD_NR;
const BASE = 0x7f0000000000;

interface Entry {
  kind: PteKind;
  pfn: number;
  flags: number;
}

/** Every non-none entry in [start, end) through walk, huge entries expanded per page. */
function collect(pt: PageTable, start: number, end: number): Map<number, Entry> {
  const out = new Map<number, Entry>();
  pt.walk(start, end, (va, kind, pfn, flags, huge) => {
    if (!huge) {
      out.set(va, { kind, pfn, flags });
      return;
    }
    const stop = Math.min(end, pt.pmdEnd(va));
    for (let a = va, p = pfn; a < stop; a += PAGE, p++) out.set(a, { kind, pfn: p, flags });
  });
  return out;
}

describe('PageTable: entries', () => {
  it('starts empty and reads none everywhere', () => {
    const pt = new PageTable();
    expect(pt.kindAt(BASE)).toBe(PTE_KIND_NONE);
    expect(pt.pfnAt(BASE)).toBe(0);
    expect(pt.flagsAt(BASE)).toBe(0);
    expect(pt.pmdNone(BASE)).toBe(true);
    expect(pt.presentPages).toBe(0);
    expect(pt.tables).toBe(0);
  });

  it('stores each kind with its payload and flags, and counts present pages', () => {
    const pt = new PageTable();
    pt.set(BASE, PTE_KIND_PRESENT, 42, PTE_WRITE | PTE_DIRTY | PTE_YOUNG);
    pt.set(BASE + PAGE, PTE_KIND_SWAP, 7, PTE_EXCLUSIVE);
    pt.set(BASE + 2 * PAGE, PTE_KIND_MIGRATION, 43, PTE_WRITE);
    pt.set(BASE + 3 * PAGE, PTE_KIND_DEVICE_PRIVATE, 0x10000, 0);
    pt.set(BASE + 4 * PAGE, PTE_KIND_DEVICE_EXCLUSIVE, 44, PTE_WRITE);
    pt.set(BASE + 5 * PAGE, PTE_KIND_PRESENT, 9, PTE_SPECIAL | PTE_ZERO);
    expect(pt.kindAt(BASE + PAGE)).toBe(PTE_KIND_SWAP);
    expect(pt.pfnAt(BASE + PAGE)).toBe(7);
    expect(pt.flagsAt(BASE)).toBe(PTE_WRITE | PTE_DIRTY | PTE_YOUNG);
    expect(pt.kindAt(BASE + 3 * PAGE)).toBe(PTE_KIND_DEVICE_PRIVATE);
    expect(pt.presentPages).toBe(2);
    expect(pt.entryPages).toBe(6);
    expect(pt.tables).toBe(1);
    pt.set(BASE, PTE_KIND_SWAP, 8, 0); // replace present by swap
    expect(pt.presentPages).toBe(1);
    expect(pt.describe(BASE)).toBe('0x7f0000000000: pte swap slot=0x8');
  });

  it('frees a PTE table when its last entry is cleared', () => {
    const pt = new PageTable();
    pt.set(BASE, PTE_KIND_PRESENT, 1, 0);
    pt.set(BASE + PMD, PTE_KIND_PRESENT, 2, 0);
    expect(pt.tables).toBe(2);
    pt.clear(BASE);
    expect(pt.tables).toBe(1);
    expect(pt.pmdNone(BASE)).toBe(true);
    pt.clear(BASE); // clearing none is fine
    pt.set(BASE + PMD, PTE_KIND_NONE, 0, 0);
    expect(pt.tables).toBe(0);
    expect(pt.entryPages).toBe(0);
  });

  it('updateFlags changes flags in place and returns the old ones', () => {
    const pt = new PageTable();
    pt.set(BASE, PTE_KIND_PRESENT, 5, PTE_WRITE | PTE_DIRTY);
    expect(pt.updateFlags(BASE, PTE_WRITE, PTE_SOFT_DIRTY)).toBe(PTE_WRITE | PTE_DIRTY);
    expect(pt.flagsAt(BASE)).toBe(PTE_DIRTY | PTE_SOFT_DIRTY);
    expect(pt.pfnAt(BASE)).toBe(5);
    expect(() => pt.updateFlags(BASE + PAGE, 0, PTE_WRITE)).toThrow(/no entry/);
    pt.set(BASE + PAGE, PTE_KIND_SWAP, 1, 0);
    expect(() => pt.updateFlags(BASE + PAGE, 0, PTE_WRITE)).toThrow(RangeError); // a swap entry is not writable
  });

  it('validates addresses, kinds, payloads and flags with clear errors', () => {
    const pt = new PageTable();
    expect(() => pt.kindAt(BASE + 1)).toThrow(/aligned/);
    expect(() => pt.set(-PAGE, PTE_KIND_PRESENT, 1, 0)).toThrow(RangeError);
    expect(() => pt.set(2 ** 47, PTE_KIND_PRESENT, 1, 0)).toThrow(/2\^47/);
    expect(() => pt.set(BASE, PTE_KIND_PRESENT, -1, 0)).toThrow(/u32/);
    expect(() => pt.set(BASE, PTE_KIND_PRESENT, 2 ** 32, 0)).toThrow(/u32/);
    expect(() => pt.set(BASE, 9 as PteKind, 1, 0)).toThrow(/kind/);
    expect(() => pt.set(BASE, PTE_KIND_SWAP, 1, PTE_WRITE)).toThrow(/not valid/);
    expect(() => pt.set(BASE, PTE_KIND_PRESENT, 1, 0x100)).toThrow(/not valid/);
    expect(() => pt.walk(BASE + PAGE, BASE, () => 0)).toThrow(RangeError);
  });

  it('entryToString prints what a trace needs', () => {
    expect(entryToString(PTE_KIND_PRESENT, 0x1a, PTE_WRITE | PTE_DIRTY | PTE_YOUNG)).toBe(
      'pte present pfn=0x1a rw dirty young',
    );
    expect(entryToString(PTE_KIND_MIGRATION, 0x200, 0, true)).toBe('pmd migration pfn=0x200 ro');
    expect(entryToString(PTE_KIND_NONE, 0, 0)).toBe('pte none');
  });

  it('accepts a configurable page shift', () => {
    const pt = new PageTable({ pageShift: 16 });
    expect(pt.pmdSize).toBe(2 ** 16 * HPAGE_PMD_NR);
    pt.set(0x10000, PTE_KIND_PRESENT, 3, 0);
    expect(() => pt.set(0x1000, PTE_KIND_PRESENT, 3, 0)).toThrow(RangeError);
    expect(pt.pfnAt(0x10000)).toBe(3);
  });
});

describe('PageTable: huge PMD entries', () => {
  it('a huge entry answers for every page it covers', () => {
    const pt = new PageTable();
    pt.setHuge(BASE, PTE_KIND_PRESENT, 0x400, PTE_WRITE | PTE_YOUNG);
    expect(pt.isHugeAt(BASE + 5 * PAGE)).toBe(true);
    expect(pt.kindAt(BASE + 5 * PAGE)).toBe(PTE_KIND_PRESENT);
    expect(pt.pfnAt(BASE + 5 * PAGE)).toBe(0x405);
    expect(pt.flagsAt(BASE + 511 * PAGE)).toBe(PTE_WRITE | PTE_YOUNG);
    expect(pt.presentPages).toBe(HPAGE_PMD_NR);
    expect(pt.hugeEntries).toBe(1);
    expect(pt.tables).toBe(0);
    expect(pt.pmdNone(BASE)).toBe(false);
    expect(() => pt.set(BASE + PAGE, PTE_KIND_PRESENT, 1, 0)).toThrow(/split it first/);
    expect(() => pt.clear(BASE)).toThrow(/clearHuge/);
    expect(() => pt.setHuge(BASE + PAGE, PTE_KIND_PRESENT, 0x400, 0)).toThrow(/PMD size/);
    expect(() => pt.setHuge(BASE + PMD, PTE_KIND_PRESENT, 0x401, 0)).toThrow(/aligned/);
    expect(() => pt.setHuge(BASE + PMD, PTE_KIND_SWAP, 0x400, 0)).toThrow(/cannot be swap/);
  });

  it('a huge entry can become a PMD migration entry and back, then be cleared', () => {
    const pt = new PageTable();
    pt.setHuge(BASE, PTE_KIND_PRESENT, 0x400, PTE_WRITE);
    pt.setHuge(BASE, PTE_KIND_MIGRATION, 0x400, PTE_WRITE);
    expect(pt.kindAt(BASE + PAGE)).toBe(PTE_KIND_MIGRATION);
    expect(pt.presentPages).toBe(0);
    expect(pt.entryPages).toBe(HPAGE_PMD_NR);
    expect(pt.updateHugeFlags(BASE, PTE_WRITE, 0)).toBe(PTE_WRITE);
    pt.clearHuge(BASE + 7 * PAGE);
    expect(pt.pmdNone(BASE)).toBe(true);
    expect(pt.hugeEntries).toBe(0);
    expect(pt.entryPages).toBe(0);
  });

  it('splitHugePmd gives 512 PTEs with pfn + i and the same flags', () => {
    const pt = new PageTable();
    pt.setHuge(BASE, PTE_KIND_PRESENT, 0x800, PTE_WRITE | PTE_DIRTY);
    expect(pt.splitHugePmd(BASE + 3 * PAGE)).toBe(true);
    expect(pt.isHugeAt(BASE)).toBe(false);
    for (let i = 0; i < HPAGE_PMD_NR; i++) {
      expect(pt.kindAt(BASE + i * PAGE)).toBe(PTE_KIND_PRESENT);
      expect(pt.pfnAt(BASE + i * PAGE)).toBe(0x800 + i);
      expect(pt.flagsAt(BASE + i * PAGE)).toBe(PTE_WRITE | PTE_DIRTY);
    }
    expect(pt.presentPages).toBe(HPAGE_PMD_NR);
    expect(pt.tables).toBe(1);
    expect(pt.splitHugePmd(BASE)).toBe(false); // no longer huge
    pt.clear(BASE + 9 * PAGE);
    expect(pt.presentPages).toBe(HPAGE_PMD_NR - 1);
  });

  it('splitting a huge zero-page entry maps the small zero page', () => {
    const pt = new PageTable();
    pt.setHuge(BASE, PTE_KIND_PRESENT, 0x1000, PTE_ZERO | PTE_SPECIAL);
    expect(() => pt.splitHugePmd(BASE)).toThrow(/zero pfn/);
    expect(pt.splitHugePmd(BASE, 77)).toBe(true);
    expect(pt.pfnAt(BASE + 100 * PAGE)).toBe(77);
    expect(pt.flagsAt(BASE + 100 * PAGE)).toBe(PTE_ZERO | PTE_SPECIAL);
  });

  it('collapseToHugePmd replaces a PTE table', () => {
    const pt = new PageTable();
    for (let i = 0; i < HPAGE_PMD_NR; i += 3) pt.set(BASE + i * PAGE, PTE_KIND_PRESENT, 100 + i, 0);
    pt.set(BASE + PAGE, PTE_KIND_SWAP, 5, 0);
    pt.collapseToHugePmd(BASE, 0xa00, PTE_WRITE);
    expect(pt.tables).toBe(0);
    expect(pt.hugeEntries).toBe(1);
    expect(pt.presentPages).toBe(HPAGE_PMD_NR);
    expect(pt.entryPages).toBe(HPAGE_PMD_NR);
    expect(pt.pfnAt(BASE + PAGE)).toBe(0xa01);
    expect(() => pt.collapseToHugePmd(BASE, 0xa00, 0)).toThrow(/already/);
    expect(() => {
      pt.set(BASE + PMD, PTE_KIND_PRESENT, 1, 0);
      pt.setHuge(BASE + PMD, PTE_KIND_PRESENT, 0xc00, 0);
    }).toThrow(/collapseToHugePmd/);
  });
});

describe('PageTable: tables emptied under the page-table lock', () => {
  it('a table emptied while held stays for lockless walkers, and is freed when released', () => {
    const pt = new PageTable();
    let held = true;
    pt.holdEmptyTables = () => held;
    pt.set(BASE + PAGE, PTE_KIND_PRESENT, 7, PTE_WRITE);
    // make_device_exclusive's clear-then-set: between the two the PMD must not read pmd_none.
    pt.clear(BASE + PAGE);
    expect(pt.nextPopulatedPmd(BASE, BASE + PMD)).toBe(BASE);
    expect(pt.tables).toBe(1);
    pt.set(BASE + PAGE, PTE_KIND_DEVICE_EXCLUSIVE, 7, PTE_WRITE);
    pt.clear(BASE + PAGE);
    pt.reapEmptyTables(); // still held: nothing freed
    expect(pt.tables).toBe(1);
    held = false;
    pt.reapEmptyTables();
    expect(pt.tables).toBe(0);
    expect(pt.nextPopulatedPmd(BASE, BASE + PMD)).toBe(-1);
  });

  it('a table re-populated before the release is kept', () => {
    const pt = new PageTable();
    let held = true;
    pt.holdEmptyTables = () => held;
    pt.set(BASE, PTE_KIND_PRESENT, 3, 0);
    pt.clear(BASE);
    pt.set(BASE + 2 * PAGE, PTE_KIND_PRESENT, 4, 0);
    held = false;
    pt.reapEmptyTables();
    expect(pt.tables).toBe(1);
    expect(pt.kindAt(BASE + 2 * PAGE)).toBe(PTE_KIND_PRESENT);
    pt.clear(BASE + 2 * PAGE); // not held: freed at once
    expect(pt.tables).toBe(0);
  });
});

describe('PageTable: walk', () => {
  it('visits non-none entries in order, a huge entry once with the clipped start', () => {
    const pt = new PageTable();
    pt.set(BASE + 2 * PAGE, PTE_KIND_PRESENT, 1, 0);
    pt.setHuge(BASE + PMD, PTE_KIND_PRESENT, 0x200, PTE_WRITE);
    pt.set(BASE + 2 * PMD + PAGE, PTE_KIND_SWAP, 3, 0);
    const seen: string[] = [];
    pt.walk(BASE + PAGE, BASE + 2 * PMD + 2 * PAGE, (va, kind, pfn, _flags, huge) => {
      seen.push(`${(va - BASE) / PAGE}:${kind}:${pfn}:${huge}`);
    });
    expect(seen).toEqual(['2:1:1:false', '512:1:512:true', '1025:2:3:false']);
    const clipped: number[] = [];
    pt.walk(BASE + PMD + 10 * PAGE, BASE + PMD + 12 * PAGE, (va, _k, pfn) => {
      clipped.push((va - BASE) / PAGE, pfn);
    });
    expect(clipped).toEqual([522, 0x20a]);
  });

  it('reports holes per page when asked, and stops on a non-zero return', () => {
    const pt = new PageTable();
    pt.set(BASE + PAGE, PTE_KIND_PRESENT, 9, 0);
    const kinds: number[] = [];
    pt.walk(BASE, BASE + 3 * PAGE, (_va, kind) => void kinds.push(kind), true);
    expect(kinds).toEqual([PTE_KIND_NONE, PTE_KIND_PRESENT, PTE_KIND_NONE]);
    const r = pt.walk(BASE, BASE + 3 * PAGE, (va) => (va === BASE + PAGE ? -14 : 0), true);
    expect(r).toBe(-14);
  });

  it('lets the visitor zap the entries it visits', () => {
    const pt = new PageTable();
    for (let i = 0; i < 1100; i++) pt.set(BASE + i * PAGE, PTE_KIND_PRESENT, i, 0);
    let n = 0;
    pt.walk(BASE, BASE + 1100 * PAGE, (va) => {
      pt.clear(va);
      n++;
    });
    expect(n).toBe(1100);
    expect(pt.presentPages).toBe(0);
    expect(pt.tables).toBe(0);
  });

  it('walks a sparse huge range by populated PMDs only', () => {
    const pt = new PageTable();
    pt.set(PAGE * 16, PTE_KIND_PRESENT, 1, 0);
    pt.set(2 ** 47 - PAGE, PTE_KIND_PRESENT, 2, 0);
    const vas: number[] = [];
    pt.walk(0, 2 ** 47, (va) => void vas.push(va));
    expect(vas).toEqual([PAGE * 16, 2 ** 47 - PAGE]);
  });

  it('clearRange clears PTEs and whole huge entries, and refuses a partly covered huge entry', () => {
    const pt = new PageTable();
    for (let i = 0; i < 20; i++) pt.set(BASE + i * PAGE, PTE_KIND_PRESENT, i, 0);
    pt.setHuge(BASE + PMD, PTE_KIND_PRESENT, 0x200, 0);
    pt.clearRange(BASE + 5 * PAGE, BASE + 2 * PMD);
    expect(pt.presentPages).toBe(5);
    pt.setHuge(BASE + PMD, PTE_KIND_PRESENT, 0x200, 0);
    expect(() => pt.clearRange(BASE, BASE + PMD + PAGE)).toThrow(/split it first/);
  });
});

describe('PageTable: property against a Map<va, entry>', () => {
  const NPAGES = 3 * HPAGE_PMD_NR; // three PMDs
  const kindArb = fc.constantFrom<PteKind>(
    PTE_KIND_PRESENT,
    PTE_KIND_SWAP,
    PTE_KIND_MIGRATION,
    PTE_KIND_DEVICE_PRIVATE,
    PTE_KIND_DEVICE_EXCLUSIVE,
  );
  const allowed: Record<number, number> = {
    [PTE_KIND_PRESENT]: 0xff,
    [PTE_KIND_SWAP]: PTE_SOFT_DIRTY | PTE_EXCLUSIVE,
    [PTE_KIND_MIGRATION]: PTE_WRITE | PTE_DIRTY | PTE_YOUNG,
    [PTE_KIND_DEVICE_PRIVATE]: PTE_WRITE,
    [PTE_KIND_DEVICE_EXCLUSIVE]: PTE_WRITE,
  };
  const op = fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({
        t: fc.constant('set' as const),
        page: fc.nat(NPAGES - 1),
        kind: kindArb,
        pfn: fc.nat(),
        flags: fc.nat(0xff),
      }),
    },
    { weight: 3, arbitrary: fc.record({ t: fc.constant('clear' as const), page: fc.nat(NPAGES - 1) }) },
    {
      weight: 1,
      arbitrary: fc.record({
        t: fc.constant('huge' as const),
        pmd: fc.nat(2),
        pfn: fc.nat(1000),
        flags: fc.nat(7),
      }),
    },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('split' as const), page: fc.nat(NPAGES - 1) }) },
    {
      weight: 1,
      arbitrary: fc.record({ t: fc.constant('collapse' as const), pmd: fc.nat(2), pfn: fc.nat(1000) }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ t: fc.constant('zap' as const), a: fc.nat(NPAGES), b: fc.nat(NPAGES) }),
    },
  );

  it('matches after every operation (kindAt/pfnAt/flagsAt, walk, counters)', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), (ops) => {
        const pt = new PageTable();
        const ref = new Map<number, Entry>();
        const huge = new Set<number>(); // PMD indices held as huge entries in the reference
        const hugeOf = (page: number) => Math.floor(page / HPAGE_PMD_NR);
        for (const o of ops) {
          if (o.t === 'set') {
            const va = BASE + o.page * PAGE;
            const flags = o.flags & allowed[o.kind];
            if (huge.has(hugeOf(o.page))) {
              expect(() => pt.set(va, o.kind, o.pfn, flags)).toThrow();
              continue;
            }
            pt.set(va, o.kind, o.pfn, flags);
            ref.set(o.page, { kind: o.kind, pfn: o.pfn, flags });
          } else if (o.t === 'clear') {
            if (huge.has(hugeOf(o.page))) continue;
            pt.clear(BASE + o.page * PAGE);
            ref.delete(o.page);
          } else if (o.t === 'huge') {
            const base = o.pmd * HPAGE_PMD_NR;
            const pfn = o.pfn * HPAGE_PMD_NR;
            let hasPtes = false;
            for (let i = 0; i < HPAGE_PMD_NR; i++) if (ref.has(base + i) && !huge.has(o.pmd)) hasPtes = true;
            if (hasPtes) continue;
            pt.setHuge(BASE + o.pmd * PMD, PTE_KIND_PRESENT, pfn, o.flags);
            huge.add(o.pmd);
            for (let i = 0; i < HPAGE_PMD_NR; i++)
              ref.set(base + i, { kind: PTE_KIND_PRESENT, pfn: pfn + i, flags: o.flags });
          } else if (o.t === 'split') {
            expect(pt.splitHugePmd(BASE + o.page * PAGE)).toBe(huge.has(hugeOf(o.page)));
            huge.delete(hugeOf(o.page));
          } else if (o.t === 'collapse') {
            if (huge.has(o.pmd)) continue;
            const pfn = o.pfn * HPAGE_PMD_NR;
            pt.collapseToHugePmd(BASE + o.pmd * PMD, pfn, PTE_WRITE);
            huge.add(o.pmd);
            const base = o.pmd * HPAGE_PMD_NR;
            for (let i = 0; i < HPAGE_PMD_NR; i++)
              ref.set(base + i, { kind: PTE_KIND_PRESENT, pfn: pfn + i, flags: PTE_WRITE });
          } else {
            const lo = Math.min(o.a, o.b);
            const hi = Math.max(o.a, o.b);
            let partial = false;
            for (const h of huge)
              if (lo < hi && h * HPAGE_PMD_NR < hi && (h + 1) * HPAGE_PMD_NR > lo) {
                if (lo > h * HPAGE_PMD_NR || hi < (h + 1) * HPAGE_PMD_NR) partial = true;
              }
            if (partial) {
              expect(() => pt.clearRange(BASE + lo * PAGE, BASE + hi * PAGE)).toThrow();
              continue;
            }
            pt.clearRange(BASE + lo * PAGE, BASE + hi * PAGE);
            for (let p = lo; p < hi; p++) ref.delete(p);
            for (const h of [...huge])
              if (h * HPAGE_PMD_NR >= lo && (h + 1) * HPAGE_PMD_NR <= hi) huge.delete(h);
          }
          // Counters.
          let present = 0;
          for (const e of ref.values()) if (e.kind === PTE_KIND_PRESENT) present++;
          expect(pt.presentPages).toBe(present);
          expect(pt.entryPages).toBe(ref.size);
          expect(pt.hugeEntries).toBe(huge.size);
        }
        // Point lookups, compared in one go.
        const got: Array<[number, number, number, boolean]> = [];
        const want: Array<[number, number, number, boolean]> = [];
        for (let p = 0; p < NPAGES; p++) {
          const e = ref.get(p);
          const va = BASE + p * PAGE;
          got.push([pt.kindAt(va), pt.pfnAt(va), pt.flagsAt(va), pt.isHugeAt(va)]);
          want.push([e?.kind ?? PTE_KIND_NONE, e?.pfn ?? 0, e?.flags ?? 0, huge.has(hugeOf(p))]);
        }
        expect(got).toEqual(want);
        // Walk over a random-ish window and over everything.
        const all = collect(pt, BASE, BASE + NPAGES * PAGE);
        expect(new Map([...all].map(([va, e]) => [(va - BASE) / PAGE, e]))).toEqual(ref);
        const win = collect(pt, BASE + 300 * PAGE, BASE + 700 * PAGE);
        expect(win.size).toBe([...ref.keys()].filter((p) => p >= 300 && p < 700).length);
        // No empty tables are kept.
        let populatedTables = 0;
        for (let h = 0; h < 3; h++) {
          if (huge.has(h)) continue;
          if ([...ref.keys()].some((p) => hugeOf(p) === h)) populatedTables++;
        }
        expect(pt.tables).toBe(populatedTables);
      }),
      { numRuns: 300 },
    );
  });
});
