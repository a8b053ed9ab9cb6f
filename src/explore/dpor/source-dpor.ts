import type { Simulation } from '../../sim/simulation.js';
import { defaultPick, type Strategy } from '../../sim/strategy.js';
import type { SimThread } from '../../sim/thread.js';
import { SimUsageError } from '../../sim/violation.js';
import { ANY, conflicts, conflictsAll, NOTHING, ObjectIds, READ_LABELS } from './footprint.js';

/** A decision of the current run: a thread choice or a value choice (`sim.choose`). */
interface Node {
  value: boolean;
  /** Thread nodes: ids of the runnable threads. Value nodes: [number of values]. */
  enabled: number[];
  /** The thread that reached the point and could keep running (-1 when none). */
  current: number;
  /** Preemptions the decisions before this one made. */
  preemptsBefore: number;
  /** Options to explore from here (the explored ones included). */
  backtrack: Set<number>;
  /** Options explored from here, the one this run takes included. */
  done: Set<number>;
  /** The option this run takes. */
  choice: number;
  /** Sleep set: threads whose next step from here is covered by an explored sibling, with its footprint. */
  sleep: Map<number, number[]>;
  /** Per thread chosen here (in this run or an earlier one): the footprint of the step it took. */
  explored: Map<number, number[]>;
  /** A timer was armed here: steps race with the timeout, so no sleep-set pruning below. */
  timers: boolean;
}

/** Counts of what the strategy did, for reports and benchmarks. */
export interface DporStats {
  /** Races found (pairs of conflicting steps not ordered by happens-before). */
  races: number;
  /** Schedules that ended in a state where every runnable thread was asleep (redundant). */
  sleepBlocked: number;
  /** Race reversals dropped because they needed more preemptions than the bound. */
  boundPruned: number;
  /** Races whose reversal could not start at the decision before them (every runnable thread added). */
  fallbacks: number;
}

function join(into: Int32Array, from: Int32Array, fromOff: number, t: number): void {
  for (let k = 0; k < t; k++) {
    const v = from[fromOff + k];
    if (v > into[k]) into[k] = v;
  }
}

function anyTimerArmed(sim: Simulation): boolean {
  for (const t of sim.threads) if (t.timerAtNs !== Infinity) return true;
  return false;
}

/**
 * Source-set dynamic partial-order reduction with sleep sets (Abdulla, Aronis, Jonsson and
 * Sagonas, "Optimal dynamic partial order reduction", POPL 2014, their Algorithm 1), run
 * statelessly: each schedule is executed from the start, and after it ends its races are
 * found and reversed.
 *
 * Two steps conflict when they touch one object and not both only read it (see footprint.ts:
 * the object named at the scheduling point that starts the step; a step naming none
 * conflicts with all; a step that arms a timer, and a step at whose end a timer fired,
 * conflict with all; every step taken while a timer is armed conflicts with the others
 * through the virtual clock). Happens-before is program order, conflicts in execution order, and wake-ups: a
 * thread made runnable during a step (woken by an unlock, a complete, a wake_up, a thread
 * exit, or spawned) is ordered after that step. Vector clocks over those edges tell a race
 * (two conflicting steps of different threads, the first not ordered before the second
 * through any third step) from an ordered pair.
 *
 * For each race e < e' the strategy looks at the prefix E before e and the steps v after e
 * that do not happen after it, followed by e''s thread; the threads whose first step in v
 * happens after no other step of v ("initials") can each start a schedule that reverses the
 * race. Unless one of them is already in E's backtrack set, one is added (e''s thread when it
 * qualifies). Sleep sets keep a thread asleep below a decision while its next step commutes
 * with what ran, so each Mazurkiewicz trace of conflicting steps is explored by few
 * schedules (exactly one without sleep-blocked runs). Value choices are all explored.
 *
 * A blocking attempt (a lock held, a wait whose condition is false) is a step on the lock or
 * wait queue in this runtime: the thread tries, parks, and its retry after the wake-up is a
 * later step on the same object, so a disabled thread's pending step keeps conflicting.
 *
 * With `preemptionBound`, schedules stay within that many preemptions (switching away from
 * a thread that could keep running); a reversal that would exceed it is moved, as in
 * Coons, Musuvathi and McKinley's bounded POR (OOPSLA 2013), to the latest earlier decision
 * where it fits. Deviation: with a bound the search is a heuristic subset (sleep sets and the
 * bound do not compose exactly), not the full set of bounded schedules dfs runs.
 *
 * A step's footprint is the object named at its scheduling point (its first word: 'mlx0.mr100
 * zap' is 'mlx0.mr100'; read-only for the labels in READ_LABELS, down_read and its kin),
 * what it touched without a point (`sim.touch`: kfree, and dereferences as reads, of tracked
 * objects; lock releases, up_read as a read; complete, wake_up; device page-table writes;
 * set_seq, and read_begin / read_retry / check_retry's reads of the sequence; the HMM walk's
 * page-table read; the mirror checker's reads), and what the threads it woke waited on. A
 * thread's first stretch (spawn to its first point) holds no lock and touches only what it
 * touches explicitly; a point naming no object conflicts with everything. The step that ends
 * a run while other threads could still run (a violation, or the last non-daemon thread
 * exiting) races with each of them: it disabled their next steps.
 *
 * Deviations: the model's reads of the virtual clock (`sim.now()` deadlines) are not
 * dependencies; accesses a step makes without a point or a touch are assumed to be protected
 * by the object its point names or by a lock it holds exclusively (after a read-only point,
 * by such a lock only), and code a thread runs before its first point to touch shared state
 * only through `sim.touch` / `sim.use`. As everywhere, an access that no point, touch or lock
 * orders is invisible to dpor; audit.ts checks a program for such accesses (schedules of one
 * trace that end differently; adjacent steps called independent that do not commute), on the
 * built-ins with `node --import tsx bench/dpor-traces.ts 2 <scenarios> commute`. Footprints that depend on global state (a checker that
 * touches only when entries exist) can make dpor report a race through a different checker
 * hook than dfs does (same bug, another signature). Requires a deterministic program, as dfs
 * does.
 */
