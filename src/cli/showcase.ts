/**
 * The showcase (`mirrorlab` with no arguments): a story in four parts, under 60 lines by
 * default and under 30 s on a 2-core machine.
 *   1. A GPU (drm_gpusvm) and an RDMA NIC (ODP) share a buffer while the CPU forks,
 *      write-protects, reclaims, migrates and unmaps it: explored for a bounded time, silent.
 *   2. The races the seed documents describe, found one by one; the first drawn as a race
 *      diagram (every one with --verbose, and in the report).
 *   3. A summary table: schedules, steps, device faults, invalidations, retries, collisions,
 *      violations, and whether each result is the expected one.
 *   4. The HTML report it wrote.
 * Real time is read here only to bound and report the exploration; nothing inside a
 * simulation sees it.
 */
import { prepareOutputFile, writeOutputFile } from './output-path.js';
import cliProgress from 'cli-progress';
import { explore, type ExploreOptions, type ExploreResult } from '../explore/index.js';
import { buildReport, type ReportScenario } from '../report/html.js';
import { reportScenario } from '../report/from-explore.js';
import { defaultBenchDir, loadBenchCharts } from '../report/bench-file.js';
import { getScenario, listScenarios, type Scenario } from '../scenario/registry.js';

/** A race of the seeds: the scenario that plants it and how the showcase names it. */
interface SeedRace {
  scenario: string;
  /** Where it comes from: a seed document or the upstream fix. */
  source: string;
  what: string;
}

/** The races the showcase finds, in the order it tells them. */
export const SHOWCASE_RACES: readonly SeedRace[] = [
  {
    scenario: 'seq-retry-no-set-seq',
    source: 'seed 000',
    what: 'set_seq missing in the invalidate callback',
  },
  {
    scenario: 'seq-retry-retry-outside-lock',
    source: 'seed 001',
    what: 'read_retry outside the driver lock',
  },
  { scenario: 'core-insert-not-deferred', source: 'seed 001', what: 'insert applied during an invalidation' },
  { scenario: 'userptr-munmap-stale', source: 'seed 000', what: 'a userptr list: pinned pages, no sequence' },
  {
    scenario: 'svm-remove-in-callback',
    source: 'seed 002',
    what: 'a subscription removed in its own callback',
  },
  {
    scenario: 'odp-livelock-none',
    source: 'seed 003',
    what: 'device fault livelock: no timeout, no fallback',
  },
  {
    scenario: 'odp2019-counter-timeout-stale',
    source: 'seed 004',
    what: "odp2019's wait timeout maps a stale page",
  },
  { scenario: 'hmm2019-exit-no-mmget', source: 'seed 004', what: 'hmm fault racing exit_mmap without mmget' },
  {
    scenario: 'hmm2019-unregister-uaf',
    source: 'seed 004',
    what: 'struct hmm freed: unregister is no fence',
  },
  {
    scenario: 'two-pass-finish-on-nonblock',
    source: 'OOM reaper',
    what: 'sleeping in a non-blockable invalidation',
  },
  {
    scenario: 'core-remove-race-2022',
    source: 'fix 2022',
    what: 'interval remove read invalidate_seq unlocked',
  },
  { scenario: 'odp-dereg-race', source: 'CVE-2025-21732', what: 'ODP dereg racing an invalidation' },
];

/** The correct designs the showcase shows silent besides the story. */
export const SHOWCASE_CLEAN: readonly string[] = [
  'seq-retry',
  'dmirror-read-vs-dontneed',
  'odp-mirror',
  'gpusvm-mirror',
  'odp-livelock-timeout',
  'odp-livelock-mmap-write-fallback',
];

/** The story's scenario and its wall-clock budget. */
const STORY = 'gpu-and-nic-churn';
const STORY_SECONDS = 8;

/** Options of the showcase. */
export interface ShowcaseOptions {
  json: boolean;
  verbose: boolean;
  reportPath: string;
}

interface Row {
  scenario: Scenario;
  result: ExploreResult;
  seconds: number;
  ok: boolean;
  /** One of the seed races of part 2 (summed into one row of the summary). */
  race: boolean;
}

