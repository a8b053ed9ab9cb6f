/**
 * Runs every benchmark module of bench/ (`npm run bench`), each module's exported function in turn,
 * printing how long each took.
 */

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
  ['find.ts', 'benchFind'],
];

async function main(): Promise<void> {
  for (const [file, fn] of BENCHES) {
    const url = new URL(`./${file}`, import.meta.url);
    const mod = (await import(url.href)) as Record<string, unknown>;
    const bench = mod[fn];
    if (typeof bench !== 'function') {
      throw new Error(`bench/${file} does not export a function ${fn}()`);
    }
    const start = process.hrtime.bigint();
    await (bench as () => Promise<unknown>)();
    const secs = Number(process.hrtime.bigint() - start) / 1e9;
    console.log(`(bench/${file}: ${secs.toFixed(1)} s)\n`);
  }
}

await main();