export class SourceDporStrategy implements Strategy {
  readonly name = 'dpor';
  private readonly stack: Node[] = [];
  private readonly ids = new ObjectIds();
  exhausted = false;
  readonly stats: DporStats = { races: 0, sleepBlocked: 0, boundPruned: 0, fallbacks: 0 };

  // The current run.
  private depth = 0;
  private preempts = 0;
  private evTid: number[] = [];
  private evFp: number[] = [];
  /** Objects a step touched besides its own (touches, and the objects of threads it woke). */
  private evExtra: (number[] | null)[] = [];
  private evNode: number[] = [];
  private evWake: number[] = [];
  /** Events finalised (footprint settled after the step ran, wake-ups recorded). */
  private synced = 0;
  private wasRunnable: boolean[] = [];
  /** Per thread id: the sync epoch in which it was last seen runnable (no allocation per step). */
  private readonly runnableMark: number[] = [];
  private epoch = 0;
  private pendingWake: number[] = [];
  /** Event count when every runnable thread was asleep (Infinity: never in this run). */
  private sleepBlockedAt = Infinity;

  /**
   * `readLabels`: the labels of scheduling points that only read their object (READ_LABELS;
   * tests pass a wrong set to check that an unsound relation is caught).
   */
  constructor(
    readonly preemptionBound = Infinity,
    private readonly readLabels: ReadonlySet<string> = READ_LABELS,
  ) {}

  onSpawn(): void {}

  /** Settles the step that just ran: timer arming, and the threads it made runnable. */
  private sync(sim: Simulation): void {
    const n = this.evTid.length;
    if (this.synced === n && n > 0) return;
    const p = n - 1;
    if (p >= 0) {
      const t = sim.threads[this.evTid[p]];
      // A step that armed a timer read the clock every other step advances.
      if (t.timerAtNs !== Infinity) this.evFp[p] = ANY;
    }
    const rq = sim.runnable;
    const mark = ++this.epoch;
    for (let k = 0; k < rq.length; k++) this.runnableMark[rq[k].id] = mark;
    for (const t of sim.threads) {
      const runnable = this.runnableMark[t.id] === mark;
      if (runnable && this.wasRunnable[t.id] !== true) {
        this.pendingWake[t.id] = p;
        // A timer fired at the end of the step: any other step run in its place would have
        // fired it instead, so the step conflicts with all.
        if (p >= 0 && t.timedOut) this.evFp[p] = ANY;
        // Woken by the step: it touched what the thread waited on.
        if (p >= 0 && this.wasRunnable[t.id] === false && t.nextObject !== undefined) {
          this.addExtra(p, this.ids.footprint(t.nextObject, false));
        }
      }
      this.wasRunnable[t.id] = runnable;
    }
    if (p >= 0) {
      const nd = this.evNode[p];
      if (nd >= 0) this.stack[nd].explored.set(this.evTid[p], this.footprintOf(p));
    }
    this.synced = n;
  }

