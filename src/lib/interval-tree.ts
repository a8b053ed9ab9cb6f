/**
 * Augmented red-black interval tree over closed integer ranges [start, last].
 *
 * Models the kernel's generic interval tree (include/linux/interval_tree_generic.h as instantiated by
 * lib/interval_tree.c): nodes are ordered by `start` on a cached red-black tree (rb_root_cached), and
 * each node caches `subtreeLast`, the largest `last` in its subtree, so an overlap search can skip
 * whole subtrees. Ranges are inclusive at both ends, as the kernel's are.
 *
 * Locking: none. The tree is a plain data structure; the caller serialises every call (the notifier
 * core holds its spinlock around insert, remove and the iterations). Every method is atomic: it
 * never sleeps.
 *
 * Deviations from the kernel: the tree allocates its nodes (insert returns the node, which the caller
 * keeps as its handle, like an embedded struct interval_tree_node); a node carries a pointer to its
 * tree so that `remove()` of a foreign node is caught instead of corrupting memory; arguments are
 * validated (a kernel caller is trusted instead).
 *
 * Cost: O(log n) insert and remove, O(log n + k) for k overlaps; no allocation per query. The nodes a
 * query examines are counted ({@link intervalTreeQueryVisits}); at the benchmark's workload that is
 * ~9 at n=1e3 and ~24 at n=1e6. In time, a large tree is bound by memory latency instead: the lower
 * levels miss every cache (a V8 double field is a separate heap box); see bench/interval-tree.ts and
 * bench/interval-layouts.ts.
 */

/** Largest index the tree accepts: 2^53-1, the largest integer a double holds exactly. */
const MAX_INDEX = Number.MAX_SAFE_INTEGER;

/**
 * A node of an {@link IntervalTree}: the kernel's struct interval_tree_node. `start` and `last` are
 * the closed range it covers; `value` is the caller's payload (the kernel embeds the node in the
 * caller's struct instead).
 */
export interface IntervalNode<T> {
  readonly start: number;
  readonly last: number;
  value: T;
  /**
   * True while the node is linked in a tree. The kernel marks a removed node empty
   * (RB_CLEAR_NODE / RB_EMPTY_NODE) and the notifier core tests that to know whether a
   * subscription is still in the tree; this is that test.
   */
  readonly inTree: boolean;
}

/**
 * The concrete node. All fields are assigned in the constructor, in one order, so every node shares
 * one hidden class and the hot loops stay monomorphic.
 */
class ItreeNode<T> implements IntervalNode<T> {
  readonly start: number;
  readonly last: number;
  value: T;
  /** Largest `last` in the subtree rooted here (the kernel's __subtree_last). */
  subtreeLast: number;
  parent: ItreeNode<T> | null;
  left: ItreeNode<T> | null;
  right: ItreeNode<T> | null;
  red: boolean;
  /** The tree this node is linked in, or null once removed (the kernel's RB_EMPTY_NODE). */
  owner: IntervalTree<T> | null;

  constructor(start: number, last: number, value: T, owner: IntervalTree<T>) {
    this.start = start;
    this.last = last;
    this.value = value;
    this.subtreeLast = last;
    this.parent = null;
    this.left = null;
    this.right = null;
    this.red = true;
    this.owner = owner;
  }

  get inTree(): boolean {
    return this.owner !== null;
  }
}

/**
 * Nodes examined by overlap queries (iterFirst/iterNext) since the module loaded, in every tree.
 * It is the query's cost in the algorithmic sense, independent of the machine's memory hierarchy;
 * benchmarks read it through {@link intervalTreeQueryVisits}. One add per node examined.
 */
let queryVisits = 0;

/**
 * The number of tree nodes overlap queries have examined so far, across all trees (a monotonic
 * counter: take the difference around the queries of interest). For benchmarks and diagnostics;
 * the kernel keeps no such count.
 */
