import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { EINVAL, ENOMEM } from '../../src/sim/errno.js';
import {
  VM_MAYREAD,
  VM_MAYWRITE,
  VM_PFNMAP,
  VM_READ,
  VM_SHARED,
  VM_SOFTDIRTY,
  VM_WRITE,
  taskSize,
} from '../../src/mm/constants.js';
import { Vma, VmaTree } from '../../src/mm/vma.js';

const PAGE = 4096;
const BASE = 0x10000000;
const RW = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE;

function anon(startPage: number, endPage: number, flags = RW, anonVma = 0): Vma {
  const start = BASE + startPage * PAGE;
  return new Vma({ start, end: BASE + endPage * PAGE, flags, pgoff: start / PAGE, anonVma });
}

function ranges(tree: VmaTree): Array<[number, number]> {
  return tree.toArray().map((v) => [(v.start - BASE) / PAGE, (v.end - BASE) / PAGE]);
}

describe('VmaTree: lookup', () => {
  it('find, lookup, findExact, intersecting, prev/next, iteration', () => {
    const t = new VmaTree();
    const a = anon(0, 4);
    const b = anon(10, 12);
    t.insert(b);
    t.insert(a);
    expect(t.count).toBe(2);
    expect([...t]).toEqual([a, b]);
    expect(t.find(BASE)).toBe(a);
    expect(t.find(BASE + 4 * PAGE)).toBe(b); // first VMA ending above addr
    expect(t.find(BASE + 12 * PAGE)).toBeUndefined();
    expect(t.lookup(BASE + 3 * PAGE)).toBe(a);
    expect(t.lookup(BASE + 5 * PAGE)).toBeUndefined();
    expect(t.findExact(BASE + 10 * PAGE, BASE + 12 * PAGE)).toBe(b);
    expect(t.findExact(BASE + 10 * PAGE, BASE + 11 * PAGE)).toBeUndefined();
    expect(t.intersecting(BASE + 3 * PAGE, BASE + 11 * PAGE)).toEqual([a, b]);
    expect(t.intersecting(BASE + 4 * PAGE, BASE + 10 * PAGE)).toEqual([]);
    expect(t.isFree(BASE + 4 * PAGE, BASE + 10 * PAGE)).toBe(true);
    expect(t.prev(b)).toBe(a);
    expect(t.next(a)).toBe(b);
    expect(t.prev(a)).toBeUndefined();
    expect(t.linearPageIndex(b, BASE + 11 * PAGE + 100)).toBe(BASE / PAGE + 11);
  });

  it('refuses overlapping, misaligned or attached VMAs with a clear error', () => {
    const t = new VmaTree();
    const a = anon(0, 4);
    t.insert(a);
    expect(() => t.insert(anon(3, 5))).toThrow(/overlaps the existing VMA/);
    expect(() => t.insert(a)).toThrow(/already in a tree/);
    expect(() => t.insert(new Vma({ start: BASE + 1, end: BASE + PAGE, flags: RW }))).toThrow(RangeError);
    expect(() => t.insert(new Vma({ start: BASE, end: BASE, flags: RW }))).toThrow(RangeError);
    expect(() => t.insert(new Vma({ start: taskSize(), end: taskSize() + PAGE, flags: RW }))).toThrow(
      RangeError,
    );
    expect(() => t.remove(anon(20, 21))).toThrow(/not in this tree/);
  });

  it('remove detaches', () => {
    const t = new VmaTree();
    const a = anon(0, 4);
    t.insert(a);
    expect(a.detached).toBe(false);
    t.remove(a);
    expect(a.detached).toBe(true);
    expect(t.count).toBe(0);
  });
});

