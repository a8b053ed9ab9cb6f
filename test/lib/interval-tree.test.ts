import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { IntervalTree, intervalTreeQueryVisits, type IntervalNode } from '../../src/lib/interval-tree.js';

const MAX = Number.MAX_SAFE_INTEGER;

/** All overlapping nodes, in tree order, through iterFirst/iterNext. */
function overlaps<T>(tree: IntervalTree<T>, start: number, last: number): IntervalNode<T>[] {
  const out: IntervalNode<T>[] = [];
  for (let n = tree.iterFirst(start, last); n !== undefined; n = tree.iterNext(n, start, last)) out.push(n);
  return out;
}

/** All nodes in tree order, through first/next. */
function inOrder<T>(tree: IntervalTree<T>): IntervalNode<T>[] {
  const out: IntervalNode<T>[] = [];
  for (let n = tree.first(); n !== undefined; n = tree.next(n)) out.push(n);
  return out;
}

function ranges<T>(nodes: IntervalNode<T>[]): [number, number][] {
  return nodes.map((n) => [n.start, n.last]);
}

describe('IntervalTree: edge cases', () => {
  it('empty tree answers nothing', () => {
    const tree = new IntervalTree<string>();
    tree.verify();
    expect(tree.size).toBe(0);
    expect(tree.isEmpty()).toBe(true);
    expect(tree.first()).toBeUndefined();
    expect(tree.iterFirst(0, MAX)).toBeUndefined();
    expect(tree.forEachOverlap(0, MAX, () => {})).toBe(0);
  });

  it('single-point intervals overlap only their point', () => {
    const tree = new IntervalTree<string>();
    const a = tree.insert(5, 5, 'a');
    tree.verify();
    expect(overlaps(tree, 5, 5)).toEqual([a]);
    expect(overlaps(tree, 4, 4)).toEqual([]);
    expect(overlaps(tree, 6, 6)).toEqual([]);
    expect(overlaps(tree, 0, 4)).toEqual([]);
    expect(overlaps(tree, 6, 100)).toEqual([]);
    expect(overlaps(tree, 5, 100)).toEqual([a]);
    expect(overlaps(tree, 0, 5)).toEqual([a]);
  });

  it('adjacent intervals [0,9] and [10,19] do not leak into each other', () => {
    const tree = new IntervalTree<string>();
    const lo = tree.insert(0, 9, 'lo');
    const hi = tree.insert(10, 19, 'hi');
    expect(overlaps(tree, 10, 10)).toEqual([hi]);
    expect(overlaps(tree, 9, 9)).toEqual([lo]);
    expect(overlaps(tree, 9, 10)).toEqual([lo, hi]);
    expect(overlaps(tree, 20, 30)).toEqual([]);
    expect(overlaps(tree, 19, 19)).toEqual([hi]);
  });

  it('handles the full range [0, 2^53-1]', () => {
    const tree = new IntervalTree<string>();
    const all = tree.insert(0, MAX, 'all');
    const top = tree.insert(MAX, MAX, 'top');
    const zero = tree.insert(0, 0, 'zero');
    tree.verify();
    expect(overlaps(tree, MAX, MAX)).toEqual([all, top]);
    expect(overlaps(tree, 0, 0)).toEqual([all, zero]);
    expect(overlaps(tree, 1, MAX - 1)).toEqual([all]);
    expect(overlaps(tree, 0, MAX)).toEqual([all, zero, top]);
    tree.remove(all);
    tree.verify();
    expect(overlaps(tree, 1, MAX - 1)).toEqual([]);
    expect(overlaps(tree, 0, MAX)).toEqual([zero, top]);
  });

  it('rejects bad arguments with a RangeError naming the argument', () => {
    const tree = new IntervalTree<number>();
    const node = tree.insert(1, 2, 0);
    expect(() => tree.insert(1.5, 2, 0)).toThrow(/insert: start must be an integer .* got 1.5/);
    expect(() => tree.insert(-1, 2, 0)).toThrow(/start .* got -1/);
    expect(() => tree.insert(0, MAX + 1, 0)).toThrow(/last .* got 9007199254740992/);
    expect(() => tree.insert(0, NaN, 0)).toThrow(/last .* got NaN/);
    expect(() => tree.insert(0, Infinity, 0)).toThrow(/last .* got Infinity/);
    expect(() => tree.insert('3' as unknown as number, 4, 0)).toThrow(/start .* got 3/);
    expect(() => tree.insert(5, 4, 0)).toThrow(/insert: start \(5\) must not exceed last \(4\)/);
    expect(() => tree.iterFirst(2, 1)).toThrow(RangeError);
    expect(() => tree.iterFirst(-5, 1)).toThrow(/iterFirst: start/);
    expect(() => tree.iterNext(node, 0, 0.5)).toThrow(/iterNext: last/);
    expect(() => tree.forEachOverlap(3, 2, () => {})).toThrow(RangeError);
    expect(() => tree.insert(0, MAX, 0)).not.toThrow();
    expect(tree.size).toBe(2);
    tree.verify();
  });

  it('remove clears inTree and rejects nodes not in the tree', () => {
    const tree = new IntervalTree<string>();
    const other = new IntervalTree<string>();
    const a = tree.insert(1, 2, 'a');
    const b = other.insert(1, 2, 'b');
    expect(a.inTree).toBe(true);
    expect(tree.contains(a)).toBe(true);
    expect(tree.contains(b)).toBe(false);
    expect(() => tree.remove(b)).toThrow(
      /remove: node \[1, 2\] is not in this tree \(it belongs to another tree\)/,
    );
    tree.remove(a);
    expect(a.inTree).toBe(false);
    expect(tree.contains(a)).toBe(false);
    expect(() => tree.remove(a)).toThrow(/has been removed/);
    expect(() => tree.iterNext(a, 0, 10)).toThrow(/not in this tree/);
    expect(() => tree.next(a)).toThrow(/not in this tree/);
    expect(() => tree.remove({ start: 1, last: 2, value: 'x', inTree: true })).toThrow(
      /not in this tree \(it was not made by an IntervalTree\)/,
    );
    expect(tree.isEmpty()).toBe(true);
    tree.verify();
    other.verify();
  });

  it('keeps equal starts in insertion order through rebalancing and removals', () => {
    const tree = new IntervalTree<number>();
    const nodes: IntervalNode<number>[] = [];
    for (let i = 0; i < 200; i++) nodes.push(tree.insert(i % 2 === 0 ? 7 : 3, 7 + (i % 5), i));
    tree.verify();
    for (let i = 0; i < 200; i += 3) tree.remove(nodes[i]);
    tree.verify();
    const kept = nodes.filter((_, i) => i % 3 !== 0);
    const expected = [...kept.filter((n) => n.start === 3), ...kept.filter((n) => n.start === 7)];
    expect(inOrder(tree)).toEqual(expected);
    expect(overlaps(tree, 11, 11)).toEqual(expected.filter((n) => n.last >= 11));
  });

  it('keeps the cached leftmost right', () => {
    const tree = new IntervalTree<number>();
    const b = tree.insert(20, 30, 0);
    const a = tree.insert(10, 15, 1);
    const a2 = tree.insert(10, 11, 2);
    expect(tree.first()).toBe(a);
    tree.remove(a);
    expect(tree.first()).toBe(a2);
    tree.remove(a2);
    expect(tree.first()).toBe(b);
    tree.remove(b);
    expect(tree.first()).toBeUndefined();
    tree.verify();
  });

  it('forEachOverlap visits overlaps in tree order', () => {
    const tree = new IntervalTree<string>();
    tree.insert(30, 40, 'c');
    tree.insert(0, 100, 'a');
    tree.insert(10, 20, 'b');
    tree.insert(50, 60, 'd');
    const seen: string[] = [];
    expect(tree.forEachOverlap(15, 35, (n) => seen.push(n.value))).toBe(3);
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(ranges(overlaps(tree, 41, 49))).toEqual([[0, 100]]);
  });

  it('verify() catches corruption', () => {
    const make = (): { tree: IntervalTree<number>; nodes: IntervalNode<number>[] } => {
      const tree = new IntervalTree<number>();
      const nodes = [10, 20, 30, 40, 50].map((s, i) => tree.insert(s, s + 5, i));
      tree.verify();
      return { tree, nodes };
    };
    type Raw = { subtreeLast: number; red: boolean; start: number };
    let t = make();
    (t.nodes[0] as unknown as Raw).subtreeLast = 999;
    expect(() => t.tree.verify()).toThrow(/caches subtreeLast 999/);
    t = make();
    (t.nodes[1] as unknown as Raw).red = true; // the root of this shape
    expect(() => t.tree.verify()).toThrow(/root is red/);
    t = make();
    (t.nodes[4] as unknown as Raw).start = 0;
    expect(() => t.tree.verify()).toThrow(/follows start/);
  });
});

