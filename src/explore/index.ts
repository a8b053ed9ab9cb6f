/**
 * The exploration engine: explore (swarm, random, pct, dfs over fresh worlds), shrinking,
 * replay of tokens and readable schedules, coverage. Observes the runtime (src/sim) from
 * above; the runtime never imports it.
 */
export { explore } from './explore.js';
export { replay, simulate, type ReplayOptions } from './replay.js';
export {
  STRATEGY_NAMES,
  type ExploreOptions,
  type ExploreProgress,
  type ExploreResult,
  type FirstFound,
  type SetupModule,
  type StopReason,
  type StrategyName,
} from './options.js';
export { describeCoverage, type CoverageReport } from './coverage.js';
export { mergeResults } from './merge.js';
