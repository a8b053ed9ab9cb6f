import { pathToFileURL } from 'node:url';
import type { SetupFn } from '../sim/simulation.js';
import { SimUsageError } from '../sim/violation.js';
import type { SetupModule } from './options.js';

/** Resolves a SetupModule to the setup function it names. */
export async function loadSetup(m: SetupModule): Promise<SetupFn> {
  const url = /^[a-z]+:/.test(m.path) ? m.path : pathToFileURL(m.path).href;
  const mod = (await import(url)) as Record<string, unknown>;
  const name = m.export ?? 'default';
  let value = mod[name];
  if (m.args !== undefined) {
    if (typeof value !== 'function')
      throw new SimUsageError(`setup module ${m.path}: export '${name}' is not a function`);
    value = await (value as (...a: unknown[]) => unknown)(...m.args);
  }
  if (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as { setup?: unknown }).setup === 'function'
  ) {
    value = (value as { setup: SetupFn }).setup;
  }
  if (typeof value !== 'function') {
    throw new SimUsageError(
      `setup module ${m.path}: export '${name}' is neither a setup function nor an object with one (a scenario)`,
    );
  }
  return value as SetupFn;
}
