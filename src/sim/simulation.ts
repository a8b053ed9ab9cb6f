import { StepCoverage } from './coverage.js';
import { DecisionLog } from './decisions.js';
import { RunBuffers } from './buffers.js';
import { LockDep } from './lockdep.js';
import { Lifetime } from './lifetime.js';
import { Prng } from './prng.js';
import { defaultPick, RandomStrategy, type Strategy } from './strategy.js';
import {
  SimThread,
  ThreadState,
  type HeldLock,
  type ResumeOp,
  type SpawnOptions,
  type Waitable,
} from './thread.js';
import { encodeToken } from './token.js';
import type { TraceEntry } from './trace.js';
import { foldNumbers, SimAbort, SimUsageError, type ReportOptions, type Violation } from './violation.js';
import { checkInteger, DEFAULT_MAX_STEPS, DEFAULT_STEP_NS } from './options.js';
import { formatSchedule, ScheduleLog } from './schedule.js';
import { changedSwitches, switchTable, type Switch, type SwitchSettings } from './switches.js';
import { AWAIT_CHECK } from './runtime-switches.js';

/** How a run ended. */
export type RunStatus = 'running' | 'ok' | 'violation' | 'deadlock' | 'step-limit' | 'error';

/** Options of one simulation run. */
export interface SimulationOptions {
  /** Seed of the model's randomness (`sim.random`, `sim.choose` under random strategies). */
  seed?: number;
  /** Who picks the next thread; default: random seeded with `seed`. */
  strategy?: Strategy;
  /**
   * A run longer than this many scheduling steps ends with status 'step-limit'.
   * Default DEFAULT_MAX_STEPS (1,000,000), as everywhere a run is made.
   */
  maxSteps?: number;
  /** Record every step (needed for diagrams; off in exploration for speed). */
  trace?: boolean;
  /** Virtual nanoseconds each scheduling step costs (spinning threads make time pass). */
  stepNs?: number;
  /**
   * Behaviour switches of this run (planted mistakes, debug checks, fault injection), by
   * name: `{ 'notifier.insertNotDeferred': true }`. Unknown names are an error listing
   * the known ones. Recorded in the run's token and readable schedule.
   */
  switches?: SwitchSettings;
  /**
   * Record the distinct (thread, operation, object) triples of the run in `sim.coverage`
   * (exploration coverage). Observation only: not part of the token.
   */
  coverage?: boolean;
}

/**
 * The outcome of one run. `token` and the decision lists are computed on first use
 * (getters): spread a result with `{ ...plainRunResult(run) }`, not `{ ...run }`;
 * JSON.stringify sees every field.
 */
export interface RunResult {
  /** How the run ended: finished cleanly, or stopped at a violation, a deadlock or the step limit. */
  status: Exclude<RunStatus, 'running'>;
  /** Scheduling steps taken. */
  steps: number;
  /** Virtual time at the end of the run, in nanoseconds. */
  timeNs: number;
  /** At most one: a run stops at its first violation, as the kernel stops at a BUG. */
  violations: Violation[];
  /** The steps, when tracing was on. */
  trace: TraceEntry[] | undefined;
  /** Replays this run exactly with `replay(token, setup)`. */
  token: string;
  /**
   * The same schedule, readable: the thread of each step, run-length encoded, after the
   * run options (`seed=1 | cpu0*12 cpu1*3 ?1 cpu0*40`). `replay` accepts it too.
   */
  schedule: string;
  /** Context switches away from a thread that could have kept running. */
  preemptions: number;
  /** The seed of the run's strategy (part of its token). */
  seed: number;
  /** Every decision with more than one option: the chosen index (the token's content). */
  choices: number[];
  /** Per decision: the chosen thread's id, or -1 for a value choice. */
  choiceThreads: number[];
  /** Per decision: the index a non-preemptive scheduler would have chosen. */
  choiceDefaults: number[];
  /** Coverage marks the run reached: mark name → times (see {@link Simulation.mark}). */
  marks: Record<string, number>;
}

/**
 * Builds the world of one run: creates the kernel, processes and devices and spawns the threads. Called
 * once per schedule with a fresh Simulation (stateless exploration), so it must not keep state between
 * calls; it may be async.
 */
export type SetupFn = (sim: Simulation) => void | Promise<void>;

const RESOLVED: Promise<void> = Promise.resolve();
const NEVER: Promise<never> = new Promise<never>(() => {});

/** Lets model layers observe the run (checkers hook in here; model code never reads it). */
export interface SimHooks {
  /** Called when the run ends, before the result is returned. */
  onEnd: ((sim: Simulation) => void)[];
}

/**
 * One deterministic run of a simulated machine: the scheduler, the virtual clock, the
 * model's randomness, the trace and the runtime checkers (lockdep, object lifetime,
 * sleeping in atomic context, deadlock).
 *
 * Simulated threads are async functions. Exactly one runs at a time; the CPU changes
 * hands only at scheduling points: every operation of a primitive, every marked
 * shared access (`point`), and `yield`.
 */
export class Simulation {
  /** Seed of the run (option `seed`, default 1); seeds the model's randomness and the default strategy. */
  readonly seed: number;
  /** Step limit: the step after it ends the run as `step-limit` (option `maxSteps`). */
  readonly maxSteps: number;
  /** Virtual nanoseconds each scheduling step adds to the clock (option `stepNs`). */
  readonly stepNs: number;
  /** Every step is recorded in the trace (option `trace`). */
  readonly tracing: boolean;
  /** The value of each declared switch, by switch id (see `switchOn`). */
  private readonly switchValues: boolean[];
  /** The model's random stream (not the strategy's). */
  readonly rng: Prng;
  /** Picks the next thread at every decision (option `strategy`, default random). */
  readonly strategy: Strategy;
  /** Whether the strategy observes every hand-off (checked once, not per step). */
  private readonly observesPicks: boolean;
  /** Whether the strategy observes accesses made without a scheduling point (dpor). */
  private readonly observesTouches: boolean;
  /** The run's lock-order checker (lock classes, held-lock dependencies). */
  readonly lockdep: LockDep;
  /** The run's use-after-free checker (kalloc / kfree / use). */
  readonly lifetime: Lifetime;
  /**
   * Where this run's world takes its array buffers (page contents, page tables, shadows):
   * recycled between the schedules of an exploration (see src/sim/buffers.ts). Model code
   * passes it to the data structures it builds; contents never depend on it.
   */
  readonly buffers = new RunBuffers();
  /** Where checkers hook into the run (end-of-run callbacks). */
  readonly hooks: SimHooks = { onEnd: [] };
  /** What the run touched, when the `coverage` option is on. */
  readonly coverage: StepCoverage | null;

