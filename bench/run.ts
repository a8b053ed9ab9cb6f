/**
 * Runs every benchmark module present in bench/ (`npm run bench`). A module that is not
 * there yet is skipped, so that each benchmark can land on its own.
 */
import { existsSync } from 'node:fs';

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
  ['find.ts', 'benchFind'],
];

async function main(): Promise<void> {
  let ran = 0;
  for (const [file, fn] of BENCHES) {
    const url = new URL(`./${file}`, import.meta.url);
    if (!existsSync(url)) {
      console.log(`(skipping bench/${file}: not present)`);
      continue;
    }
    const mod = (await import(url.href)) as Record<string, unknown>;
    const bench = mod[fn];
    if (typeof bench !== 'function') {
      throw new Error(`bench/${file} does not export a function ${fn}()`);
    }
    const start = process.hrtime.bigint();
    await (bench as () => Promise<unknown>)();
    const secs = Number(process.hrtime.bigint() - start) / 1e9;
    console.log(`(bench/${file}: ${secs.toFixed(1)} s)\n`);
    ran++;
  }
  if (ran === 0) throw new Error('no benchmark module found in bench/');
}

await main();
