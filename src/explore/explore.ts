import { hostNowMs } from './host-clock.js';
import { deriveSeed, Prng } from '../sim/prng.js';
import { releaseRetiredBuffers } from '../sim/buffers.js';
import { Simulation, type RunResult, type SetupFn } from '../sim/simulation.js';
import { SourceDporStrategy } from './dpor/source-dpor.js';
import { DfsStrategy, PctStrategy, RandomStrategy, type Strategy } from '../sim/strategy.js';
import type { Violation } from '../sim/violation.js';
import { Coverage } from './coverage.js';
import {
  checkSetup,
  normalise,
  type ExploreOptions,
  type ExploreResult,
  type FirstFound,
  type Normalised,
  type StopReason,
} from './options.js';
import { explainRun } from './replay.js';
import { shrinkRun } from './shrink.js';
import { exploreOnWorkers } from './workers.js';

/**
 * The swarm's mix, by schedule index modulo its length: uniform random, random with a
 * switch probability drawn per schedule (twice), and pct at depths 2, 3 and 5. Interleaved
 * by index, so any prefix of the budget, any shard and any time limit gets the same mix.
 */
const SWARM: readonly { kind: 'random' | 'random-p' | 'pct'; depth: number }[] = [
  { kind: 'random', depth: 0 },
  { kind: 'pct', depth: 2 },
  { kind: 'random-p', depth: 0 },
  { kind: 'pct', depth: 3 },
  { kind: 'random-p', depth: 0 },
  { kind: 'pct', depth: 5 },
];

const yieldToHost = (): Promise<void> => new Promise((r) => setImmediate(r));

/** The strategy of schedule `i` and its label (`pct-3`, `random-p0.42`). */
function strategyFor(o: Normalised, i: number, seed: number, expected: number): [Strategy, string] {
  if (o.strategy === 'random') return [new RandomStrategy(seed), 'random'];
  if (o.strategy === 'pct') return [new PctStrategy(seed, o.depth, expected), `pct-${o.depth}`];
  const slot = SWARM[i % SWARM.length];
  if (slot.kind === 'pct') return [new PctStrategy(seed, slot.depth, expected), `pct-${slot.depth}`];
  if (slot.kind === 'random') return [new RandomStrategy(seed), 'random'];
  // A switch probability in [0.05, 0.95), from the schedule's own seed.
  const p = 0.05 + 0.9 * new Prng(seed ^ 0x2545f491).next();
  return [new RandomStrategy(seed, p), `random-p${p.toFixed(2)}`];
}

/**
 * Explores schedules of the program `setup` builds (stateless model checking: the world is
 * built afresh for every schedule). Returns the distinct violations found, each shrunk to a
 * short schedule, with its replay token, readable schedule and race diagram, and the
 * coverage the schedules reached.
 */
export async function explore(options: ExploreOptions, setup: SetupFn): Promise<ExploreResult> {
  const o = normalise(options);
  checkSetup(setup, 'explore');
  if (o.workers > 1) return exploreOnWorkers(o, setup);
  const found = new Map<string, { violation: Violation; run: RunResult }>();
  const firstFound: Record<string, FirstFound> = {};
  const statuses: Record<string, number> = {};
  const marks: Record<string, number> = {};
  const coverage = new Coverage();
  let runs = 0;
  let maxSteps = 0;
  let totalSteps = 0;
  let stopped: StopReason = 'budget';
  const dfs =
    o.strategy === 'dfs'
      ? new DfsStrategy(o.preemptionBound)
      : o.strategy === 'dpor'
        ? new SourceDporStrategy(options.preemptionBound ?? Infinity)
        : null;
  let expected = 100;
  // Wall time bounds how many schedules run (between schedules only); see host-clock.ts.
  const deadline = o.timeLimitMs === Infinity ? Infinity : hostNowMs() + o.timeLimitMs;
  const progress = (): void =>
    o.onProgress?.(runs, o.schedules, found.size, {
      operations: coverage.operations.size,
      lockEdges: coverage.lockEdges.size,
    });

  for (let i = o.shardIndex; i < o.schedules; i += o.shardCount) {
    if (o.signal?.aborted === true) {
      stopped = 'aborted';
      break;
    }
    if (deadline !== Infinity && hostNowMs() >= deadline) {
      stopped = 'time-limit';
      break;
    }
    const seed = deriveSeed(o.seed, i);
    let strategy: Strategy;
    let label: string;
    if (dfs !== null) [strategy, label] = [dfs, o.strategy];
    else [strategy, label] = strategyFor(o, i, seed, expected);
    const sim = new Simulation({
      seed: dfs !== null ? o.seed : seed,
      strategy,
      maxSteps: o.maxSteps,
      stepNs: o.stepNs,
      switches: o.switches,
      coverage: o.coverage,
    });
    const run = await sim.run(setup);
    runs++;
    coverage.addRun(sim);
    totalSteps += run.steps;
    if (run.steps > maxSteps) maxSteps = run.steps;
    // PCT's k: the longest run seen so far estimates the run length.
    if (run.steps > expected) expected = run.steps;
    statuses[run.status] = (statuses[run.status] ?? 0) + 1;
    for (const [name, n] of sim.marksReached()) marks[name] = (marks[name] ?? 0) + n;
    let kept = false;
    for (const v of run.violations) {
      if (!found.has(v.signature)) {
        found.set(v.signature, { violation: v, run });
        firstFound[v.signature] = { schedule: i, strategy: label };
        kept = true;
      }
    }
    // Nothing reads the world from here on (a found violation keeps its run's decisions).
    sim.retireBuffers();
    if (!kept) sim.releaseLogs();
    if (runs % o.progressEvery === 0) progress();
    if (runs % 64 === 0) {
      await yieldToHost();
      // A host turn: no code of a finished world is pending any more (src/sim/buffers.ts).
      releaseRetiredBuffers();
    }
    if (dfs !== null && !dfs.advance()) {
      stopped = 'exhausted';
      break;
    }
    if (o.stopOnFirst && found.size > 0) {
      stopped = 'first-violation';
      break;
    }
  }
  progress();

  const violations: Violation[] = [];
  for (const { violation, run } of found.values()) {
    const best = o.shrink ? await shrinkRun(run, violation.signature, setup, o, o.shrinkRuns) : run;
    violations.push(await explainRun(best, violation.signature, setup, o));
  }
  return {
    schedules: runs,
    exhausted: stopped === 'exhausted',
    violations,
    statuses,
    maxSteps,
    totalSteps,
    marks,
    strategy: o.strategy,
    seed: o.seed,
    coverage: coverage.report(),
    stopped,
    shard: { index: o.shardIndex, count: o.shardCount },
    budget: o.schedules,
    firstFound,
  };
}
