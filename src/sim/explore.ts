import {
  checkInteger,
  checkKnownKeys,
  checkOneOf,
  DEFAULT_MAX_STEPS,
  DEFAULT_STEP_NS,
  describe,
} from './options.js';
import { deriveSeed } from './prng.js';
import { plainRunResult, Simulation, type RunResult, type SetupFn } from './simulation.js';
import {
  DfsStrategy,
  GuidedStrategy,
  PctStrategy,
  RandomStrategy,
  ReplayStrategy,
  type Strategy,
} from './strategy.js';
import { isReadableSchedule, parseSchedule, ScheduleReplayStrategy } from './schedule.js';
import { switchTable, type SwitchSettings } from './switches.js';
import { decodeToken } from './token.js';
import { renderDiagram } from './trace.js';
import { renderRaceDiagram } from '../explore/diagram.js';
import { SimUsageError, type Violation } from './violation.js';

export type StrategyName = 'random' | 'pct' | 'dfs';

/** Options of `explore`. */
export interface ExploreOptions {
  /** random (seeded), pct (probabilistic concurrency testing) or dfs (systematic). Default random. */
  strategy?: StrategyName;
  /** Schedule budget. Default 1000; dfs stops earlier when exhausted. */
  schedules?: number;
  /** Seed of the exploration. Default 1. */
  seed?: number;
  /** PCT depth d (bugs needing d ordering constraints). Default 3. */
  depth?: number;
  /** dfs preemption bound. Default 2. */
  preemptionBound?: number;
  /** A run longer than this is a step-limit violation. Default 1,000,000 (DEFAULT_MAX_STEPS). */
  maxSteps?: number;
  /** Virtual nanoseconds per scheduling step. Default 10. */
  stepNs?: number;
  /**
   * Behaviour switches of every run (`{ 'notifier.insertNotDeferred': true }`), recorded in
   * each violation's token. Unknown names are an error listing the known ones.
   */
  switches?: SwitchSettings;
  /** Stop at the first violating schedule. Default false (collect distinct violations). */
  stopOnFirst?: boolean;
  /** Shrink failing schedules before reporting. Default true. */
  shrink?: boolean;
  /** Runs the shrinker may spend per distinct violation. Default 300. */
  shrinkRuns?: number;
  /** Run only the schedules i with i % count === index (random and pct). */
  shard?: { index: number; count: number };
  /** Called every `progressEvery` schedules with the count so far. */
  onProgress?: (done: number, total: number, violations: number) => void;
  progressEvery?: number;
}

/** What `explore` found. */
export interface ExploreResult {
  /** Schedules run (not counting shrinking and diagram replays). */
  schedules: number;
  /** True when dfs enumerated every schedule within its bound. */
  exhausted: boolean;
  /** Distinct violations (by signature), shrunk, each with token and diagram. */
  violations: Violation[];
  /** How many schedules ended with each status. */
  statuses: Record<string, number>;
  /** Longest run in steps. */
  maxSteps: number;
  /** Total scheduling steps executed. */
  totalSteps: number;
  strategy: StrategyName;
  seed: number;
}

const EXPLORE_KEYS = [
  'strategy',
  'schedules',
  'seed',
  'depth',
  'preemptionBound',
  'maxSteps',
  'stepNs',
  'switches',
  'stopOnFirst',
  'shrink',
  'shrinkRuns',
  'shard',
  'onProgress',
  'progressEvery',
] as const;

interface Normalised {
  strategy: StrategyName;
  schedules: number;
  seed: number;
  depth: number;
  preemptionBound: number;
  maxSteps: number;
  stepNs: number;
  switches: SwitchSettings | undefined;
  stopOnFirst: boolean;
  shrink: boolean;
  shrinkRuns: number;
  shardIndex: number;
  shardCount: number;
  onProgress: ExploreOptions['onProgress'];
  progressEvery: number;
}