  /** 'running' until the run ends, then how it ended. Written by the scheduler only. */
  status: RunStatus = 'running';
  /** Scheduling steps taken so far. */
  steps = 0;
  private clockNs = 0;
  /** The simulated thread that holds the CPU, or null between hand-offs and after the end. */
  current: SimThread | null = null;
  /** Every thread spawned in this run, finished ones included. */
  readonly threads: SimThread[] = [];
  /** Runnable threads, ordered by id. */
  readonly runnable: SimThread[] = [];
  private liveNonDaemons = 0;
  private timers: SimThread[] = [];
  private nextTimerNs = Infinity;
  /** Violations reported so far (a run stops at its first). */
  readonly violations: Violation[] = [];
  private usageError: unknown = null;
  /** Hand-offs so far away from a thread that could have kept running. */
  preemptions = 0;
  private readonly decisions = new DecisionLog();
  private readonly scheduleLog = new ScheduleLog();
  private readonly traceEntries: TraceEntry[] = [];
  /** Coverage marks reached so far in this run (see {@link mark}). */
  private readonly markCounts = new Map<string, number>();
  private finishRun: ((r: RunResult) => void) | null = null;
  private result: RunRecord | null = null;
  /** See runLocal (created on first use). */
  private runLocals: Map<symbol, unknown> | null = null;
  /**
   * True from the moment a thread is handed the CPU until the microtask queue reaches
   * it: a scheduling point reached in between comes from the thread that just gave the
   * CPU away without awaiting (a primitive called without await).
   */
  private handoff = false;
  /** Whether the `sim.awaitCheck` switch is on: `handoff` is kept (a microtask per switch). */
  private readonly awaitCheck: boolean;
  /** The thread that gave the CPU away last (named when it misbehaves). */
  private handoffFrom: SimThread | null = null;
  /** The thread `parkExecutor` parks; set just before each park (avoids a closure per step). */
  private parking: SimThread | null = null;
  private readonly parkExecutor = (resolve: () => void): void => {
    this.parking!.resume = resolve;
  };
  private readonly handoffDone = (): void => {
    this.handoff = false;
  };

  constructor(options: SimulationOptions = {}) {
    this.seed = options.seed === undefined ? 1 : checkInteger('seed', options.seed, 0);
    this.maxSteps =
      options.maxSteps === undefined ? DEFAULT_MAX_STEPS : checkInteger('maxSteps', options.maxSteps, 1);
    this.stepNs = options.stepNs === undefined ? DEFAULT_STEP_NS : checkInteger('stepNs', options.stepNs, 0);
    this.switchValues = switchTable(options.switches);
    this.awaitCheck = this.switchValues[AWAIT_CHECK.id];
    this.coverage = options.coverage === true ? new StepCoverage() : null;
    this.tracing = options.trace ?? false;
    this.rng = new Prng(this.seed);
    this.strategy = options.strategy ?? new RandomStrategy(this.seed ^ 0x51ed270b);
    this.observesPicks = typeof this.strategy.onPick === 'function';
    this.observesTouches = typeof this.strategy.onTouch === 'function';
    this.lockdep = new LockDep(this);
    this.lifetime = new Lifetime(this);
  }

  // ---------------------------------------------------------------- switches

  /** Whether behaviour switch `sw` is on in this run (a table lookup: fine on hot paths). */
  switchOn(sw: Switch): boolean {
    return this.switchValues[sw.id] ?? sw.defaultValue;
  }

  /** This run's switches that differ from their defaults (what its token records). */
  changedSwitches(): Record<string, boolean> {
    return changedSwitches(this.switchValues);
  }

  // ---------------------------------------------------------------- threads

  /**
   * Creates a simulated thread running `fn` (kthread_run). It becomes runnable at once
   * and first runs when the scheduler picks it. Callable from setup or from a thread.
   */
  spawn(
    name: string,
    fn: (thread: SimThread) => Promise<unknown> | unknown,
    options?: SpawnOptions,
  ): SimThread {
    if (typeof name !== 'string' || name.length === 0) {
      throw new SimUsageError(`spawn: thread name must be a non-empty string, got ${JSON.stringify(name)}`);
    }
    if (typeof fn !== 'function') throw new SimUsageError(`spawn('${name}'): fn must be a function`);
    const t = new SimThread(this, this.threads.length, name, options?.daemon === true);
    this.threads.push(t);
    if (!t.daemon) this.liveNonDaemons++;
    this.runnable.push(t); // ids grow, so the queue stays ordered
    this.strategy.onSpawn(t);
    const gate = new Promise<void>((r) => {
      t.resume = r;
    });
    void this.body(t, gate, fn);
    return t;
  }

  private async body(t: SimThread, gate: Promise<void>, fn: (thread: SimThread) => unknown): Promise<void> {
    await gate;
    try {
      await fn(t);
    } catch (err) {
      if (this.status !== 'running') return;
      if (err instanceof SimAbort) return;
      if (err instanceof SimUsageError) {
        this.usageError = err;
        this.end('error');
        return;
      }
      const e = err instanceof Error ? err : new Error(String(err));
      this.recordViolation('error', `thread ${t.name} threw ${e.name}: ${e.message}`, {
        key: `${e.name}: ${foldNumbers(e.message)}`,
        details: { stack: e.stack },
      });
      return;
    }
    if (this.status !== 'running') return;
    if (this.current !== t || this.handoff) {
      this.misuse(
        `thread ${t.name} finished while ${this.current?.name ?? 'no thread'} held the CPU: ` +
          'a primitive was called without await, or a promise escaped the thread',
      );
      return;
    }
    this.exitThread(t);
  }

