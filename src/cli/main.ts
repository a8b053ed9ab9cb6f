#!/usr/bin/env node
/**
 * The `mirrorlab` command. With no arguments it runs the built-in showcase; `list`,
 * `explore` and `replay` work on the built-in scenarios. `--json` gives
 * machine-readable output. Real time is read here only to report speed; nothing
 * inside a simulation sees it.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { explore, replay, STRATEGY_NAMES, type ExploreOptions, type StrategyName } from '../explore/index.js';
import { SimUsageError } from '../sim/violation.js';
import { printResult, runExplore, shardArg, timeLimitArg, writeShardResult } from './explore-run.js';
import { registerMerge } from './merge.js';
import { builtinSetupModule } from './worker-scenarios.js';
import { getScenario, listScenarios, type Scenario } from '../scenario/registry.js';
import '../scenario/builtin/index.js';
import { registerExplain } from './explain.js';
import { registerReport } from './report.js';

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
}

function workersArg(value: string): number | 'auto' {
  return value.trim() === 'auto' ? 'auto' : intArg('--workers', 1)(value);
}

function exploreOptionsFor(s: Scenario, f: ExploreFlags): ExploreOptions {
  return {
    strategy: f.strategy ?? s.defaults?.strategy ?? 'swarm',
    schedules: f.schedules ?? s.defaults?.schedules ?? 2000,
    seed: f.seed ?? 1,
    depth: f.depth ?? s.defaults?.depth ?? 3,
    preemptionBound: f.preemptionBound ?? s.defaults?.preemptionBound ?? 2,
    ...(f.maxSteps !== undefined ? { maxSteps: f.maxSteps } : {}),
    ...(f.shard !== undefined ? { shard: f.shard } : {}),
    ...(f.timeLimit !== undefined ? { timeLimitMs: f.timeLimit } : {}),
    ...(f.stopOnFirst === true ? { stopOnFirst: true } : {}),
    ...(f.workers !== undefined && f.workers !== 1
      ? { workers: f.workers, setupModule: builtinSetupModule(s.name) }
      : {}),
    ...(s.switches !== undefined ? { switches: s.switches } : {}),
  };
}

async function showcase(json: boolean): Promise<void> {
  const items = listScenarios();
  const out: unknown[] = [];
  let failed = false;
  if (!json) {
    console.log('mirrorlab — an executable model of Linux shared virtual memory\n');
    console.log('The showcase explores each built-in scenario: correct designs must stay silent,');
    console.log('planted bugs must be found, drawn as a race diagram, and replayed from their token.\n');
  }
  for (const s of items) {
    const options = exploreOptionsFor(s, {});
    const t0 = process.hrtime.bigint();
    const r = await explore(options, s.setup);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const found = r.violations.length > 0;
    const ok = s.expect === 'violation' ? found : !found;
    let replayed = true;
    if (found) {
      const again = await replay(r.violations[0].token, s.setup);
      replayed = again.violations[0]?.signature === r.violations[0].signature;
    }
    if (!ok || !replayed) failed = true;
    if (json) {
      out.push({ scenario: s.name, expect: s.expect, ok: ok && replayed, seconds, result: r });
      continue;
    }
    console.log(`== ${s.name}: ${s.summary}`);
    console.log(s.description.replace(/^/gm, '  '));
    printResult(s, r, seconds);
    if (found)
      console.log(`  replayed from its token: ${replayed ? 'same violation, step for step' : 'MISMATCH'}`);
    console.log(
      `  ${ok && replayed ? 'as expected' : 'UNEXPECTED'} (expected ${s.expect === 'clean' ? 'no violation' : 'a violation'})\n`,
    );
  }
  if (json) console.log(JSON.stringify(out, null, 2));
  if (failed) process.exitCode = 1;
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
    .action(async (flags: { json?: boolean }) => {
      await showcase(flags.json === true);
    });

  program
    .command('list')
    .description('list the built-in scenarios')
    .option('--json', 'machine-readable output')
    .action((flags: { json?: boolean }) => {
      const items = listScenarios().map((s) => ({ name: s.name, expect: s.expect, summary: s.summary }));
      if (flags.json) console.log(JSON.stringify(items, null, 2));
      else for (const s of items) console.log(`${s.name.padEnd(32)} ${s.expect.padEnd(10)} ${s.summary}`);
    });

  program
    .command('explore')
    .description('explore the schedules of a built-in scenario')
    .argument('<scenario>', 'scenario name (see `mirrorlab list`)')
    .addOption(new Option('--strategy <name>', 'scheduling strategy').choices([...STRATEGY_NAMES]))
    .option('--schedules <n>', 'schedule budget', intArg('--schedules', 1))
    .option('--seed <n>', 'seed', intArg('--seed', 0))
    .option('--depth <d>', 'PCT depth', intArg('--depth', 1))
    .option('--preemption-bound <n>', 'dfs preemption bound', intArg('--preemption-bound', 0))
    .option('--max-steps <n>', 'step limit per schedule', intArg('--max-steps', 1))
    .option('--shard <i/n>', 'run shard i of n; /n reads i from JOB_COMPLETION_INDEX', (v) => shardArg(v))
    .option('--time-limit <duration>', 'stop after this long (90, 90s, 15m, 2h)', timeLimitArg)
    .option('--stop-on-first', 'stop at the first violation')
    .option('--workers <n>', 'worker threads (a number, or auto: one per core)', workersArg)
    .option('--out <dir>', "write this shard's result there as JSON (for `mirrorlab merge`)")
    .option('--json', 'machine-readable output')
    .option('--no-progress', 'no progress bar')
    .action(async (name: string, flags: ExploreFlags) => {
      const s = getScenario(name);
      const options = exploreOptionsFor(s, flags);
      const t0 = process.hrtime.bigint();
      const showProgress = flags.progress !== false && !flags.json && process.stderr.isTTY === true;
      const r = await runExplore(s, options, showProgress);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (flags.out !== undefined) writeShardResult(flags.out, s, r, seconds);
      if (flags.json) console.log(JSON.stringify({ scenario: s.name, seconds, ...r }, null, 2));
      else printResult(s, r, seconds);
      if (r.violations.length > 0) process.exitCode = 1;
    });

  program
    .command('replay')
    .description('replay one schedule of a built-in scenario from its token')
    .argument('<scenario>', 'scenario name')
    .argument('<token>', 'replay token printed by explore')
    .option('--json', 'machine-readable output')
    .action(async (name: string, token: string, flags: { json?: boolean }) => {
      const s = getScenario(name);
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

  await program.parseAsync(argv);
}

main(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) {
    // Help and version exit 0; every option-parsing error (already printed) is bad input.
    process.exitCode = err.exitCode === 0 ? 0 : 2;
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
