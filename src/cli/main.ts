#!/usr/bin/env node
/**
 * The `mirrorlab` command. With no arguments it runs the showcase; `list`, `explore`, `replay`,
 * `run`, `explain`, `report`, `merge`, `selftest` and `schema` are sub-commands; scenarios are
 * built-in names or files (YAML, TypeScript). `--json` gives machine-readable output. Real time is read here only to report speed; nothing
 * inside a simulation sees it.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { replay, STRATEGY_NAMES, type ExploreOptions, type StrategyName } from '../explore/index.js';
import { SimUsageError } from '../sim/violation.js';
import {
  printResult,
  runExplore,
  shardArg,
  runSwitches,
  switchOption,
  timeLimitArg,
  writeShardResult,
} from './explore-run.js';
import { registerMerge } from './merge.js';
import { builtinSetupModule, fileSetupModule } from './worker-scenarios.js';
import type { Scenario } from '../scenario/registry.js';
import '../scenario/builtin/index.js';
import { DriverUnavailableError, ScenarioFileError } from '../scenario/file/errors.js';
import { listRows, printRows, resolveScenario, scenarioRef } from './scenarios.js';
import { registerRunCommand } from './run.js';
import { registerSchemaCommand } from './schema.js';
import { registerSelftestCommand } from './selftest.js';
import { registerExplain } from './explain.js';
import { registerReport, writeExploreReport } from './report.js';
import { showcase } from './showcase.js';
import { OutputPathError, prepareOutputDir, prepareOutputFile } from './output-path.js';
import { registerViewCommand, ViewInputError } from './view.js';

function intArg(name: string, min: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value.trim())) {
      throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got '${value}'`);
    }
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got '${value}'`);
    }
    return n;
  };
}

interface ExploreFlags {
  strategy?: StrategyName;
  schedules?: number;
  seed?: number;
  depth?: number;
  preemptionBound?: number;
  maxSteps?: number;
  shard?: { index: number; count: number };
  timeLimit?: number;
  stopOnFirst?: boolean;
  workers?: number | 'auto';
  out?: string;
  json?: boolean;
  progress?: boolean;
  dir?: string;
  report?: string;
  bench?: string;
  switch?: Record<string, boolean>;
}

function workersArg(value: string): number | 'auto' {
  return value.trim() === 'auto' ? 'auto' : intArg('--workers', 1)(value);
}

/** The exploration options of scenario `s` under the command's flags (flags win over its defaults). */
export function exploreOptionsFor(s: Scenario, f: ExploreFlags): ExploreOptions {
  const workers = f.workers !== undefined && f.workers !== 1;
  // Each worker loads the scenario again: a built-in by name, a file by its path.
  const ref = scenarioRef(s);
  const setupModule = ref === s.name ? builtinSetupModule(s.name) : fileSetupModule(ref);
  const maxSteps = f.maxSteps ?? s.defaults?.maxSteps;
  const strategy = f.strategy ?? s.defaults?.strategy ?? 'swarm';
  // dpor runs unbounded unless --preemption-bound asks for a bound.
  const preemptionBound =
    strategy === 'dpor' ? f.preemptionBound : (f.preemptionBound ?? s.defaults?.preemptionBound ?? 2);
  return {
    strategy,
    schedules: f.schedules ?? s.defaults?.schedules ?? 2000,
    seed: f.seed ?? s.defaults?.seed ?? 1,
    depth: f.depth ?? s.defaults?.depth ?? 3,
    ...(preemptionBound !== undefined ? { preemptionBound } : {}),
    ...(maxSteps !== undefined ? { maxSteps } : {}),
    ...(f.shard !== undefined ? { shard: f.shard } : {}),
    ...(f.timeLimit !== undefined ? { timeLimitMs: f.timeLimit } : {}),
    ...(f.stopOnFirst === true ? { stopOnFirst: true } : {}),
    ...(workers ? { workers: f.workers, setupModule } : {}),
    ...runSwitches(s, f.switch),
  };
}

