/**
 * The `switches:` field of a scenario file: behaviour switches of every run (src/sim/switches.ts),
 * checked against the registered switch names at load time, so a misspelt name is bad input with
 * its place in the file and a suggestion, not an error thrown when the first run starts.
 *
 * The modules that declare switches are imported here, so the names are known whatever else the
 * caller loaded.
 */
import { knownSwitches } from '../../sim/switches.js';
import '../../notifier/debug.js';
import '../../drivers/legacy/switches.js';
import '../../drivers/gpusvm/switches.js';
import { didYouMean } from './suggest.js';

/** The registered switch names, in declaration order. */
export function switchNames(): string[] {
  return knownSwitches().map((s) => s.name);
}

/**
 * One message per unknown name in `switches` (values are booleans by the schema), each with the
 * closest registered name when one is close and the list of every name.
 */
export function unknownSwitches(switches: Record<string, boolean>): { name: string; message: string }[] {
  const names = switchNames();
  return Object.keys(switches)
    .filter((n) => !names.includes(n))
    .map((n) => ({
      name: n,
      message: `unknown switch ${JSON.stringify(n)}${didYouMean(n, names)}; switches: ${names.join(', ')}`,
    }));
}
