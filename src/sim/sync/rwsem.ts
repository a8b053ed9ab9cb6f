import { EINTR } from '../errno.js';
import type { Simulation } from '../simulation.js';
import type { HeldLock, SimThread, Waitable } from '../thread.js';

const ZERO: Promise<number> = Promise.resolve(0);

interface RwWaiter {
  t: SimThread;
  write: boolean;
  granted: boolean;
}

/**
 * A reader-writer semaphore (struct rw_semaphore: down_read / up_read / down_write /
 * up_write / trylocks / downgrade_write) — the model of `mmap_lock`.
 *
 * Fair as the kernel's is: a reader arriving while anyone waits queues behind the
 * waiters, so a thread that takes the read side twice deadlocks against a queued
 * writer, as it does in the kernel. Release hands the lock directly to the head of the
 * queue: one writer, or the run of readers at the head (kernel handoff).
 */
export class RwSemaphore implements HeldLock, Waitable {
  /** The lockdep class: the semaphore's name (one class per name). */
  readonly lockClass: string;
  /** Current writer, if any. */
  writer: SimThread | null = null;
  /** Current readers (a thread appears once per read hold). */
  readonly readers: SimThread[] = [];
  private readonly queue: RwWaiter[] = [];

  constructor(
    /** The simulation the semaphore belongs to. */
    readonly sim: Simulation,
    /** Names the semaphore in traces and reports; also its lockdep class. */
    readonly name: string,
  ) {
    this.lockClass = name;
  }

  describe(): string {
    return `rwsem ${this.name}`;
  }

  holders(): readonly SimThread[] {
    return this.writer ? [this.writer] : this.readers;
  }

  /**
   * Removes `t` from the wait queue when its wait ends without the lock (a killable wait interrupted by a
   * fatal signal). Called by the runtime; never sleeps.
   */
  cancelWait(t: SimThread): void {
    const i = this.queue.findIndex((w) => w.t === t && !w.granted);
    if (i >= 0) this.queue.splice(i, 1);
    // Readers queued behind a removed writer may now proceed.
    this.grant();
  }

  private canRead(): boolean {
    return this.writer === null && this.queue.length === 0;
  }

  private canWrite(): boolean {
    return this.writer === null && this.readers.length === 0 && this.queue.length === 0;
  }

  /** down_read(): may sleep. */
  downRead(): Promise<void> {
    return this.acquire(false, false, 'down_read') as Promise<unknown> as Promise<void>;
  }

  /** down_read_killable(): 0, or -EINTR when a fatal signal is pending while it has to wait. May sleep. */
  downReadKillable(): Promise<number> {
    return this.acquire(false, true, 'down_read_killable');
  }

  /** down_write(): may sleep. */
  downWrite(): Promise<void> {
    return this.acquire(true, false, 'down_write') as Promise<unknown> as Promise<void>;
  }

  /** down_write_killable(): 0, or -EINTR when a fatal signal is pending while it has to wait. May sleep. */
  downWriteKillable(): Promise<number> {
    return this.acquire(true, true, 'down_write_killable');
  }

  private acquire(write: boolean, killable: boolean, label: string): Promise<number> {
    const sim = this.sim;
    const t = sim.self(label);
    sim.mightSleep(label, this.name);
    const parked = sim.preempt(label, this.name);
    if (parked === null && (write ? this.canWrite() : this.canRead())) {
      // Fast path: no other thread ran since the point and the lock is free for us
      // (which also rules out a recursive acquisition).
      this.take(t, write);
      return ZERO;
    }
    return this.acquireSlow(t, write, killable, label, parked);
  }

  private async acquireSlow(
    t: SimThread,
    write: boolean,
    killable: boolean,
    label: string,
    parked: Promise<void> | null,
  ): Promise<number> {
    const sim = this.sim;
    if (parked !== null) await parked;
    if (this.writer === t || (write && this.readers.includes(t))) {
      sim.report('deadlock', `thread ${t.name} ${label} on ${this.name} which it already holds`, {
        key: `recursive rwsem ${this.lockClass} ${label}`,
      });
    }
    if (write ? this.canWrite() : this.canRead()) {
      this.take(t, write);
      return 0;
    }
    // As the kernel's slow path: the lock is tried first, the signal checked before sleeping.
    if (killable && t.fatalSignal) return -EINTR;
    const w: RwWaiter = { t, write, granted: false };
    this.queue.push(w);
    t.killable = killable;
    await sim.block(t, this, write ? 'down_write_wait' : 'down_read_wait', this.name);
    t.killable = false;
    if (!w.granted) return -EINTR; // taken out of the queue by a fatal signal
    sim.lockAcquired(t, this);
    return 0;
  }

