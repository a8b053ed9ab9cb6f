/**
 * Runs every benchmark module of bench/ (`npm run bench`), each module's exported function in turn,
 * printing how long each took, and writes each module's numbers as JSON to bench/results/ (or
 * MIRRORLAB_BENCH_RESULTS; bench/lib/results.ts), which the HTML report draws as curves.
 * `npm run bench -- notifier explore` runs only the named modules.
 */
import { recordBenchResult } from './lib/results.js';

/** Module file (next to this one) and the function it exports. */
const BENCHES: readonly (readonly [file: string, fn: string])[] = [
  ['sim.ts', 'benchSim'],
  ['interval-tree.ts', 'benchIntervalTree'],
  ['interval-layouts.ts', 'benchIntervalLayouts'],
  ['mm-heap.ts', 'benchMmHeap'],
  ['notifier.ts', 'benchNotifier'],
  ['mm-fault.ts', 'benchMmFault'],
  ['hmm.ts', 'benchHmm'],
  ['drivers.ts', 'benchDrivers'],
  ['explore.ts', 'benchExplore'],
  ['explore.ts', 'benchDpor'],
  ['dpor-traces.ts', 'benchDporTraces'],
  ['find.ts', 'benchFind'],
];

async function main(only: readonly string[]): Promise<void> {
  const names = BENCHES.map(([file]) => file.replace(/\.ts$/, ''));
  const unknown = only.filter((n) => !names.includes(n));
  if (unknown.length > 0) {
    console.error(`bench: unknown module ${unknown.join(', ')}; modules: ${names.join(', ')}`);
    process.exit(2);
  }
  for (const [file, fn] of BENCHES) {
    const name = file.replace(/\.ts$/, '');
    if (only.length > 0 && !only.includes(name)) continue;
    const url = new URL(`./${file}`, import.meta.url);
    const mod = (await import(url.href)) as Record<string, unknown>;
    const bench = mod[fn];
    if (typeof bench !== 'function') {
      throw new Error(`bench/${file} does not export a function ${fn}()`);
    }
    const start = process.hrtime.bigint();
    const result = await (bench as () => Promise<unknown>)();
    const secs = Number(process.hrtime.bigint() - start) / 1e9;
    const out = recordBenchResult(name, result, secs);
    console.log(`(bench/${file}: ${secs.toFixed(1)} s; results in ${out})\n`);
  }
}

await main(process.argv.slice(2));