  private exitThread(t: SimThread): void {
    this.recordStep(t, 'exit', undefined);
    if (this.status !== 'running') return;
    if (t.held.length > 0) {
      this.recordViolation(
        'lock-held-at-exit',
        `thread ${t.name} exited holding ${t.held.map((h) => h.name).join(', ')}`,
        { key: `exit holding ${t.held.map((h) => h.lockClass).join(',')}` },
      );
      return;
    }
    t.state = ThreadState.Done;
    this.removeRunnable(t);
    if (!t.daemon) this.liveNonDaemons--;
    if (t.joiners !== null) {
      for (const j of t.joiners) this.wake(j);
      t.joiners = null;
    }
    if (this.liveNonDaemons === 0) {
      this.end('ok');
      return;
    }
    this.current = null;
    const next = this.pickNext(null);
    if (next !== null) this.resumeThread(next);
  }

  /** Waits until `thread` has finished. May sleep. */
  join(thread: SimThread): Promise<void> {
    if (thread.done) return this.point('join', thread.name);
    const t = this.self('join');
    if (thread === t) throw new SimUsageError(`thread ${t.name} cannot join itself`);
    this.mightSleep('join');
    if (thread.joiners === null) thread.joiners = [];
    thread.joiners.push(t);
    return this.block(
      t,
      { describe: () => `exit of ${thread.name}`, holders: () => [thread] },
      'join',
      thread.name,
    );
  }

  /** The running simulated thread; throws a usage error outside one. */
  self(what: string): SimThread {
    const t = this.current;
    if (t === null || this.status !== 'running') {
      if (this.status !== 'running') throw new SimAbort();
      throw new SimUsageError(`${what}: called outside a simulated thread (use sim.spawn)`);
    }
    return t;
  }

  // ---------------------------------------------------------------- scheduling

  /**
   * A scheduling point: the running thread offers the CPU before its next operation
   * (`label` on `object`). Every primitive calls this; model code calls it to mark a
   * shared access (READ_ONCE/WRITE_ONCE, a PTE update). Must be awaited.
   */
  point(label: string, object?: string): Promise<void> {
    return this.preempt(label, object) ?? RESOLVED;
  }

  /**
   * The scheduling point of `point`, for primitives on the hot path: null when the
   * running thread keeps the CPU — its operation may then proceed at once, without an
   * await, since no other thread can run before it — otherwise the promise to await
   * before the operation (it never settles when the run ended at this step).
   */
  preempt(label: string, object?: string): Promise<void> | null {
    return this.preemptOp(label, object, null);
  }

  /**
   * `preempt` for an operation `op` that the runtime completes if the thread is switched
   * out here: when the scheduler picks the thread again, `op.resumeOp(thread)` runs
   * first, and the returned promise settles only once it returned true. Null, as for
   * `preempt`, when the thread keeps the CPU (the caller then performs the operation).
   */
  preemptOp(label: string, object: string | undefined, op: ResumeOp | null): Promise<void> | null {
    const t = this.current;
    if (t === null || this.handoff) return this.misplacedPoint(label);
    this.recordStep(t, label, object);
    if (this.status !== 'running') return NEVER;
    const next = this.pickNext(t);
    if (next === t) return null;
    if (next === null) return NEVER;
    t.pendingOp = op;
    this.parking = t;
    const parked = new Promise<void>(this.parkExecutor);
    this.handoffFrom = t;
    this.resumeThread(next);
    return parked;
  }

  /** Explicit scheduling point (cond_resched / schedule()). */
  yield(label = 'yield'): Promise<void> {
    return this.point(label);
  }

  private misplacedPoint(label: string): Promise<never> {
    if (this.status !== 'running') return NEVER;
    if (this.current === null) {
      throw new SimUsageError(
        `scheduling point '${label}' reached outside a simulated thread (use sim.spawn)`,
      );
    }
    const from = this.handoffFrom?.name ?? '?';
    this.misuse(
      `scheduling point '${label}' reached at step ${this.steps} after thread ${from} gave the CPU to ` +
        `${this.current.name} and before ${this.current.name} ran: thread ${from} has two scheduling points ` +
        'pending (a primitive was called without await, or a promise escaped the thread)',
    );
    return NEVER;
  }

  /** Ends the run with a usage error that `run` rethrows. */
  private misuse(message: string): void {
    if (this.status !== 'running') return;
    this.usageError = new SimUsageError(message);
    this.end('error');
  }

  /**
   * Parks `t` (the running thread) on `on` until `wake(t)`. Records a step. The caller
   * has already queued `t` where the waker will find it.
   */
  block(t: SimThread, on: Waitable, label: string, object?: string): Promise<void> {
    return this.park(t, on, label, object, Infinity, null);
  }

  /**
   * `block` for an operation `op` the runtime completes when the thread is next picked
   * (see `preemptOp`): the returned promise settles once `op.resumeOp` returned true.
   */
  blockOp(
    t: SimThread,
    on: Waitable,
    label: string,
    object: string | undefined,
    op: ResumeOp,
  ): Promise<void> {
    return this.park(t, on, label, object, Infinity, op);
  }

  /**
   * From `ResumeOp.resumeOp` only: parks `t` again (recording a step) on `on`, keeping
   * the promise its code awaits; the caller has queued `t` where the waker finds it and
   * set `t.pendingOp` for the next attempt.
   */
  repark(t: SimThread, on: Waitable, label: string, object?: string): void {
    this.recordStep(t, label, object);
    if (this.status !== 'running') return;
    t.state = ThreadState.Blocked;
    t.waitingOn = on;
    this.removeRunnable(t);
    this.current = null;
  }

