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
import '../../drivers/mirror/device-mirror.js';
import '../../check/options.js';
import { didYouMean } from './suggest.js';
import type { CheckerName, ScenarioFile } from './types.js';

/** The checkers of `checkers:` that are run switches (src/check/options.ts), by checker name. */
const CHECKER_SWITCH: Partial<Record<CheckerName, string>> = {
  coherence: 'check.coherence',
  'page-lifetime': 'check.pageLifetime',
  'lost-writes': 'check.lostWrites',
  liveness: 'check.liveness',
};

/**
 * The switches every run of `doc` uses: a `checkers:` list turns the checkers it names on and the
 * others off (those that are switches; `read-values` is the file's own, `kernel-assertions` the
 * core's, always on), then `switches:` as written.
 */
export function runSwitches(doc: ScenarioFile): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  if (doc.checkers !== undefined) {
    for (const [checker, sw] of Object.entries(CHECKER_SWITCH))
      out[sw] = doc.checkers.includes(checker as CheckerName);
  }
  return { ...out, ...(doc.switches ?? {}) };
}

/** `switches:` entries that contradict `checkers:` (a check.* switch against the list). */
export function checkerConflicts(doc: ScenarioFile): { name: string; message: string }[] {
  if (doc.checkers === undefined || doc.switches === undefined) return [];
  const out: { name: string; message: string }[] = [];
  for (const [checker, sw] of Object.entries(CHECKER_SWITCH)) {
    const listed = doc.checkers.includes(checker as CheckerName);
    if (sw in doc.switches && doc.switches[sw] !== listed)
      out.push({
        name: sw,
        message: `switch '${sw}' is ${String(doc.switches[sw])} but checkers ${listed ? 'lists' : 'does not list'} '${checker}'`,
      });
  }
  return out;
}

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
