/**
 * Turns exploration results into the report's input: each violation is replayed from its
 * token with tracing on, then drawn as a race diagram (SVG and text) and a timeline.
 */
import { renderRaceDiagram, renderRaceDiagramSvg } from '../explore/diagram.js';
import { replay, type ExploreResult } from '../explore/index.js';
import type { SetupFn } from '../sim/simulation.js';
import type { ReportScenario, ReportViolation } from './html.js';
import { timelineOf } from './timeline.js';

/** What the report needs to know of a scenario besides its result. */
export interface ReportedScenario {
  name: string;
  description: string;
  expect: 'clean' | 'violation';
  setup: SetupFn;
}

/** Builds the report section of one explored scenario (replays each violation once). */
export async function reportScenario(
  s: ReportedScenario,
  r: ExploreResult,
  seconds: number,
  extra: Pick<ReportScenario, 'coverage' | 'stats'> = {},
): Promise<ReportScenario> {
  const violations: ReportViolation[] = [];
  for (const v of r.violations) {
    const run = await replay(v.token, s.setup);
    const rv = run.violations.find((x) => x.signature === v.signature) ?? run.violations[0] ?? v;
    const trace = run.trace ?? [];
    violations.push({
      kind: v.kind,
      message: v.message,
      signature: v.signature,
      token: v.token,
      replay: `mirrorlab replay ${s.name} ${v.token}`,
      diagramSvg: renderRaceDiagramSvg(trace, rv),
      diagramText: renderRaceDiagram(trace, rv),
      timeline: timelineOf(trace, { step: rv.step, thread: rv.thread, text: `${rv.kind}: ${rv.message}` }),
    });
  }
  const found = r.violations.length > 0;
  return {
    name: s.name,
    description: s.description,
    expect: s.expect,
    strategy: r.strategy,
    schedules: r.schedules,
    steps: r.totalSteps,
    seconds,
    ok: s.expect === 'violation' ? found : !found,
    violations,
    ...extra,
  };
}