  /** block(), with a timer at virtual time `deadlineNs` (Infinity: none) armed once parked. */
  private park(
    t: SimThread,
    on: Waitable,
    label: string,
    object: string | undefined,
    deadlineNs: number,
    op: ResumeOp | null,
  ): Promise<void> {
    if (t !== this.current || this.handoff) return this.misplacedPoint(label);
    this.recordStep(t, label, object);
    if (this.status !== 'running') return NEVER;
    t.state = ThreadState.Blocked;
    t.waitingOn = on;
    t.pendingOp = op;
    this.removeRunnable(t);
    // Armed after the step (whose time may already pass the deadline), so that the
    // timer can only fire on a parked thread.
    if (deadlineNs !== Infinity) {
      t.timerAtNs = deadlineNs;
      this.addTimer(t);
    }
    this.parking = t;
    const parked = new Promise<void>(this.parkExecutor);
    this.handoffFrom = t;
    this.current = null;
    const next = this.pickNext(null);
    if (next !== null) this.resumeThread(next);
    return parked;
  }

  /**
   * Parks the running thread until woken or until `timeoutNs` of virtual time pass.
   * Resolves to true when the timer expired.
   */
  async blockTimeout(
    t: SimThread,
    on: Waitable,
    timeoutNs: number,
    label: string,
    object?: string,
  ): Promise<boolean> {
    t.timedOut = false;
    await this.park(t, on, label, object, this.clockNs + timeoutNs, null);
    const expired = t.timedOut;
    t.timedOut = false;
    return expired;
  }

  /** Makes a blocked thread runnable again (try_to_wake_up). Not a scheduling point. */
  wake(t: SimThread): void {
    if (t.state !== ThreadState.Blocked) return;
    t.state = ThreadState.Runnable;
    t.waitingOn = null;
    if (t.timerAtNs !== Infinity) this.cancelTimer(t);
    this.insertRunnable(t);
  }

  /**
   * Sends a fatal signal to `t` (SIGKILL): `fatalSignalPending` turns true and a thread
   * in a killable wait is woken (its wait returns -EINTR).
   */
  kill(t: SimThread): void {
    t.fatalSignal = true;
    if (t.state === ThreadState.Blocked && t.killable) {
      const on = t.waitingOn as (Waitable & { cancelWait?: (t: SimThread) => void }) | null;
      on?.cancelWait?.(t);
      this.wake(t);
    }
  }

  /** fatal_signal_pending(current). */
  fatalSignalPending(): boolean {
    return this.current?.fatalSignal === true;
  }

  /** Sleeps for `ns` of virtual time (msleep/usleep_range). May sleep. */
  async sleep(ns: number, label = 'sleep'): Promise<void> {
    checkInteger('sleep ns', ns, 0);
    const t = this.self('sleep');
    this.mightSleep(label);
    await this.blockTimeout(t, SLEEPING, ns, label);
  }

  /** Virtual time in nanoseconds. */
  now(): number {
    return this.clockNs;
  }

  /**
   * A nondeterministic choice among `n` values that exploration covers like a
   * scheduling decision (dfs tries every value; replay reproduces it). Not a
   * scheduling point. Use it for fault injection and model nondeterminism.
   */
  choose(n: number, _label = 'choose'): number {
    checkInteger('choose n', n, 1, 0x7fffffff);
    if (n === 1 || this.status !== 'running') return 0;
    let v: number;
    try {
      v = this.strategy.chooseValue(n);
    } catch (err) {
      this.fail(err);
      throw new SimAbort();
    }
    this.decisions.push(v, -1, 0);
    this.scheduleLog.value(v);
    return v;
  }

  /** The model's seeded randomness in [0, 1) (not explored; replay reproduces it). */
  random(): number {
    return this.rng.next();
  }

  private recordStep(t: SimThread, label: string, object: string | undefined): void {
    const step = ++this.steps;
    t.steps++;
    t.lastLabel = label;
    t.lastObject = object;
    t.nextObject = object;
    this.clockNs += this.stepNs;
    if (this.coverage !== null) this.coverage.step(t, label, object);
    if (this.tracing) {
      const e: TraceEntry = { step, tid: t.id, thread: t.name, label, object, timeNs: this.clockNs };
      if (t.held.length > 0) e.held = t.held.map((h) => h.name);
      this.traceEntries.push(e);
    }
    if (step > this.maxSteps) {
      this.reportNeverEnds();
      return;
    }
    if (this.clockNs >= this.nextTimerNs) this.fireTimers();
  }

  /**
   * Records a model event in the trace for the reader of a diagram (a sequence read, a
   * set_seq, a device page-table update): not a scheduling point, so it costs nothing when
   * tracing is off and never changes a schedule. Callers that build strings should test
   * `sim.tracing` first.
   */
  traceEvent(label: string, object?: string, note?: string): void {
    const t = this.current;
    if (!this.tracing || t === null) return;
    const e: TraceEntry = {
      step: this.steps,
      tid: t.id,
      thread: t.name,
      label,
      object,
      timeNs: this.clockNs,
      event: true,
    };
    if (note !== undefined) e.note = note;
    if (t.held.length > 0) e.held = t.held.map((h) => h.name);
    this.traceEntries.push(e);
  }

  /**
   * A coverage mark, as TigerBeetle's testing/marks.zig: model code calls it at an
   * interesting branch (`sim.mark('read_retry collided')`), the run counts it in
   * `RunResult.marks`, explore sums it over the schedules, and a test asserts that the race
   * windows it meant to exercise were reached: a clean result that never got there proves
   * nothing. One map update per call; pass a string literal, never a built string.
   */
  mark(name: string): void {
    this.markCounts.set(name, (this.markCounts.get(name) ?? 0) + 1);
  }

  /**
   * Hands the world's array buffers back for recycling (see src/sim/buffers.ts): explore
   * calls it once it has read the run's result and will not touch the world again. Only
   * after the run ended; takes after it allocate as usual.
   */
  retireBuffers(): void {
    if (this.status === 'running') throw new SimUsageError('retireBuffers: the run has not ended');
    this.buffers.retire();
  }

  /**
   * Hands the run's decision log and readable-schedule log back for reuse (see
   * src/sim/int-log.ts): explore calls it for a run it keeps nothing of. Afterwards the
   * run's `token` and `schedule` can no longer be read (a SimUsageError says so), unless
   * they were read before (a run with violations computes both when it ends). Only after
   * the run ended. Host-side memory management: models nothing in the kernel; takes no
   * locks, does not sleep.
   */
  releaseLogs(): void {
    if (this.status === 'running') throw new SimUsageError('releaseLogs: the run has not ended');
    this.decisions.release();
    this.scheduleLog.release();
  }

