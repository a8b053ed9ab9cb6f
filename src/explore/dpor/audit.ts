/**
 * Audits dpor's dependency relation against plain dfs, for the model's authors: runs dfs and
 * records every step with the footprint dpor would give it.
 *
 * - `countTraces`: the distinct Mazurkiewicz traces among dfs's schedules (the happens-before
 *   graph of each schedule, canonically written) under dpor's relation, and under "locks only"
 *   (two steps conflict only when both acquire one lock, readers excepted: every sound relation
 *   in which a lock acquisition is one step keeps at least those). An optimal dpor runs one
 *   schedule per trace of its relation; the second count bounds every relation from below. It
 *   also counts traces whose schedules ended differently (status, violations, marks, each
 *   thread's steps): 0 unless the relation misses a dependency.
 * - `checkCommutation`: swaps every two adjacent steps of different threads that the relation
 *   calls independent, in every dfs schedule, and replays: the run must end the same. A pair
 *   that does not is an access no scheduling point, `sim.touch` or lock orders.
 *
 * Diagnostics (bench/dpor-traces.ts, tests); not used by exploration itself.
 */
import type { SetupFn } from '../../sim/simulation.js';
import type { SwitchSettings } from '../../sim/switches.js';
import { Simulation } from '../../sim/simulation.js';
import { DfsStrategy, type Strategy } from '../../sim/strategy.js';
import type { SimThread } from '../../sim/thread.js';
import { conflictsAll, NOTHING, ObjectIds, READ_LABELS } from './footprint.js';

function runOptions(t: AuditTarget): {
  seed: number;
  switches?: SwitchSettings;
  maxSteps?: number;
  stepNs?: number;
} {
  return {
    seed: 1,
    ...(t.switches !== undefined ? { switches: t.switches } : {}),
    ...(t.maxSteps !== undefined ? { maxSteps: t.maxSteps } : {}),
    ...(t.stepNs !== undefined ? { stepNs: t.stepNs } : {}),
  };
}

interface Step {
  tid: number;
  label: string;
  /** Label and object, for messages. */
  what: string;
  /** The footprint as dpor computes it: the point's access first, then touches and wake-ups. */
  fp: number[];
  /** Acquires a lock: its object id, or -1. */
  lock: number;
  /** Acquires it shared (a reader). */
  shared: boolean;
  /** The thread is a daemon (the run does not wait for it). */
  daemon: boolean;
  /**
   * The step armed a timer or ran while one fired: it conflicts with every step (as dpor
   * counts it). Kept apart from `fp` because which step that is depends on the schedule
   * around it, not on what the step did.
   */
  timer: boolean;
  /** The step that made this thread runnable, or -1. */
  wake: number;
  values: number[];
}

const LOCK_LABELS = new Set([
  'spin_lock',
  'spin_trylock',
  'mutex_lock',
  'mutex_lock_killable',
  'mutex_trylock',
  'mutex_wait',
  'down_write',
  'down_write_killable',
  'down_write_trylock',
  'down_write_wait',
  'down_read',
  'down_read_killable',
  'down_read_trylock',
  'down_read_wait',
  'mm_take_all_locks',
]);

/** What decides a recorded run: dfs, or a given schedule. */
interface Decider {
  pickThread(runnable: readonly SimThread[], current: SimThread | null): number;
  chooseValue(n: number): number;
}

/** Runs `decider`'s schedules and records each run's steps with dpor's footprints. */
class Recorder implements Strategy {
  readonly name = 'dfs';
  steps: Step[] = [];
  private wasRunnable: boolean[] = [];
  private pendingWake: number[] = [];
  constructor(
    readonly dfs: Decider,
    readonly ids = new ObjectIds(),
  ) {}
  onSpawn(): void {}
  pickThread(runnable: readonly SimThread[], current: SimThread | null): number {
    this.sync(runnable[0].sim);
    return this.dfs.pickThread(runnable, current);
  }
  chooseValue(n: number): number {
    const v = this.dfs.chooseValue(n);
    this.steps[this.steps.length - 1]?.values.push(v);
    return v;
  }
  /**
   * After the run: the wake-ups of its last step (a pick would have recorded them), so that a
   * run's last step and the same step followed by another have one footprint.
   */
  finish(sim: Simulation): void {
    if (sim.runnable.length > 0) this.sync(sim);
  }
  private sync(sim: Simulation): void {
    const p = this.steps.length - 1;
    if (p >= 0 && sim.threads[this.steps[p].tid].timerAtNs !== Infinity) this.steps[p].timer = true;
    const rq = new Set(sim.runnable.map((t) => t.id));
    for (const t of sim.threads) {
      const runnable = rq.has(t.id);
      if (runnable && this.wasRunnable[t.id] !== true) {
        this.pendingWake[t.id] = p;
        if (p >= 0 && t.timedOut) this.steps[p].timer = true;
        if (p >= 0 && this.wasRunnable[t.id] === false && t.nextObject !== undefined)
          this.steps[p].fp.push(this.ids.footprint(t.nextObject, false));
      }
      this.wasRunnable[t.id] = runnable;
    }
  }
  onPick(t: SimThread): void {
    const sim = t.sim;
    this.sync(sim);
    let clock = false;
    for (const x of sim.threads) if (x.timerAtNs !== Infinity) clock = true;
    const first = t.steps === 0;
    const read = READ_LABELS.has(t.lastLabel);
    this.steps.push({
      tid: t.id,
      label: t.lastLabel,
      what: first ? 'start' : `${t.lastLabel} ${t.nextObject ?? ''}`,
      fp: [first ? NOTHING + (clock ? 1 : 0) : this.ids.footprint(t.nextObject, clock, read)],
      lock:
        !first && LOCK_LABELS.has(t.lastLabel) && t.nextObject !== undefined ? this.ids.id(t.nextObject) : -1,
      shared: read,
      daemon: t.daemon,
      timer: false,
      wake: this.pendingWake[t.id] ?? -1,
      values: [],
    });
    this.pendingWake[t.id] = -1;
  }
  onTouch(object: string, read: boolean): void {
    this.steps[this.steps.length - 1]?.fp.push(this.ids.footprint(object, false, read));
  }
  reset(): void {
    this.steps = [];
    this.wasRunnable = [];
    this.pendingWake = [];
  }
}

