/**
 * How far dpor is from optimal, and how far any dpor could go, on the built-in scenarios: the
 * Mazurkiewicz traces among plain dfs's schedules under dpor's relation and under "locks only"
 * (src/explore/dpor/audit.ts), and with `commute` the commutation check of dpor's relation.
 *
 * `node --import tsx bench/dpor-traces.ts [bound] [scenario,...|all] [commute [budget] [explain|full]]`
 * (bound: a number, or `inf`). `all` checks every built-in but the livelock ones on a sample of
 * `budget` dfs schedules (default 100); `explain` prints, for the first failure of each pair,
 * both steps' footprints and the first step at which the swapped run went another way; `full`
 * also prints both runs step by step.
 */
import { pathToFileURL } from 'node:url';

import {
  checkCommutation,
  countTraces,
  type AuditTarget,
  type CommutationExample,
  type TraceCounts,
} from '../src/explore/dpor/audit.js';
import { getScenario, listScenarios } from '../src/scenario/registry.js';
import { DPOR_BENCH_SCENARIOS } from './explore.js';
import '../src/scenario/builtin/index.js';

function target(name: string): AuditTarget {
  const s = getScenario(name);
  return {
    setup: s.setup,
    switches: s.switches,
    ...(s.defaults?.maxSteps !== undefined ? { maxSteps: s.defaults.maxSteps } : {}),
  };
}

/**
 * The scenarios dfs within preemption bound 2 exhausts in seconds: benchDpor's list, without
 * odp-livelock-none (its 18,000-step runs make the trace audit take minutes).
 */
export const TRACE_SCENARIOS: readonly string[] = DPOR_BENCH_SCENARIOS.filter(
  (s) => s !== 'odp-livelock-none',
);

/** Prints the trace counts of dfs within `bound` on each scenario. */
export async function benchDporTraces(
  bound = 2,
  names: readonly string[] = TRACE_SCENARIOS,
): Promise<(TraceCounts & { scenario: string })[]> {
  console.log(
    `dpor: Mazurkiewicz traces among dfs's schedules (preemption bound ${bound === Infinity ? 'none' : bound}); ` +
      'dfs/traces is the most any dpor can save',
  );
  console.log(
    `  ${'scenario'.padEnd(34)} ${'dfs'.padStart(8)} ${'dpor rel'.padStart(9)} ${'locks'.padStart(7)} ${'max x'.padStart(6)}  inconsistent`,
  );
  const rows: (TraceCounts & { scenario: string })[] = [];
  for (const name of names) {
    const c = { scenario: name, ...(await countTraces(target(name), bound)) };
    rows.push(c);
    console.log(
      `  ${name.padEnd(34)} ${`${c.exhausted ? '' : '>'}${c.schedules}`.padStart(8)} ${String(c.dporTraces).padStart(9)} ` +
        `${String(c.lockTraces).padStart(7)} ${(c.schedules / c.lockTraces).toFixed(1).padStart(6)}  ${c.inconsistent}`,
    );
  }
  return rows;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [boundArg, namesArg, commute, budgetArg, explainArg] = process.argv.slice(2);
  const b = boundArg === undefined ? 2 : boundArg === 'inf' ? Infinity : Number(boundArg);
  const bound = b === Infinity ? 1_000_000 : b;
  // `all`: every built-in but the livelock ones (runs of thousands of steps), sampled: the
  // commutation check only, on the first `budget` dfs schedules of each (default 100).
  const all = namesArg === 'all';
  const names = all
    ? listScenarios()
        .map((s) => s.name)
        .filter((n) => !n.includes('livelock'))
    : (namesArg?.split(',') ?? TRACE_SCENARIOS);
  // A budget asks for a sampled commutation check only (the trace table exhausts dfs).
  if (!all && budgetArg === undefined) await benchDporTraces(bound, names);
  if (commute === 'commute' || all) {
    const budget = budgetArg !== undefined ? Number(budgetArg) : all ? 100 : 100_000;
    let failing = 0;
    for (const name of names) {
      const explain =
        explainArg === 'explain' || explainArg === 'full'
          ? (e: CommutationExample): void => {
              console.log(
                `    ${e.pair}\n      first   ${e.first}\n      second  ${e.second}\n` +
                  `      parted  ${e.original}\n      swapped ${e.swapped}`,
              );
              if (explainArg !== 'full') return;
              const n = Math.max(e.originalSteps.length, e.swappedSteps.length);
              for (let k = 0; k < n; k++)
                console.log(
                  `      ${k === e.at ? '>' : ' '}${String(k).padStart(4)} ${e.originalSteps[k] ?? ''}\n` +
                    `      ${' '.repeat(5)}${e.swappedSteps[k] === e.originalSteps[k] ? '=' : (e.swappedSteps[k] ?? '(none)')}`,
                );
            }
          : undefined;
      const bad = await checkCommutation(target(name), bound, budget, explain);
      if (bad.size > 0) failing++;
      console.log(`  ${name}: ${bad.size} pairs of steps dpor calls independent do not commute`);
      for (const [k, v] of bad) console.log(`    ${v} ${k}`);
    }
    console.log(`dpor relation: ${failing} of ${names.length} scenarios with pairs that do not commute`);
  }
}
