/**
 * `mirrorlab report [scenario...] --out FILE`: explores the named scenarios (every built-in
 * one by default) under their own exploration settings and writes the HTML report.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { buildReport, type ReportScenario } from '../report/html.js';
import { reportScenario } from '../report/from-explore.js';
import { explore, type ExploreOptions } from '../explore/index.js';
import { getScenario, listScenarios, type Scenario } from '../scenario/registry.js';

/** Explores `scenarios` and writes the report to `out`; returns the sections written. */
export async function writeReport(
  scenarios: readonly Scenario[],
  out: string,
  command: string,
  optionsFor: (s: Scenario) => ExploreOptions,
): Promise<ReportScenario[]> {
  const sections: ReportScenario[] = [];
  for (const s of scenarios) {
    const t0 = process.hrtime.bigint();
    const r = await explore(optionsFor(s), s.setup);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    sections.push(await reportScenario(s, r, seconds));
  }
  writeFileSync(out, buildReport({ title: 'mirrorlab report', command, scenarios: sections }));
  return sections;
}

/** Adds the `report` command to the program. */
export function registerReport(
  program: Command,
  intArg: (name: string, min: number) => (v: string) => number,
  optionsFor: (s: Scenario, flags: { schedules?: number; seed?: number }) => ExploreOptions,
): void {
  program
    .command('report')
    .description('explore scenarios (every built-in one by default) and write a self-contained HTML report')
    .argument('[scenarios...]', 'scenario names (see `mirrorlab list`)')
    .option('--out <file>', 'where to write the report', 'mirrorlab-report.html')
    .option('--schedules <n>', 'schedule budget per scenario', intArg('--schedules', 1))
    .option('--seed <n>', 'seed', intArg('--seed', 0))
    .action(async (names: string[], flags: { out: string; schedules?: number; seed?: number }) => {
      const scenarios = names.length > 0 ? names.map((n) => getScenario(n)) : listScenarios();
      const out = resolve(flags.out);
      const sections = await writeReport(
        scenarios,
        out,
        `mirrorlab report ${process.argv.slice(3).join(' ')}`.trim(),
        (s) => optionsFor(s, flags),
      );
      const unexpected = sections.filter((s) => !s.ok).length;
      console.log(`wrote ${out}: ${sections.length} scenarios, ${unexpected} not as expected`);
      if (unexpected > 0) process.exitCode = 1;
    });
}
