import type { Simulation } from './simulation.js';

/** What a blocked thread waits for; primitives implement it for the wait-for graph. */
export interface Waitable {
  /** Human name, e.g. `mutex dev->lock`. */
  describe(): string;
  /** Threads that hold what the waiter needs (empty when nobody in particular). */
  holders(): readonly SimThread[];
}

export const enum ThreadState {
  Runnable = 0,
  Blocked = 1,
  Done = 2,
}

/**
 * An operation the runtime completes on behalf of a parked thread when the scheduler
 * next picks it, before the thread's own code runs again (see `Simulation.preemptOp`).
 * Primitives on the hot path use it so that a thread that has to wait, or to retry
 * after a wake-up, costs no trip through its async code.
 */
export interface ResumeOp {
  /**
   * Called with `t` as the running thread. Returns true when `t` may continue (its
   * operation completed), false when it parked `t` again with `Simulation.repark`.
   */
  resumeOp(t: SimThread): boolean;
}

/** Options for `sim.spawn`. */
export interface SpawnOptions {
  /**
   * A daemon (kworker, SRCU callback thread) does not keep the run alive: the run ends
   * when every non-daemon thread has finished, and a daemon blocked at that point is
   * not a deadlock.
   */
  daemon?: boolean;
}

/** Something a thread holds that lockdep and the held-at-exit check know about. */
export interface HeldLock {
  /** The lockdep class the lock belongs to (lock order is checked between classes). */
  readonly lockClass: string;
  /** The lock instance's name, for reports. */
  readonly name: string;
  /** A spinning lock (holding it makes the context atomic). */
  readonly spin?: boolean;
}

/**
 * A simulated thread (a task in kernel terms). Created by `sim.spawn`; runs only when
 * the scheduler hands it the CPU, and gives it back at every scheduling point.
 */
export class SimThread {
  /** Runnable, Blocked (parked on `waitingOn` or a timer) or Done. Written by the scheduler only. */
  state: ThreadState = ThreadState.Runnable;
  /** Resolver of the promise the thread is parked on; null while it runs. */
  resume: (() => void) | null = null;
  /** What it is blocked on, for the wait-for graph. */
  waitingOn: Waitable | null = null;
  /** Virtual time at which a timed wait expires (Infinity when none). */
  timerAtNs = Infinity;
  /** Set when the thread was woken by its timer rather than by an event. */
  timedOut = false;
  /** Spinlocks held: sleeping while > 0 is a violation. */
  atomicDepth = 0;
  /** Non-blockable regions entered (e.g. a nonblocking notifier callback). */
  nonBlockDepth = 0;
  /** Locks held, innermost last (lockdep's held_locks). */
  readonly held: HeldLock[] = [];
  /** A fatal signal is pending (SIGKILL): killable waits return -EINTR. */
  fatalSignal = false;
  /** Set while the thread is in a killable wait (a fatal signal wakes it). */
  killable = false;
  /** What the runtime completes for this thread when it is next picked (see ResumeOp). */
  pendingOp: ResumeOp | null = null;
  /** Threads waiting in join(). */
  joiners: SimThread[] | null = null;
  /** Steps this thread has executed. */
  steps = 0;
  /** Label and object of its latest scheduling point (named when a run never ends). */
  lastLabel = '';
  /** The object of its latest scheduling point (undefined when the point named none). */
  lastObject: string | undefined = undefined;
  /**
   * The object of the operation this thread performs when it next runs (the object named at
   * its latest scheduling point; undefined when none was named or it has not run yet):
   * what partial-order reduction compares to tell conflicting steps from independent ones.
   */
  nextObject: string | undefined = undefined;
  /** Coverage (when on): the interned pair id of its latest point, -1 before the first. */
  coveragePrev = -1;
  /** Coverage (when on): per interned pair id, 1 once this thread reached it in this run. */
  coverageSeen: Uint8Array | null = null;
  private localsMap: Map<unknown, unknown> | null = null;

  constructor(
    /** The simulation that runs the thread. */
    readonly sim: Simulation,
    /** Its index in `sim.threads`, in spawn order from 0; runnable threads are ordered by it. */
    readonly id: number,
    /** The name given to `sim.spawn`, used in traces and reports. */
    readonly name: string,
    /**
     * A daemon does not keep the run alive: the run ends ok once every non-daemon thread has
     * finished, whatever the daemons are doing.
     */
    readonly daemon: boolean,
  ) {}

  /** Per-thread storage for model layers (e.g. the current process). */
  get locals(): Map<unknown, unknown> {
    return (this.localsMap ??= new Map());
  }

  /** The thread has finished (returned, thrown or been killed). */
  get done(): boolean {
    return this.state === ThreadState.Done;
  }

  /** Waits until this thread has finished (kthread_stop/wait-for-exit). May sleep. */
  join(): Promise<void> {
    return this.sim.join(this);
  }

  /** The thread's name, as diagrams and messages print it. */
  toString(): string {
    return this.name;
  }
}
