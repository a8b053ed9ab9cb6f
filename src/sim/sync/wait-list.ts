import type { SimThread, Waitable } from '../thread.js';

/**
 * FIFO list of threads parked on one primitive. Implements the wait-for graph's view
 * of the primitive, and lets a timer or a fatal signal take a waiter out. A queue with
 * a moving head: `shift` (every unlock of a contended lock) is O(1).
 */
export class WaitList implements Waitable {
  private items: (SimThread | undefined)[] = [];
  private head = 0;

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
    this.items.push(t);
  }

  cancelWait(t: SimThread): void {
    const i = this.items.indexOf(t, this.head);
    if (i >= 0) this.items.splice(i, 1);
    this.compact();
  }

  shift(): SimThread | undefined {
    if (this.head === this.items.length) return undefined;
    const t = this.items[this.head];
    this.items[this.head++] = undefined;
    this.compact();
    return t;
  }

  /** Empties the list; returns the waiters in FIFO order (wake_up_all). */
  takeAll(): SimThread[] {
    const all = (this.head === 0 ? this.items : this.items.slice(this.head)) as SimThread[];
    this.items = [];
    this.head = 0;
    return all;
  }

  /** The waiters in FIFO order (a copy). */
  get waiters(): SimThread[] {
    return this.items.slice(this.head) as SimThread[];
  }

  get length(): number {
    return this.items.length - this.head;
  }

  private compact(): void {
    const n = this.items.length;
    if (this.head === n) {
      this.items.length = 0;
      this.head = 0;
    } else if (this.head >= 32 && this.head * 2 >= n) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
  }
}
