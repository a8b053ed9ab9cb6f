/**
 * How worker threads of `mirrorlab explore --workers` find their scenario: by module path
 * (this file) and a built-in's name or a scenario file's path.
 */
import { resolve } from 'node:path';
import { getScenario, type Scenario } from '../scenario/registry.js';
import '../scenario/builtin/index.js';
// Every driver of this build, so a scenario file may name any of them (as on the command line).
import '../drivers/index.js';
import { assertRunnable, loadScenarioFile } from '../scenario/file/load.js';
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

/** The scenario of file `path` (YAML or module), loaded as the command line loads it. */
export async function fileScenario(path: string): Promise<Scenario> {
  const s = await loadScenarioFile(path);
  assertRunnable(s);
  return s;
}

/** The SetupModule that loads scenario file `path` in a worker (made absolute here). */
export function fileSetupModule(path: string): SetupModule {
  const here = import.meta.url;
  return {
    path: new URL(here.endsWith('.ts') ? './worker-scenarios.ts' : './worker-scenarios.js', here).href,
    export: 'fileScenario',
    args: [resolve(path)],
  };
}
