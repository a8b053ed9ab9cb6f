import { EINTR } from '../errno.js';
import { checkInteger } from '../options.js';
import type { Simulation } from '../simulation.js';
import { WaitList } from './wait-list.js';

/**
 * A wait queue (wait_queue_head_t with wait_event / wait_event_timeout / wake_up /
 * wake_up_all). The condition is tested and the waiter queued atomically, as
 * prepare_to_wait + re-check does, so a wake-up cannot be lost between them.
 */
export class WaitQueue {
  private readonly list: WaitList;

  constructor(
    /** The simulation the wait queue belongs to. */
    readonly sim: Simulation,
    /** Names the wait queue in traces, wait-for graphs and reports. */
    readonly name: string,
  ) {
    this.list = new WaitList(`waitqueue ${name}`);
  }

  /** wait_event(wq, cond): sleeps until `cond()` is true. May sleep. */
  async waitEvent(cond: () => boolean, label = 'wait_event'): Promise<void> {
    const sim = this.sim;
    const t = sim.self(label);
    sim.mightSleep(label, this.name);
    await sim.point(label, this.name);
    while (!cond()) {
      this.list.add(t);
      await sim.block(t, this.list, `${label}_sleep`, this.name);
    }
  }

  /** wait_event_killable(): 0 once `cond()` holds, -EINTR on a fatal signal. May sleep. */
  async waitEventKillable(cond: () => boolean, label = 'wait_event_killable'): Promise<number> {
    const sim = this.sim;
    const t = sim.self(label);
    sim.mightSleep(label, this.name);
    await sim.point(label, this.name);
    while (!cond()) {
      if (t.fatalSignal) return -EINTR;
      this.list.add(t);
      t.killable = true;
      await sim.block(t, this.list, `${label}_sleep`, this.name);
      t.killable = false;
    }
    return 0;
  }

  /**
   * wait_event_timeout(wq, cond, timeout): sleeps until `cond()` or until `timeoutNs` of
   * virtual time pass. Returns the time left (at least 1) when the condition held, 0 when
   * it timed out with the condition still false. May sleep.
   */
  async waitEventTimeout(
    cond: () => boolean,
    timeoutNs: number,
    label = 'wait_event_timeout',
  ): Promise<number> {
    checkInteger('timeoutNs', timeoutNs, 0);
    const sim = this.sim;
    const t = sim.self(label);
    sim.mightSleep(label, this.name);
    await sim.point(label, this.name);
    const deadline = sim.now() + timeoutNs;
    while (!cond()) {
      const left = deadline - sim.now();
      if (left <= 0) return 0;
      this.list.add(t);
      const expired = await sim.blockTimeout(t, this.list, left, `${label}_sleep`, this.name);
      if (expired) return cond() ? 1 : 0;
    }
    return Math.max(1, deadline - sim.now());
  }

  /** wake_up(): wakes the waiters (all are non-exclusive). Not a scheduling point. */
  wakeUp(): void {
    this.wakeUpAll();
  }

  /** wake_up_all(): wakes every waiter. Not a scheduling point. */
  wakeUpAll(): void {
    this.sim.touch(this.name);
    const w = this.list.takeAll();
    for (const t of w) this.sim.wake(t);
  }

  /** waitqueue_active(). */
  active(): boolean {
    this.sim.touch(this.name, true); // for dpor: a read of the queue
    return this.list.length > 0;
  }
}