  private addExtra(i: number, f: number): void {
    if (f === this.evFp[i]) return;
    const e = this.evExtra[i];
    if (e === null) this.evExtra[i] = [f];
    else if (!e.includes(f)) e.push(f);
  }

  /** Every object step `i` touched. */
  private footprintOf(i: number): number[] {
    const e = this.evExtra[i];
    return e === null ? [this.evFp[i]] : [this.evFp[i], ...e];
  }

  onTouch(object: string, read: boolean): void {
    const i = this.evTid.length - 1;
    if (i >= 0) this.addExtra(i, this.ids.footprint(object, false, read));
  }

  onPick(thread: SimThread, decision: boolean): void {
    const sim = thread.sim;
    this.sync(sim);
    const clock = anyTimerArmed(sim);
    this.evTid.push(thread.id);
    // A thread's first stretch (spawn to first point) holds no lock and names no object: it
    // touches only what it touches explicitly (its spawn orders it after the spawner).
    this.evFp.push(
      thread.steps === 0
        ? NOTHING + (clock ? 1 : 0)
        : this.ids.footprint(thread.nextObject, clock, this.readLabels.has(thread.lastLabel)),
    );
    this.evExtra.push(null);
    this.evNode.push(decision ? this.depth - 1 : -1);
    this.evWake.push(this.pendingWake[thread.id] ?? -1);
    this.pendingWake[thread.id] = -1;
  }

  pickThread(runnable: readonly SimThread[], current: SimThread | null): number {
    const sim = runnable[0].sim;
    this.sync(sim);
    const d = this.depth++;
    let node = this.stack[d];
    if (node === undefined) {
      const timers = anyTimerArmed(sim);
      const sleep =
        d === 0 || timers || this.sleepBlockedAt !== Infinity
          ? new Map<number, number[]>()
          : this.childSleep(d - 1);
      const cur = current === null ? -1 : current.id;
      let choice = runnable[defaultPick(runnable, current)].id;
      if (sleep.has(choice)) {
        const awake = runnable.find((t) => !sleep.has(t.id));
        if (awake !== undefined) choice = awake.id;
        else if (this.sleepBlockedAt === Infinity) {
          // Every runnable thread is asleep: this schedule only repeats explored traces.
          this.sleepBlockedAt = this.evTid.length;
          this.stats.sleepBlocked++;
        }
      }
      node = {
        value: false,
        enabled: runnable.map((t) => t.id),
        current: cur,
        preemptsBefore: this.preempts,
        backtrack: new Set([choice]),
        done: new Set([choice]),
        choice,
        sleep,
        explored: new Map(),
        timers,
      };
      this.stack.push(node);
    } else if (node.value) {
      throw new SimUsageError(
        `dpor: the program is not deterministic: decision ${d} was a value choice before`,
      );
    }
    const i = runnable.findIndex((t) => t.id === node.choice);
    if (i < 0) {
      throw new SimUsageError(
        `dpor: the program is not deterministic: decision ${d} cannot choose thread ${node.choice} again ` +
          '(does the setup read state shared between runs?)',
      );
    }
    if (node.current >= 0 && node.choice !== node.current) this.preempts++;
    return i;
  }

  chooseValue(n: number): number {
    const d = this.depth++;
    let node = this.stack[d];
    if (node === undefined) {
      node = {
        value: true,
        enabled: [n],
        current: -1,
        preemptsBefore: this.preempts,
        backtrack: new Set(Array.from({ length: n }, (_, v) => v)),
        done: new Set([0]),
        choice: 0,
        sleep: new Map(),
        explored: new Map(),
        timers: false,
      };
      this.stack.push(node);
    } else if (!node.value || node.enabled[0] !== n) {
      throw new SimUsageError(`dpor: the program is not deterministic: decision ${d} changed`);
    }
    return node.choice;
  }