// ---- property test against a brute-force list ----

type Op =
  | { kind: 'insert'; start: number; last: number }
  | { kind: 'remove'; pick: number }
  | { kind: 'query'; start: number; last: number; pick: number };

/** Coordinates that collide (small), sit at the top of the range, or spread anywhere. */
const coord = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 0, max: 64 }) },
  { weight: 2, arbitrary: fc.integer({ min: MAX - 64, max: MAX }) },
  { weight: 2, arbitrary: fc.maxSafeNat() },
  { weight: 1, arbitrary: fc.constantFrom(0, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 52, MAX - 1, MAX) },
);

/** Closed ranges: two sorted coordinates, short runs, or adjacent aligned blocks [10k, 10k+9]. */
const range: fc.Arbitrary<[number, number]> = fc.oneof(
  fc.tuple(coord, coord).map(([a, b]): [number, number] => (a <= b ? [a, b] : [b, a])),
  fc
    .tuple(coord, fc.integer({ min: 0, max: 16 }))
    .map(([s, len]): [number, number] => [Math.min(s, MAX - len), Math.min(s, MAX - len) + len]),
  fc.integer({ min: 0, max: 12 }).map((k): [number, number] => [10 * k, 10 * k + 9]),
);

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: range.map(([start, last]): Op => ({ kind: 'insert', start, last })) },
  { weight: 3, arbitrary: fc.nat().map((pick): Op => ({ kind: 'remove', pick })) },
  {
    weight: 3,
    arbitrary: fc
      .tuple(range, fc.nat())
      .map(([[start, last], pick]): Op => ({ kind: 'query', start, last, pick })),
  },
);

