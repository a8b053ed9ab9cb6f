import { Prng } from './prng.js';
import type { SimThread } from './thread.js';
import { SimUsageError } from './violation.js';

/**
 * A scheduling strategy decides, at every decision with more than one option, which
 * runnable thread runs next (or which value `sim.choose` yields). Strategies are
 * deterministic given their seed. `runnable` is ordered by thread id; `current` is the
 * thread that just reached the point if it can keep running, otherwise null.
 */
export interface Strategy {
  /** Short name for reports and results ('random', 'pct', 'dfs', ...). */
  readonly name: string;
  /**
   * The thread that runs next, as an index into `runnable` (two or more threads). Called by the
   * scheduler at each such decision; `steps` is the number of steps run so far. A throw fails the
   * run with that error (a replay that does not fit the program).
   */
  pickThread(runnable: readonly SimThread[], current: SimThread | null, steps: number): number;
  /**
   * The value `sim.choose(n)` yields, in [0, n) with n >= 2 (choose answers 1-way choices itself).
   * A throw fails the run with that error.
   */
  chooseValue(n: number): number;
  /** Called when a thread is created (PCT gives it a priority). */
  onSpawn(thread: SimThread): void;
  /**
   * Optional: called at every hand-off, forced or chosen, with the thread that runs next
   * (dpor builds its event sequence from these; PCT learns which thread runs each step);
   * `steps` is the number of steps run so far, so `thread` runs step `steps + 1`.
   * Strategies without it cost nothing.
   */
  onPick?(thread: SimThread, decision: boolean, steps: number): void;
  /**
   * Optional: the running step accesses `object` without a scheduling point (`sim.touch`;
   * dpor), only reading it when `read` is set.
   */
  onTouch?(object: string, read: boolean): void;
}

/** The choice a non-preemptive scheduler makes: keep running, else the lowest thread id. */
export function defaultPick(runnable: readonly SimThread[], current: SimThread | null): number {
  if (current !== null) {
    const i = runnable.indexOf(current);
    if (i >= 0) return i;
  }
  return 0;
}

/**
 * Random choice at every decision: uniform among the runnable threads, or, with a
 * `switchProbability` p, the running thread keeps the CPU with probability 1 - p and
 * otherwise a uniformly chosen other thread runs (swarm testing varies p per schedule:
 * long runs of one thread reach states that uniform switching almost never does).
 */
export class RandomStrategy implements Strategy {
  /** Always 'random'. */
  readonly name = 'random';
  private readonly rng: Prng;
  constructor(
    seed: number,
    /**
     * Probability in [0, 1] that a thread able to go on is switched away from; undefined picks
     * uniformly among the runnable threads at every decision.
     */
    readonly switchProbability?: number,
  ) {
    this.rng = new Prng(seed);
  }
  /**
   * Uniform over `runnable`; with `switchProbability` p and a `current` that can go on, `current`
   * with probability 1 - p, else a uniformly chosen other thread.
   */
  pickThread(runnable: readonly SimThread[], current: SimThread | null): number {
    const p = this.switchProbability;
    if (p === undefined || current === null) return this.rng.int(runnable.length);
    const i = runnable.indexOf(current);
    if (i < 0) return this.rng.int(runnable.length);
    if (this.rng.next() >= p) return i;
    const j = this.rng.int(runnable.length - 1);
    return j < i ? j : j + 1;
  }
  /** Uniform in [0, n). */
  chooseValue(n: number): number {
    return this.rng.int(n);
  }
  onSpawn(): void {}
}

/**
 * Probabilistic concurrency testing (Burckhardt, Kothari, Musuvathi, Nagarakatte,
 * ASPLOS 2010). Each thread gets a random priority above `depth`; the highest-priority
 * runnable thread always runs; `depth - 1` change points k_1..k_(d-1) are drawn
 * independently and uniformly over the expected run length, and the thread that runs step
 * k_i drops to priority i, below every initial one. A bug of depth d is found with
 * probability at least 1/(n k^(d-1)).
 *
 * Which thread ran a step is learned from `onPick` (every hand-off, forced or chosen), so
 * a change point lowers the right thread also when that thread blocked or exited at the
 * step, or when no choice followed it (one runnable thread). The lowered priorities keep
 * the draw's labels, not the time order: the paper's guarantee needs every order of the
 * lowered threads to be possible.
 */
