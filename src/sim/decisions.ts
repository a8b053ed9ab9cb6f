/** Numbers per chunk of the log (three per decision). */
const CHUNK = 3 * 4096;

/**
 * The decisions of one run — for each decision with more than one option: the chosen
 * index, the chosen thread's id (-1 for a value choice) and the index a non-preemptive
 * scheduler would have chosen — kept in chunks of small integers, so that recording a
 * decision on the scheduler's hot path never copies a long log. (Plain arrays: cheaper
 * than typed arrays for the many short runs of an exploration, whose backing stores
 * live outside the heap and cost a malloc and GC bookkeeping each.)
 */
export class DecisionLog {
  private readonly chunks: number[][] = [[]];
  private last: number[] = this.chunks[0];
  /** Decisions recorded. */
  length = 0;

  push(choice: number, thread: number, defaultChoice: number): void {
    let b = this.last;
    if (b.length === CHUNK) {
      b = [];
      this.chunks.push(b);
      this.last = b;
    }
    b.push(choice, thread, defaultChoice);
    this.length++;
  }

  /** The chosen indices (the replay token's content). */
  choices(): number[] {
    return this.column(0);
  }

  /** The chosen threads' ids, -1 for value choices. */
  threads(): number[] {
    return this.column(1);
  }

  /** The non-preemptive scheduler's choices. */
  defaults(): number[] {
    return this.column(2);
  }

  private column(k: number): number[] {
    const out = new Array<number>(this.length);
    let d = 0;
    for (const b of this.chunks) {
      for (let i = k; i < b.length; i += 3) out[d++] = b[i];
    }
    return out;
  }
}