export function intervalTreeQueryVisits(): number {
  return queryVisits;
}

/** Recompute a node's cached maximum from its own `last` and its children's (the compute callback). */
function itreeComputeLast<T>(node: ItreeNode<T>): number {
  let max = node.last;
  const left = node.left;
  const right = node.right;
  if (left !== null && left.subtreeLast > max) max = left.subtreeLast;
  if (right !== null && right.subtreeLast > max) max = right.subtreeLast;
  return max;
}

/**
 * Leftmost node of the subtree under `node` whose range overlaps [start, last], or null.
 * The caller guarantees start <= node.subtreeLast (some node below satisfies last >= start).
 * Models interval_tree_subtree_search().
 */
function itreeSubtreeSearch<T>(node: ItreeNode<T>, start: number, last: number): ItreeNode<T> | null {
  while (true) {
    queryVisits++;
    // Invariant: some node of this subtree ends at or after `start`. Prefer the left subtree: if it
    // holds such a node, the leftmost one is there, and if that one starts after `last`, so does
    // every node to its right.
    const left = node.left;
    if (left !== null && start <= left.subtreeLast) {
      node = left;
      continue;
    }
    if (node.start > last) return null;
    if (start <= node.last) return node;
    const right = node.right;
    if (right === null || start > right.subtreeLast) return null;
    node = right;
  }
}

/**
 * An augmented red-black interval tree: the kernel's struct rb_root_cached with interval_tree_node
 * entries. Duplicate ranges are allowed; nodes with equal `start` keep insertion order.
 *
 * No locks; the caller serialises (the notifier core holds its spinlock). All methods are atomic.
 */
export class IntervalTree<T> {
  private root: ItreeNode<T> | null = null;
  /** Cached leftmost node (rb_root_cached.rb_leftmost), so first() is O(1). */
  private leftmost: ItreeNode<T> | null = null;
  private count = 0;

  /** Number of nodes in the tree. */
  get size(): number {
    return this.count;
  }

  /** True if the tree holds no node (RB_EMPTY_ROOT). */
  isEmpty(): boolean {
    return this.root === null;
  }

  /**
   * Insert a node covering the closed range [start, last] and return it; the node is the handle for
   * `remove()`. A node whose start equals existing starts goes after them (the descent goes right on
   * equal keys). Models interval_tree_insert(): the descent raises `subtreeLast` on the way down,
   * then rb_insert_augmented() rebalances with rotations that keep the cache.
   * No locks (the caller serialises); atomic.
   */
  insert(start: number, last: number, value: T): IntervalNode<T> {
    itreeCheckRange('insert', start, last);
    const node = new ItreeNode<T>(start, last, value, this);
    let parent: ItreeNode<T> | null = null;
    let cursor = this.root;
    let goLeft = false;
    let isLeftmost = true;
    while (cursor !== null) {
      if (cursor.subtreeLast < last) cursor.subtreeLast = last;
      parent = cursor;
      if (start < cursor.start) {
        goLeft = true;
        cursor = cursor.left;
      } else {
        goLeft = false;
        isLeftmost = false;
        cursor = cursor.right;
      }
    }
    node.parent = parent;
    if (parent === null) this.root = node;
    else if (goLeft) parent.left = node;
    else parent.right = node;
    if (isLeftmost) this.leftmost = node;
    this.count++;
    this.itreeInsertColor(node);
    return node;
  }