  /** The sleep set below node `d` after its choice: asleep or explored threads independent of it. */
  private childSleep(d: number): Map<number, number[]> {
    const node = this.stack[d];
    const out = new Map<number, number[]>();
    if (node.value || node.timers) return out;
    const chosen = node.explored.get(node.choice);
    if (chosen === undefined) return out;
    for (const [t, fp] of node.sleep) if (t !== node.choice && !conflictsAll(fp, chosen)) out.set(t, fp);
    for (const t of node.done) {
      if (t === node.choice) continue;
      const fp = node.explored.get(t);
      if (fp !== undefined && !conflictsAll(fp, chosen)) out.set(t, fp);
    }
    return out;
  }

  /** Adds thread `t` to node `n`'s backtrack set, within the preemption bound (else earlier). */
  private addBacktrack(n: number, t: number): void {
    const bound = this.preemptionBound;
    for (let m = n; m >= 0; m--) {
      const node = this.stack[m];
      if (node.value || !node.enabled.includes(t)) {
        if (m === n) return;
        continue;
      }
      const preempt = node.current >= 0 && node.current !== t;
      if (!preempt || node.preemptsBefore + 1 <= bound) {
        if (!node.sleep.has(t)) node.backtrack.add(t);
        return;
      }
      if (bound === Infinity) return;
      if (m === n) this.stats.boundPruned++;
    }
  }

  /** Finds the races of the finished run and schedules their reversals. */
  private analyse(): void {
    const n = Math.min(this.evTid.length, this.sleepBlockedAt);
    if (n === 0) return;
    const tid = this.evTid;
    const fp = this.evFp;
    let T = 0;
    for (let i = 0; i < n; i++) if (tid[i] + 1 > T) T = tid[i] + 1;
    const vc = new Int32Array(n * T);
    const li = new Int32Array(n);
    const count = new Int32Array(T);
    const lastOf = new Int32Array(T).fill(-1);
    const prev = new Int32Array(n);
    const byObject = new Map<number, number[]>();
    const anyList: number[] = [];
    const clockList: number[] = [];
    const C = new Int32Array(T);
    const firstV = new Int32Array(T);
    for (let j = 0; j < n; j++) {
      const q = tid[j];
      const f = fp[j];
      li[j] = ++count[q];
      prev[j] = lastOf[q];
      lastOf[q] = j;
      C.fill(0);
      if (prev[j] >= 0) join(C, vc, prev[j] * T, T);
      const w = this.evWake[j];
      if (w >= 0 && w < j) join(C, vc, w * T, T);
      // Earlier conflicting steps, latest first (merged from the lists that can conflict).
      const lists: number[][] = [];
      const extra = this.evExtra[j];
      const isAny = f === ANY || (extra !== null && extra.includes(ANY));
      if (isAny) {
        // Conflicts with every earlier step: scan them all.
        for (let i = j - 1; i >= 0; i--) this.consider(i, j, C, vc, li, T, firstV);
      } else {
        const own = byObject.get(f >> 2);
        if (own !== undefined) lists.push(own);
        if (extra !== null) {
          for (const x of extra) {
            const l = byObject.get(x >> 2);
            if (l !== undefined && !lists.includes(l)) lists.push(l);
          }
        }
        lists.push(anyList);
        if ((f & 1) === 1) lists.push(clockList);
        const pos = lists.map((l) => l.length - 1);
        for (;;) {
          let best = -1;
          let bl = -1;
          for (let k = 0; k < lists.length; k++) {
            const p = pos[k];
            if (p >= 0 && lists[k][p] > best) {
              best = lists[k][p];
              bl = k;
            }
          }
          if (bl < 0) break;
          // The same step can sit in two lists (a clock step on this object): take it once.
          for (let k = 0; k < lists.length; k++) if (pos[k] >= 0 && lists[k][pos[k]] === best) pos[k]--;
          this.consider(best, j, C, vc, li, T, firstV);
        }
      }
      C[q] = li[j];
      vc.set(C, j * T);
      if (isAny) anyList.push(j);
      else {
        for (const x of extra === null ? [f] : [f, ...extra]) {
          let l = byObject.get(x >> 2);
          if (l === undefined) byObject.set(x >> 2, (l = []));
          if (l[l.length - 1] !== j) l.push(j);
        }
        if ((f & 1) === 1) clockList.push(j);
      }
    }
    // The run ended with the last step (a violation, or the last non-daemon thread exiting)
    // while other threads could still run: that step disabled their next steps, so it races
    // with each of them (their footprints are unknown: they never ran).
    if (n === this.evTid.length) {
      const nd = this.evNode[n - 1];
      if (nd >= 0) {
        const node = this.stack[nd];
        for (const t of node.enabled) {
          if (t !== tid[n - 1] && !node.sleep.has(t)) {
            this.stats.races++;
            this.addBacktrack(nd, t);
          }
        }
      }
    }
  }

