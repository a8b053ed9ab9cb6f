/**
 * `mirrorlab report [scenario...] --out FILE`: explores the named scenarios (every built-in
 * one by default) under their own exploration settings and writes the HTML report, with the
 * benchmark curves of `npm run bench` when its results exist (`--bench DIR`).
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { buildReport, type ReportScenario } from '../report/html.js';
import { reportScenario } from '../report/from-explore.js';
import { defaultBenchDir, loadBenchCharts } from '../report/bench-file.js';
import { explore, type ExploreOptions, type ExploreResult } from '../explore/index.js';
import { getScenario, listScenarios, type Scenario } from '../scenario/registry.js';
import { prepareOutputFile, writeOutputFile } from './output-path.js';

/** Explores `scenarios` and writes the report to `out`; returns the sections written. */
export async function writeReport(
  scenarios: readonly Scenario[],
  out: string,
  command: string,
  optionsFor: (s: Scenario) => ExploreOptions,
  benchDir: string = defaultBenchDir(),
): Promise<ReportScenario[]> {
  const sections: ReportScenario[] = [];
  for (const s of scenarios) {
    const options = optionsFor(s);
    // Coverage growth for the report's chart: about 20 points over the budget.
    const coverage: { schedules: number; value: number }[] = [{ schedules: 0, value: 0 }];
    const t0 = process.hrtime.bigint();
    const r = await explore(
      {
        ...options,
        progressEvery: Math.max(1, Math.floor((options.schedules ?? 1000) / 20)),
        onProgress: (done, _total, _violations, c) => {
          // The last batch is reported again when the exploration ends.
          if (done > coverage[coverage.length - 1].schedules)
            coverage.push({ schedules: done, value: c.operations + c.lockEdges });
        },
      },
      s.setup,
    );
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    sections.push(await reportScenario(s, r, seconds, { coverage }));
  }
  writeOutputFile(
    out,
    buildReport({
      title: 'mirrorlab report',
      command,
      scenarios: sections,
      bench: loadBenchCharts(benchDir),
    }),
    '--out',
  );
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
    .option('--bench <dir>', 'benchmark results to chart (default: MIRRORLAB_BENCH_RESULTS or bench/results)')
    .action(
      async (names: string[], flags: { out: string; schedules?: number; seed?: number; bench?: string }) => {
        const scenarios = names.length > 0 ? names.map((n) => getScenario(n)) : listScenarios();
        const out = prepareOutputFile(flags.out, '--out');
        const sections = await writeReport(
          scenarios,
          out,
          `mirrorlab report ${process.argv.slice(3).join(' ')}`.trim(),
          (s) => optionsFor(s, flags),
          flags.bench !== undefined ? resolve(flags.bench) : defaultBenchDir(),
        );
        const unexpected = sections.filter((s) => !s.ok).length;
        console.log(`wrote ${out}: ${sections.length} scenarios, ${unexpected} not as expected`);
        if (unexpected > 0) process.exitCode = 1;
      },
    );
}

/**
 * `mirrorlab explore <scenario> --report FILE`: the report of one finished exploration (its
 * violations replayed and drawn) with the benchmark curves; returns the path written.
 */
export async function writeExploreReport(
  s: Scenario,
  r: ExploreResult,
  seconds: number,
  file: string,
  benchDir?: string,
): Promise<string> {
  const out = resolve(file);
  const section = await reportScenario(s, r, seconds);
  writeOutputFile(
    out,
    buildReport({
      title: `mirrorlab explore ${s.name}`,
      command: `mirrorlab ${process.argv.slice(2).join(' ')}`,
      scenarios: [section],
      bench: loadBenchCharts(benchDir !== undefined ? resolve(benchDir) : defaultBenchDir()),
    }),
    '--report',
  );
  return out;
}
