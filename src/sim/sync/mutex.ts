import type { Simulation } from '../simulation.js';
import type { HeldLock, SimThread } from '../thread.js';
import { EINTR } from '../errno.js';
import { WaitList } from './wait-list.js';

/**
 * A sleeping lock (struct mutex: mutex_lock / mutex_unlock / mutex_trylock). Not
 * recursive; only the owner may unlock. An unlock wakes the first waiter, which then
 * competes with any newcomer, as optimistic spinning lets a newcomer steal the lock.
 */
export class Mutex implements HeldLock {
  readonly lockClass: string;
  owner: SimThread | null = null;
  private readonly waiters: WaitList;

  constructor(
    readonly sim: Simulation,
    readonly name: string,
  ) {
    this.lockClass = name;
    this.waiters = new WaitList(`mutex ${name}`, () => (this.owner ? [this.owner] : []));
  }

  /** mutex_lock(): may sleep. */
  async lock(): Promise<void> {
    const sim = this.sim;
    const t = sim.self('mutex_lock');
    sim.mightSleep(`mutex_lock(${this.name})`);
    await sim.point('mutex_lock', this.name);
    while (this.owner !== null) {
      if (this.owner === t) {
        sim.report('deadlock', `thread ${t.name} takes mutex ${this.name} it already holds (AA deadlock)`, {
          key: `recursive mutex ${this.lockClass}`,
        });
      }
      this.waiters.add(t);
      await sim.block(t, this.waiters, 'mutex_wait', this.name);
    }
    this.owner = t;
    sim.lockAcquired(t, this);
  }

  /** mutex_lock_killable(): 0, or -EINTR when a fatal signal arrives first. May sleep. */
  async lockKillable(): Promise<number> {
    const sim = this.sim;
    const t = sim.self('mutex_lock_killable');
    sim.mightSleep(`mutex_lock_killable(${this.name})`);
    await sim.point('mutex_lock_killable', this.name);
    while (this.owner !== null) {
      if (t.fatalSignal) return -EINTR;
      this.waiters.add(t);
      t.killable = true;
      await sim.block(t, this.waiters, 'mutex_wait', this.name);
      t.killable = false;
    }
    if (t.fatalSignal) return -EINTR;
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
    this.sim.lockAcquired(t, this);
    return true;
  }

  /** mutex_unlock(): owner only; wakes one waiter. Not a scheduling point. */
  unlock(): void {
    const t = this.sim.self('mutex_unlock');
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
    this.owner = null;
    const next = this.waiters.shift();
    if (next) this.sim.wake(next);
  }

  /** mutex_is_locked(). */
  isLocked(): boolean {
    return this.owner !== null;
  }
}