const RUNS = 100;
const OPS_PER_RUN = 1000; // RUNS * OPS_PER_RUN = 100,000 operations

describe('IntervalTree: property test against a brute-force list', () => {
  it(`agrees on ${RUNS * OPS_PER_RUN} random insert/remove/query operations`, () => {
    let total = 0;
    fc.assert(
      fc.property(fc.array(op, { minLength: OPS_PER_RUN, maxLength: OPS_PER_RUN }), (ops) => {
        const tree = new IntervalTree<number>();
        // The reference: every node in tree order (by start, ties by insertion order).
        const ref: IntervalNode<number>[] = [];
        let seq = 0;
        for (const o of ops) {
          total++;
          if (o.kind === 'insert') {
            const node = tree.insert(o.start, o.last, seq++);
            let at = ref.length;
            while (at > 0 && ref[at - 1].start > o.start) at--;
            ref.splice(at, 0, node);
            tree.verify();
          } else if (o.kind === 'remove') {
            if (ref.length === 0) continue;
            const [node] = ref.splice(o.pick % ref.length, 1);
            tree.remove(node);
            expect(node.inTree).toBe(false);
            tree.verify();
          } else {
            const want = ref.filter((n) => n.start <= o.last && o.start <= n.last);
            const got = overlaps(tree, o.start, o.last);
            if (got.length !== want.length || got.some((n, i) => n !== want[i])) {
              expect(ranges(got)).toEqual(ranges(want));
              expect(got.map((n) => n.value)).toEqual(want.map((n) => n.value));
            }
            // iterNext from any node: the next overlapping node after it in tree order.
            if (ref.length > 0) {
              const from = o.pick % ref.length;
              const after = ref.slice(from + 1).find((n) => n.start <= o.last && o.start <= n.last);
              expect(tree.iterNext(ref[from], o.start, o.last)).toBe(after);
            }
          }
          expect(tree.size).toBe(ref.length);
        }
        expect(inOrder(tree)).toEqual(ref);
      }),
      { numRuns: RUNS },
    );
    expect(total).toBe(RUNS * OPS_PER_RUN);
  });
});