describe('VmaTree: split, adjust, merge', () => {
  it('split keeps the lower half and returns the upper with advanced pgoff', () => {
    const t = new VmaTree();
    const f = { file: 'f' };
    const v = new Vma({
      start: BASE,
      end: BASE + 8 * PAGE,
      flags: RW | VM_SHARED,
      pgoff: 100,
      file: f,
      name: 'x',
    });
    t.insert(v);
    const upper = t.split(v, BASE + 3 * PAGE);
    expect(ranges(t)).toEqual([
      [0, 3],
      [3, 8],
    ]);
    expect(v.end).toBe(BASE + 3 * PAGE);
    expect(upper.pgoff).toBe(103);
    expect(upper.file).toBe(f);
    expect(upper.name).toBe('x');
    expect(upper.detached).toBe(false);
    expect(() => t.split(v, BASE)).toThrow(RangeError);
    expect(() => t.split(v, BASE + 3 * PAGE)).toThrow(RangeError);
  });

  it('mergeAround merges compatible neighbours and keeps incompatible ones apart', () => {
    const t = new VmaTree();
    const a = anon(0, 2, RW, 7);
    const b = anon(2, 4, RW, 0);
    const c = anon(4, 6, RW, 7);
    const d = anon(6, 8, VM_READ);
    for (const v of [a, b, c, d]) t.insert(v);
    const m = t.mergeAround(b);
    expect(m).toBe(a); // the previous VMA survives
    expect(ranges(t)).toEqual([
      [0, 6],
      [6, 8],
    ]);
    expect(b.detached && c.detached).toBe(true);
    expect(m.anonVma).toBe(7);
    t.validate();
  });

  it('merging only with the next VMA keeps the next one, grown downwards', () => {
    const t = new VmaTree();
    const a = anon(0, 2, RW);
    const b = anon(2, 4, RW | VM_SOFTDIRTY); // soft-dirty does not prevent merging
    t.insert(a);
    t.insert(b);
    a.flags = VM_READ;
    const m = t.mergeAround(a);
    expect(m).toBe(a);
    a.flags = RW;
    const n = t.mergeAround(a);
    expect(n).toBe(b);
    expect(b.start).toBe(BASE);
    expect(b.pgoff).toBe(BASE / PAGE);
    expect(a.detached).toBe(true);
  });

  it('does not merge special mappings, different files, different anon_vmas or non-contiguous pgoff', () => {
    const t = new VmaTree();
    const f = {};
    const g = {};
    const pairs: Array<[Vma, Vma]> = [
      [anon(0, 1, RW | VM_PFNMAP), anon(1, 2, RW | VM_PFNMAP)],
      [
        new Vma({ start: BASE, end: BASE + PAGE, flags: RW, file: f, pgoff: 0 }),
        new Vma({ start: BASE + PAGE, end: BASE + 2 * PAGE, flags: RW, file: g, pgoff: 1 }),
      ],
      [anon(0, 1, RW, 1), anon(1, 2, RW, 2)],
      [
        new Vma({ start: BASE, end: BASE + PAGE, flags: RW, file: f, pgoff: 0 }),
        new Vma({ start: BASE + PAGE, end: BASE + 2 * PAGE, flags: RW, file: f, pgoff: 5 }),
      ],
    ];
    for (const [x, y] of pairs) {
      expect(t.mergeable(x, y)).toBe(false);
    }
    const [x, y] = [
      new Vma({ start: BASE, end: BASE + PAGE, flags: RW, file: f, pgoff: 4 }),
      new Vma({ start: BASE + PAGE, end: BASE + 2 * PAGE, flags: RW, file: f, pgoff: 5 }),
    ];
    expect(t.mergeable(x, y)).toBe(true);
  });

  it('adjust moves bounds, keeping file offsets, and refuses overlaps', () => {
    const t = new VmaTree();
    const a = anon(4, 8);
    const b = anon(10, 12);
    t.insert(a);
    t.insert(b);
    t.adjust(a, BASE + 2 * PAGE, BASE + 10 * PAGE);
    expect(a.pgoff).toBe(BASE / PAGE + 2);
    expect(() => t.adjust(a, BASE, BASE + 11 * PAGE)).toThrow(/overlaps/);
    t.validate();
  });
});