  /**
   * Unlink `node` from the tree and mark it not in a tree (`inTree` becomes false). Throws if the node
   * is not in this tree. Models interval_tree_remove() (rb_erase_augmented_cached()); afterwards the
   * node reads as empty, as RB_CLEAR_NODE leaves it, which is what the notifier core tests.
   * No locks (the caller serialises); atomic.
   */
  remove(node: IntervalNode<T>): void {
    const z = this.itreeOwnNode(node, 'remove');
    if (z === this.leftmost) this.leftmost = itreeNext(z);

    let removedRed: boolean;
    let child: ItreeNode<T> | null;
    let parent: ItreeNode<T> | null;
    if (z.left === null || z.right === null) {
      // At most one child: splice z out; its child (if any) takes its place.
      child = z.left !== null ? z.left : z.right;
      parent = z.parent;
      removedRed = z.red;
      this.itreeReplaceChild(z, child, parent);
      if (child !== null) child.parent = parent;
      this.itreePropagate(parent, null);
    } else {
      // Two children: the successor (leftmost of the right subtree) takes z's place and colour.
      let succ = z.right;
      while (succ.left !== null) succ = succ.left;
      removedRed = succ.red;
      child = succ.right;
      if (succ.parent === z) {
        parent = succ;
      } else {
        parent = succ.parent!;
        parent.left = child;
        if (child !== null) child.parent = parent;
        succ.right = z.right;
        z.right.parent = succ;
      }
      succ.left = z.left;
      z.left.parent = succ;
      const zParent = z.parent;
      this.itreeReplaceChild(z, succ, zParent);
      succ.parent = zParent;
      succ.red = z.red;
      // The path from the successor's old parent up to its new place lost the successor; then the
      // successor itself (which inherits z's cache) and its ancestors lost z.
      this.itreePropagate(parent, succ);
      succ.subtreeLast = z.subtreeLast;
      this.itreePropagate(succ, null);
    }

    if (!removedRed) {
      if (child !== null && child.red) child.red = false;
      else this.itreeEraseColor(child, parent);
    }

    z.parent = null;
    z.left = null;
    z.right = null;
    z.owner = null;
    this.count--;
  }

  /** True if `node` is linked in this tree. */
  contains(node: IntervalNode<T>): boolean {
    return node instanceof ItreeNode && node.owner === this;
  }

  /** The node with the lowest start (first in tree order), or undefined. Models rb_first_cached(). */
  first(): IntervalNode<T> | undefined {
    return this.leftmost ?? undefined;
  }

  /** The node after `node` in tree order (by start, then insertion order), or undefined. Models rb_next(). */
  next(node: IntervalNode<T>): IntervalNode<T> | undefined {
    return itreeNext(this.itreeOwnNode(node, 'next')) ?? undefined;
  }

  /**
   * The first node, in tree order, whose range overlaps the closed range [start, last], or undefined.
   * Models interval_tree_iter_first(). Allocates nothing.
   * No locks (the caller serialises); atomic.
   */
  iterFirst(start: number, last: number): IntervalNode<T> | undefined {
    itreeCheckRange('iterFirst', start, last);
    const root = this.root;
    if (root === null || root.subtreeLast < start) return undefined;
    if (this.leftmost!.start > last) return undefined;
    return itreeSubtreeSearch(root, start, last) ?? undefined;
  }

  /**
   * The next node after `node`, in tree order, that overlaps [start, last], or undefined. `node` must
   * be in this tree; it is normally the previous answer to the same query (the kernel requires that;
   * here any node works). Models interval_tree_iter_next(). Allocates nothing.
   * No locks (the caller serialises); atomic.
   */
  iterNext(node: IntervalNode<T>, start: number, last: number): IntervalNode<T> | undefined {
    itreeCheckRange('iterNext', start, last);
    let cur = this.itreeOwnNode(node, 'iterNext');
    let right = cur.right;
    while (true) {
      // right === cur.right. Everything in the right subtree comes next in tree order; search it
      // first if something there reaches `start`.
      if (right !== null && start <= right.subtreeLast) {
        return itreeSubtreeSearch(right, start, last) ?? undefined;
      }
      // Climb until we arrive from a left child: that parent is the next node in tree order.
      let prev: ItreeNode<T>;
      do {
        queryVisits++;
        prev = cur;
        const up = cur.parent;
        if (up === null) return undefined;
        cur = up;
        right = cur.right;
      } while (prev === right);
      if (cur.start > last) return undefined;
      if (start <= cur.last) return cur;
    }
  }

