/**
 * `mirrorlab merge DIR...`: merges the shard results `explore --out DIR` wrote (on many
 * machines: a CI matrix, a Kubernetes Indexed Job) into one result, with explore's exit
 * codes: 0 clean, 1 violations, 2 bad input.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { mergeResults } from '../explore/merge.js';
import { SimUsageError } from '../sim/violation.js';
import { getScenario } from '../scenario/registry.js';
import { printResult, SHARD_FORMAT, writeShardResult, type ShardFile } from './explore-run.js';

/** Reads every shard file (`*.json` of the format explore --out writes) under `paths`. */
export function readShardFiles(paths: readonly string[]): ShardFile[] {
  const files: string[] = [];
  for (const p of paths) {
    let st;
    try {
      st = statSync(p);
    } catch {
      throw new SimUsageError(`merge: no such file or directory '${p}'`);
    }
    if (st.isDirectory()) {
      for (const f of readdirSync(p).sort()) if (f.endsWith('.json')) files.push(join(p, f));
    } else {
      files.push(p);
    }
  }
  if (files.length === 0) throw new SimUsageError(`merge: no shard result (*.json) in ${paths.join(', ')}`);
  return files.map((f) => {
    let body: unknown;
    try {
      body = JSON.parse(readFileSync(f, 'utf8'));
    } catch (err) {
      throw new SimUsageError(`merge: ${f} is not JSON (${(err as Error).message})`);
    }
    const b = body as Partial<ShardFile>;
    if (b.format !== SHARD_FORMAT || typeof b.scenario !== 'string' || typeof b.result !== 'object') {
      throw new SimUsageError(
        `merge: ${f} is not a shard result of 'mirrorlab explore --out' (${SHARD_FORMAT})`,
      );
    }
    return b as ShardFile;
  });
}

/** Adds the `merge` command to `program`. */
export function registerMerge(program: Command): void {
  program
    .command('merge')
    .description('merge the shard results written by `explore --shard i/n --out DIR`')
    .argument('<dir...>', 'directories (or files) holding shard results')
    .option('--out <dir>', 'write the merged result there as JSON')
    .option('--json', 'machine-readable output')
    .action((dirs: string[], flags: { json?: boolean; out?: string }) => {
      const shards = readShardFiles(dirs);
      const names = new Set(shards.map((s) => s.scenario));
      if (names.size > 1) {
        throw new SimUsageError(`merge: shard results of different scenarios: ${[...names].join(', ')}`);
      }
      const s = getScenario(shards[0].scenario);
      const merged = mergeResults(shards.map((f) => f.result));
      const seconds = shards.reduce((a, f) => a + f.seconds, 0);
      if (merged.missingShards.length > 0) {
        console.error(
          `mirrorlab merge: shards ${merged.missingShards.join(', ')} of ${shards[0].result.shard.count} are missing`,
        );
      }
      if (flags.out !== undefined) writeShardResult(flags.out, s, merged, seconds);
      if (flags.json) console.log(JSON.stringify({ scenario: s.name, seconds, ...merged }, null, 2));
      else {
        console.log(`== ${s.name}: ${shards.length} shard results merged`);
        printResult(s, merged, seconds);
      }
      process.exitCode = merged.violations.length > 0 ? 1 : 0;
    });
}