  /** The coverage marks this run has reached so far, by name (read-only; see {@link mark}). */
  marksReached(): ReadonlyMap<string, number> {
    return this.markCounts;
  }

  /** Attaches a note to the running thread's latest trace entry (shown in diagrams). */
  note(text: string): void {
    if (!this.tracing || this.current === null) return;
    for (let i = this.traceEntries.length - 1; i >= 0; i--) {
      const e = this.traceEntries[i];
      if (e.tid === this.current.id) {
        e.note = e.note === undefined ? text : `${e.note}; ${text}`;
        return;
      }
    }
  }

  private pickNext(cur: SimThread | null): SimThread | null {
    let rq = this.runnable;
    if (rq.length === 0) {
      if (!this.idle()) return null;
      rq = this.runnable;
      cur = null;
    }
    if (rq.length === 1) {
      this.scheduleLog.step(rq[0].id);
      if (this.observesPicks) this.strategy.onPick!(rq[0], false, this.steps);
      return rq[0];
    }
    let idx: number;
    try {
      idx = this.strategy.pickThread(rq, cur, this.steps);
    } catch (err) {
      this.fail(err);
      return null;
    }
    const def = defaultPick(rq, cur);
    if (cur !== null && idx !== def && rq[def] === cur) this.preemptions++;
    const next = rq[idx];
    this.decisions.push(idx, next.id, def);
    this.scheduleLog.step(next.id);
    if (this.observesPicks) this.strategy.onPick!(next, true, this.steps);
    return next;
  }

  /** No thread can run: advance virtual time to the next timer, or declare deadlock. */
  private idle(): boolean {
    if (this.timers.length > 0) {
      this.clockNs = Math.max(this.clockNs, this.nextTimerNs);
      this.fireTimers();
      return this.runnable.length > 0;
    }
    if (this.liveNonDaemons === 0) {
      this.end('ok');
      return false;
    }
    this.reportDeadlock();
    return false;
  }

  /**
   * Hands the CPU to `next`: first completes its pending operation, if any (which may
   * park it again, and then the next pick runs instead), then resolves the promise
   * its code awaits.
   */
  private resumeThread(next: SimThread | null): void {
    while (next !== null) {
      this.current = next;
      const op = next.pendingOp;
      if (op !== null) {
        next.pendingOp = null;
        let proceed: boolean;
        try {
          proceed = op.resumeOp(next);
        } catch (err) {
          this.fail(err); // a violation (SimAbort) already ended the run
          return;
        }
        if (!proceed) {
          if (this.status !== 'running') return;
          next = this.pickNext(null);
          continue;
        }
      }
      const r = next.resume;
      if (r === null) {
        // Only reachable through a missing await (with sim.awaitCheck off, or one it cannot see).
        this.misuse(
          `thread ${next.name} was handed the CPU at step ${this.steps} while its code was running: ` +
            'a primitive was called without await, or a promise escaped the thread',
        );
        return;
      }
      next.resume = null;
      if (this.awaitCheck) {
        // Cleared by the first microtask after this one: `next` runs only after it.
        this.handoff = true;
        void RESOLVED.then(this.handoffDone);
      }
      r();
      return;
    }
  }

  private insertRunnable(t: SimThread): void {
    // Kept ordered by id; shifted by hand (splice is slow on the hot path).
    const rq = this.runnable;
    let i = rq.length;
    rq.push(t);
    while (i > 0 && rq[i - 1].id > t.id) {
      rq[i] = rq[i - 1];
      i--;
    }
    rq[i] = t;
  }

  private removeRunnable(t: SimThread): void {
    const rq = this.runnable;
    const n = rq.length;
    let i = 0;
    while (i < n && rq[i] !== t) i++;
    if (i === n) return;
    for (; i < n - 1; i++) rq[i] = rq[i + 1];
    rq.pop();
  }

  private addTimer(t: SimThread): void {
    this.timers.push(t);
    if (t.timerAtNs < this.nextTimerNs) this.nextTimerNs = t.timerAtNs;
  }

  private cancelTimer(t: SimThread): void {
    const i = this.timers.indexOf(t);
    if (i >= 0) this.timers.splice(i, 1);
    t.timerAtNs = Infinity;
    this.recomputeNextTimer();
  }

  private recomputeNextTimer(): void {
    let n = Infinity;
    for (const t of this.timers) if (t.timerAtNs < n) n = t.timerAtNs;
    this.nextTimerNs = n;
  }

  private fireTimers(): void {
    // Fire in (deadline, thread id) order so that wake-up order is deterministic.
    const due = this.timers.filter((t) => t.timerAtNs <= this.clockNs);
    due.sort((a, b) => a.timerAtNs - b.timerAtNs || a.id - b.id);
    this.timers = this.timers.filter((t) => t.timerAtNs > this.clockNs);
    for (const t of due) {
      t.timerAtNs = Infinity;
      t.timedOut = true;
      t.state = ThreadState.Blocked;
      this.wakeTimed(t);
    }
    this.recomputeNextTimer();
  }

  private wakeTimed(t: SimThread): void {
    const on = t.waitingOn as (Waitable & { cancelWait?: (t: SimThread) => void }) | null;
    if (on?.cancelWait) on.cancelWait(t);
    t.state = ThreadState.Runnable;
    t.waitingOn = null;
    this.insertRunnable(t);
  }

  // ---------------------------------------------------------------- contexts

  /**
   * might_sleep(): reports `sleep-in-atomic` when the running thread holds a spinlock
   * or is inside a non-blockable region. Called at the top of every sleeping primitive,
   * with the operation and the object it acts on (formatted only when reporting).
   */
  mightSleep(what: string, object?: string): void {
    const t = this.current;
    if (t === null || (t.atomicDepth === 0 && t.nonBlockDepth === 0)) return;
    const op = object === undefined ? what : `${what}(${object})`;
    const ctx =
      t.atomicDepth > 0
        ? `holding spinlock ${
            t.held
              .filter((h) => h.spin === true)
              .map((h) => h.name)
              .join(', ') || '(spinlock)'
          }`
        : 'inside a non-blockable region';
    this.report('sleep-in-atomic', `${op} may sleep but thread ${t.name} is ${ctx}`, {
      key: `${op} ${t.atomicDepth > 0 ? 'atomic' : 'nonblock'}`,
    });
  }

