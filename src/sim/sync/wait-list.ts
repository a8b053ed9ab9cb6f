import type { SimThread, Waitable } from '../thread.js';

/**
 * FIFO list of threads parked on one primitive. Implements the wait-for graph's view
 * of the primitive, and lets a timer or a fatal signal take a waiter out. A queue with
 * a moving head: `shift` (every unlock of a contended lock) is O(1).
 */
export class WaitList implements Waitable {
  /** The waiters are items[head .. tail); slots outside are undefined. */
  private items: (SimThread | undefined)[] = [];
  private head = 0;
  private tail = 0;

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
    // Indices only move: emptying the list never shrinks the array (setting an array's
    // length reallocates it, once per contended unlock on the scheduler's hot path).
    if (this.tail === this.items.length) this.items.push(t);
    else this.items[this.tail] = t;
    this.tail++;
  }

  cancelWait(t: SimThread): void {
    const items = this.items;
    let i = this.head;
    while (i < this.tail && items[i] !== t) i++;
    if (i === this.tail) return;
    for (; i < this.tail - 1; i++) items[i] = items[i + 1];
    items[--this.tail] = undefined;
    this.compact();
  }

  shift(): SimThread | undefined {
    if (this.head === this.tail) return undefined;
    const t = this.items[this.head];
    this.items[this.head++] = undefined;
    this.compact();
    return t;
  }

  /** Empties the list; returns the waiters in FIFO order (wake_up_all). */
  takeAll(): SimThread[] {
    const all = this.items.slice(this.head, this.tail) as SimThread[];
    for (let i = this.head; i < this.tail; i++) this.items[i] = undefined;
    this.head = 0;
    this.tail = 0;
    return all;
  }

  /** The waiters in FIFO order (a copy). */
  get waiters(): SimThread[] {
    return this.items.slice(this.head, this.tail) as SimThread[];
  }

  get length(): number {
    return this.tail - this.head;
  }

  private compact(): void {
    if (this.head === this.tail) {
      this.head = 0;
      this.tail = 0;
    } else if (this.head >= 32 && this.head * 2 >= this.tail) {
      // Move the live part to the front; the slots it leaves are cleared.
      const n = this.tail - this.head;
      for (let i = 0; i < n; i++) this.items[i] = this.items[this.head + i];
      for (let i = n; i < this.tail; i++) this.items[i] = undefined;
      this.head = 0;
      this.tail = n;
    }
  }
}
