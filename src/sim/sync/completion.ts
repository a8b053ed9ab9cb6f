import { checkInteger } from '../options.js';
import type { Simulation } from '../simulation.js';
import { WaitList } from './wait-list.js';

const COMPLETE_ALL = Number.MAX_SAFE_INTEGER;

/**
 * A completion (struct completion: complete / complete_all / wait_for_completion /
 * wait_for_completion_timeout / reinit_completion). `complete` lets one waiter through;
 * `completeAll` lets every present and future waiter through until `reinit`.
 */
export class Completion {
  private done = 0;
  private readonly list: WaitList;

  constructor(
    /** The simulation the completion belongs to. */
    readonly sim: Simulation,
    /** Names the completion in traces, wait-for graphs and reports. */
    readonly name: string,
  ) {
    this.list = new WaitList(`completion ${name}`);
  }

  /** complete(): one waiter (present or future) may pass. Not a scheduling point. */
  complete(): void {
    this.sim.touch(this.name);
    if (this.done !== COMPLETE_ALL) this.done++;
    const t = this.list.shift();
    if (t) this.sim.wake(t);
  }

  /** complete_all(): every waiter passes until reinit. Not a scheduling point. */
  completeAll(): void {
    this.sim.touch(this.name);
    this.done = COMPLETE_ALL;
    for (const t of this.list.takeAll()) this.sim.wake(t);
  }

  /** wait_for_completion(): may sleep. */
  async wait(): Promise<void> {
    const sim = this.sim;
    const t = sim.self('wait_for_completion');
    sim.mightSleep('wait_for_completion', this.name);
    await sim.point('wait_for_completion', this.name);
    while (this.done === 0) {
      this.list.add(t);
      await sim.block(t, this.list, 'completion_sleep', this.name);
    }
    if (this.done !== COMPLETE_ALL) this.done--;
  }

  /**
   * wait_for_completion_timeout(): the time left (at least 1) when completed, 0 when
   * `timeoutNs` of virtual time passed first. May sleep.
   */
  async waitTimeout(timeoutNs: number): Promise<number> {
    checkInteger('timeoutNs', timeoutNs, 0);
    const sim = this.sim;
    const t = sim.self('wait_for_completion_timeout');
    sim.mightSleep('wait_for_completion_timeout', this.name);
    await sim.point('wait_for_completion_timeout', this.name);
    const deadline = sim.now() + timeoutNs;
    while (this.done === 0) {
      const left = deadline - sim.now();
      if (left <= 0) return 0;
      this.list.add(t);
      const expired = await sim.blockTimeout(t, this.list, left, 'completion_sleep', this.name);
      if (expired && this.done === 0) return 0;
    }
    if (this.done !== COMPLETE_ALL) this.done--;
    return Math.max(1, deadline - sim.now());
  }

  /** try_wait_for_completion(): consumes a completion if one is available. */
  tryWait(): boolean {
    this.sim.touch(this.name);
    if (this.done === 0) return false;
    if (this.done !== COMPLETE_ALL) this.done--;
    return true;
  }

  /** completion_done(): whether a wait would pass without sleeping. */
  isDone(): boolean {
    this.sim.touch(this.name, true);
    return this.done > 0;
  }

  /**
   * reinit_completion(). A write of the completion for dpor: a woken waiter that re-checks
   * `done` after it sleeps again (found by the commutation check on odp2019-counter).
   */
  reinit(): void {
    this.sim.touch(this.name);
    this.done = 0;
  }
}