  /** Enters a region where sleeping is forbidden (a non-blockable notifier callback). */
  enterNonBlock(): void {
    this.self('enterNonBlock').nonBlockDepth++;
  }

  /** Leaves a non-blockable region. */
  exitNonBlock(): void {
    const t = this.self('exitNonBlock');
    if (t.nonBlockDepth === 0) this.report('kernel-bug', `exitNonBlock without enterNonBlock in ${t.name}`);
    else t.nonBlockDepth--;
  }

  /** Whether the running thread may sleep right now. */
  canSleep(): boolean {
    const t = this.current;
    return t === null || (t.atomicDepth === 0 && t.nonBlockDepth === 0);
  }

  // ---------------------------------------------------------------- locks (for primitives)

  /**
   * Records that the running thread acquired `lock` (lockdep's lock_acquire). A
   * trylock cannot deadlock, so, as in lockdep, it adds no dependency on the locks
   * already held (later acquisitions under it still depend on it).
   */
  lockAcquired(t: SimThread, lock: HeldLock, trylock = false): void {
    if (!trylock && t.held.length > 0) this.lockdep.acquired(t, lock);
    t.held.push(lock);
  }

  /** Records a release; reports `lock-misuse` when `t` does not hold it. Returns whether it did. */
  lockReleased(t: SimThread, lock: HeldLock): boolean {
    const held = t.held;
    if (held.length > 0 && held[held.length - 1] === lock) {
      held.pop();
      return true;
    }
    const i = held.lastIndexOf(lock);
    if (i < 0) {
      this.report('lock-misuse', `thread ${t.name} released ${lock.name} which it does not hold`, {
        key: `release not held ${lock.lockClass}`,
      });
      return false;
    }
    t.held.splice(i, 1);
    return true;
  }

  /**
   * might_lock(): lockdep records the dependencies of the running thread taking `lock` now
   * (every lock it holds before `lock`), without taking it, so a path that only sometimes
   * takes a lock is checked as if it always did. Nothing when the thread holds `lock`
   * already or holds nothing. Atomic.
   */
  mightLock(lock: HeldLock): void {
    const t = this.current;
    if (t === null || this.status !== 'running' || t.held.length === 0 || t.held.includes(lock)) return;
    this.lockdep.acquired(t, lock);
  }

  /** lockdep_assert_held(): reports `lock-misuse` unless the running thread holds `lock`. */
  assertHeld(lock: HeldLock, what = 'caller'): void {
    const t = this.current;
    if (t === null || this.status !== 'running') return;
    if (!t.held.includes(lock)) {
      this.report(
        'lock-misuse',
        `${what} requires ${lock.name} held, but thread ${t.name} does not hold it`,
        {
          key: `not held ${lock.lockClass} ${what}`,
        },
      );
    }
  }

  // ---------------------------------------------------------------- object lifetime

  /** Registers `obj` as a kernel allocation (kmalloc), for use-after-free reports. */
  kalloc<T extends object>(obj: T, label?: string): T {
    return this.lifetime.alloc(obj, label);
  }

  /** Frees `obj` (kfree): later `use(obj)` reports use-after-free; a second kfree a double free. */
  kfree(obj: object): void {
    if (this.observesTouches) this.touch(this.lifetime.label(obj));
    this.lifetime.free(obj);
  }

  /** Marks a use of `obj` (a dereference); reports use-after-free when it was freed. */
  use<T extends object>(obj: T, what?: string): T {
    // A read for partial-order reduction: two uses commute, a use and the kfree do not.
    if (this.observesTouches) this.touch(this.lifetime.label(obj), true);
    return this.lifetime.use(obj, what);
  }

  /**
   * Whether this run's strategy watches touches (dpor, the dpor audit): model code may skip
   * building touch names nobody reads when it is false.
   */
  get watchesTouches(): boolean {
    return this.observesTouches;
  }

  /**
   * The running step accesses `object` without a scheduling point (a kfree, a dereference, a
   * complete or wake_up): partial-order reduction adds it to the step's footprint, as a read
   * when `read` is set (two reads of one object commute; a read and a write do not). Not a
   * scheduling point; costs a flag test unless the strategy observes touches.
   */
  touch(object: string, read = false): void {
    if (this.observesTouches && this.current !== null) this.strategy.onTouch!(object, read);
  }

  /**
   * State a layer above keeps for this run outside its own objects, under `key` (the
   * layer's own symbol); undefined until `setRunLocal`. It lives and dies with the run.
   *
   * Why not a module-level WeakMap keyed by the run's objects (the kernel's per-mm or
   * per-device side tables): V8 drops a dead key's entry only in a full collection, and until
   * then every scavenge keeps the entry's value, and everything it reaches, alive. With a
   * value that reaches the run (a wait queue, a checker, the simulation) that was the whole
   * world of every schedule, promoted to the old generation: 1.4 MB surviving each scavenge
   * on gpusvm-mirror, whose world is 40-110 KB live.
   */
  runLocal<V>(key: symbol): V | undefined {
    return this.runLocals?.get(key) as V | undefined;
  }

  /** Sets this run's state under `key` (see runLocal); returns `value`. */
  setRunLocal<V>(key: symbol, value: V): V {
    (this.runLocals ??= new Map()).set(key, value);
    return value;
  }

  /**
   * This run's map under `key`, created empty on first use: a per-run side table keyed by
   * the run's objects (see runLocal for why not a module-level WeakMap).
   */
  runMap<K, V>(key: symbol): Map<K, V> {
    return this.runLocal<Map<K, V>>(key) ?? this.setRunLocal(key, new Map<K, V>());
  }

  // ---------------------------------------------------------------- violations

