/**
 * `mirrorlab selftest`: the kernel's HMM selftests (tools/testing/selftests/mm/hmm-tests.c),
 * re-created on the model's HMM test device, run for both device-memory variants. One line per case
 * and variant, then the pass count; `--json` for machines. Exit 1 when a case fails, 2 for bad input
 * (an unknown case or variant). Real time is read here only to report speed.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import {
  HMM_SELFTEST_NAMES,
  runHmmSelftests,
  type SelftestResult,
  type SelftestVariant,
} from '../drivers/dmirror/selftests.js';

interface SelftestFlags {
  json?: boolean;
  variant?: SelftestVariant;
}

function caseArg(value: string, previous: string[] = []): string[] {
  if (!HMM_SELFTEST_NAMES.includes(value))
    throw new InvalidArgumentError(`unknown selftest '${value}'; known: ${HMM_SELFTEST_NAMES.join(', ')}`);
  return [...previous, value];
}

function line(r: SelftestResult): string {
  const tag = r.status === 'pass' ? 'ok  ' : r.status === 'skip' ? 'skip' : 'FAIL';
  const name = `${r.name} (${r.variant})`.padEnd(44);
  return `${tag} ${name}${r.message !== undefined ? ` ${r.message}` : ''}`;
}

/** Adds the `selftest` sub-command to `program`. */
export function registerSelftestCommand(program: Command): void {
  program
    .command('selftest')
    .description("run the kernel's HMM selftests on the model's test device (both memory kinds)")
    .argument('[cases...]', `cases to run (default: all ${HMM_SELFTEST_NAMES.length})`)
    .addOption(new Option('--variant <kind>', 'only one device-memory kind').choices(['private', 'coherent']))
    .option('--json', 'machine-readable output')
    .action(async (cases: string[], flags: SelftestFlags) => {
      let names: string[] = [];
      try {
        for (const c of cases) names = caseArg(c, names);
      } catch (e) {
        console.error(`mirrorlab selftest: ${(e as Error).message}`);
        process.exitCode = 2;
        return;
      }
      const t0 = process.hrtime.bigint();
      const results = await runHmmSelftests({
        cases: names.length > 0 ? names : undefined,
        variants: flags.variant !== undefined ? [flags.variant] : undefined,
        onResult: flags.json ? undefined : (r) => console.log(line(r)),
      });
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const passed = results.filter((r) => r.status === 'pass').length;
      const skipped = results.filter((r) => r.status === 'skip').length;
      const failed = results.filter((r) => r.status === 'fail').length;
      if (flags.json) console.log(JSON.stringify({ passed, failed, skipped, seconds, results }, null, 2));
      else
        console.log(
          `${passed}/${results.length} passed, ${failed} failed, ${skipped} skipped (${seconds.toFixed(1)} s)`,
        );
      if (failed > 0) process.exitCode = 1;
    });
}