  private eventsConflict(i: number, j: number): boolean {
    const a = this.evExtra[i];
    const b = this.evExtra[j];
    if (a === null && b === null) return conflicts(this.evFp[i], this.evFp[j]);
    return conflictsAll(this.footprintOf(i), this.footprintOf(j));
  }

  /** Earlier step `i` against step `j`: a race unless ordered through `C`; folds `i` into `C`. */
  private consider(
    i: number,
    j: number,
    C: Int32Array,
    vc: Int32Array,
    li: Int32Array,
    T: number,
    firstV: Int32Array,
  ): void {
    const p = this.evTid[i];
    const q = this.evTid[j];
    if (p === q || li[i] <= C[p]) return;
    if (!this.eventsConflict(i, j)) return;
    this.stats.races++;
    this.reverse(i, j, C, vc, li, T, firstV);
    join(C, vc, i * T, T);
  }

  /**
   * Race i < j: the initials of v (the steps after i not ordered after it, then j's thread)
   * at the decision before i; adds one to its backtrack set unless one is there already.
   */
  private reverse(
    i: number,
    j: number,
    C: Int32Array,
    vc: Int32Array,
    li: Int32Array,
    T: number,
    firstV: Int32Array,
  ): void {
    const n = this.evNode[i];
    if (n < 0) return; // forced: nothing else could run there
    const node = this.stack[n];
    const tid = this.evTid;
    const p = tid[i];
    const q = tid[j];
    firstV.fill(0);
    const initials: number[] = [];
    for (let k = i + 1; k < j; k++) {
      if (vc[k * T + p] >= li[i]) continue; // happens after i: not in v
      const r = tid[k];
      if (firstV[r] !== 0) continue;
      firstV[r] = li[k];
      let initial = true;
      for (let s = 0; s < T; s++) {
        if (s !== r && firstV[s] !== 0 && vc[k * T + s] >= firstV[s]) {
          initial = false;
          break;
        }
      }
      if (initial) initials.push(r);
    }
    if (firstV[q] === 0) {
      let initial = true;
      for (let s = 0; s < T; s++) {
        if (firstV[s] !== 0 && C[s] >= firstV[s]) {
          initial = false;
          break;
        }
      }
      if (initial) initials.push(q);
    }
    const enabled = initials.filter((t) => node.enabled.includes(t));
    for (const t of enabled) if (node.backtrack.has(t)) return;
    if (enabled.length === 0) {
      this.stats.fallbacks++;
      // The reversal's first step was not runnable here (woken by something this run does
      // not order it after): fall back to every runnable thread.
      for (const t of node.enabled) this.addBacktrack(n, t);
      return;
    }
    const awake = enabled.filter((t) => !node.sleep.has(t));
    if (awake.length === 0) return; // covered by an explored sibling
    this.addBacktrack(n, awake.includes(q) ? q : awake[0]);
  }

  /** Prepares the next schedule; returns false when every class of schedules has been run. */
  advance(): boolean {
    if (this.evTid.length > 0) {
      const last = this.evTid.length - 1;
      const nd = this.evNode[last];
      if (nd >= 0) this.stack[nd].explored.set(this.evTid[last], this.footprintOf(last));
    }
    this.analyse();
    this.depth = 0;
    this.preempts = 0;
    this.evTid = [];
    this.evFp = [];
    this.evExtra = [];
    this.evNode = [];
    this.evWake = [];
    this.synced = 0;
    this.wasRunnable = [];
    this.pendingWake = [];
    this.sleepBlockedAt = Infinity;
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
