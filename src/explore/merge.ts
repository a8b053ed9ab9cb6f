import { SimUsageError, type Violation } from '../sim/violation.js';
import { Coverage } from './coverage.js';
import type { ExploreResult, FirstFound, StopReason } from './options.js';

/**
 * Merges the results of shards of one exploration (same seed, strategy and budget; shard
 * i of n each): schedules, steps and statuses summed, coverage united, violations
 * de-duplicated by signature keeping the one first seen at the lowest schedule index (so
 * the merge does not depend on the order shards finish in). Each shard shrank its own
 * violations; the winners are kept as they are. Shards that did not run (missing from
 * `results`) are listed in the returned `missingShards`.
 */
export function mergeResults(results: readonly ExploreResult[]): ExploreResult & {
  /** Indices of the shards of the exploration that no result in `results` came from. */
  missingShards: number[];
} {
  if (results.length === 0) throw new SimUsageError('merge: no shard results to merge');
  const first = results[0];
  const count = first.shard.count;
  const seen = new Set<number>();
  for (const r of results) {
    for (const k of ['seed', 'strategy', 'budget'] as const) {
      if (r[k] !== first[k]) {
        throw new SimUsageError(
          `merge: shard ${r.shard.index}/${r.shard.count} has ${k} ${String(r[k])}, shard ${first.shard.index}/${count} has ${String(first[k])}: not shards of one exploration`,
        );
      }
    }
    if (r.shard.count !== count) {
      throw new SimUsageError(`merge: shard counts differ (${r.shard.count} and ${count})`);
    }
    if (seen.has(r.shard.index))
      throw new SimUsageError(`merge: shard ${r.shard.index}/${count} given twice`);
    seen.add(r.shard.index);
  }
  const ordered = [...results].sort((a, b) => a.shard.index - b.shard.index);
  const best = new Map<string, { v: Violation; at: FirstFound }>();
  const statuses: Record<string, number> = {};
  const marks: Record<string, number> = {};
  const coverage = new Coverage();
  let schedules = 0;
  let totalSteps = 0;
  let maxSteps = 0;
  let stopped: StopReason = 'budget';
  for (const r of ordered) {
    schedules += r.schedules;
    totalSteps += r.totalSteps;
    maxSteps = Math.max(maxSteps, r.maxSteps);
    for (const [k, n] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + n;
    for (const [k, n] of Object.entries(r.marks ?? {})) marks[k] = (marks[k] ?? 0) + n;
    coverage.addReport(r.coverage);
    if (r.stopped !== 'budget' && stopped === 'budget') stopped = r.stopped;
    for (const v of r.violations) {
      const at = r.firstFound[v.signature] ?? { schedule: Infinity, strategy: '?' };
      const old = best.get(v.signature);
      if (old === undefined || at.schedule < old.at.schedule) best.set(v.signature, { v, at });
    }
  }
  const winners = [...best.values()].sort((a, b) => a.at.schedule - b.at.schedule);
  const firstFound: Record<string, FirstFound> = {};
  for (const w of winners) firstFound[w.v.signature] = w.at;
  const missingShards: number[] = [];
  for (let i = 0; i < count; i++) if (!seen.has(i)) missingShards.push(i);
  return {
    schedules,
    exhausted: false,
    violations: winners.map((w) => w.v),
    statuses,
    maxSteps,
    totalSteps,
    marks,
    strategy: first.strategy,
    seed: first.seed,
    coverage: coverage.report(),
    stopped,
    shard: { index: 0, count: 1 },
    budget: first.budget,
    firstFound,
    missingShards,
  };
}
