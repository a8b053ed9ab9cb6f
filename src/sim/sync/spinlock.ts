import type { Simulation } from '../simulation.js';
import type { HeldLock, ResumeOp, SimThread } from '../thread.js';
import { WaitList } from './wait-list.js';

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * A spinning lock (spinlock_t: spin_lock / spin_unlock). Holding it makes the context
 * atomic: any sleeping operation reports `sleep-in-atomic`. A contended `lock` spins;
 * the model parks the spinner until the holder unlocks, which explores the same
 * interleavings and lets deadlock detection see spinners.
 */
export class SpinLock implements HeldLock, ResumeOp {
  /** The lockdep class: the lock's name (one class per name). */
  readonly lockClass: string;
  readonly spin = true;
  /** The thread holding the lock, or null when it is free. */
  owner: SimThread | null = null;
  private readonly waiters: WaitList;

  constructor(
    /** The simulation the lock belongs to. */
    readonly sim: Simulation,
    /** Names the lock in traces and reports; also its lockdep class. */
    readonly name: string,
  ) {
    this.lockClass = name;
    this.waiters = new WaitList(`spinlock ${name}`, () => (this.owner ? [this.owner] : []));
  }

  /** spin_lock(): atomic (never sleeps); a scheduling point. */
  lock(): Promise<void> {
    const sim = this.sim;
    const t = sim.self('spin_lock');
    // Switched out at the point: the runtime takes the lock for us (resumeOp).
    const parked = sim.preemptOp('spin_lock', this.name, this);
    if (parked !== null) return parked;
    if (this.owner === null) {
      this.take(t);
      return RESOLVED;
    }
    this.checkRecursion(t);
    this.waiters.add(t);
    return sim.blockOp(t, this.waiters, 'spin_wait', this.name, this);
  }

  /**
   * The rest of spin_lock for a thread that was switched out or woken: runs when the
   * scheduler picks it. Runtime-internal (ResumeOp).
   */
  resumeOp(t: SimThread): boolean {
    if (this.owner === null) {
      this.take(t);
      return true;
    }
    this.checkRecursion(t);
    this.waiters.add(t);
    t.pendingOp = this;
    this.sim.repark(t, this.waiters, 'spin_wait', this.name);
    return false;
  }

  private checkRecursion(t: SimThread): void {
    if (this.owner === t) {
      this.sim.report(
        'deadlock',
        `thread ${t.name} takes spinlock ${this.name} it already holds (AA deadlock)`,
        {
          key: `recursive spinlock ${this.lockClass}`,
        },
      );
    }
  }

  /** spin_trylock(): true when acquired; a scheduling point. */
  async trylock(): Promise<boolean> {
    const t = this.sim.self('spin_trylock');
    await this.sim.point('spin_trylock', this.name);
    if (this.owner !== null) return false;
    this.take(t, true);
    return true;
  }

  private take(t: SimThread, trylock = false): void {
    this.owner = t;
    t.atomicDepth++;
    this.sim.lockAcquired(t, this, trylock);
  }

  /** spin_unlock(): releases and lets one spinner take it. Not a scheduling point. */
  unlock(): void {
    const t = this.sim.self('spin_unlock');
    if (this.sim.tracing) this.sim.traceEvent('spin_unlock', this.name);
    if (this.owner !== t) {
      this.sim.report(
        'lock-misuse',
        `thread ${t.name} unlocks spinlock ${this.name} held by ${this.owner?.name ?? 'nobody'}`,
        {
          key: `unlock not owner ${this.lockClass}`,
        },
      );
    }
    this.sim.lockReleased(t, this);
    // For dpor: a release orders the lock attempts around it (they spin or not).
    this.sim.touch(this.name);
    this.owner = null;
    t.atomicDepth--;
    const next = this.waiters.shift();
    if (next) this.sim.wake(next);
  }

  /** spin_is_locked(). */
  isLocked(): boolean {
    this.sim.touch(this.name, true); // for dpor: a read of the lock word
    return this.owner !== null;
  }
}