describe('IntervalTree.height', () => {
  it('is 0 empty, 1 for one node, and within the red-black bound 2·log2(n+1)', () => {
    const tree = new IntervalTree<number>();
    expect(tree.height()).toBe(0);
    tree.insert(5, 9, 0);
    expect(tree.height()).toBe(1);
    for (let i = 1; i < 4096; i++) tree.insert(i * 3, i * 3 + 1, i); // ascending inserts: the worst order for a plain BST
    expect(tree.height()).toBeGreaterThanOrEqual(Math.ceil(Math.log2(4096 + 1)));
    expect(tree.height()).toBeLessThanOrEqual(2 * Math.log2(4096 + 1));
  });
});

describe('IntervalTree: query cost', () => {
  /** A seeded uniform integer source (mulberry32), as the benchmark uses; fast-check biases small values. */
  function uniform(seed: number): (bits: number) => number {
    let a = seed >>> 0;
    const next32 = (): number => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return (t ^ (t >>> 14)) >>> 0;
    };
    return (bits) =>
      bits <= 32 ? Math.floor(next32() / 2 ** (32 - bits)) : (next32() >>> (64 - bits)) * 2 ** 32 + next32();
  }

  /** The benchmark's workload: start U[0, 2^40), length U[1, 2^22). */
  function build(n: number, seed: number): IntervalTree<number> {
    const rand = uniform(seed);
    const tree = new IntervalTree<number>();
    for (let i = 0; i < n; i++) {
      const start = rand(40);
      tree.insert(start, start + Math.max(1, rand(22)) - 1, i);
    }
    return tree;
  }

  /** Nodes examined and overlaps found by `queries` seeded queries [s, s+4095], s U[0, 2^40). */
  function measure(
    tree: IntervalTree<number>,
    queries: number,
    seed: number,
  ): { visits: number[]; found: number[] } {
    const rand = uniform(seed);
    const visits: number[] = [];
    const found: number[] = [];
    for (let q = 0; q < queries; q++) {
      const s = rand(40);
      const before = intervalTreeQueryVisits();
      found.push(overlaps(tree, s, s + 4095).length);
      visits.push(intervalTreeQueryVisits() - before);
    }
    return { visits, found };
  }

  it('examines at most height·(2k+3) nodes for a query reporting k overlaps', () => {
    for (const n of [1, 10, 1_000, 50_000]) {
      const tree = build(n, n);
      const height = tree.height();
      const { visits, found } = measure(tree, 2_000, 7);
      visits.forEach((v, i) => expect(v).toBeLessThanOrEqual(height * (2 * found[i] + 3)));
    }
  });

  it('costs at N=1e6 within 3x of N=1e3, in nodes examined per query (the bench workload)', () => {
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    const small = mean(measure(build(1_000, 1), 20_000, 2).visits);
    const large = mean(measure(build(1_000_000, 1), 20_000, 2).visits);
    expect(large / small).toBeGreaterThan(1.5); // the descent does grow with log n
    expect(large / small).toBeLessThanOrEqual(3);
  }, 60_000);
});