  /**
   * Call `fn` on every node overlapping [start, last], in tree order; returns how many. `fn` must not
   * insert or remove nodes (the kernel's iteration is equally unsafe against modification).
   */
  forEachOverlap(start: number, last: number, fn: (node: IntervalNode<T>) => void): number {
    let n = 0;
    for (
      let node = this.iterFirst(start, last);
      node !== undefined;
      node = this.iterNext(node, start, last)
    ) {
      fn(node);
      n++;
    }
    return n;
  }

  /**
   * The number of nodes on the longest root-to-leaf path (0 for an empty tree): the
   * worst-case descent of a query, for benchmarks and diagnostics. O(n); not on any hot path.
   */
  height(): number {
    let best = 0;
    const stack: [ItreeNode<T>, number][] = this.root ? [[this.root, 1]] : [];
    while (stack.length > 0) {
      const [node, depth] = stack.pop()!;
      if (depth > best) best = depth;
      if (node.left) stack.push([node.left, depth + 1]);
      if (node.right) stack.push([node.right, depth + 1]);
    }
    return best;
  }

  /**
   * Test-only: check every invariant and throw an Error naming the first violation. Checks: root is
   * black with no parent; no red node has a red child; every root-to-leaf path has the same number of
   * black nodes; parent pointers match child pointers; in-order starts never decrease; each
   * `subtreeLast` is the maximum `last` of its subtree; every node is owned by this tree and has
   * 0 <= start <= last <= 2^53-1; `size` and the cached leftmost match. O(n).
   */
  verify(): void {
    const root = this.root;
    if (root === null) {
      if (this.count !== 0) throw new Error(`itree verify: empty tree but size is ${this.count}`);
      if (this.leftmost !== null) throw new Error('itree verify: empty tree but leftmost is set');
      return;
    }
    if (root.parent !== null) throw new Error('itree verify: root has a parent');
    if (root.red) throw new Error('itree verify: root is red');
    const seen = { count: 0, prevStart: -1, first: null as ItreeNode<T> | null };
    this.itreeVerifySubtree(root, seen);
    if (seen.count !== this.count) {
      throw new Error(`itree verify: size is ${this.count} but ${seen.count} nodes are linked`);
    }
    if (seen.first !== this.leftmost) {
      throw new Error(`itree verify: cached leftmost is not the first node (start ${seen.first!.start})`);
    }
  }

  /** Returns the black height of the subtree; walks it in order. */
  private itreeVerifySubtree(
    node: ItreeNode<T>,
    seen: { count: number; prevStart: number; first: ItreeNode<T> | null },
  ): number {
    const where = `node [${node.start}, ${node.last}]`;
    if (node.owner !== this) throw new Error(`itree verify: ${where} is not owned by this tree`);
    if (!(
      Number.isSafeInteger(node.start) &&
      node.start >= 0 &&
      node.start <= node.last &&
      Number.isSafeInteger(node.last)
    )) {
      throw new Error(`itree verify: ${where} has an invalid range`);
    }
    let leftHeight = 1;
    if (node.left !== null) {
      if (node.left.parent !== node)
        throw new Error(`itree verify: left child of ${where} has a wrong parent`);
      if (node.red && node.left.red) throw new Error(`itree verify: red ${where} has a red left child`);
      leftHeight = this.itreeVerifySubtree(node.left, seen);
    }
    if (seen.first === null) seen.first = node;
    if (node.start < seen.prevStart) {
      throw new Error(`itree verify: ${where} follows start ${seen.prevStart} in order`);
    }
    seen.prevStart = node.start;
    seen.count++;
    let rightHeight = 1;
    if (node.right !== null) {
      if (node.right.parent !== node)
        throw new Error(`itree verify: right child of ${where} has a wrong parent`);
      if (node.red && node.right.red) throw new Error(`itree verify: red ${where} has a red right child`);
      rightHeight = this.itreeVerifySubtree(node.right, seen);
    }
    if (leftHeight !== rightHeight) {
      throw new Error(`itree verify: black heights differ under ${where} (${leftHeight} vs ${rightHeight})`);
    }
    const expected = itreeComputeLast(node);
    if (node.subtreeLast !== expected) {
      throw new Error(`itree verify: ${where} caches subtreeLast ${node.subtreeLast}, expected ${expected}`);
    }
    return leftHeight + (node.red ? 0 : 1);
  }

