import { availableParallelism } from 'node:os';
import {
  checkInteger,
  checkKnownKeys,
  checkOneOf,
  DEFAULT_MAX_STEPS,
  DEFAULT_STEP_NS,
  describe,
} from '../sim/options.js';
import type { SetupFn } from '../sim/simulation.js';
import { switchTable, type SwitchSettings } from '../sim/switches.js';
import { SimUsageError, type Violation } from '../sim/violation.js';
import type { CoverageReport } from './coverage.js';

/**
 * `swarm` (the default): the budget split across random scheduling (each schedule with its
 * own probability of switching threads) and pct at depths 2, 3 and 5; `random`; `pct`;
 * `dfs` (systematic, preemption-bounded); `dpor` (systematic, one schedule per ordering of
 * conflicting steps, unbounded).
 */
export type StrategyName = 'swarm' | 'random' | 'pct' | 'dfs' | 'dpor';

/** Every strategy name, in the order help texts list them (the CLI's `--strategy` choices). */
export const STRATEGY_NAMES: readonly StrategyName[] = ['swarm', 'random', 'pct', 'dfs', 'dpor'];

/** Progress of an exploration, for `onProgress`. */
export interface ExploreProgress {
  /** Distinct (thread, operation, object-kind) triples seen so far. */
  operations: number;
  /** Distinct lock-order edges seen so far. */
  lockEdges: number;
}

/**
 * Where a worker thread finds the program: a module path (or file URL) and the export
 * holding a setup function or a scenario (an object with `setup`); with `args`, the export
 * is a factory called with them (`{ path, export: 'faultScenario', args: [{ noSetSeq: true }] }`).
 */
export interface SetupModule {
  /** Module path or file URL, as `import()` takes it in the worker. */
  path: string;
  /** The export to use. Default `default`. */
  export?: string;
  /** Arguments of the export when it is a factory (structured-cloneable: they cross to the worker). */
  args?: unknown[];
}

/** Options of `explore`. */
export interface ExploreOptions {
  /** swarm (default), random, pct, dfs or dpor. */
  strategy?: StrategyName;
  /** Schedule budget. Default 1000; dfs stops earlier when exhausted. */
  schedules?: number;
  /** Seed of the exploration. Default 1. */
  seed?: number;
  /** PCT depth d (bugs needing d ordering constraints). Default 3 (pct only; swarm uses 2, 3, 5). */
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
  /**
   * Stop starting schedules after this many milliseconds of wall-clock time (the explorer
   * reads the host clock between schedules; no simulation sees it). The result says
   * `stopped: 'time-limit'`.
   */
  timeLimitMs?: number;
  /** Stops the exploration cleanly between schedules (Ctrl-C): the result says `stopped: 'aborted'`. */
  signal?: AbortSignal;
  /**
   * Record what the schedules reach (the result's `coverage`: distinct operations and
   * lock-order edges). Default true; false leaves `coverage.operations` empty and saves the
   * per-step bookkeeping (a few percent; bench/explore.ts measures it).
   */
  coverage?: boolean;
  /** Shrink failing schedules before reporting. Default true. */
  shrink?: boolean;
  /** Runs the shrinker may spend per distinct violation. Default 300. */
  shrinkRuns?: number;
  /** Run only the schedules i with i % count === index (random, pct and swarm). */
  shard?: {
    /** This shard's number, in [0, count). */
    index: number;
    /** How many shards the budget is split into (at least 1). */
    count: number;
  };
  /**
   * Run the shard on this many threads ('auto': one per core): the calling thread and
   * `workers - 1` worker threads, which are handed the shard's sub-shards (a number fixed by
   * the budget: see subShardCount in workers.ts) as they become free. The result equals
   * those sub-shards run one after another and merged (mergeResults), whatever the number
   * of workers. Needs `setupModule`: a setup function cannot cross threads.
   */
  workers?: number | 'auto';
  /** The program, by module path, for worker threads (see SetupModule). */
  setupModule?: SetupModule;
  /** Called every `progressEvery` schedules with the count so far. */
  onProgress?: (done: number, total: number, violations: number, coverage: ExploreProgress) => void;
  /** Schedules between two `onProgress` calls. Default 100. */
  progressEvery?: number;
}

/** Why an exploration stopped before its budget. */
export type StopReason = 'budget' | 'exhausted' | 'first-violation' | 'time-limit' | 'aborted';

/** Where a violation was first seen: schedule index and sub-strategy (`pct-3`, `random`). */
export interface FirstFound {
  /** Index of the schedule (within the whole exploration, across shards) that first showed it. */
  schedule: number;
  /** The sub-strategy that ran that schedule: `random`, `pct-3`, `dfs`, ... */
  strategy: string;
}

