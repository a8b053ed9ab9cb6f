/**
 * Machine-readable benchmark results: every benchmark module's numbers as one JSON file,
 * bench/results/<bench>.json (or the directory in MIRRORLAB_BENCH_RESULTS), in the format of
 * src/report/bench-file.ts, which `mirrorlab report`, the showcase and `explore --report` draw
 * as curves.
 *
 * bench/run.ts records what each module's bench function returns (recordBenchResult); a module
 * whose numbers are only printed records its rows as it goes (recordBenchRow), which also works
 * when the module runs alone. Each call rewrites the module's file, so an interrupted run keeps
 * what it measured. The files are output (gitignored), not sources: numbers from one machine.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { BENCH_FORMAT, type BenchFile } from '../../src/report/bench-file.js';

/** The directory results go to. */
export function benchResultsDir(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.MIRRORLAB_BENCH_RESULTS;
  return fromEnv !== undefined && fromEnv !== ''
    ? resolve(fromEnv)
    : resolve(import.meta.dirname, '..', 'results');
}

/** This process's results, by file path (a new results directory starts afresh). */
const files = new Map<string, BenchFile>();

function pathOf(bench: string): string {
  return join(benchResultsDir(), `${bench}.json`);
}

function fileOf(bench: string): BenchFile {
  let f = files.get(pathOf(bench));
  if (f === undefined) {
    f = {
      format: BENCH_FORMAT,
      bench,
      measuredAt: new Date().toISOString(),
      machine: {
        node: process.version,
        platform: `${process.platform}-${process.arch}`,
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
      },
    };
    files.set(pathOf(bench), f);
  }
  return f;
}

function write(f: BenchFile): string {
  mkdirSync(benchResultsDir(), { recursive: true });
  const path = pathOf(f.bench);
  writeFileSync(path, JSON.stringify(f, null, 1) + '\n');
  return path;
}

/**
 * Records what benchmark module `bench` returned (and how long it took) and writes its file.
 * Returns the file's path.
 */
export function recordBenchResult(bench: string, result: unknown, seconds?: number): string {
  const f = fileOf(bench);
  if (result !== undefined) f.result = result;
  if (seconds !== undefined) f.seconds = seconds;
  return write(f);
}

/** Appends one row to table `table` of benchmark module `bench` and writes its file. */
export function recordBenchRow(bench: string, table: string, row: Record<string, unknown>): string {
  const f = fileOf(bench);
  f.tables ??= {};
  (f.tables[table] ??= []).push(row);
  return write(f);
}