function normalise(options: ExploreOptions): Normalised {
  if (options === null || typeof options !== 'object') {
    throw new SimUsageError(`explore: options must be an object, got ${describe(options)}`);
  }
  checkKnownKeys('explore', options, EXPLORE_KEYS);
  const strategy = checkOneOf('strategy', options.strategy ?? 'random', ['random', 'pct', 'dfs'] as const);
  const shard = options.shard ?? { index: 0, count: 1 };
  if (typeof shard !== 'object' || shard === null) {
    throw new SimUsageError(`option 'shard' must be { index, count }, got ${describe(shard)}`);
  }
  const shardCount = checkInteger('shard.count', shard.count, 1);
  const shardIndex = checkInteger('shard.index', shard.index, 0, shardCount - 1);
  if (strategy === 'dfs' && shardCount > 1) {
    throw new SimUsageError(`option 'shard' is supported for 'random' and 'pct', not 'dfs'`);
  }
  for (const b of ['stopOnFirst', 'shrink'] as const) {
    if (options[b] !== undefined && typeof options[b] !== 'boolean') {
      throw new SimUsageError(`option '${b}' must be a boolean, got ${describe(options[b])}`);
    }
  }
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
    throw new SimUsageError(`option 'onProgress' must be a function`);
  }
  return {
    strategy,
    schedules: checkInteger('schedules', options.schedules ?? 1000, 1),
    seed: checkInteger('seed', options.seed ?? 1, 0),
    depth: checkInteger('depth', options.depth ?? 3, 1, 64),
    preemptionBound: checkInteger('preemptionBound', options.preemptionBound ?? 2, 0),
    maxSteps: checkInteger('maxSteps', options.maxSteps ?? DEFAULT_MAX_STEPS, 1),
    stepNs: checkInteger('stepNs', options.stepNs ?? DEFAULT_STEP_NS, 0),
    switches: checkSwitches(options.switches),
    stopOnFirst: options.stopOnFirst ?? false,
    shrink: options.shrink ?? true,
    shrinkRuns: checkInteger('shrinkRuns', options.shrinkRuns ?? 300, 0),
    shardIndex,
    shardCount,
    onProgress: options.onProgress,
    progressEvery: checkInteger('progressEvery', options.progressEvery ?? 100, 1),
  };
}

/** Validates a switches option (unknown names, non-booleans) before any run starts. */
function checkSwitches(switches: unknown): SwitchSettings | undefined {
  switchTable(switches);
  return switches as SwitchSettings | undefined;
}

function checkSetup(setup: unknown, what: string): asserts setup is SetupFn {
  if (typeof setup !== 'function') {
    throw new SimUsageError(
      `${what}: setup must be a function (sim) => { sim.spawn(...) }, got ${describe(setup)}`,
    );
  }
}

const yieldToHost = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * Explores schedules of the program `setup` builds (stateless model checking: the
 * world is built afresh for every schedule). Returns the distinct violations found,
 * each shrunk to a short schedule, with its replay token and race diagram.
 */
export async function explore(options: ExploreOptions, setup: SetupFn): Promise<ExploreResult> {
  const o = normalise(options);
  checkSetup(setup, 'explore');
  const found = new Map<string, { violation: Violation; run: RunResult }>();
  const statuses: Record<string, number> = {};
  let runs = 0;
  let maxSteps = 0;
  let totalSteps = 0;
  let exhausted = false;
  const dfs = o.strategy === 'dfs' ? new DfsStrategy(o.preemptionBound) : null;
  let expected = 100;

  for (let i = o.shardIndex; i < o.schedules; i += o.shardCount) {
    const seed = deriveSeed(o.seed, i);
    let strategy: Strategy;
    if (dfs !== null) strategy = dfs;
    else if (o.strategy === 'pct') strategy = new PctStrategy(seed, o.depth, expected);
    else strategy = new RandomStrategy(seed);
    const sim = new Simulation({
      seed: dfs !== null ? o.seed : seed,
      strategy,
      maxSteps: o.maxSteps,
      stepNs: o.stepNs,
      switches: o.switches,
    });
    const run = await sim.run(setup);
    runs++;
    totalSteps += run.steps;
    if (run.steps > maxSteps) maxSteps = run.steps;
    // PCT's k: the longest run seen so far estimates the run length.
    if (run.steps > expected) expected = run.steps;
    statuses[run.status] = (statuses[run.status] ?? 0) + 1;
    for (const v of run.violations) {
      if (!found.has(v.signature)) found.set(v.signature, { violation: v, run });
    }
    if (o.onProgress && runs % o.progressEvery === 0) o.onProgress(runs, o.schedules, found.size);
    if (runs % 64 === 0) await yieldToHost();
    if (dfs !== null && !dfs.advance()) {
      exhausted = true;
      break;
    }
    if (o.stopOnFirst && found.size > 0) break;
  }
  if (o.onProgress) o.onProgress(runs, o.schedules, found.size);

  const violations: Violation[] = [];
  for (const { violation, run } of found.values()) {
    const best = o.shrink ? await shrinkRun(run, violation.signature, setup, o) : run;
    violations.push(await explain(best, violation.signature, setup, o));
  }
  return {
    schedules: runs,
    exhausted,
    violations,
    statuses,
    maxSteps,
    totalSteps,
    strategy: o.strategy,
    seed: o.seed,
  };
}

