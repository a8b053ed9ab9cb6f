import type { SetupFn } from '../sim/simulation.js';
import type { SwitchSettings } from '../sim/switches.js';
import type { StrategyName } from '../explore/options.js';

/** A built-in scenario: a program to explore and what a correct model expects of it. */
export interface Scenario {
  /** Unique name: what `getScenario`, the CLI and the must-find table use. */
  name: string;
  /** One line for `mirrorlab list`. */
  summary: string;
  /** What it demonstrates, for the showcase. */
  description: string;
  /** 'clean' when no schedule may violate; 'violation' when a planted bug must be found. */
  expect: 'clean' | 'violation';
  /** Builds the scenario's world in a fresh simulation; run once per schedule. */
  setup: SetupFn;
  /** Behaviour switches every run of it uses (a planted core bug), passed to explore. */
  switches?: SwitchSettings;
  /** Exploration defaults that suit it. */
  defaults?: {
    /** See ExploreOptions.strategy. */
    strategy?: StrategyName;
    /** See ExploreOptions.schedules. */
    schedules?: number;
    /** See ExploreOptions.depth. */
    depth?: number;
    /** See ExploreOptions.preemptionBound. */
    preemptionBound?: number;
    /** See ExploreOptions.seed. */
    seed?: number;
    /** See ExploreOptions.maxSteps. */
    maxSteps?: number;
  };
}

const scenarios = new Map<string, Scenario>();

/** Adds a scenario to the registry (names are unique). */
export function registerScenario(s: Scenario): void {
  if (scenarios.has(s.name)) throw new Error(`scenario '${s.name}' is registered twice`);
  scenarios.set(s.name, s);
}

/** Every registered scenario, in registration order. */
export function listScenarios(): Scenario[] {
  return [...scenarios.values()];
}

/** The scenario named `name`, or an error listing the known names. */
export function getScenario(name: string): Scenario {
  const s = scenarios.get(name);
  if (s === undefined) {
    throw new Error(`unknown scenario '${name}'; known: ${[...scenarios.keys()].join(', ')}`);
  }
  return s;
}
