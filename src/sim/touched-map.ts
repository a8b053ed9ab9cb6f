/**
 * A Map that is one dpor object: every read of it (get, has, size, iteration) is a read touch
 * of its name, and every change (set, delete, clear) a write touch. For state that threads
 * share without a scheduling point of its own, read by code that no common lock orders: a
 * device page table (drivers look entries up under their own lock, the checkers at every
 * CPU translation change), a DMA list.
 *
 * Why a Map and not a rule: a missed `sim.touch` at one lookup lets dpor prune a schedule
 * that behaves differently (the commutation check found such lookups in drivers twice). With
 * the touch in the container, no driver code path can forget it.
 *
 * Costs one flag test per access unless the run's strategy watches touches (dpor, the dpor
 * audit). Not a kernel structure: the kernel has no partial-order reduction to feed.
 */
import type { Simulation } from './simulation.js';

/**
 * A Map that dpor sees as the one object `object`: reads touch it for reading, changes for
 * writing (`sim.touch`). Use it for shared state that no scheduling point or common lock orders.
 */
export class TouchedMap<K, V> extends Map<K, V> {
  /** An empty map whose accesses touch `object` (its first word is the dpor object) in `sim`. */
  constructor(
    private readonly sim: Simulation,
    /** The dpor object name, as `sim.touch` takes it. */
    readonly object: string,
  ) {
    super();
  }

  override get(key: K): V | undefined {
    this.sim.touch(this.object, true);
    return super.get(key);
  }

  override has(key: K): boolean {
    this.sim.touch(this.object, true);
    return super.has(key);
  }

  override get size(): number {
    this.sim.touch(this.object, true);
    return super.size;
  }

  override set(key: K, value: V): this {
    this.sim.touch(this.object);
    return super.set(key, value);
  }

  override delete(key: K): boolean {
    this.sim.touch(this.object);
    return super.delete(key);
  }

  /** Removes every entry: a write touch of `object`. */
  override clear(): void {
    this.sim.touch(this.object);
    super.clear();
  }

  override forEach(fn: (value: V, key: K, map: Map<K, V>) => void, thisArg?: unknown): void {
    this.sim.touch(this.object, true);
    super.forEach(fn, thisArg);
  }

  override keys(): MapIterator<K> {
    this.sim.touch(this.object, true);
    return super.keys();
  }

  override values(): MapIterator<V> {
    this.sim.touch(this.object, true);
    return super.values();
  }

  override entries(): MapIterator<[K, V]> {
    this.sim.touch(this.object, true);
    return super.entries();
  }

  /** The entries in insertion order: one read touch of `object` when the iteration starts. */
  override [Symbol.iterator](): MapIterator<[K, V]> {
    this.sim.touch(this.object, true);
    return super[Symbol.iterator]();
  }
}