function deviationsOf(run: RunResult): Map<number, number> {
  const dev = new Map<number, number>();
  for (let d = 0; d < run.choices.length; d++) {
    if (run.choices[d] !== run.choiceDefaults[d]) {
      dev.set(d, run.choiceThreads[d] >= 0 ? run.choiceThreads[d] : run.choices[d]);
    }
  }
  return dev;
}

/**
 * Shrinks a failing run. A schedule is the set of its deviations from the non-preemptive
 * default (decision → thread or value). Two moves, tried until neither helps or the budget
 * is spent: drop a deviation (latest first), or send a deviation to another thread. A
 * candidate is kept when it fails with the same signature, is no longer than the original,
 * and is smaller: fewer preemptions, then fewer steps, then fewer deviations.
 */
async function shrinkRun(
  run: RunResult,
  signature: string,
  setup: SetupFn,
  o: Normalised,
): Promise<RunResult> {
  let best = run;
  let bestDeviations = deviationsOf(run).size;
  let budget = o.shrinkRuns;
  const threadIds = [...new Set(run.choiceThreads.filter((id) => id >= 0))].sort((a, b) => a - b);
  const smaller = (r: RunResult, deviations: number): boolean =>
    r.preemptions !== best.preemptions
      ? r.preemptions < best.preemptions
      : r.steps !== best.steps
        ? r.steps < best.steps
        : deviations < bestDeviations;
  const attempt = async (candidate: Map<number, number>): Promise<boolean> => {
    budget--;
    const sim = new Simulation({
      seed: best.seed,
      strategy: new GuidedStrategy(candidate),
      maxSteps: o.maxSteps,
      stepNs: o.stepNs,
      switches: o.switches,
    });
    const r = await sim.run(setup);
    const same = r.violations.some((v) => v.signature === signature);
    const deviations = deviationsOf(r).size;
    if (!same || r.steps > run.steps || !smaller(r, deviations)) return false;
    best = r;
    bestDeviations = deviations;
    return true;
  };
  let improved = true;
  while (improved && budget > 0) {
    improved = false;
    const dev = deviationsOf(best);
    const keys = [...dev.keys()].sort((a, b) => b - a);
    for (const k of keys) {
      if (budget <= 0) break;
      const candidate = new Map(dev);
      candidate.delete(k);
      if (await attempt(candidate)) {
        improved = true;
        break;
      }
    }
    if (improved) continue;
    search: for (const k of keys) {
      if (best.choiceThreads[k] < 0) continue; // a value choice: dropping it was tried above
      for (const id of threadIds) {
        if (budget <= 0) break search;
        if (id === dev.get(k)) continue;
        const candidate = new Map(dev);
        candidate.set(k, id);
        if (await attempt(candidate)) {
          improved = true;
          break search;
        }
      }
    }
  }
  return best;
}

/** Replays `run` with tracing on and fills in the violation's diagram. */
async function explain(run: RunResult, signature: string, setup: SetupFn, o: Normalised): Promise<Violation> {
  const sim = new Simulation({
    seed: run.seed,
    strategy: new ReplayStrategy(run.choices),
    maxSteps: o.maxSteps,
    stepNs: o.stepNs,
    switches: o.switches,
    trace: true,
  });
  const r = await sim.run(setup);
  const v = r.violations.find((x) => x.signature === signature) ?? run.violations[0];
  v.diagram = diagramOf(r, v);
  return v;
}

