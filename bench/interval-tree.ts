/**
 * Benchmark: mirrorlab's augmented red-black interval tree against the peers named in DESIGN.md
 * ("Peers and limits used for measurement"): @flatten-js/interval-tree and node-interval-tree.
 *
 * One seeded workload per size N: N intervals with start uniform in [0, 2^40) and length uniform in
 * [1, 2^22); queries [s, s+4095] with s uniform in [0, 2^40). For each tree, measured in the same run:
 * insert all N (ops/s), run Q overlap queries counting the overlaps (queries/s), remove all N in a
 * shuffled order (ops/s). All three trees must report the same total overlap count.
 *
 * Conventions: all three treat both ends as inclusive ([low, high] closed), so the same numbers are
 * passed to each. Removal: ours takes the node handle (interval_tree_remove's contract); the peers
 * remove by the same key + value.
 *
 * Run: npx tsx bench/interval-tree.ts [--sizes 1000,100000,1000000]
 */
import { pathToFileURL } from 'node:url';

import FlattenIntervalTree from '@flatten-js/interval-tree';
import { IntervalTree as NitIntervalTree } from 'node-interval-tree';

import { IntervalTree, intervalTreeQueryVisits, type IntervalNode } from '../src/lib/interval-tree.js';
import { gc, hasGc } from './lib/gc.js';

const SEED = 0x5eed1e55;
const START_BITS = 40;
const LENGTH_BITS = 22;
export const QUERY_LENGTH = 4096;
export const QUERIES = 100_000;
/** Skip a peer at a size if its projected time for one phase exceeds this. */
const PEER_LIMIT_NS = 60e9;

/** mulberry32: a tiny seeded 32-bit PRNG, so every run measures the same workload. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** A uniformly random permutation of [0, n) drawn from `rng` (Fisher-Yates). */
export function permutation(n: number, rng: () => number): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng() % (i + 1);
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

/** Uniform integer in [0, 2^bits), bits <= 52. */
function randBits(rng: () => number, bits: number): number {
  if (bits <= 32) return Math.floor(rng() / 2 ** (32 - bits));
  return (rng() >>> (64 - bits)) * 2 ** 32 + rng();
}

export interface Workload {
  n: number;
  starts: Float64Array;
  lasts: Float64Array;
  queryStarts: Float64Array;
  removeOrder: Uint32Array;
}

export function makeWorkload(n: number): Workload {
  const rng = mulberry32(SEED ^ n);
  const starts = new Float64Array(n);
  const lasts = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const start = randBits(rng, START_BITS);
    let lengthBytes = 0;
    while (lengthBytes === 0) lengthBytes = randBits(rng, LENGTH_BITS); // [1, 2^22)
    starts[i] = start;
    lasts[i] = start + lengthBytes - 1;
  }
  const queryStarts = new Float64Array(QUERIES);
  for (let i = 0; i < QUERIES; i++) queryStarts[i] = randBits(rng, START_BITS);
  const removeOrder = permutation(n, rng);
  return { n, starts, lasts, queryStarts, removeOrder };
}

/** Nanoseconds per phase and the total overlap count; one subject's full pass over a workload. */
interface PassResult {
  insertNs: number;
  queryNs: number;
  removeNs: number;
  overlaps: number;
  /** Longest root-to-leaf path after the inserts (ours only): the query's worst-case descent. */
  height?: number;
  /** Tree nodes the queries examined (ours only): the query cost independent of the machine. */
  visits?: number;
  /** Bytes the built tree adds to the JS heap (ours only, measured when gc is exposed). */
  heapBytes?: number;
}

interface Subject {
  name: string;
  run(w: Workload): PassResult;
}

function elapsedNs(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0);
}

function assertSize(name: string, what: string, got: number, want: number): void {
  if (got !== want) throw new Error(`${name}: size after ${what} is ${got}, expected ${want}`);
}