  private take(t: SimThread, write: boolean, trylock = false): void {
    if (write) this.writer = t;
    else this.readers.push(t);
    this.sim.lockAcquired(t, this, trylock);
  }

  /** down_read_trylock(): true when acquired; never sleeps; a scheduling point. */
  async downReadTrylock(): Promise<boolean> {
    const t = this.sim.self('down_read_trylock');
    await this.sim.point('down_read_trylock', this.name);
    if (!this.canRead()) return false;
    this.take(t, false, true);
    return true;
  }

  /** down_write_trylock(): true when acquired; never sleeps; a scheduling point. */
  async downWriteTrylock(): Promise<boolean> {
    const t = this.sim.self('down_write_trylock');
    await this.sim.point('down_write_trylock', this.name);
    if (!this.canWrite()) return false;
    this.take(t, true, true);
    return true;
  }

  /** up_read(). Not a scheduling point. */
  upRead(): void {
    const t = this.sim.self('up_read');
    if (this.sim.tracing) this.sim.traceEvent('up_read', this.name);
    const i = this.readers.indexOf(t);
    if (i < 0) {
      this.sim.report('lock-misuse', `thread ${t.name} up_read on ${this.name} without holding it for read`, {
        key: `up_read not held ${this.lockClass}`,
      });
    }
    this.readers.splice(i, 1);
    this.sim.lockReleased(t, this);
    // For dpor: orders the writers' attempts around it; commutes with other readers.
    this.sim.touch(this.name, true);
    this.grant();
  }

  /** up_write(). Not a scheduling point. */
  upWrite(): void {
    const t = this.sim.self('up_write');
    if (this.sim.tracing) this.sim.traceEvent('up_write', this.name);
    if (this.writer !== t) {
      this.sim.report(
        'lock-misuse',
        `thread ${t.name} up_write on ${this.name} held by ${this.writer?.name ?? 'nobody'}`,
        {
          key: `up_write not owner ${this.lockClass}`,
        },
      );
    }
    this.writer = null;
    this.sim.lockReleased(t, this);
    this.sim.touch(this.name); // for dpor: orders every attempt around it
    this.grant();
  }

  /** downgrade_write(): the writer becomes a reader; queued readers at the head join it. */
  downgradeWrite(): void {
    const t = this.sim.self('downgrade_write');
    if (this.writer !== t) {
      this.sim.report(
        'lock-misuse',
        `thread ${t.name} downgrade_write on ${this.name} it does not hold for write`,
        {
          key: `downgrade not owner ${this.lockClass}`,
        },
      );
    }
    this.sim.touch(this.name); // for dpor: orders every attempt around it
    this.writer = null;
    this.readers.push(t);
    this.grant();
  }

  /** Hands the lock to the head of the queue when it is free for it. */
  private grant(): void {
    while (this.queue.length > 0 && this.writer === null) {
      const head = this.queue[0];
      if (head.write) {
        if (this.readers.length > 0) return;
        this.queue.shift();
        head.granted = true;
        this.writer = head.t;
        this.sim.wake(head.t);
        return;
      }
      this.queue.shift();
      head.granted = true;
      this.readers.push(head.t);
      this.sim.wake(head.t);
    }
  }

  /** Whether the running thread holds it (either side): lockdep_assert_held. */
  isHeldBy(t: SimThread): boolean {
    return this.writer === t || this.readers.includes(t);
  }

  /** Whether `t` holds it for write: mmap_assert_write_locked. */
  isWriteHeldBy(t: SimThread): boolean {
    return this.writer === t;
  }

  /** rwsem_is_locked(). */
  isLocked(): boolean {
    this.sim.touch(this.name, true); // for dpor: a read of the count
    return this.writer !== null || this.readers.length > 0;
  }
}
