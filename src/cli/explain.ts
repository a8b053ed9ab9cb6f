/**
 * `mirrorlab explain <scenario> <token>`: replays one schedule and explains its violation —
 * the race diagram, the full trace around the violating step, and which checker fired and
 * why, in words.
 */
import type { Command } from 'commander';
import { explainRun } from '../explore/explain.js';
import { replay } from '../explore/index.js';
import { resolveScenario } from './scenarios.js';

/** Adds the `explain` command to the program. */
export function registerExplain(
  program: Command,
  intArg: (name: string, min: number) => (v: string) => number,
): void {
  program
    .command('explain')
    .description('replay a schedule from its token and explain its violation in words')
    .argument('<scenario>', 'scenario name (see `mirrorlab list`) or file (.yaml, .ts, .js)')
    .argument('<token>', 'replay token printed by explore')
    .option(
      '--around <n>',
      'trace entries to show either side of the violating step',
      intArg('--around', 0),
      12,
    )
    .option('--json', 'machine-readable output')
    .action(async (name: string, token: string, flags: { around: number; json?: boolean }) => {
      const s = await resolveScenario(name);
      const run = await replay(token, s.setup);
      if (flags.json) {
        console.log(
          JSON.stringify(
            { scenario: s.name, explanation: explainRun(run, { around: flags.around }), run },
            null,
            2,
          ),
        );
      } else {
        console.log(explainRun(run, { around: flags.around }));
      }
      if (run.violations.length > 0) process.exitCode = 1;
    });
}