const ours: Subject = {
  name: 'mirrorlab',
  run(w) {
    const { n, starts, lasts, queryStarts, removeOrder } = w;
    const nodes: IntervalNode<number>[] = new Array(n);
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    const tree = new IntervalTree<number>();
    let t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) nodes[i] = tree.insert(starts[i], lasts[i], i);
    const insertNs = elapsedNs(t0);
    gc();
    const heapBytes = hasGc() ? process.memoryUsage().heapUsed - heapBefore : undefined;
    assertSize(this.name, 'insert', tree.size, n);
    const height = tree.height();

    let overlaps = 0;
    const visitsBefore = intervalTreeQueryVisits();
    t0 = process.hrtime.bigint();
    for (let q = 0; q < QUERIES; q++) {
      const s = queryStarts[q];
      const l = s + QUERY_LENGTH - 1;
      for (let it = tree.iterFirst(s, l); it !== undefined; it = tree.iterNext(it, s, l)) overlaps++;
    }
    const queryNs = elapsedNs(t0);
    const visits = intervalTreeQueryVisits() - visitsBefore;

    t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) tree.remove(nodes[removeOrder[i]]);
    const removeNs = elapsedNs(t0);
    assertSize(this.name, 'remove', tree.size, 0);
    return { insertNs, queryNs, removeNs, overlaps, height, visits, heapBytes };
  },
};

const flatten: Subject = {
  name: '@flatten-js',
  run(w) {
    const { n, starts, lasts, queryStarts, removeOrder } = w;
    const tree = new FlattenIntervalTree<number>();
    let t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) tree.insert([starts[i], lasts[i]], i);
    const insertNs = elapsedNs(t0);
    assertSize(this.name, 'insert', tree.size, n);

    let overlaps = 0;
    t0 = process.hrtime.bigint();
    for (let q = 0; q < QUERIES; q++) {
      const s = queryStarts[q];
      overlaps += tree.search([s, s + QUERY_LENGTH - 1]).length;
    }
    const queryNs = elapsedNs(t0);

    t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const k = removeOrder[i];
      tree.remove([starts[k], lasts[k]], k);
    }
    const removeNs = elapsedNs(t0);
    assertSize(this.name, 'remove', tree.size, 0);
    return { insertNs, queryNs, removeNs, overlaps };
  },
};

const nit: Subject = {
  name: 'node-interval-tree',
  run(w) {
    const { n, starts, lasts, queryStarts, removeOrder } = w;
    const tree = new NitIntervalTree<{ low: number; high: number; data: number }>();
    let t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) tree.insert({ low: starts[i], high: lasts[i], data: i });
    const insertNs = elapsedNs(t0);
    assertSize(this.name, 'insert', tree.count, n);

    let overlaps = 0;
    t0 = process.hrtime.bigint();
    for (let q = 0; q < QUERIES; q++) {
      const s = queryStarts[q];
      overlaps += tree.search(s, s + QUERY_LENGTH - 1).length;
    }
    const queryNs = elapsedNs(t0);

    t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const k = removeOrder[i];
      tree.remove({ low: starts[k], high: lasts[k], data: k });
    }
    const removeNs = elapsedNs(t0);
    assertSize(this.name, 'remove', tree.count, 0);
    return { insertNs, queryNs, removeNs, overlaps };
  },
};

const SUBJECTS = [ours, flatten, nit];
const PHASES = ['insert', 'query', 'remove'] as const;
type Phase = (typeof PHASES)[number];

function phaseNs(r: PassResult, phase: Phase): number {
  return phase === 'insert' ? r.insertNs : phase === 'query' ? r.queryNs : r.removeNs;
}

function phaseOps(w: Workload, phase: Phase): number {
  return phase === 'query' ? QUERIES : w.n;
}

/** Repeat small sizes so the timings are not one cold pass; keep the best time of each phase. */
function repsFor(n: number): number {
  return n <= 1_000 ? 30 : n <= 10_000 ? 10 : n <= 100_000 ? 5 : 1;
}

/**
 * The machine's floor for one dependent load from a working set of `bytes`: a random cyclic walk,
 * one load per 64-byte line, through a typed array of that size. A query's descent is a chain of
 * such loads, so its time ratio between two tree sizes is bounded below by the ratio of these.
 */
function dependentLoadNs(bytes: number): number {
  const lines = Math.max(2, Math.floor(bytes / 64));
  const next = new Int32Array(lines * 16);
  const order = permutation(lines, mulberry32(SEED ^ lines));
  for (let i = 0; i < lines; i++) next[order[i] * 16] = order[(i + 1) % lines] * 16;
  const loads = 2_000_000;
  let best = Infinity;
  let at = 0;
  for (let r = 0; r < 3; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < loads; i++) at = next[at];
    best = Math.min(best, elapsedNs(t0) / loads);
  }
  if (at < 0) throw new Error('unreachable'); // keeps the walk observable
  return best;
}

function fmtRate(opsPerSec: number | undefined): string {
  if (opsPerSec === undefined) return 'skipped';
  if (opsPerSec >= 1e6) return `${(opsPerSec / 1e6).toFixed(2)} M/s`;
  return `${(opsPerSec / 1e3).toFixed(1)} k/s`;
}