  /** Check that `node` is one of ours and linked here; return it as the concrete type. */
  private itreeOwnNode(node: IntervalNode<T>, op: string): ItreeNode<T> {
    // Only nodes this tree made ever have `owner === this`, so one compare is the whole check.
    if ((node as ItreeNode<T>).owner !== this) {
      const state =
        node instanceof ItreeNode && node.owner === null
          ? 'has been removed'
          : node instanceof ItreeNode
            ? 'belongs to another tree'
            : 'was not made by an IntervalTree';
      throw new Error(
        `IntervalTree.${op}: node [${node.start}, ${node.last}] is not in this tree (it ${state})`,
      );
    }
    return node as ItreeNode<T>;
  }

  /** Make `parent` (or the root, if null) point at `to` where it pointed at `from`. */
  private itreeReplaceChild(from: ItreeNode<T>, to: ItreeNode<T> | null, parent: ItreeNode<T> | null): void {
    if (parent === null) this.root = to;
    else if (parent.left === from) parent.left = to;
    else parent.right = to;
  }

  /**
   * Recompute `subtreeLast` from `node` upwards, stopping at `stop` (exclusive) or as soon as a node's
   * cache is already right (its ancestors are then right too). The propagate callback.
   */
  private itreePropagate(node: ItreeNode<T> | null, stop: ItreeNode<T> | null): void {
    while (node !== stop && node !== null) {
      const max = itreeComputeLast(node);
      if (node.subtreeLast === max) break;
      node.subtreeLast = max;
      node = node.parent;
    }
  }

  /**
   * Rotate left at `x`: its right child takes its place. The subtree's maximum is unchanged, so the
   * new top inherits x's cache and only x is recomputed (the rotate callback).
   */
  private itreeRotateLeft(x: ItreeNode<T>): void {
    const y = x.right!;
    const inner = y.left;
    x.right = inner;
    if (inner !== null) inner.parent = x;
    const parent = x.parent;
    y.parent = parent;
    this.itreeReplaceChild(x, y, parent);
    y.left = x;
    x.parent = y;
    y.subtreeLast = x.subtreeLast;
    x.subtreeLast = itreeComputeLast(x);
  }

  /** Mirror of itreeRotateLeft. */
  private itreeRotateRight(x: ItreeNode<T>): void {
    const y = x.left!;
    const inner = y.right;
    x.left = inner;
    if (inner !== null) inner.parent = x;
    const parent = x.parent;
    y.parent = parent;
    this.itreeReplaceChild(x, y, parent);
    y.right = x;
    x.parent = y;
    y.subtreeLast = x.subtreeLast;
    x.subtreeLast = itreeComputeLast(x);
  }

