import { checkKnownKeys, DEFAULT_MAX_STEPS, DEFAULT_STEP_NS } from '../sim/options.js';
import { isReadableSchedule, parseSchedule, ScheduleReplayStrategy } from '../sim/schedule.js';
import { Simulation, plainRunResult, type RunResult, type SetupFn } from '../sim/simulation.js';
import { ReplayStrategy } from '../sim/strategy.js';
import type { SwitchSettings } from '../sim/switches.js';
import { decodeToken } from '../sim/token.js';
import { renderDiagram } from '../sim/trace.js';
import { SimUsageError, type Violation } from '../sim/violation.js';
import { renderRaceDiagram } from './diagram.js';
import { checkSetup, type RunOptions } from './options.js';

/** Options of `replay` and `simulate`. */
export interface ReplayOptions {
  /** Step limit of the run. Default: the token's, else DEFAULT_MAX_STEPS. */
  maxSteps?: number;
  /** Virtual nanoseconds per scheduling step. Default: the token's, else 10. */
  stepNs?: number;
  /** Switches to set on top of those the token records (a replay with a switch changed). */
  switches?: SwitchSettings;
}

/** The race diagram of violation `v` of a traced run. */
export function diagramOf(run: RunResult, v: Violation): string {
  return renderRaceDiagram(run.trace ?? [], v);
}

/** Replays `run` with tracing on and returns its violation `signature` with the diagram filled in. */
export async function explainRun(
  run: RunResult,
  signature: string,
  setup: SetupFn,
  o: RunOptions,
): Promise<Violation> {
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
): Promise<
  RunResult & {
    /** The race diagram of the first violation, or the run's whole trace when none was found. */
    diagram: string;
  }
> {
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