/** The statistics the summary shows, from the coverage marks the model sets. */
function statsOf(r: ExploreResult): Record<string, number> {
  const m = r.marks;
  return {
    'device faults': m['device fault'] ?? 0,
    invalidations: m['invalidate_range_start'] ?? 0,
    retries: m['device fault retried'] ?? 0,
    collisions: (m['read_retry collided'] ?? 0) + (m['check_retry collided'] ?? 0),
  };
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t0 = process.hrtime.bigint();
  return f().then((v) => [v, Number(process.hrtime.bigint() - t0) / 1e9]);
}

function scenarioOrNull(name: string): Scenario | null {
  return listScenarios().some((s) => s.name === name) ? getScenario(name) : null;
}

/**
 * Runs the showcase (see the module comment). Sets the exit code to 1 when any result is not
 * the expected one.
 */
export async function showcase(
  o: ShowcaseOptions,
  optionsFor: (s: Scenario, flags: Record<string, never>) => ExploreOptions,
): Promise<void> {
  const out = o.json ? null : (line = ''): void => console.log(line);
  const rows: Row[] = [];
  const reportPath = prepareOutputFile(o.reportPath, '--report');

  // 1. The story.
  const story = getScenario(STORY);
  out?.('mirrorlab — an executable model of Linux shared virtual memory');
  out?.();
  out?.('1. A GPU and an RDMA NIC share one buffer while the CPU churns underneath');
  out?.(`   ${story.summary}.`);
  const bar =
    out !== null && process.stderr.isTTY === true
      ? new cliProgress.SingleBar(
          {
            format: '   [{bar}] {value} schedules, {violations} violations',
            hideCursor: true,
            clearOnComplete: true,
          },
          cliProgress.Presets.shades_classic,
        )
      : null;
  bar?.start(0, 0, { violations: 0 });
  const growth: { schedules: number; value: number }[] = [];
  const [storyResult, storySeconds] = await timed(() =>
    explore(
      {
        ...optionsFor(story, {}),
        strategy: 'swarm',
        schedules: 1_000_000,
        timeLimitMs: STORY_SECONDS * 1000,
        progressEvery: 20,
        // Coverage growth for the report's chart; the bar only on a terminal.
        onProgress: (done, _total, violations, coverage) => {
          growth.push({ schedules: done, value: coverage.operations + coverage.lockEdges });
          if (bar !== null) {
            bar.setTotal(done);
            bar.update(done, { violations });
          }
        },
      },
      story.setup,
    ),
  );
  bar?.stop();
  const storyOk = storyResult.violations.length === 0;
  rows.push({ scenario: story, result: storyResult, seconds: storySeconds, ok: storyOk, race: false });
  const st = statsOf(storyResult);
  out?.(
    `   ${fmt(storyResult.schedules)} schedules (random and pct, swarm) in ${storySeconds.toFixed(1)} s: ` +
      (storyOk ? 'no violation.' : `${storyResult.violations.length} VIOLATIONS.`),
  );
  out?.(
    `   ${fmt(st['device faults'])} device faults, ${fmt(st.invalidations)} invalidations, ` +
      `${fmt(st.collisions)} collisions, ${fmt(st.retries)} fault retries.`,
  );
  out?.('   Every device mapping matched the CPU page table at every change; each side read what');
  out?.('   the other wrote, through fork, mprotect, reclaim, NUMA migration and munmap.');
  if (!storyOk) for (const v of storyResult.violations) out?.(`   ${v.kind}: ${v.message}`);
  out?.();

  // 2. The races, one by one.
  out?.('2. The races the seed documents describe, found one by one');
  let first: { s: Scenario; r: ExploreResult } | null = null;
  for (const race of SHOWCASE_RACES) {
    const s = scenarioOrNull(race.scenario);
    if (s === null) continue;
    const [r, seconds] = await timed(() => explore({ ...optionsFor(s, {}), stopOnFirst: true }, s.setup));
    const found = r.violations.length > 0;
    rows.push({ scenario: s, result: r, seconds, ok: found, race: true });
    const v = r.violations[0];
    const at = v !== undefined ? (r.firstFound[v.signature]?.schedule ?? r.schedules - 1) + 1 : r.schedules;
    out?.(
      `   ${found ? '✓' : '✗'} ${race.source.padEnd(14)} ${race.what.padEnd(46)} ` +
        (found ? `${v.kind}, schedule ${fmt(at)}` : `NOT FOUND in ${fmt(r.schedules)} schedules`),
    );
    if (found && first === null) first = { s, r };
    if (found && o.verbose) out?.(v.diagram.replace(/^/gm, '       ') + '\n');
  }
  if (first !== null && !o.verbose) {
    const v = first.r.violations[0];
    out?.(`   The first, as a kernel developer draws it (mirrorlab explain ${first.s.name} <token>):`);
    // The header and the end of the race, where the violating step is.
    const lines = v.diagram.split('\n');
    const shown =
      lines.length > 16
        ? [
            ...lines.slice(0, 2),
            `   … ${lines.length - 15} rows above: --verbose, or the report`,
            ...lines.slice(-13),
          ]
        : lines;
    for (const l of shown) out?.(`     ${l}`);
  }
  out?.();

  // The correct designs, for the summary.
  for (const name of SHOWCASE_CLEAN) {
    const s = scenarioOrNull(name);
    if (s === null) continue;
    const [r, seconds] = await timed(() => explore(optionsFor(s, {}), s.setup));
    rows.push({ scenario: s, result: r, seconds, ok: r.violations.length === 0, race: false });
  }

  // 3. The summary.
  const head = [
    'scenario',
    'schedules',
    'steps',
    'dev faults',
    'invals',
    'retries',
    'collisions',
    'viol',
    'expected',
  ];
  const cells = (name: string, rs: Row[], expected: string): string[] => {
    const sum = (f: (r: Row) => number): string => fmt(rs.reduce((n, r) => n + f(r), 0));
    return [
      name,
      sum((r) => r.result.schedules),
      sum((r) => r.result.totalSteps),
      sum((r) => statsOf(r.result)['device faults']),
      sum((r) => statsOf(r.result).invalidations),
      sum((r) => statsOf(r.result).retries),
      sum((r) => statsOf(r.result).collisions),
      sum((r) => r.result.violations.length),
      expected,
    ];
  };
  const races = rows.filter((r) => r.race);
  const racesOff = races.filter((r) => !r.ok).length;
  const table = rows
    .filter((r) => !r.race)
    .map((row) => cells(row.scenario.name, [row], `none: ${row.ok ? 'ok' : 'UNEXPECTED'}`));
  if (races.length > 0) {
    table.splice(
      1,
      0,
      cells(
        `the ${races.length} races above`,
        races,
        `a bug each: ${racesOff === 0 ? 'ok' : `${racesOff} UNEXPECTED`}`,
      ),
    );
  }
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((r) => r[i].length)));
  const line = (cells: string[]): string =>
    '   ' +
    cells
      .map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ');
  out?.('3. Summary');
  out?.(line(head).trimEnd());
  for (const r of table) out?.(line(r).trimEnd());
  out?.();

  // 4. The report.
  const sections: ReportScenario[] = [];
  for (const row of rows)
    sections.push(
      await reportScenario(row.scenario, row.result, row.seconds, {
        stats: statsOf(row.result),
        ...(row.scenario === story ? { coverage: growth } : {}),
      }),
    );
  const bench = loadBenchCharts(defaultBenchDir());
  writeOutputFile(
    reportPath,
    buildReport({
      title: 'mirrorlab showcase',
      command: 'mirrorlab',
      scenarios: sections,
      bench,
    }),
    '--report',
  );
  const unexpected = rows.filter((r) => !r.ok).length;
  out?.(`4. Report: ${reportPath}`);
  out?.('   Every race diagram, thread timelines with lock holds, invalidation windows and sequence values;');
  out?.(
    bench.charts.length > 0
      ? `   ${bench.charts.length} benchmark chart${bench.charts.length === 1 ? '' : 's'} from ${bench.dir}.`
      : '   no benchmark curves yet: `npm run bench` writes bench/results/, which the report draws.',
  );
  out?.(
    `   ${rows.length - unexpected} of ${rows.length} results as expected. Replay a race: ` +
      'mirrorlab replay <scenario> <token>; explain it: mirrorlab explain <scenario> <token>.',
  );
  if (o.json) {
    console.log(
      JSON.stringify(
        {
          report: reportPath,
          rows: rows.map((r) => ({
            scenario: r.scenario.name,
            expect: r.scenario.expect,
            ok: r.ok,
            seconds: r.seconds,
            stats: statsOf(r.result),
            result: r.result,
          })),
        },
        null,
        2,
      ),
    );
  }
  if (unexpected > 0) process.exitCode = 1;
}