/** Runs `setup` under `rec` and records the wake-ups of its last step. */
async function recordRun(
  options: ReturnType<typeof runOptions>,
  rec: Recorder,
  setup: SetupFn,
): Promise<Awaited<ReturnType<Simulation['run']>>> {
  const sim = new Simulation({ ...options, strategy: rec });
  const r = await sim.run(setup);
  rec.finish(sim);
  return r;
}

type Relation = (a: Step, b: Step) => boolean;
const dporRelation: Relation = (a, b) => a.timer || b.timer || conflictsAll(a.fp, b.fp);
const locksOnly: Relation = (a, b) => a.lock >= 0 && a.lock === b.lock && !(a.shared && b.shared);

/** The trace of a run under `rel`: each step named by (thread, index), program order, wake-ups, conflicts. */
function traceKey(steps: Step[], rel: Relation): string {
  const index: number[] = [];
  const count: number[] = [];
  const parts: string[] = [];
  for (let j = 0; j < steps.length; j++) {
    const e = steps[j];
    index[j] = count[e.tid] = (count[e.tid] ?? 0) + 1;
    parts.push(`${e.tid}.${index[j]}:${e.values.join(',')}`);
    if (e.wake >= 0) parts.push(`w${steps[e.wake].tid}.${index[e.wake]}>${e.tid}.${index[j]}`);
    for (let i = 0; i < j; i++)
      if (steps[i].tid !== e.tid && rel(steps[i], e))
        parts.push(`${steps[i].tid}.${index[i]}>${e.tid}.${index[j]}`);
  }
  return parts.sort().join(' ');
}

/** A program to audit: its setup and the run options that matter. */
export interface AuditTarget {
  setup: SetupFn;
  switches?: SwitchSettings;
  maxSteps?: number;
  stepNs?: number;
}

export interface TraceCounts {
  /** dfs schedules run, and whether dfs exhausted. */
  schedules: number;
  exhausted: boolean;
  /** Distinct traces under dpor's relation. */
  dporTraces: number;
  /** Distinct traces when only lock acquisitions conflict (a lower bound for every relation). */
  lockTraces: number;
  /** Traces whose schedules ended differently (0 unless dpor's relation misses a dependency). */
  inconsistent: number;
}

/** Counts the traces plain dfs within `bound` preemptions visits on `target` (at most `budget` schedules). */
export async function countTraces(
  target: AuditTarget,
  bound: number,
  budget = 1_000_000,
): Promise<TraceCounts> {
  const options = runOptions(target);
  const dfs = new DfsStrategy(bound);
  const rec = new Recorder(dfs);
  const byTrace = new Map<string, string>();
  const lockTraces = new Set<string>();
  let inconsistent = 0;
  let schedules = 0;
  for (;;) {
    rec.reset();
    const r = await recordRun(options, rec, target.setup);
    schedules++;
    const ending = endingOf(r, rec.steps);
    const key = traceKey(rec.steps, dporRelation);
    const seen = byTrace.get(key);
    if (seen === undefined) byTrace.set(key, ending);
    else if (seen !== ending) inconsistent++;
    lockTraces.add(traceKey(rec.steps, locksOnly));
    if (!dfs.advance() || schedules >= budget) break;
  }
  return {
    schedules,
    exhausted: dfs.exhausted,
    dporTraces: byTrace.size,
    lockTraces: lockTraces.size,
    inconsistent,
  };
}

/** Runs a given thread sequence (and value sequence); `diverged` when a thread was not runnable. */
class Follow implements Decider {
  diverged = false;
  private value = 0;
  rec!: Recorder;
  constructor(
    readonly threads: readonly number[],
    readonly values: readonly number[],
  ) {}
  pickThread(runnable: readonly SimThread[]): number {
    const i = runnable.findIndex((t) => t.id === this.threads[this.rec.steps.length]);
    if (i < 0) this.diverged = true;
    return Math.max(i, 0);
  }
  chooseValue(): number {
    return this.values[this.value++] ?? 0;
  }
}

