import { IntLog } from './int-log.js';
import { SimUsageError } from './violation.js';

/**
 * The decisions of one run — for each decision with more than one option: the chosen
 * index, the chosen thread's id (-1 for a value choice) and the index a non-preemptive
 * scheduler would have chosen — three 32-bit integers per decision in one growable typed
 * array (see IntLog), so that recording a decision on the scheduler's hot path allocates
 * nothing the garbage collector has to trace.
 */
export class DecisionLog {
  private readonly log = new IntLog();
  /** Decisions recorded (three integers each). */
  get length(): number {
    return this.log.length / 3;
  }

  /** Records a decision: the chosen index, the chosen thread's id (-1: a value), the default index. */
  push(choice: number, thread: number, defaultChoice: number): void {
    this.log.push3(choice, thread, defaultChoice);
  }

  /** The run ended: see IntLog.seal. */
  seal(): void {
    this.log.seal();
  }

  /** Nothing reads these decisions again: see IntLog.release. Reading them afterwards throws. */
  release(): void {
    this.log.release();
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
    if (this.log.released) {
      throw new SimUsageError("a run's decisions were read after Simulation.releaseLogs (its token is gone)");
    }
    const out = new Array<number>(this.length);
    const log = this.log;
    for (let d = 0, i = k; d < out.length; d++, i += 3) out[d] = log.at(i);
    return out;
  }
}