export class PctStrategy implements Strategy {
  /** Always 'pct'. */
  readonly name = 'pct';
  private readonly rng: Prng;
  private readonly priority: number[] = [];
  /** The change points' steps, ascending. */
  private readonly changePoints: number[];
  /** The priority each change point gives (the i of k_i), in the order of `changePoints`. */
  private readonly changePriorities: number[];
  private nextChange = 0;
  /** The thread picked last: it runs every step until the next pick. */
  private running: SimThread | null = null;

  constructor(
    seed: number,
    /** The bug depth d targeted: `depth - 1` priority change points per run. */
    readonly depth: number,
    /** Expected number of steps in a run (k); explore feeds it the longest run seen so far. */
    readonly expectedSteps: number,
  ) {
    this.rng = new Prng(seed);
    const points: { step: number; priority: number }[] = [];
    for (let i = 1; i < depth; i++) {
      points.push({ step: 1 + this.rng.int(Math.max(1, expectedSteps)), priority: i });
    }
    points.sort((a, b) => a.step - b.step);
    this.changePoints = points.map((p) => p.step);
    this.changePriorities = points.map((p) => p.priority);
  }

  onSpawn(thread: SimThread): void {
    // Distinct random priorities above depth: depth + uniform in (0, 1e6).
    this.priority[thread.id] = this.depth + 1 + this.rng.next() * 1e6;
  }

  /** Applies the change points up to step `steps`, all run by `running` (one step per pick). */
  private reachStep(steps: number): void {
    while (this.nextChange < this.changePoints.length && this.changePoints[this.nextChange] <= steps) {
      if (this.running !== null) this.priority[this.running.id] = this.changePriorities[this.nextChange];
      this.nextChange++;
    }
  }

  /**
   * The runnable thread of highest priority, once each change point that `steps` has reached
   * has lowered the thread that ran it (`current` is not needed: see the class comment).
   */
  pickThread(runnable: readonly SimThread[], _current: SimThread | null, steps: number): number {
    this.reachStep(steps);
    let best = 0;
    let bestPriority = -Infinity;
    for (let i = 0; i < runnable.length; i++) {
      const p = this.priority[runnable[i].id] ?? 0;
      if (p > bestPriority) {
        bestPriority = p;
        best = i;
      }
    }
    return best;
  }

  /** Notes the thread that runs from now on (after a forced pick, first the change points reached). */
  onPick(thread: SimThread, _decision: boolean, steps: number): void {
    this.reachStep(steps);
    this.running = thread;
  }

  /** Uniform in [0, n): priorities order threads only. */
  chooseValue(n: number): number {
    return this.rng.int(n);
  }
}

interface DfsEntry {
  /** Options at this decision. */
  n: number;
  /** Order in which options are tried: default first. */
  defaultIndex: number;
  /** Position in the try order (0 = default). */
  k: number;
  /** Whether choosing anything but the default costs a preemption. */
  preemptible: boolean;
  /** Preemptions used by the decisions before this one. */
  preemptsBefore: number;
}

/**
 * Systematic depth-first enumeration of schedules with a preemption bound (CHESS-style
 * stateless model checking). Every distinct schedule within the bound is run exactly
 * once; `exhausted` turns true after the last. Switching away from a thread that could
 * keep running counts as a preemption; choosing among threads when the running one
 * blocked or exited does not. Requires the program to be deterministic.
 */
export class DfsStrategy implements Strategy {
  /** Always 'dfs'. */
  readonly name = 'dfs';
  private readonly stack: DfsEntry[] = [];
  private depthInRun = 0;
  private preemptsInRun = 0;
  /** Every schedule within the bound has been run; set when preparing the next one finds none left. */
  exhausted = false;

  constructor(
    /** Most preemptions one schedule may contain. */
    readonly preemptionBound: number,
  ) {}

  onSpawn(): void {}