  /** An assertion of the model or a driver: reports `assertion` with `message` when `ok` is false. */
  check(ok: boolean, message: string, options?: ReportOptions): void {
    if (!ok) this.report('assertion', message, options);
  }

  /**
   * BUG_ON(): a kernel-internal assertion. The message is built before the call; a message
   * that formats state (a page's description, a VMA) belongs in `if (cond) sim.bug(...)`,
   * which builds it only when the assertion fails: these run on every fault and unmap.
   */
  bugOn(cond: boolean, message: string): void {
    if (cond) this.report('kernel-bug', message);
  }

  /** BUG(): reports a kernel-internal assertion failure; never returns while the run is live. */
  bug(message: string): never {
    return this.report('kernel-bug', message);
  }

  /**
   * Reports a violation: the run ends (as the kernel stops at a BUG) and the running
   * thread is unwound. Checkers call this; it never returns when the run was live.
   */
  report(kind: string, message: string, options?: ReportOptions): never {
    if (this.status === 'running') this.recordViolation(kind, message, options);
    throw new SimAbort();
  }

  private recordViolation(kind: string, message: string, options?: ReportOptions): void {
    if (this.status !== 'running') return;
    const t = this.current;
    const v: Violation = {
      kind,
      message,
      signature: `${kind}: ${foldNumbers(options?.key ?? message)}`,
      thread: t?.name ?? '-',
      threads: options?.threads ?? (t ? [t.name] : []),
      step: this.steps,
      timeNs: this.clockNs,
      token: '',
      schedule: '',
      diagram: '',
      details: options?.details,
    };
    if (options?.objects !== undefined) v.objects = options.objects;
    if (options?.conflictStep !== undefined) v.conflictStep = options.conflictStep;
    this.violations.push(v);
    const status =
      kind === 'deadlock' || kind === 'step-limit'
        ? kind
        : kind === 'error' || kind === 'foreign-await'
          ? 'error'
          : 'violation';
    this.end(status);
  }

  /**
   * The run outlived maxSteps: names each thread that never ended, what it was doing at its
   * latest step (and how many steps it took), or what it waits on. The key names the threads and
   * their operations without numbers, so the same endless loop shares a signature.
   */
  private reportNeverEnds(): void {
    const parts: string[] = [];
    const keys: string[] = [];
    const names: string[] = [];
    for (const t of this.threads) {
      if (t.state === ThreadState.Done || t.daemon) continue;
      const at = t.lastObject !== undefined ? `${t.lastLabel} ${t.lastObject}` : t.lastLabel;
      const doing =
        t.state === ThreadState.Blocked && t.waitingOn !== null
          ? `waits for ${t.waitingOn.describe()}`
          : `keeps running (${t.steps} steps, latest '${at}')`;
      parts.push(`thread ${t.name} never ends: ${doing}`);
      keys.push(`${t.name} ${t.state === ThreadState.Blocked ? 'waits' : `at ${t.lastLabel}`}`);
      names.push(t.name);
    }
    this.recordViolation(
      'step-limit',
      `run exceeded ${this.maxSteps} steps (livelock or unbounded loop?)` +
        (parts.length > 0 ? `: ${parts.join('; ')}` : ''),
      { key: `never ends: ${foldNumbers(keys.sort().join(', '))}`, threads: names, objects: names },
    );
  }

  private reportDeadlock(): void {
    const blocked = this.threads.filter((t) => t.state === ThreadState.Blocked && !t.daemon);
    const edges: { thread: string; waitsFor: string; heldBy: string[] }[] = [];
    for (const t of this.threads) {
      if (t.state !== ThreadState.Blocked || t.waitingOn === null) continue;
      edges.push({
        thread: t.name,
        waitsFor: t.waitingOn.describe(),
        heldBy: t.waitingOn.holders().map((h) => h.name),
      });
    }
    const cycle = findCycle(this.threads);
    const graph = edges
      .map(
        (e) =>
          `${e.thread} waits for ${e.waitsFor}${e.heldBy.length ? ` held by ${e.heldBy.join(', ')}` : ''}`,
      )
      .join('; ');
    const threads = cycle.length > 0 ? cycle.map((t) => t.name) : blocked.map((t) => t.name);
    const key =
      cycle.length > 0
        ? `cycle ${cycle
            .map((t) => foldNumbers(t.waitingOn?.describe() ?? '?'))
            .sort()
            .join(' & ')}`
        : `stuck ${edges
            .map((e) => foldNumbers(e.waitsFor))
            .sort()
            .join(' & ')}`;
    this.current = null;
    this.recordViolation('deadlock', `deadlock: ${graph}`, { key, threads, details: { waitFor: edges } });
  }

  /** Ends the run because of a runtime misuse (bad token, nondeterministic dfs). */
  private fail(err: unknown): void {
    if (this.status !== 'running') return;
    if (err instanceof SimAbort) return;
    this.usageError = err;
    this.end('error');
  }

  /** Reports that the running thread awaited something the runtime did not create. */
  foreignAwait(): void {
    if (this.status !== 'running') return;
    const t = this.current;
    const last = this.tracing ? this.traceEntries.filter((e) => e.tid === t?.id).pop() : undefined;
    this.recordViolation(
      'foreign-await',
      `thread ${t?.name ?? '?'} awaited a promise the runtime did not create (after step ${this.steps}` +
        `${last ? `, '${last.label}'` : ''}): simulated threads may only await simulation primitives, ` +
        'sim.yield/point/sleep and async functions built from them — never timers, I/O or outside promises',
      { key: `foreign await in ${t?.name ?? '?'}` },
    );
  }

  // ---------------------------------------------------------------- running

