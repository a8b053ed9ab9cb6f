/**
 * mirrorlab: an executable model of Linux shared virtual memory.
 *
 * The public surface: the deterministic runtime (src/sim), the interval tree
 * (src/lib), the memory model (src/mm), the mmu notifier core (src/notifier) and the
 * built-in scenarios (src/scenario).
 */
export * from './sim/index.js';
export * from './explore/index.js';
export { IntervalTree, type IntervalNode } from './lib/interval-tree.js';
export * from './mm/index.js';
export * from './notifier/index.js';
export { registerScenario, listScenarios, getScenario, type Scenario } from './scenario/registry.js';
