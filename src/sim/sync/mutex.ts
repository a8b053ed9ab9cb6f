import type { Simulation } from '../simulation.js';
import type { HeldLock, ResumeOp, SimThread } from '../thread.js';
import { EINTR } from '../errno.js';
import { WaitList } from './wait-list.js';

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * A sleeping lock (struct mutex: mutex_lock / mutex_unlock / mutex_trylock). Not
 * recursive; only the owner may unlock. An unlock wakes the first waiter, which then
 * competes with any newcomer, as optimistic spinning lets a newcomer steal the lock.
 */
export class Mutex implements HeldLock, ResumeOp {
  /** The lockdep class: the lock's name (one class per name). */
  readonly lockClass: string;
  /** The thread holding the mutex, or null when it is free. */
  owner: SimThread | null = null;
  private readonly waiters: WaitList;

  constructor(
    /** The simulation the mutex belongs to. */
    readonly sim: Simulation,
    /** Names the lock in traces and reports; also its lockdep class. */
    readonly name: string,
  ) {
    this.lockClass = name;
    this.waiters = new WaitList(`mutex ${name}`, () => (this.owner ? [this.owner] : []));
  }

  /** mutex_lock(): may sleep. */
  lock(): Promise<void> {
    const sim = this.sim;
    const t = sim.self('mutex_lock');
    sim.mightSleep('mutex_lock', this.name);
    // Switched out at the point: the runtime takes the mutex for us (resumeOp).
    const parked = sim.preemptOp('mutex_lock', this.name, this);
    if (parked !== null) return parked;
    if (this.owner === null) {
      this.owner = t;
      sim.lockAcquired(t, this);
      return RESOLVED;
    }
    this.checkRecursion(t);
    this.waiters.add(t);
    return sim.blockOp(t, this.waiters, 'mutex_wait', this.name, this);
  }

  /**
   * The rest of mutex_lock for a thread that was switched out or woken: runs when the
   * scheduler picks it. Runtime-internal (ResumeOp).
   */
  resumeOp(t: SimThread): boolean {
    if (this.owner === null) {
      this.owner = t;
      this.sim.lockAcquired(t, this);
      return true;
    }
    this.checkRecursion(t);
    this.waiters.add(t);
    t.pendingOp = this;
    this.sim.repark(t, this.waiters, 'mutex_wait', this.name);
    return false;
  }

  private checkRecursion(t: SimThread): void {
    if (this.owner === t) {
      this.sim.report(
        'deadlock',
        `thread ${t.name} takes mutex ${this.name} it already holds (AA deadlock)`,
        {
          key: `recursive mutex ${this.lockClass}`,
        },
      );
    }
  }

  /**
   * mutex_lock_killable(): 0, or -EINTR when a fatal signal is pending while it has to
   * wait (a free mutex is taken even with a signal pending, as the kernel's fast path
   * does). May sleep.
   */
  async lockKillable(): Promise<number> {
    const sim = this.sim;
    const t = sim.self('mutex_lock_killable');
    sim.mightSleep('mutex_lock_killable', this.name);
    await sim.point('mutex_lock_killable', this.name);
    while (this.owner !== null) {
      this.checkRecursion(t);
      if (t.fatalSignal) return -EINTR;
      this.waiters.add(t);
      t.killable = true;
      await sim.block(t, this.waiters, 'mutex_wait', this.name);
      t.killable = false;
    }
    this.owner = t;
    sim.lockAcquired(t, this);
    return 0;
  }

  /** mutex_trylock(): true when acquired; never sleeps; a scheduling point. */
  async trylock(): Promise<boolean> {
    const t = this.sim.self('mutex_trylock');
    await this.sim.point('mutex_trylock', this.name);
    if (this.owner !== null) return false;
    this.owner = t;
    this.sim.lockAcquired(t, this, true);
    return true;
  }

  /** mutex_unlock(): owner only; wakes one waiter. Not a scheduling point. */
  unlock(): void {
    const t = this.sim.self('mutex_unlock');
    if (this.sim.tracing) this.sim.traceEvent('mutex_unlock', this.name);
    if (this.owner !== t) {
      this.sim.report(
        'lock-misuse',
        `thread ${t.name} unlocks mutex ${this.name} held by ${this.owner?.name ?? 'nobody'}`,
        {
          key: `unlock not owner ${this.lockClass}`,
        },
      );
    }
    this.sim.lockReleased(t, this);
    // For dpor: a release orders the lock attempts around it (they block or not).
    this.sim.touch(this.name);
    this.owner = null;
    const next = this.waiters.shift();
    if (next) this.sim.wake(next);
  }

  /** mutex_is_locked(). */
  isLocked(): boolean {
    this.sim.touch(this.name, true); // for dpor: a read of the lock word
    return this.owner !== null;
  }
}
