import type { Simulation } from '../simulation.js';

/**
 * An atomic integer (atomic_t / atomic_long_t). Each operation is one indivisible step
 * preceded by a scheduling point, so the explorer interleaves around it.
 */
export class Atomic {
  private value: number;

  constructor(
    /** The simulation the atomic belongs to. */
    readonly sim: Simulation,
    /** Names the atomic in traces (the object of its scheduling points). */
    readonly name: string,
    initial = 0,
  ) {
    this.value = initial;
  }

  /** atomic_read(). */
  async read(): Promise<number> {
    await this.sim.point('atomic_read', this.name);
    return this.value;
  }

  /** atomic_set(). */
  async set(v: number): Promise<void> {
    await this.sim.point('atomic_set', this.name);
    this.value = v;
  }

  /** atomic_add_return(). */
  async addReturn(delta: number): Promise<number> {
    await this.sim.point('atomic_add', this.name);
    this.value += delta;
    return this.value;
  }

  /** atomic_inc_return(). */
  incReturn(): Promise<number> {
    return this.addReturn(1);
  }

  /** atomic_dec_return(). */
  decReturn(): Promise<number> {
    return this.addReturn(-1);
  }

  /** atomic_dec_and_test(). */
  async decAndTest(): Promise<boolean> {
    return (await this.addReturn(-1)) === 0;
  }

  /** atomic_inc_not_zero() (kref_get_unless_zero): true when it was non-zero and got incremented. */
  async incNotZero(): Promise<boolean> {
    await this.sim.point('atomic_inc_not_zero', this.name);
    if (this.value === 0) return false;
    this.value++;
    return true;
  }

  /** atomic_cmpxchg(): returns the old value; stores `next` when it equalled `expected`. */
  async cmpxchg(expected: number, next: number): Promise<number> {
    await this.sim.point('atomic_cmpxchg', this.name);
    const old = this.value;
    if (old === expected) this.value = next;
    return old;
  }

  /** The value without a scheduling point (for checkers and assertions, not model logic). */
  peek(): number {
    return this.value;
  }
}