/** What `explore` found. */
export interface ExploreResult {
  /** Schedules run (not counting shrinking and diagram replays). */
  schedules: number;
  /** True when dfs enumerated every schedule within its bound, or dpor every class of schedules. */
  exhausted: boolean;
  /** Distinct violations (by signature), shrunk, each with token and diagram. */
  violations: Violation[];
  /** How many schedules ended with each status. */
  statuses: Record<string, number>;
  /** Longest run in steps. */
  maxSteps: number;
  /** Total scheduling steps executed. */
  totalSteps: number;
  /** Coverage marks summed over the schedules run (see `Simulation.mark`). */
  marks: Record<string, number>;
  /** The strategy explored with (the option, or its default 'swarm'). */
  strategy: StrategyName;
  /** The exploration's seed (the option, or its default 1). */
  seed: number;
  /** What the schedules reached: distinct operations and lock-order edges. */
  coverage: CoverageReport;
  /** Why it stopped. */
  stopped: StopReason;
  /** The shard this result covers ({ index: 0, count: 1 } for a whole exploration). */
  shard: {
    /** The shard's number, in [0, count). */
    index: number;
    /** How many shards the exploration was split into. */
    count: number;
  };
  /** The schedule budget of the whole exploration (all shards). */
  budget: number;
  /** Per violation signature: the schedule that first showed it, and its sub-strategy. */
  firstFound: Record<string, FirstFound>;
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
  'timeLimitMs',
  'signal',
  'coverage',
  'shrink',
  'shrinkRuns',
  'shard',
  'workers',
  'setupModule',
  'onProgress',
  'progressEvery',
] as const;

/** Run options every simulation of an exploration shares (they are in its tokens). */
export interface RunOptions {
  maxSteps: number;
  stepNs: number;
  switches: SwitchSettings | undefined;
}

export interface Normalised extends RunOptions {
  strategy: StrategyName;
  schedules: number;
  seed: number;
  depth: number;
  preemptionBound: number;
  stopOnFirst: boolean;
  timeLimitMs: number;
  signal: AbortSignal | undefined;
  coverage: boolean;
  shrink: boolean;
  shrinkRuns: number;
  shardIndex: number;
  shardCount: number;
  workers: number;
  setupModule: SetupModule | undefined;
  onProgress: ExploreOptions['onProgress'];
  progressEvery: number;
}

/** Validates `explore`'s options, naming the option and the value that is wrong. */
export function normalise(options: ExploreOptions): Normalised {
  if (options === null || typeof options !== 'object') {
    throw new SimUsageError(`explore: options must be an object, got ${describe(options)}`);
  }
  checkKnownKeys('explore', options, EXPLORE_KEYS);
  const strategy = checkOneOf('strategy', options.strategy ?? 'swarm', STRATEGY_NAMES);
  const shard = options.shard ?? { index: 0, count: 1 };
  if (typeof shard !== 'object' || shard === null) {
    throw new SimUsageError(`option 'shard' must be { index, count }, got ${describe(shard)}`);
  }
  const shardCount = checkInteger('shard.count', shard.count, 1);
  const shardIndex = checkInteger('shard.index', shard.index, 0, shardCount - 1);
  if ((strategy === 'dfs' || strategy === 'dpor') && shardCount > 1) {
    throw new SimUsageError(`option 'shard' is supported for 'swarm', 'random' and 'pct', not '${strategy}'`);
  }
  for (const b of ['stopOnFirst', 'shrink', 'coverage'] as const) {
    if (options[b] !== undefined && typeof options[b] !== 'boolean') {
      throw new SimUsageError(`option '${b}' must be a boolean, got ${describe(options[b])}`);
    }
  }
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
    throw new SimUsageError(`option 'onProgress' must be a function`);
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new SimUsageError(`option 'signal' must be an AbortSignal, got ${describe(options.signal)}`);
  }
  switchTable(options.switches);
  const workers =
    options.workers === 'auto'
      ? availableParallelism()
      : checkInteger('workers', options.workers ?? 1, 1, 1024);
  if (workers > 1 && (strategy === 'dfs' || strategy === 'dpor')) {
    throw new SimUsageError(
      `option 'workers' is supported for 'swarm', 'random' and 'pct', not '${strategy}'`,
    );
  }
  const m = options.setupModule;
  if (m !== undefined && (typeof m !== 'object' || m === null || typeof m.path !== 'string')) {
    throw new SimUsageError(`option 'setupModule' must be { path, export?, args? }, got ${describe(m)}`);
  }
  if (workers > 1 && m === undefined) {
    throw new SimUsageError(
      `option 'workers' needs 'setupModule' ({ path, export }): worker threads load the program by module path`,
    );
  }
  return {
    strategy,
    schedules: checkInteger('schedules', options.schedules ?? 1000, 1),
    seed: checkInteger('seed', options.seed ?? 1, 0),
    depth: checkInteger('depth', options.depth ?? 3, 1, 64),
    preemptionBound: checkInteger('preemptionBound', options.preemptionBound ?? 2, 0),
    maxSteps: checkInteger('maxSteps', options.maxSteps ?? DEFAULT_MAX_STEPS, 1),
    stepNs: checkInteger('stepNs', options.stepNs ?? DEFAULT_STEP_NS, 0),
    switches: options.switches,
    stopOnFirst: options.stopOnFirst ?? false,
    timeLimitMs:
      options.timeLimitMs === undefined ? Infinity : checkInteger('timeLimitMs', options.timeLimitMs, 1),
    signal: options.signal,
    coverage: options.coverage ?? true,
    shrink: options.shrink ?? true,
    shrinkRuns: checkInteger('shrinkRuns', options.shrinkRuns ?? 300, 0),
    shardIndex,
    shardCount,
    workers,
    setupModule: m,
    onProgress: options.onProgress,
    progressEvery: checkInteger('progressEvery', options.progressEvery ?? 100, 1),
  };
}

/** Throws a usage error unless `setup` is a function. */
export function checkSetup(setup: unknown, what: string): asserts setup is SetupFn {
  if (typeof setup !== 'function') {
    throw new SimUsageError(
      `${what}: setup must be a function (sim) => { sim.spawn(...) }, got ${describe(setup)}`,
    );
  }
}
