/**
 * How good is the exploration? For each race of issue 11's must-find list: schedules and seconds to
 * the first detection under random, pct (the scenario's depth) and dfs (preemption bound 2), median
 * of 5 seeds (dfs is systematic: one run), without shrinking. A cell is '-' when the budget ran out
 * first. Run with `npx tsx bench/find.ts` or in `npm run bench`.
 */
import '../src/scenario/builtin/index.js';
import { MUST_FIND } from '../src/check/must-find.js';
import { getScenario } from '../src/scenario/registry.js';
import { explore, type StrategyName } from '../src/explore/index.js';

const SEEDS = [1, 2, 3, 4, 5];
/** Schedule budget per exploration. */
const BUDGET: Partial<Record<StrategyName, number>> = { random: 20_000, pct: 20_000, dfs: 5_000 };

interface Cell {
  schedules: number | null;
  seconds: number | null;
  found: number;
  runs: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function measure(name: string, kind: string, strategy: StrategyName): Promise<Cell> {
  const s = getScenario(name);
  const seeds = strategy === 'dfs' ? [1] : SEEDS;
  const schedules: number[] = [];
  const seconds: number[] = [];
  for (const seed of seeds) {
    const t0 = process.hrtime.bigint();
    const r = await explore(
      {
        strategy,
        seed,
        schedules: BUDGET[strategy] ?? 20_000,
        depth: s.defaults?.depth ?? 3,
        preemptionBound: 2,
        stopOnFirst: true,
        shrink: false,
        switches: s.switches,
      },
      s.setup,
    );
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.violations.length > 0 && r.violations[0].kind === kind) {
      schedules.push(r.schedules);
      seconds.push(secs);
    }
  }
  // A median over the seeds that found it; a seed that did not counts as the budget.
  const missing = seeds.length - schedules.length;
  if (schedules.length === 0) return { schedules: null, seconds: null, found: 0, runs: seeds.length };
  for (let i = 0; i < missing; i++) {
    schedules.push(Number.POSITIVE_INFINITY);
    seconds.push(Number.POSITIVE_INFINITY);
  }
  return {
    schedules: median(schedules),
    seconds: median(seconds),
    found: seeds.length - missing,
    runs: seeds.length,
  };
}

function show(c: Cell): string {
  if (c.schedules === null || !Number.isFinite(c.schedules)) return `- (${c.found}/${c.runs})`;
  const secs = c.seconds! < 0.01 ? '<0.01' : c.seconds!.toFixed(2);
  const found = c.found < c.runs ? ` (${c.found}/${c.runs})` : '';
  return `${c.schedules} / ${secs} s${found}`;
}

/** Prints the table (markdown) and returns its rows. */
export async function benchFind(): Promise<string[]> {
  const strategies: StrategyName[] = ['random', 'pct', 'dfs'];
  const lines = [
    '## bench/find: schedules / seconds to the first detection (median of 5 seeds; dfs: one run)',
    '',
    `| # | race | scenario | ${strategies.join(' | ')} |`,
    `|---|---|---|${strategies.map(() => '---').join('|')}|`,
  ];
  for (const line of lines) console.log(line);
  for (const m of MUST_FIND) {
    const cells: string[] = [];
    for (const st of strategies) cells.push(show(await measure(m.scenario, m.kind, st)));
    const row = `| ${m.n} | ${m.what} | ${m.scenario} | ${cells.join(' | ')} |`;
    console.log(row);
    lines.push(row);
  }
  return lines;
}

if (import.meta.url === `file://${process.argv[1]}`) await benchFind();