describe('VmaTree: getUnmappedArea', () => {
  it('searches top-down from mmap_base, honours a free hint, aligns', () => {
    const top = BASE + 64 * PAGE;
    const t = new VmaTree({ mmapBase: top });
    expect(t.getUnmappedArea(4 * PAGE)).toBe(top - 4 * PAGE);
    t.insert(new Vma({ start: top - 4 * PAGE, end: top, flags: RW }));
    expect(t.getUnmappedArea(4 * PAGE)).toBe(top - 8 * PAGE);
    expect(t.getUnmappedArea(PAGE, { hint: BASE + 3 * PAGE + 5 })).toBe(BASE + 4 * PAGE);
    expect(t.getUnmappedArea(PAGE, { hint: top - PAGE })).toBe(top - 5 * PAGE); // hint occupied
    expect(t.getUnmappedArea(2 * PAGE, { align: 16 * PAGE }) % (16 * PAGE)).toBe(0);
    expect(t.getUnmappedArea(PAGE + 1)).toBe(-EINVAL);
    expect(t.getUnmappedArea(0)).toBe(-EINVAL);
    expect(t.getUnmappedArea(PAGE, { align: 3 * PAGE })).toBe(-EINVAL);
    expect(t.getUnmappedArea(2 ** 48)).toBe(-ENOMEM);
  });

  it('falls back above mmap_base, and bottom-up starts at mmap_min_addr', () => {
    const t = new VmaTree({ mmapBase: 0x20000, mmapMinAddr: 0x10000 });
    t.insert(new Vma({ start: 0x10000, end: 0x20000, flags: RW }));
    expect(t.getUnmappedArea(PAGE)).toBe(0x20000);
    const u = new VmaTree();
    expect(u.getUnmappedArea(PAGE, { topDown: false })).toBe(0x10000);
  });

  it('property: the top-down result is the highest free aligned fit below mmap_base', () => {
    const N = 64;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(N - 1), fc.integer({ min: 1, max: 8 })), { maxLength: 12 }),
        fc.integer({ min: 1, max: 10 }),
        fc.constantFrom(1, 2, 4),
        (spans, len, alignPages) => {
          const t = new VmaTree({ mmapBase: BASE + N * PAGE, mmapMinAddr: BASE });
          const used = new Array<boolean>(N).fill(false);
          for (const [s, l] of spans) {
            const e = Math.min(N, s + l);
            if (used.slice(s, e).some((x) => x)) continue;
            t.insert(anon(s, e));
            for (let p = s; p < e; p++) used[p] = true;
          }
          const got = t.getUnmappedArea(len * PAGE, { align: alignPages * PAGE });
          let want = -1;
          for (let s = N - len; s >= 0 && want < 0; s--) {
            if ((BASE / PAGE + s) % alignPages !== 0) continue;
            if (!used.slice(s, s + len).some((x) => x)) want = BASE + s * PAGE;
          }
          if (want >= 0) expect(got).toBe(want);
          else expect(got).toBeGreaterThanOrEqual(BASE + N * PAGE); // the bottom-up fallback
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('VmaTree: property against an array of page owners', () => {
  const N = 48;
  const files = [undefined, { f: 'a' }, { f: 'b' }];
  interface Attrs {
    flags: number;
    file: unknown;
    /** pgoff of the owner's first page, tracked per page below. */
    anonVma: number;
  }

  const op = fc.oneof(
    fc.record({
      t: fc.constant('insert' as const),
      s: fc.nat(N - 1),
      l: fc.integer({ min: 1, max: 10 }),
      flags: fc.constantFrom(RW, VM_READ, RW | VM_SHARED, RW | VM_PFNMAP),
      file: fc.nat(2),
      pgoff: fc.nat(5),
      anonVma: fc.nat(2),
    }),
    fc.record({ t: fc.constant('remove' as const), k: fc.nat() }),
    fc.record({ t: fc.constant('split' as const), k: fc.nat(), off: fc.nat(10) }),
    fc.record({ t: fc.constant('merge' as const), k: fc.nat() }),
    fc.record({ t: fc.constant('flags' as const), k: fc.nat(), flags: fc.constantFrom(RW, VM_READ) }),
  );

  it('insert/remove/split/merge keep the tree equal to the reference', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const t = new VmaTree({ mmapMinAddr: BASE, mmapBase: BASE + N * PAGE });
        // Reference: page -> owner id (0 = unmapped), page -> file offset, id -> attributes.
        const owner = new Array<number>(N).fill(0);
        const pgoff = new Array<number>(N).fill(0);
        const attrs = new Map<number, Attrs>();
        let nextId = 1;
        const pageOf = (va: number) => (va - BASE) / PAGE;
        const refMergeable = (a: number, b: number, lastOfA: number, firstOfB: number) => {
          const x = attrs.get(a)!;
          const y = attrs.get(b)!;
          return (
            x.flags === y.flags &&
            (x.flags & VM_PFNMAP) === 0 &&
            x.file === y.file &&
            (x.anonVma === y.anonVma || x.anonVma === 0 || y.anonVma === 0) &&
            pgoff[lastOfA] + 1 === pgoff[firstOfB]
          );
        };
        const relabel = (from: number, to: number) => {
          for (let p = 0; p < N; p++) if (owner[p] === from) owner[p] = to;
        };
        for (const o of ops) {
          const vmas = t.toArray();
          if (o.t === 'insert') {
            const e = Math.min(N, o.s + o.l);
            const file = files[o.file];
            const v = new Vma({
              start: BASE + o.s * PAGE,
              end: BASE + e * PAGE,
              flags: o.flags,
              file,
              pgoff: file === undefined ? BASE / PAGE + o.s : o.pgoff,
              anonVma: o.anonVma,
            });
            if (owner.slice(o.s, e).some((x) => x !== 0)) {
              expect(() => t.insert(v)).toThrow(/overlaps/);
              continue;
            }
            t.insert(v);
            const id = nextId++;
            attrs.set(id, { flags: o.flags, file, anonVma: o.anonVma });
            for (let p = o.s; p < e; p++) {
              owner[p] = id;
              pgoff[p] = v.pgoff + (p - o.s);
            }
          } else if (vmas.length === 0) {
            continue;
          } else {
            const v = vmas[o.k % vmas.length];
            const s = pageOf(v.start);
            const e = pageOf(v.end);
            const id = owner[s];
            if (o.t === 'remove') {
              t.remove(v);
              for (let p = s; p < e; p++) owner[p] = 0;
            } else if (o.t === 'split') {
              const at = s + o.off;
              if (at <= s || at >= e) {
                expect(() => t.split(v, BASE + at * PAGE)).toThrow(RangeError);
                continue;
              }
              t.split(v, BASE + at * PAGE);
              const nid = nextId++;
              attrs.set(nid, { ...attrs.get(id)! });
              for (let p = at; p < e; p++) owner[p] = nid;
            } else if (o.t === 'flags') {
              v.flags = o.flags;
              attrs.get(id)!.flags = o.flags;
            } else {
              t.mergeAround(v);
              let cur = id;
              if (s > 0 && owner[s - 1] !== 0 && refMergeable(owner[s - 1], cur, s - 1, s)) {
                const prev = owner[s - 1];
                if (attrs.get(prev)!.anonVma === 0) attrs.get(prev)!.anonVma = attrs.get(cur)!.anonVma;
                relabel(cur, prev);
                cur = prev;
              }
              if (e < N && owner[e] !== 0 && refMergeable(cur, owner[e], e - 1, e)) {
                const next = owner[e];
                if (attrs.get(cur)!.anonVma === 0) attrs.get(cur)!.anonVma = attrs.get(next)!.anonVma;
                relabel(next, cur);
              }
            }
          }
          // Compare: the runs of equal owners are the VMAs, with the same attributes and offsets.
          t.validate();
          const want: Array<{
            s: number;
            e: number;
            flags: number;
            file: unknown;
            anonVma: number;
            pgoff: number;
          }> = [];
          for (let p = 0; p < N;) {
            if (owner[p] === 0) {
              p++;
              continue;
            }
            let q = p;
            while (q < N && owner[q] === owner[p]) q++;
            const a = attrs.get(owner[p])!;
            want.push({ s: p, e: q, flags: a.flags, file: a.file, anonVma: a.anonVma, pgoff: pgoff[p] });
            p = q;
          }
          const got = t.toArray().map((v) => ({
            s: pageOf(v.start),
            e: pageOf(v.end),
            flags: v.flags,
            file: v.file,
            anonVma: v.anonVma,
            pgoff: v.pgoff,
          }));
          expect(got).toEqual(want);
          for (let p = 0; p < N; p++) {
            const va = BASE + p * PAGE;
            const hit = t.lookup(va);
            expect(hit === undefined).toBe(owner[p] === 0);
            if (hit !== undefined) expect(t.linearPageIndex(hit, va)).toBe(pgoff[p]);
            const f = t.find(va);
            const firstMapped = owner.findIndex((x, i) => i >= p && x !== 0);
            expect(f === undefined ? -1 : Math.max(p, pageOf(f.start))).toBe(firstMapped);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
