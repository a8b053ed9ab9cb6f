import type { SimThread, Waitable } from '../thread.js';

/**
 * FIFO list of threads parked on one primitive. Implements the wait-for graph's view
 * of the primitive, and lets a timer or a fatal signal take a waiter out.
 */
export class WaitList implements Waitable {
  readonly waiters: SimThread[] = [];

  constructor(
    private readonly what: string,
    private readonly holdersOf: () => readonly SimThread[] = () => [],
  ) {}

  describe(): string {
    return this.what;
  }

  holders(): readonly SimThread[] {
    return this.holdersOf();
  }

  add(t: SimThread): void {
    this.waiters.push(t);
  }

  cancelWait(t: SimThread): void {
    const i = this.waiters.indexOf(t);
    if (i >= 0) this.waiters.splice(i, 1);
  }

  shift(): SimThread | undefined {
    return this.waiters.shift();
  }

  get length(): number {
    return this.waiters.length;
  }
}
