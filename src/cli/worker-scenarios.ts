/**
 * How worker threads of `mirrorlab explore --workers` find a built-in scenario: by module
 * path (this file) and name.
 */
import { getScenario, type Scenario } from '../scenario/registry.js';
import '../scenario/builtin/index.js';
import type { SetupModule } from '../explore/index.js';

/** The built-in scenario `name` (a worker's setup module export). */
export function builtinScenario(name: string): Scenario {
  return getScenario(name);
}

/** The SetupModule that loads built-in scenario `name` in a worker. */
export function builtinSetupModule(name: string): SetupModule {
  const here = import.meta.url;
  return {
    path: new URL(here.endsWith('.ts') ? './worker-scenarios.ts' : './worker-scenarios.js', here).href,
    export: 'builtinScenario',
    args: [name],
  };
}