  private decide(n: number, defaultIndex: number, preemptible: boolean): number {
    const d = this.depthInRun++;
    let entry = this.stack[d];
    if (entry === undefined) {
      entry = { n, defaultIndex, k: 0, preemptible, preemptsBefore: this.preemptsInRun };
      this.stack.push(entry);
    } else if (entry.n !== n) {
      throw new SimUsageError(
        `dfs: the program is not deterministic: decision ${d} had ${entry.n} options before and ${n} now ` +
          '(does the setup read state shared between runs?)',
      );
    }
    const chosen = this.optionAt(entry, entry.k);
    if (entry.preemptible && chosen !== entry.defaultIndex) this.preemptsInRun++;
    return chosen;
  }

  private optionAt(entry: DfsEntry, k: number): number {
    if (k === 0) return entry.defaultIndex;
    // Options other than the default, in index order.
    const i = k - 1;
    return i < entry.defaultIndex ? i : i + 1;
  }

  /**
   * This schedule's option at this decision: defaultPick's thread first, then the others in index
   * order, one per schedule (see advance). Choosing another thread than a `current` that could go on
   * spends a preemption. Throws a SimUsageError when the decision has another number of options than
   * in an earlier schedule (the program is not deterministic).
   */
  pickThread(runnable: readonly SimThread[], current: SimThread | null): number {
    const def = defaultPick(runnable, current);
    return this.decide(runnable.length, def, current !== null && runnable[def] === current);
  }

  /** As pickThread, over the values 0 .. n - 1 (0 first); never a preemption. */
  chooseValue(n: number): number {
    return this.decide(n, 0, false);
  }

  /** Prepares the next schedule; returns false when every schedule has been run. */
  advance(): boolean {
    this.depthInRun = 0;
    this.preemptsInRun = 0;
    while (this.stack.length > 0) {
      const top = this.stack[this.stack.length - 1];
      const canPreempt = !top.preemptible || top.preemptsBefore + 1 <= this.preemptionBound;
      if (top.k + 1 < top.n && canPreempt) {
        top.k++;
        return true;
      }
      this.stack.pop();
    }
    this.exhausted = true;
    return false;
  }
}

/** Replays a recorded list of choices; any disagreement with the program is reported. */
export class ReplayStrategy implements Strategy {
  /** Always 'replay'. */
  readonly name = 'replay';
  private pos = 0;
  constructor(private readonly choices: readonly number[]) {}
  onSpawn(): void {}
  private take(n: number): number {
    if (this.pos >= this.choices.length) {
      throw new SimUsageError(
        `replay token does not match this program: it ends after ${this.choices.length} decisions but the run makes more`,
      );
    }
    const c = this.choices[this.pos++];
    if (c >= n) {
      throw new SimUsageError(
        `replay token does not match this program: decision ${this.pos - 1} chose option ${c} of ${n}`,
      );
    }
    return c;
  }
  /** The token's next choice; a SimUsageError when the token has ended or the choice is out of range. */
  pickThread(runnable: readonly SimThread[]): number {
    return this.take(runnable.length);
  }
  /** The token's next choice, checked as pickThread's. */
  chooseValue(n: number): number {
    return this.take(n);
  }
  /** Decisions the token holds that the run did not use. */
  get unused(): number {
    return this.choices.length - this.pos;
  }
}

/**
 * Follows a sparse list of deviations from the non-preemptive default, keyed by
 * decision number: thread choices by thread id, value choices by value. Used by the
 * shrinker, which removes deviations one by one.
 */
export class GuidedStrategy implements Strategy {
  /** Always 'guided'. */
  readonly name = 'guided';
  private decision = 0;
  constructor(private readonly deviations: ReadonlyMap<number, number>) {}
  onSpawn(): void {}
  /** The runnable thread with the id this decision's deviation names, else defaultPick's. */
  pickThread(runnable: readonly SimThread[], current: SimThread | null): number {
    const want = this.deviations.get(this.decision++);
    if (want !== undefined) {
      for (let i = 0; i < runnable.length; i++) if (runnable[i].id === want) return i;
    }
    return defaultPick(runnable, current);
  }
  /** This decision's deviation when it is below n, else 0. */
  chooseValue(n: number): number {
    const want = this.deviations.get(this.decision++);
    return want !== undefined && want < n ? want : 0;
  }
}