  /** Restore the red-black rules after linking the red leaf `node` (rb_insert_color). */
  private itreeInsertColor(node: ItreeNode<T>): void {
    while (true) {
      const parent = node.parent;
      if (parent === null) {
        node.red = false;
        return;
      }
      if (!parent.red) return;
      // The parent is red, so it is not the root and a grandparent exists.
      const gparent = parent.parent!;
      if (parent === gparent.left) {
        const uncle = gparent.right;
        if (uncle !== null && uncle.red) {
          // Red uncle: push the blackness down from the grandparent and retry from there.
          parent.red = false;
          uncle.red = false;
          gparent.red = true;
          node = gparent;
          continue;
        }
        if (node === parent.right) {
          this.itreeRotateLeft(parent);
          node = parent;
        }
        const top = node.parent!;
        top.red = false;
        gparent.red = true;
        this.itreeRotateRight(gparent);
        return;
      } else {
        const uncle = gparent.left;
        if (uncle !== null && uncle.red) {
          parent.red = false;
          uncle.red = false;
          gparent.red = true;
          node = gparent;
          continue;
        }
        if (node === parent.left) {
          this.itreeRotateRight(parent);
          node = parent;
        }
        const top = node.parent!;
        top.red = false;
        gparent.red = true;
        this.itreeRotateLeft(gparent);
        return;
      }
    }
  }

  /**
   * Restore the red-black rules after a black node was unlinked: `node` (possibly null) under `parent`
   * is one black short (rb_erase_color).
   */
  private itreeEraseColor(node: ItreeNode<T> | null, parent: ItreeNode<T> | null): void {
    while (parent !== null && (node === null || !node.red)) {
      if (node === parent.left) {
        // The sibling exists: the removed path held a black node, so the other side holds one too.
        let sibling = parent.right!;
        if (sibling.red) {
          sibling.red = false;
          parent.red = true;
          this.itreeRotateLeft(parent);
          sibling = parent.right!;
        }
        const sl = sibling.left;
        const sr = sibling.right;
        if ((sl === null || !sl.red) && (sr === null || !sr.red)) {
          sibling.red = true;
          node = parent;
          parent = node.parent;
          continue;
        }
        if (sr === null || !sr.red) {
          sl!.red = false;
          sibling.red = true;
          this.itreeRotateRight(sibling);
          sibling = parent.right!;
        }
        sibling.red = parent.red;
        parent.red = false;
        sibling.right!.red = false;
        this.itreeRotateLeft(parent);
        return;
      } else {
        let sibling = parent.left!;
        if (sibling.red) {
          sibling.red = false;
          parent.red = true;
          this.itreeRotateRight(parent);
          sibling = parent.left!;
        }
        const sl = sibling.left;
        const sr = sibling.right;
        if ((sl === null || !sl.red) && (sr === null || !sr.red)) {
          sibling.red = true;
          node = parent;
          parent = node.parent;
          continue;
        }
        if (sl === null || !sl.red) {
          sr!.red = false;
          sibling.red = true;
          this.itreeRotateLeft(sibling);
          sibling = parent.left!;
        }
        sibling.red = parent.red;
        parent.red = false;
        sibling.left!.red = false;
        this.itreeRotateRight(parent);
        return;
      }
    }
    if (node !== null) node.red = false;
  }
}

/** In-order successor of `node`, or null (rb_next). */
function itreeNext<T>(node: ItreeNode<T>): ItreeNode<T> | null {
  let cur = node.right;
  if (cur !== null) {
    while (cur.left !== null) cur = cur.left;
    return cur;
  }
  let child = node;
  let up = node.parent;
  while (up !== null && up.right === child) {
    child = up;
    up = up.parent;
  }
  return up;
}

/** Validate a closed range argument pair; throws RangeError naming the bad argument. */
function itreeCheckRange(op: string, start: number, last: number): void {
  // One cheap test on the hot path; the slow path works out what exactly is wrong.
  if (Number.isSafeInteger(start) && Number.isSafeInteger(last) && start >= 0 && start <= last) return;
  itreeRangeError(op, start, last);
}

function itreeRangeError(op: string, start: number, last: number): never {
  for (const [name, v] of [
    ['start', start],
    ['last', last],
  ] as const) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_INDEX) {
      throw new RangeError(`IntervalTree.${op}: ${name} must be an integer in [0, 2^53-1], got ${String(v)}`);
    }
  }
  throw new RangeError(`IntervalTree.${op}: start (${start}) must not exceed last (${last})`);
}