function endingOf(
  r: { status: string; violations: { signature: string }[]; marks: Record<string, number> },
  steps: Step[],
): string {
  return JSON.stringify([
    r.status,
    r.violations.map((v) => v.signature).sort(),
    Object.entries(r.marks).sort(),
    // What each thread did: its points and what it wrote. Reads are left out: a read that
    // changes nothing later (a walk that finds one more, empty, device table) is no difference,
    // and one that does shows in the writes, points or result that follow. The clock bit says
    // only whether a timer was armed meanwhile.
    [...steps]
      .sort((a, b) => a.tid - b.tid)
      .map((e) => [
        e.tid,
        e.label,
        e.fp.filter((x) => x < 0 || (x & 2) !== 0).map((x) => (x < 0 ? x : x & ~1)),
      ]),
  ]);
}

/**
 * How one pair of steps failed to commute, for a person looking for the missing touch: each
 * step's footprint as dpor saw it (`object` + `W` for a write, `r` for a read), and the first
 * step at which the swapped run went another way (its thread, label and footprint in each).
 */
export interface CommutationExample {
  pair: string;
  first: string;
  second: string;
  original: string;
  swapped: string;
  /** Every step of the original run, in order (thread, label, object, footprint). */
  originalSteps: string[];
  /** Every step of the swapped run, in order. */
  swappedSteps: string[];
  /** The index of the first step of the pair in both runs. */
  at: number;
}

/**
 * Swaps every two adjacent steps of different threads that dpor's relation calls independent,
 * in every schedule dfs within `bound` runs (at most `budget`), and replays: the run must end
 * the same. Returns the pairs of steps (label/object of each) that did not commute, with
 * their counts; `explain` receives the first example of each pair.
 */
export async function checkCommutation(
  target: AuditTarget,
  bound: number,
  budget = 100_000,
  explain?: (e: CommutationExample) => void,
): Promise<Map<string, number>> {
  const ids = new ObjectIds();
  const dfs = new DfsStrategy(bound);
  const rec = new Recorder(dfs, ids);
  const bad = new Map<string, number>();
  const options = runOptions(target);
  for (let n = 0; n < budget; n++) {
    rec.reset();
    const r = await recordRun(options, rec, target.setup);
    const steps = rec.steps;
    const ending = endingOf(r, steps);
    const threads = steps.map((e) => e.tid);
    const values = steps.flatMap((e) => e.values);
    for (let i = 0; i + 1 < steps.length; i++) {
      const a = steps[i];
      const b = steps[i + 1];
      if (a.tid === b.tid || dporRelation(a, b) || b.wake === i) continue;
      // The last step of a run that ended early (a violation), or that ended it with a daemon's
      // step still to run (the last non-daemon exit), disables the other threads' steps: dpor
      // counts that as a race of its own (source-dpor.ts), and the swap is not a reordering.
      if (i + 2 === steps.length && (r.status !== 'ok' || a.daemon)) continue;
      const swapped = threads.slice();
      swapped[i] = b.tid;
      swapped[i + 1] = a.tid;
      const follow = new Follow(swapped, values);
      const again = new Recorder(follow, ids);
      follow.rec = again;
      const r2 = await recordRun(options, again, target.setup);
      if (follow.diverged || endingOf(r2, again.steps) !== ending) {
        const key = `${a.what} <-> ${b.what}`;
        if (explain !== undefined && !bad.has(key)) explain(example(key, i, steps, again.steps, ids));
        bad.set(key, (bad.get(key) ?? 0) + 1);
      }
    }
    if (!dfs.advance()) break;
  }
  return bad;
}

/** The example of a pair that did not commute (see CommutationExample). */
function example(
  pair: string,
  at: number,
  original: readonly Step[],
  swapped: readonly Step[],
  ids: ObjectIds,
): CommutationExample {
  const fp = (s: Step | undefined): string =>
    s === undefined
      ? '(run over)'
      : `${s.tid} ${s.what}: ${s.timer ? '(timer) ' : ''}${s.fp.map((x) => `${ids.nameOf(x >> 2)}${x & 2 ? 'W' : 'r'}`).join(' ')}`;
  // The runs' steps per thread, in order: the first that differs is where they parted.
  const byThread = (steps: readonly Step[]): Step[] => [...steps].sort((x, y) => x.tid - y.tid);
  const o = byThread(original);
  const w = byThread(swapped);
  let q = 0;
  // Whether a step is a timer's is the schedule's doing: the runs part where a thread's work does.
  const same = (x: Step | undefined, y: Step | undefined): boolean =>
    x !== undefined &&
    y !== undefined &&
    x.tid === y.tid &&
    fp({ ...x, timer: false }) === fp({ ...y, timer: false });
  while (q < Math.max(o.length, w.length) && same(o[q], w[q])) q++;
  return {
    pair,
    first: fp(original[at]),
    second: fp(original[at + 1]),
    original: fp(o[q]),
    swapped: fp(w[q]),
    originalSteps: original.map(fp),
    swappedSteps: swapped.map(fp),
    at,
  };
}
