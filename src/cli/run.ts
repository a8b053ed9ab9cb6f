/**
 * `mirrorlab run <scenario|file>`: one schedule of a scenario, traced, with its statistics and
 * optionally the trace as a trace document (`--trace out.json`, src/report/trace-file.ts; `mirrorlab view out.json` shows it). Exit code 1 when the run found a violation.
 */
import type { Command } from 'commander';
import { Simulation, plainRunResult } from '../sim/simulation.js';
import { replay } from '../explore/index.js';
import { runStats, type RunStats } from '../scenario/file/stats.js';
import { resolveScenario, scenarioRef } from './scenarios.js';
import { traceDocument } from '../report/trace-file.js';
import { runSwitches, switchOption } from './explore-run.js';
import { prepareOutputFile, writeOutputFile } from './output-path.js';

interface RunFlags {
  seed?: number;
  maxSteps?: number;
  trace?: string;
  json?: boolean;
  dir?: string;
  switch?: Record<string, boolean>;
}

function fmt(v: number | null): string {
  return v === null ? 'n/a (not observable in this build)' : String(v);
}

function fmtMap(m: Record<string, number> | null): string {
  if (m === null) return 'n/a (not observable in this build)';
  const e = Object.entries(m);
  return e.length === 0 ? '0' : e.map(([k, v]) => `${k} ${v}`).join(', ');
}

/** Prints the statistics as an aligned table. */
export function printStats(s: RunStats): void {
  const rows: [string, string][] = [
    ['status', s.status],
    ['steps', String(s.steps)],
    ['virtual time', `${s.virtualTimeNs} ns`],
    ['threads', String(s.threads)],
    ['preemptions', String(s.preemptions)],
    ...(s.ops === null
      ? []
      : ([
          ['scenario ops', fmt(s.ops)],
          ['ops failed (-errno)', fmtMap(s.opErrors)],
          ['ops skipped', fmt(s.opsSkipped)],
        ] as [string, string][])),
    ['CPU accesses', String(s.cpuAccesses)],
    ['CPU faults', fmt(s.cpuFaults)],
    ...(s.pteChanges === null ? [] : ([['PTE changes', fmt(s.pteChanges)]] as [string, string][])),
    ...(s.deviceAccesses === null
      ? []
      : ([['device accesses', fmt(s.deviceAccesses)]] as [string, string][])),
    ['device faults', fmt(s.deviceFaults)],
    ['invalidations', fmtMap(s.invalidations)],
    ['notifier callbacks', fmtMap(s.notifierCallbacks)],
    ['retries', fmt(s.retries)],
    ['collisions', fmt(s.collisions)],
  ];
  for (const [k, v] of rows) console.log(`  ${k.padEnd(20)} ${v}`);
}

/** Adds the `run` sub-command. `intArg` is main's integer option parser. */
export function registerRunCommand(
  program: Command,
  intArg: (name: string, min: number) => (v: string) => number,
): void {
  program
    .command('run')
    .description('run one schedule of a scenario (built-in name or file) and print its statistics')
    .argument('<scenario>', 'scenario name or file (.yaml, .ts, .js)')
    .option('--seed <n>', 'seed of the schedule', intArg('--seed', 0))
    .option('--max-steps <n>', 'step limit', intArg('--max-steps', 1))
    .addOption(switchOption())
    .option('--trace <file>', 'write the trace as JSON to this file')
    .option('--dir <path>', 'scenarios directory')
    .option('--json', 'machine-readable output')
    .action(async (name: string, flags: RunFlags) => {
      const s = await resolveScenario(name, flags.dir);
      const tracePath = flags.trace !== undefined ? prepareOutputFile(flags.trace, '--trace') : undefined;
      const seed = flags.seed ?? s.defaults?.seed ?? 1;
      const maxSteps = flags.maxSteps ?? s.defaults?.maxSteps ?? 100_000;
      const sim = new Simulation({
        seed,
        maxSteps,
        trace: true,
        ...runSwitches(s, flags.switch),
      });
      const run = await sim.run(s.setup);
      const stats = runStats(sim, run);
      const plain = plainRunResult(run);
      if (run.violations.length > 0) process.exitCode = 1;
      if (tracePath !== undefined) {
        const doc = traceDocument(s.name, plain, { ...stats });
        writeOutputFile(tracePath, JSON.stringify(doc, null, 1) + '\n', '--trace');
      }
      if (flags.json) {
        const { trace: _trace, ...rest } = plain;
        console.log(JSON.stringify({ scenario: s.name, ...rest, stats }, null, 2));
      } else {
        console.log(`${s.name}: one schedule (seed ${seed})`);
        printStats(stats);
        // The replay draws the diagram (a plain run does not); it is the same schedule.
        const drawn = run.violations.length > 0 ? (await replay(run.token, s.setup)).violations : [];
        for (const v of drawn) {
          console.log(`\n  ${v.kind}: ${v.message}`);
          console.log(v.diagram.replace(/^/gm, '    '));
        }
        console.log(`\n  replay: mirrorlab replay ${scenarioRef(s)} ${run.token}`);
        if (flags.trace !== undefined) console.log(`  trace written to ${flags.trace}`);
      }
    });
}