function diagramOf(run: RunResult, v: Violation): string {
  return renderRaceDiagram(run.trace ?? [], v);
}

/** Options of `replay` and `simulate`. */
export interface ReplayOptions {
  maxSteps?: number;
  stepNs?: number;
  /** Switches to set on top of those the token records (a replay with a switch changed). */
  switches?: SwitchSettings;
}

/**
 * Re-runs the schedule a token recorded, with tracing on. `token` is the opaque token or
 * the readable schedule (`seed=1 | cpu0*12 cpu1*3`) of a run; either carries the run
 * options that shape the schedule (seed, step limit, step time, switches), so the replay
 * needs no other set-up. Throws a usage error when the token is malformed or does not fit
 * the program (another setup, or a changed one).
 */
export async function replay(
  token: string,
  setup: SetupFn,
  options: ReplayOptions = {},
): Promise<RunResult & { diagram: string }> {
  checkKnownKeys('replay', options, ['maxSteps', 'stepNs', 'switches']);
  checkSetup(setup, 'replay');
  if (typeof token === 'string' && isReadableSchedule(token)) {
    const parsed = parseSchedule(token);
    const sim = new Simulation({
      seed: parsed.seed,
      strategy: new ScheduleReplayStrategy(parsed),
      maxSteps: options.maxSteps ?? parsed.maxSteps ?? DEFAULT_MAX_STEPS,
      stepNs: options.stepNs ?? parsed.stepNs ?? DEFAULT_STEP_NS,
      switches: { ...parsed.switches, ...options.switches },
      trace: true,
    });
    const run = await sim.run(setup);
    const picks = parseSchedule(run.schedule).steps;
    if (picks !== parsed.steps) {
      throw new SimUsageError(
        `readable schedule does not match this program: it describes ${parsed.steps} steps, this run took ${picks}`,
      );
    }
    return withDiagrams(run);
  }
  const decoded = decodeToken(token);
  const strategy = new ReplayStrategy(decoded.choices);
  // The token carries the run options that shape a schedule; explicit options win.
  const sim = new Simulation({
    seed: decoded.seed,
    strategy,
    maxSteps: options.maxSteps ?? decoded.maxSteps ?? DEFAULT_MAX_STEPS,
    stepNs: options.stepNs ?? decoded.stepNs ?? DEFAULT_STEP_NS,
    switches: { ...decoded.switches, ...options.switches },
    trace: true,
  });
  const run = await sim.run(setup);
  if (strategy.unused > 0 || run.steps !== decoded.steps) {
    throw new SimUsageError(
      `replay token does not match this program: the token ran ${decoded.steps} steps with ` +
        `${decoded.choices.length} decisions, this run took ${run.steps} steps and left ${strategy.unused} decisions unused`,
    );
  }
  return withDiagrams(run);
}

function withDiagrams(run: RunResult): RunResult & { diagram: string } {
  const v = run.violations[0];
  for (const x of run.violations) x.diagram = diagramOf(run, x);
  const diagram = v ? v.diagram : renderDiagram(run.trace ?? []);
  return { ...plainRunResult(run), diagram };
}

/** Runs one schedule (random strategy seeded with `seed`), with tracing on. */
export async function simulate(
  options: ReplayOptions & { seed?: number; trace?: boolean },
  setup: SetupFn,
): Promise<RunResult> {
  checkKnownKeys('simulate', options, ['maxSteps', 'stepNs', 'switches', 'seed', 'trace']);
  checkSetup(setup, 'simulate');
  const sim = new Simulation({
    seed: options.seed ?? 1,
    maxSteps: options.maxSteps,
    stepNs: options.stepNs,
    switches: options.switches,
    trace: options.trace ?? true,
  });
  const run = await sim.run(setup);
  for (const v of run.violations) v.diagram = diagramOf(run, v);
  return run;
}