  private end(status: Exclude<RunStatus, 'running'>): void {
    if (this.status !== 'running') return;
    this.status = status;
    this.decisions.seal();
    this.scheduleLog.seal();
    for (const h of this.hooks.onEnd) {
      try {
        h(this);
      } catch {
        // A hook must not turn a finished run into a crash.
      }
    }
    this.result = new RunRecord(
      status,
      this.steps,
      this.clockNs,
      this.violations,
      this.tracing ? this.traceEntries : undefined,
      this.preemptions,
      this.seed,
      this.maxSteps,
      this.stepNs,
      this.changedSwitches(),
      this.decisions,
      this.scheduleLog,
      this.threads.map((t) => t.name),
    );
    if (this.markCounts.size > 0) this.result.markMap = this.markCounts;
    if (this.violations.length > 0) {
      const token = this.result.token;
      const schedule = this.result.schedule;
      for (const v of this.violations) {
        v.token = token;
        v.schedule = schedule;
      }
    }
    // Nothing runs after the end: a straggler (a thread resumed by a foreign promise)
    // finds no current thread and is parked for good.
    this.current = null;
    const f = this.finishRun;
    this.finishRun = null;
    if (f !== null) f(this.result);
  }

  /**
   * Runs `setup` (which spawns threads) and then the threads until every non-daemon
   * thread has finished or the run ends early. A simulation runs once.
   */
  async run(setup: SetupFn): Promise<RunResult> {
    if (this.finishRun !== null || this.result !== null || this.steps > 0) {
      throw new SimUsageError('a Simulation runs once; create a new one (explore does this per schedule)');
    }
    try {
      await setup(this);
    } catch (err) {
      // sim.check/report in setup ends the run with its violation.
      if (!(err instanceof SimAbort) || this.result === null) throw err;
    }
    if (this.usageError !== null) throw this.usageError;
    const done = new Promise<RunResult>((resolve) => {
      this.finishRun = resolve;
    });
    if (this.result === null) {
      if (this.liveNonDaemons === 0) {
        this.end('ok');
      } else {
        const first = this.pickNext(null);
        if (first !== null) this.resumeThread(first);
      }
    }
    // A legitimate run completes through microtasks alone; if the host's event loop
    // gets to run this check while the run is live, a thread awaits a foreign promise.
    const watchdog = setImmediate(() => this.foreignAwait());
    const result = this.result ?? (await done);
    clearImmediate(watchdog);
    if (this.usageError !== null) throw this.usageError;
    return result;
  }
}

/** The marks of a run that reached none (shared: a run result is read-only). */
const NO_MARKS: Record<string, number> = Object.freeze({});

const SLEEPING: Waitable = { describe: () => 'timer', holders: () => [] };

/**
 * A finished run. The token and the decision lists are derived from the decision log
 * on first use: encoding a long schedule costs as much as a short run, and most runs
 * of an exploration are never replayed. (A class with getters on its prototype: an
 * object literal with per-run getter closures gets a hidden class of its own per run,
 * which costs the garbage collector dearly.)
 */
class RunRecord implements RunResult {
  private tokenText: string | null = null;
  private scheduleText: string | null = null;
  private choiceList: number[] | null = null;
  private threadList: number[] | null = null;
  private defaultList: number[] | null = null;
  /** The marks reached, as the run counted them (null: none). */
  markMap: ReadonlyMap<string, number> | null = null;
  private markRecord: Record<string, number> | null = null;

  constructor(
    readonly status: Exclude<RunStatus, 'running'>,
    readonly steps: number,
    readonly timeNs: number,
    readonly violations: Violation[],
    readonly trace: TraceEntry[] | undefined,
    readonly preemptions: number,
    readonly seed: number,
    private readonly maxSteps: number,
    private readonly stepNs: number,
    private readonly switches: Record<string, boolean>,
    private readonly log: DecisionLog,
    private readonly scheduleLog: ScheduleLog,
    private readonly threadNames: string[],
  ) {}

  get token(): string {
    return (this.tokenText ??= encodeToken({
      seed: this.seed,
      steps: this.steps,
      choices: this.choices,
      maxSteps: this.maxSteps,
      stepNs: this.stepNs,
      switches: this.switches,
    }));
  }

  get schedule(): string {
    return (this.scheduleText ??= formatSchedule(this.scheduleLog, this.threadNames, {
      seed: this.seed,
      maxSteps: this.maxSteps,
      stepNs: this.stepNs,
      switches: this.switches,
    }));
  }

  get choices(): number[] {
    return (this.choiceList ??= this.log.choices());
  }

  /**
   * The marks reached, as a plain record, built on first use: building an object from a map
   * of names costs as much as several steps, and explore sums the map directly.
   */
  get marks(): Record<string, number> {
    return (this.markRecord ??= this.markMap === null ? NO_MARKS : Object.fromEntries(this.markMap));
  }

  get choiceThreads(): number[] {
    return (this.threadList ??= this.log.threads());
  }

  get choiceDefaults(): number[] {
    return (this.defaultList ??= this.log.defaults());
  }

  /** The plain RunResult (JSON.stringify does not see prototype getters). */
  toJSON(): RunResult {
    return plainRunResult(this);
  }
}

/**
 * A copy of `run` as a plain object with every field an own property: run results
 * compute their token and decision lists on demand, through getters that object spread
 * (`{ ...run }`) does not copy.
 */
export function plainRunResult(run: RunResult): RunResult {
  return {
    status: run.status,
    steps: run.steps,
    timeNs: run.timeNs,
    violations: run.violations,
    trace: run.trace,
    token: run.token,
    schedule: run.schedule,
    preemptions: run.preemptions,
    seed: run.seed,
    choices: run.choices,
    choiceThreads: run.choiceThreads,
    choiceDefaults: run.choiceDefaults,
    marks: run.marks,
  };
}

/** Finds a cycle in the wait-for graph (thread → holders of what it waits for). */
function findCycle(threads: readonly SimThread[]): SimThread[] {
  const state = new Map<SimThread, number>();
  const stack: SimThread[] = [];
  let found: SimThread[] = [];
  const visit = (t: SimThread): boolean => {
    state.set(t, 1);
    stack.push(t);
    const on = t.state === ThreadState.Blocked ? t.waitingOn : null;
    for (const h of on ? on.holders() : []) {
      const s = state.get(h) ?? 0;
      if (s === 1) {
        found = stack.slice(stack.indexOf(h));
        return true;
      }
      if (s === 0 && visit(h)) return true;
    }
    stack.pop();
    state.set(t, 2);
    return false;
  };
  for (const t of threads) if ((state.get(t) ?? 0) === 0 && visit(t)) break;
  return found;
}
