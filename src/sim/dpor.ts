import { defaultPick, type Strategy } from './strategy.js';
import type { SimThread } from './thread.js';
import { SimUsageError } from './violation.js';

/** A decision of the current run: a thread choice or a value choice. */
interface Node {
  /** Thread ids runnable here (thread nodes), or the number of values (value nodes). */
  enabled: number[];
  value: boolean;
  /** Options still to explore from here (thread ids or values). */
  backtrack: Set<number>;
  /** Options explored from here. */
  done: Set<number>;
  /** The option this run takes. */
  choice: number;
  /** Sleep set: threads whose exploration from here is known redundant. */
  sleep: Set<number>;
  /** Per runnable thread: the object its next step touches (for sleep-set propagation). */
  pending: Map<number, string | undefined>;
}

/** A step of the run: who ran, what it touched, and the decision that chose it (-1: forced). */
interface Event {
  tid: number;
  object: string | undefined;
  node: number;
}

/**
 * The object a thread's next step touches. A thread that has not run yet runs up to its
 * first scheduling point, which by the model's convention precedes any shared access: that
 * first stretch touches nothing shared (a private object of its own).
 */
function nextObject(t: SimThread): string | undefined {
  return t.steps === 0 ? `\0start ${t.id}` : t.nextObject;
}

/** Steps conflict when they touch one object; a step that names none conflicts with all. */
function conflicts(a: string | undefined, b: string | undefined): boolean {
  return a === undefined || b === undefined || a === b;
}

/**
 * Dynamic partial-order reduction (stateless, in the manner of Flanagan and Godefroid, POPL
 * 2005, with sleep sets; Abdulla et al.'s source sets, POPL 2014, refine the backtrack sets
 * further): runs one schedule, finds every pair of conflicting steps of different threads
 * (same object, as named at the scheduling point; a step naming none conflicts with every
 * step), and schedules the reversal of each race at the decision before its first step.
 * Schedules that only reorder independent steps are not run. `sim.choose` values are all
 * explored. Requires a deterministic program, as dfs does.
 *
 * Deviation from the papers: races are taken against the latest conflicting step of each
 * other thread instead of the latest one not ordered by happens-before (no vector clocks);
 * that adds backtrack points, never removes one.
 */
export class DporStrategy implements Strategy {
  readonly name = 'dpor';
  private readonly stack: Node[] = [];
  private events: Event[] = [];
  private depth = 0;
  exhausted = false;

  onSpawn(): void {}

  onPick(thread: SimThread, decision: boolean): void {
    this.events.push({ tid: thread.id, object: nextObject(thread), node: decision ? this.depth - 1 : -1 });
  }

  pickThread(runnable: readonly SimThread[], current: SimThread | null): number {
    const d = this.depth++;
    let node = this.stack[d];
    if (node === undefined) {
      const sleep = d === 0 ? new Set<number>() : this.childSleep(d - 1);
      const pending = new Map<number, string | undefined>();
      for (const t of runnable) pending.set(t.id, nextObject(t));
      let choice = runnable[defaultPick(runnable, current)].id;
      if (sleep.has(choice)) {
        const awake = runnable.find((t) => !sleep.has(t.id));
        // Every runnable thread asleep: this schedule is redundant; finish it on the default.
        if (awake !== undefined) choice = awake.id;
      }
      node = {
        enabled: runnable.map((t) => t.id),
        value: false,
        backtrack: new Set([choice]),
        done: new Set([choice]),
        choice,
        sleep,
        pending,
      };
      this.stack.push(node);
    }
    const i = runnable.findIndex((t) => t.id === node.choice);
    if (node.value || i < 0) {
      throw new SimUsageError(
        `dpor: the program is not deterministic: decision ${d} cannot choose thread ${node.choice} again ` +
          '(does the setup read state shared between runs?)',
      );
    }
    return i;
  }

  chooseValue(n: number): number {
    const d = this.depth++;
    let node = this.stack[d];
    if (node === undefined) {
      const all = Array.from({ length: n }, (_, v) => v);
      node = {
        enabled: [n],
        value: true,
        backtrack: new Set(all),
        done: new Set([0]),
        choice: 0,
        sleep: d === 0 ? new Set() : this.childSleep(d - 1),
        pending: new Map(),
      };
      this.stack.push(node);
    } else if (!node.value || node.enabled[0] !== n) {
      throw new SimUsageError(`dpor: the program is not deterministic: decision ${d} changed`);
    }
    return node.choice;
  }

  /** The sleep set after taking node `d`'s choice: asleep or done threads independent of it. */
  private childSleep(d: number): Set<number> {
    const node = this.stack[d];
    const out = new Set<number>();
    if (node.value) {
      for (const t of node.sleep) out.add(t);
      return out;
    }
    const chosen = node.pending.get(node.choice);
    for (const set of [node.sleep, node.done]) {
      for (const t of set) {
        if (t !== node.choice && !conflicts(node.pending.get(t), chosen)) out.add(t);
      }
    }
    return out;
  }

  /** Adds the race reversals of the finished run to the backtrack sets. */
  private analyse(): void {
    const ev = this.events;
    /** Latest event index per (object, thread), and per thread for steps naming no object. */
    const byObject = new Map<string, Map<number, number>>();
    const anyByThread = new Map<number, number>();
    const unnamedByThread = new Map<number, number>();
    for (let i = 0; i < ev.length; i++) {
      const e = ev[i];
      const candidates = new Map<number, number>();
      const consider = (tid: number, j: number | undefined): void => {
        if (tid === e.tid || j === undefined) return;
        if ((candidates.get(tid) ?? -1) < j) candidates.set(tid, j);
      };
      if (e.object === undefined) for (const [tid, j] of anyByThread) consider(tid, j);
      else {
        for (const [tid, j] of byObject.get(e.object) ?? []) consider(tid, j);
        for (const [tid, j] of unnamedByThread) consider(tid, j);
      }
      for (const j of candidates.values()) {
        const n = ev[j].node;
        if (n < 0) continue; // a forced step: nothing else could run there
        const node = this.stack[n];
        if (node === undefined || node.value) continue;
        if (node.enabled.includes(e.tid)) {
          if (!node.sleep.has(e.tid)) node.backtrack.add(e.tid);
        } else {
          for (const t of node.enabled) if (!node.sleep.has(t)) node.backtrack.add(t);
        }
      }
      anyByThread.set(e.tid, i);
      if (e.object === undefined) unnamedByThread.set(e.tid, i);
      else {
        let m = byObject.get(e.object);
        if (m === undefined) byObject.set(e.object, (m = new Map()));
        m.set(e.tid, i);
      }
    }
  }

  /** Prepares the next schedule; returns false when every class of schedules has been run. */
  advance(): boolean {
    this.analyse();
    this.events = [];
    this.depth = 0;
    while (this.stack.length > 0) {
      const top = this.stack[this.stack.length - 1];
      let next: number | undefined;
      for (const t of [...top.backtrack].sort((a, b) => a - b)) {
        if (!top.done.has(t) && !top.sleep.has(t)) {
          next = t;
          break;
        }
      }
      if (next !== undefined) {
        top.done.add(next);
        top.choice = next;
        return true;
      }
      this.stack.pop();
    }
    this.exhausted = true;
    return false;
  }
}
