/**
 * `mirrorlab explore`'s long-run machinery: the progress bar (a terminal only, never in CI
 * logs), Ctrl-C that stops between schedules and still prints and writes what was found,
 * shard selection from a Kubernetes Indexed Job, and the shard result files `merge` reads.
 */
import { scenarioRef } from './scenarios.js';
import { prepareOutputDir, writeOutputFile } from './output-path.js';
import { join } from 'node:path';
import { InvalidArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import { describeCoverage, explore, type ExploreOptions, type ExploreResult } from '../explore/index.js';
import type { Scenario } from '../scenario/registry.js';

/** Format tag of a shard result file. */
export const SHARD_FORMAT = 'mirrorlab-explore/1';

/** A shard result file: what `--out DIR` writes and `mirrorlab merge` reads. */
export interface ShardFile {
  format: typeof SHARD_FORMAT;
  scenario: string;
  seconds: number;
  result: ExploreResult;
}

/**
 * Parses `--shard i/n`, or `--shard /n` to take i from a Kubernetes Indexed Job's
 * JOB_COMPLETION_INDEX (read from `env`).
 */
export function shardArg(
  value: string,
  env: NodeJS.ProcessEnv = process.env,
): { index: number; count: number } {
  const m = /^(\d*)\/(\d+)$/.exec(value.trim());
  if (!m) {
    throw new InvalidArgumentError(
      `--shard must look like i/n (e.g. 0/4), or /n to read i from JOB_COMPLETION_INDEX, got '${value}'`,
    );
  }
  let indexText = m[1];
  if (indexText === '') {
    const fromEnv = env.JOB_COMPLETION_INDEX;
    if (fromEnv === undefined || !/^\d+$/.test(fromEnv.trim())) {
      throw new InvalidArgumentError(
        `--shard ${value} takes the shard index from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job), ` +
          `which is ${fromEnv === undefined ? 'not set' : `'${fromEnv}'`}`,
      );
    }
    indexText = fromEnv.trim();
  }
  const index = Number(indexText);
  const count = Number(m[2]);
  if (count < 1 || index >= count) {
    throw new InvalidArgumentError(`--shard i/n needs 0 <= i < n, got ${index}/${count}`);
  }
  return { index, count };
}

/** Parses `--time-limit`: seconds, or a number with s, m or h. */
export function timeLimitArg(value: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(value.trim());
  const unit = { s: 1000, m: 60_000, h: 3_600_000 };
  const ms = m ? Math.round(Number(m[1]) * unit[(m[2] ?? 's') as 's' | 'm' | 'h']) : NaN;
  if (!Number.isSafeInteger(ms) || ms < 1) {
    throw new InvalidArgumentError(
      `--time-limit must be a duration such as 90, 90s, 15m or 2h, got '${value}'`,
    );
  }
  return ms;
}

/**
 * Parses one `--switch name[=on|off]` (repeatable; `true`/`false` too): a behaviour switch of
 * the run (a planted bug, a fix, a debug check such as `sim.awaitCheck`), set over the
 * scenario's own switches and recorded in every token. Returns the switches so far with this
 * one set. A name no layer declared is reported when the run starts, with the known names
 * (a scenario file may declare switches of its own when it loads).
 */
export function switchArg(value: string, previous?: Record<string, boolean>): Record<string, boolean> {
  const m = /^([a-z][a-zA-Z0-9]*(?:\.[a-zA-Z0-9]+)+)(?:=(on|off|true|false))?$/.exec(value.trim());
  if (!m) {
    throw new InvalidArgumentError(
      `--switch takes a switch name, optionally =on or =off (e.g. gpusvm.removeInCallback, sim.awaitCheck=off), got '${value}'`,
    );
  }
  return { ...previous, [m[1]]: m[2] === undefined || m[2] === 'on' || m[2] === 'true' };
}

/** The `--switch` option of `explore` and `run` (see switchArg). */
export function switchOption(): Option {
  return new Option(
    '--switch <name[=on|off]>',
    "set a behaviour switch over the scenario's (repeatable; names: docs/scenario-format.md)",
  ).argParser(switchArg);
}

/** The switches of a run: the scenario's, with the command line's `--switch` flags over them. */
export function runSwitches(
  scenario: Scenario,
  flags: Record<string, boolean> | undefined,
): { switches?: Record<string, boolean> } {
  return scenario.switches !== undefined || flags !== undefined
    ? { switches: { ...scenario.switches, ...flags } }
    : {};
}

/**
 * Runs an exploration with a progress bar on a terminal and a clean stop on Ctrl-C (SIGINT):
 * the exploration stops between schedules, shrinks and explains what it found, and returns;
 * a second Ctrl-C exits at once.
 */
export async function runExplore(
  s: Scenario,
  options: ExploreOptions,
  showProgress: boolean,
): Promise<ExploreResult> {
  const bar = showProgress
    ? new cliProgress.SingleBar(
        {
          format:
            `  ${s.name} [{bar}] {value}/{total} schedules, {rate}/s, {violations} violations, ` +
            '{operations} operations, {edges} lock edges',
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      )
    : null;
  const total = Math.ceil((options.schedules ?? 1000) / (options.shard?.count ?? 1));
  bar?.start(total, 0, { violations: 0, rate: 0, operations: 0, edges: 0 });
  const ac = new AbortController();
  let interrupts = 0;
  const onSigint = (): void => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    process.stderr.write('\nmirrorlab: stopping after this schedule (Ctrl-C again to quit at once)\n');
    ac.abort();
  };
  process.on('SIGINT', onSigint);
  const t0 = performance.now();
  try {
    return await explore(
      {
        ...options,
        signal: ac.signal,
        onProgress: bar
          ? (done, _total, violations, c) => {
              const seconds = (performance.now() - t0) / 1000;
              bar.update(done, {
                violations,
                rate: seconds > 0 ? Math.round(done / seconds) : 0,
                operations: c.operations,
                edges: c.lockEdges,
              });
            }
          : undefined,
        progressEvery: 50,
      },
      s.setup,
    );
  } finally {
    bar?.stop();
    process.off('SIGINT', onSigint);
  }
}

/** Prints an exploration result for a terminal. */
export function printResult(s: Scenario, r: ExploreResult, seconds: number): void {
  const rate = seconds > 0 ? Math.round(r.schedules / seconds) : r.schedules;
  const how = r.exhausted ? 'every schedule within the bound' : `${r.schedules} schedules`;
  const shard = r.shard.count > 1 ? `, shard ${r.shard.index}/${r.shard.count}` : '';
  console.log(
    `  ${how} (${r.strategy}, seed ${r.seed}${shard}) in ${seconds.toFixed(2)} s — ${rate} schedules/s`,
  );
  const why = {
    budget: '',
    exhausted: '',
    'first-violation': 'stopped at the first violation',
    'time-limit': 'stopped at the time limit',
    aborted: 'interrupted',
  }[r.stopped];
  if (why) console.log(`  ${why}`);
  console.log(`  ${describeCoverage(r.coverage)}`);
  const marks = Object.entries(r.marks).sort((a, b) => b[1] - a[1]);
  if (marks.length > 0) console.log(`  coverage marks: ${marks.map(([m, n]) => `${m} ×${n}`).join(', ')}`);
  if (r.violations.length === 0) {
    console.log('  no violation');
    return;
  }
  for (const v of r.violations) {
    console.log(`\n  ${v.kind}: ${v.message}`);
    console.log(v.diagram.replace(/^/gm, '    '));
    console.log(`\n  replay: mirrorlab replay ${scenarioRef(s)} ${v.token}`);
    console.log(`  schedule: ${v.schedule}`);
  }
}

/** Writes a shard's result to `dir` as JSON; returns the file's path. */
export function writeShardResult(dir: string, s: Scenario, r: ExploreResult, seconds: number): string {
  const file = join(
    prepareOutputDir(dir, '--out'),
    `${s.name}.shard-${r.shard.index}-of-${r.shard.count}.json`,
  );
  const body: ShardFile = { format: SHARD_FORMAT, scenario: s.name, seconds, result: r };
  writeOutputFile(file, JSON.stringify(body, null, 2) + '\n', '--out');
  return file;
}
