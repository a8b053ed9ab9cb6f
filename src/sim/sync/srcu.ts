import type { Simulation } from '../simulation.js';
import type { SimThread } from '../thread.js';
import { WaitQueue } from './waitqueue.js';

interface PendingCallback {
  fn: () => void;
  /** The grace period it waits for: readers of epochs up to this one. */
  epoch: number;
}

/**
 * Sleepable RCU (struct srcu_struct: srcu_read_lock / srcu_read_unlock /
 * synchronize_srcu / call_srcu / srcu_barrier). Readers may sleep. A grace period
 * ends when every reader that entered before it began has left. Callbacks run on a
 * daemon thread in a context that must not sleep, as the kernel runs them.
 */
export class Srcu {
  private epoch = 0;
  /** Active readers per epoch. */
  private readonly readers = new Map<number, number>();
  private readonly readerThreads: SimThread[] = [];
  private readonly gp: WaitQueue;
  private readonly pending: PendingCallback[] = [];
  private running = 0;
  private worker: SimThread | null = null;

  constructor(
    /** The simulation the SRCU domain belongs to. */
    readonly sim: Simulation,
    /** Names the SRCU domain in traces and reports. */
    readonly name: string,
  ) {
    this.gp = new WaitQueue(sim, `srcu ${name}`);
  }

  /** srcu_read_lock(): enters a read-side section; returns the index for unlock. Never sleeps. */
  readLock(): number {
    const t = this.sim.self('srcu_read_lock');
    // For dpor: the reader set is what grace periods wait on (a write of the domain).
    this.sim.touch(this.gp.name);
    const idx = this.epoch;
    this.readers.set(idx, (this.readers.get(idx) ?? 0) + 1);
    this.readerThreads.push(t);
    return idx;
  }

  /** Whether thread `t` is inside a read-side section of this domain (srcu_read_lock_held()). */
  isReader(t: SimThread): boolean {
    return this.readerThreads.includes(t);
  }

  /** srcu_read_unlock(idx): leaves the section entered with `idx`. Never sleeps. */
  readUnlock(idx: number): void {
    const t = this.sim.self('srcu_read_unlock');
    const n = this.readers.get(idx) ?? 0;
    if (n <= 0) {
      this.sim.report('lock-misuse', `srcu_read_unlock(${this.name}, ${idx}) without a matching read lock`, {
        key: `srcu unbalanced ${this.name}`,
      });
    }
    if (n === 1) this.readers.delete(idx);
    else this.readers.set(idx, n - 1);
    const i = this.readerThreads.indexOf(t);
    if (i >= 0) this.readerThreads.splice(i, 1);
    this.gp.wakeUpAll();
  }

  private readersUpTo(epoch: number): boolean {
    for (const [e, n] of this.readers) if (e <= epoch && n > 0) return true;
    return false;
  }

  /** synchronize_srcu(): waits for a full grace period. May sleep. */
  async synchronize(): Promise<void> {
    this.sim.mightSleep('synchronize_srcu', this.name);
    this.sim.touch(this.gp.name); // for dpor: the epoch is the domain's state
    const target = this.epoch++;
    if (this.readersUpTo(target)) this.sim.mark('synchronize_srcu waited for a reader');
    await this.gp.waitEvent(() => !this.readersUpTo(target), 'synchronize_srcu');
  }

  /**
   * call_srcu(): runs `fn` after a grace period, on the SRCU callback thread, in a
   * context that must not sleep. Never sleeps.
   */
  callSrcu(fn: () => void): void {
    const epoch = this.epoch++;
    if (this.readersUpTo(epoch)) this.sim.mark('call_srcu deferred past a reader');
    this.pending.push({ fn, epoch });
    if (this.worker === null) {
      this.worker = this.sim.spawn(`srcu:${this.name}`, () => this.work(), { daemon: true });
    }
    this.gp.wakeUpAll();
  }

  private async work(): Promise<void> {
    for (;;) {
      await this.gp.waitEvent(() => this.pending.length > 0, 'srcu_gp_wait');
      const cb = this.pending[0];
      await this.gp.waitEvent(() => !this.readersUpTo(cb.epoch), 'srcu_gp_wait');
      this.pending.shift();
      this.running++;
      this.sim.enterNonBlock();
      try {
        cb.fn();
      } finally {
        this.sim.exitNonBlock();
        this.running--;
      }
      this.gp.wakeUpAll();
    }
  }

  /** srcu_barrier(): waits until every callback queued so far has run. May sleep. */
  async barrier(): Promise<void> {
    this.sim.mightSleep('srcu_barrier', this.name);
    await this.gp.waitEvent(() => this.pending.length === 0 && this.running === 0, 'srcu_barrier');
  }

  /** Threads inside a read-side section now (for diagnostics). */
  activeReaders(): readonly SimThread[] {
    return this.readerThreads;
  }
}