/**
 * Run the interval-tree benchmark and print a table. Throws if the trees disagree on the overlap
 * count (after printing the disagreement).
 */
export async function benchIntervalTree(opts?: { sizes?: number[] }): Promise<void> {
  const sizes = opts?.sizes ?? [1_000, 100_000, 1_000_000];
  const rows: string[][] = [];
  const notes: string[] = [];
  let mismatch = false;
  /** Per size: per subject: per phase: best ns (undefined if skipped). */
  const results = new Map<number, Map<string, PassResult | undefined>>();
  let prev: { n: number; bySubject: Map<string, PassResult | undefined> } | undefined;

  // Warm the JIT on a small workload so the first measured size is not the interpreter's.
  const warm = makeWorkload(2_000);
  for (let i = 0; i < 5; i++) for (const s of SUBJECTS) s.run(warm);

  for (const n of sizes) {
    const w = makeWorkload(n);
    const bySubject = new Map<string, PassResult | undefined>();
    const active: Subject[] = [];
    for (const subject of SUBJECTS) {
      bySubject.set(subject.name, undefined);
      if (subject !== ours && prev !== undefined) {
        const p = prev.bySubject.get(subject.name);
        const scale = ((n / prev.n) * Math.log2(n)) / Math.log2(prev.n);
        const projected = p === undefined ? Infinity : Math.max(p.insertNs, p.queryNs, p.removeNs) * scale;
        if (projected > PEER_LIMIT_NS) {
          notes.push(
            `${subject.name} skipped at N=${n}: projected ${(projected / 1e9).toFixed(0)} s per phase`,
          );
          continue;
        }
      }
      active.push(subject);
    }
    // Repetitions go round the subjects, so a burst of noise from the machine hits them all alike;
    // each phase keeps its best time.
    for (let r = repsFor(n); r > 0; r--) {
      for (const subject of active) {
        gc();
        const res = subject.run(w);
        const best = bySubject.get(subject.name);
        if (best === undefined) {
          bySubject.set(subject.name, res);
          continue;
        }
        if (res.overlaps !== best.overlaps)
          throw new Error(`${subject.name}: overlap count changed between runs`);
        best.insertNs = Math.min(best.insertNs, res.insertNs);
        best.queryNs = Math.min(best.queryNs, res.queryNs);
        best.removeNs = Math.min(best.removeNs, res.removeNs);
        if (res.visits !== best.visits) throw new Error(`${subject.name}: query visits changed between runs`);
      }
    }
    results.set(n, bySubject);
    prev = { n, bySubject };

    const counts = [...bySubject]
      .filter(([, r]) => r !== undefined)
      .map(([name, r]) => `${name}=${r!.overlaps}`);
    const distinct = new Set([...bySubject.values()].filter((r) => r !== undefined).map((r) => r!.overlaps));
    if (distinct.size !== 1) {
      mismatch = true;
      console.error(`\n!!! OVERLAP COUNT MISMATCH at N=${n}: ${counts.join(', ')} !!!\n`);
    }

    for (const phase of PHASES) {
      const rate = (r: PassResult | undefined): number | undefined =>
        r === undefined ? undefined : (phaseOps(w, phase) / phaseNs(r, phase)) * 1e9;
      const our = rate(bySubject.get(ours.name))!;
      const peerRates = SUBJECTS.filter((s) => s !== ours).map((s) => rate(bySubject.get(s.name)));
      const bestPeer = Math.max(...peerRates.map((r) => r ?? 0));
      rows.push([
        n.toLocaleString('en-US'),
        phase,
        fmtRate(our),
        ...peerRates.map(fmtRate),
        bestPeer > 0 ? `${(our / bestPeer).toFixed(2)}x` : 'n/a',
      ]);
    }
    const overlapsAll = bySubject.get(ours.name)!.overlaps;
    notes.push(`N=${n}: ${QUERIES} queries found ${overlapsAll} overlaps (${counts.join(', ')})`);
  }

  const header = ['N', 'op', ...SUBJECTS.map((s) => s.name), 'ours/best peer'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padStart(widths[i])).join('  ');
  console.log(
    `\ninterval tree: start U[0,2^${START_BITS}), length U[1,2^${LENGTH_BITS}), query length ${QUERY_LENGTH}`,
  );
  console.log(line(header));
  for (const r of rows) console.log(line(r));
  for (const note of notes) console.log(note);

  // Where the query time goes, per size: nodes examined (the algorithm) and the cost of one dependent
  // load over the tree's footprint (the machine).
  const floorNs = new Map<number, number>();
  for (const n of sizes) {
    const r = results.get(n)?.get(ours.name);
    if (r === undefined) continue;
    const perQuery = r.queryNs / QUERIES;
    const visits = (r.visits ?? 0) / QUERIES;
    let memory = '';
    if (r.heapBytes !== undefined) {
      const load = dependentLoadNs(r.heapBytes);
      floorNs.set(n, load);
      memory = `; tree ${(r.heapBytes / 2 ** 20).toFixed(1)} MiB, one dependent load over it ${load.toFixed(1)} ns`;
    }
    console.log(
      `ours N=${n}: ${perQuery.toFixed(0)} ns per query, ${visits.toFixed(1)} nodes examined per query, ` +
        `${(r.overlaps / QUERIES).toFixed(3)} overlaps per query, height ${r.height}${memory}`,
    );
  }
  const lo = results.get(Math.min(...sizes))?.get(ours.name);
  const hi = results.get(Math.max(...sizes))?.get(ours.name);
  if (lo !== undefined && hi !== undefined && sizes.length > 1) {
    const nLo = Math.min(...sizes);
    const nHi = Math.max(...sizes);
    const timeRatio = hi.queryNs / lo.queryNs;
    const visitRatio = (hi.visits ?? 0) / Math.max(1, lo.visits ?? 0);
    console.log(
      `query cost ratio ours N=${nHi} / N=${nLo}: nodes examined ${visitRatio.toFixed(2)}x, time ${timeRatio.toFixed(2)}x`,
    );
    const fLo = floorNs.get(nLo);
    const fHi = floorNs.get(nHi);
    if (fLo !== undefined && fHi !== undefined) {
      // The time ratio lies between two bounds: the nodes ratio (every load a cache hit) and the nodes
      // ratio times the load-latency ratio (every load a miss). The top of a big tree stays cached.
      console.log(
        `  memory: a dependent load costs ${(fHi / fLo).toFixed(1)}x more over the N=${nHi} tree than over ` +
          `the N=${nLo} one, so time may scale anywhere from ${visitRatio.toFixed(1)}x (all hits) to ` +
          `${(visitRatio * (fHi / fLo)).toFixed(0)}x (all misses)`,
      );
    }
  }
  // The targets from the issue: at least 2x the best peer on every operation at N=1e5, and query cost
  // at N=1e6 within 3x of N=1e3. Reported, not enforced: machines differ.
  const mid = results.get(100_000);
  if (mid !== undefined) {
    const w = { n: 100_000 } as Workload;
    for (const phase of PHASES) {
      const rate = (r: PassResult | undefined): number =>
        r === undefined ? 0 : (phaseOps(w, phase) / phaseNs(r, phase)) * 1e9;
      const ratio =
        rate(mid.get(ours.name)) /
        Math.max(...SUBJECTS.filter((s) => s !== ours).map((s) => rate(mid.get(s.name))));
      console.log(
        `target ${phase} >= 2x best peer at N=100,000: ${ratio.toFixed(2)}x ${ratio >= 2 ? 'met' : 'MISSED'}`,
      );
    }
  }
  if (lo !== undefined && hi !== undefined && sizes.includes(1_000) && sizes.includes(1_000_000)) {
    // The "query cost" read two ways. Nodes examined is the algorithm's cost (O(log n + k));
    // wall time also carries the machine's memory hierarchy, which no layout escapes at 1e6 (see the
    // memory line above and the note on issue 3).
    const visitRatio = (hi.visits ?? 0) / Math.max(1, lo.visits ?? 0);
    const timeRatio = hi.queryNs / lo.queryNs;
    console.log(
      `target query cost N=1e6 <= 3x N=1e3 (nodes examined): ${visitRatio.toFixed(2)}x ${visitRatio <= 3 ? 'met' : 'MISSED'}`,
    );
    console.log(
      `target query cost N=1e6 <= 3x N=1e3 (wall time): ${timeRatio.toFixed(2)}x ${timeRatio <= 3 ? 'met' : 'MISSED'}`,
    );
  }
  if (mismatch) throw new Error('interval tree benchmark: the trees disagree on the overlap count');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const at = process.argv.indexOf('--sizes');
  const sizes = at >= 0 ? process.argv[at + 1].split(',').map(Number) : undefined;
  benchIntervalTree({ sizes }).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