async function main(argv: string[]): Promise<void> {
  const program = new Command();
  program
    .name('mirrorlab')
    .description('An executable model of Linux shared virtual memory (mmu notifiers, HMM, device mirrors)')
    .option('--json', 'machine-readable output')
    .showHelpAfterError()
    .exitOverride()
    .enablePositionalOptions()
    .option('--verbose', 'the showcase prints every diagram and every scenario')
    .option('--report <file>', 'where the showcase writes its HTML report', 'mirrorlab-report.html')
    .action(async (flags: { json?: boolean; verbose?: boolean; report: string }) => {
      await showcase(
        { json: flags.json === true, verbose: flags.verbose === true, reportPath: flags.report },
        exploreOptionsFor,
      );
    });

  program
    .command('list')
    .description('list the built-in scenarios and the scenario files (scenarios/ or --dir)')
    .option('--json', 'machine-readable output')
    .option('--dir <path>', 'scenarios directory')
    .action(async (flags: { json?: boolean; dir?: string }) => {
      const { rows, invalid } = await listRows(flags.dir);
      if (flags.json) console.log(JSON.stringify(rows, null, 2));
      else printRows(rows);
      if (invalid > 0) process.exitCode = 2;
    });

  program
    .command('explore')
    .description('explore the schedules of a scenario (built-in name or file)')
    .argument('<scenario>', 'scenario name (see `mirrorlab list`) or file (.yaml, .ts, .js)')
    .option('--dir <path>', 'scenarios directory')
    .addOption(new Option('--strategy <name>', 'scheduling strategy').choices([...STRATEGY_NAMES]))
    .option('--schedules <n>', 'schedule budget', intArg('--schedules', 1))
    .option('--seed <n>', 'seed', intArg('--seed', 0))
    .option('--depth <d>', 'PCT depth', intArg('--depth', 1))
    .option(
      '--preemption-bound <n>',
      'preemption bound (dfs: default 2; dpor: unbounded unless given)',
      intArg('--preemption-bound', 0),
    )
    .option('--max-steps <n>', 'step limit per schedule', intArg('--max-steps', 1))
    .option('--shard <i/n>', 'run shard i of n; /n reads i from JOB_COMPLETION_INDEX', (v) => shardArg(v))
    .option('--time-limit <duration>', 'stop after this long (90, 90s, 15m, 2h)', timeLimitArg)
    .option('--stop-on-first', 'stop at the first violation')
    .addOption(switchOption())
    .option(
      '--workers <n>',
      'worker threads (a number, or auto: one per core), each loading the scenario or file',
      workersArg,
    )
    .option('--out <dir>', "write this shard's result there as JSON (for `mirrorlab merge`)")
    .option('--json', 'machine-readable output')
    .option('--no-progress', 'no progress bar')
    .option('--report <file>', 'also write a self-contained HTML report there')
    .option('--bench <dir>', 'benchmark results the report charts (default: bench/results)')
    .action(async (name: string, flags: ExploreFlags) => {
      const s = await resolveScenario(name, flags.dir);
      const options = exploreOptionsFor(s, flags);
      // Where the results go is checked before the exploration, which may run for hours.
      if (flags.out !== undefined) prepareOutputDir(flags.out, '--out');
      if (flags.report !== undefined) prepareOutputFile(flags.report, '--report');
      const t0 = process.hrtime.bigint();
      const showProgress = flags.progress !== false && !flags.json && process.stderr.isTTY === true;
      const r = await runExplore(s, options, showProgress);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (r.violations.length > 0) process.exitCode = 1;
      // Printed first: should a file still fail to write, what was found is on the screen.
      if (flags.json) console.log(JSON.stringify({ scenario: s.name, seconds, ...r }, null, 2));
      else printResult(s, r, seconds);
      if (flags.out !== undefined) writeShardResult(flags.out, s, r, seconds);
      if (flags.report !== undefined) {
        const path = await writeExploreReport(s, r, seconds, flags.report, flags.bench);
        if (!flags.json) console.log(`  report: ${path}`);
      }
    });

  program
    .command('replay')
    .description(
      'replay one schedule of a scenario (built-in name or file) from its token or readable schedule',
    )
    .argument('<scenario>', 'scenario name or file')
    .argument('<token>', 'replay token (or readable schedule) printed by explore')
    .option('--json', 'machine-readable output')
    .option('--dir <path>', 'scenarios directory')
    .action(async (name: string, token: string, flags: { json?: boolean; dir?: string }) => {
      const s = await resolveScenario(name, flags.dir);
      const r = await replay(token, s.setup);
      if (flags.json) {
        console.log(JSON.stringify(r, null, 2));
      } else {
        console.log(`status ${r.status}, ${r.steps} steps, ${r.timeNs} ns of virtual time`);
        for (const v of r.violations) console.log(`${v.kind}: ${v.message}`);
        console.log(r.diagram);
      }
      if (r.violations.length > 0) process.exitCode = 1;
    });

  registerExplain(program, intArg);
  registerReport(program, intArg, exploreOptionsFor);
  registerMerge(program);
  registerRunCommand(program, intArg);
  registerSchemaCommand(program);
  registerSelftestCommand(program);
  registerViewCommand(program, intArg);

  await program.parseAsync(argv);
}

main(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) {
    // Help and version exit 0; every option-parsing error (already printed) is bad input.
    process.exitCode = err.exitCode === 0 ? 0 : 2;
    return;
  }
  if (
    err instanceof ScenarioFileError ||
    err instanceof DriverUnavailableError ||
    err instanceof ViewInputError ||
    err instanceof OutputPathError
  ) {
    console.error(`mirrorlab: ${err.message}`);
    process.exitCode = 2;
    return;
  }
  if (err instanceof SimUsageError || (err instanceof Error && /^unknown scenario/.test(err.message))) {
    console.error(`mirrorlab: ${err.message}`);
    process.exitCode = 2;
    return;
  }
  console.error(err);
  process.exitCode = 2;
});
