/**
 * What this machine gives two threads over one, whatever the program: the ceiling any
 * `explore({ workers: 2 })` speed-up is measured against. Two kinds of pure JavaScript run
 * on 1 and then 2 worker threads for a fixed time each, and their total work is compared:
 * an integer loop that allocates nothing (the cores themselves: 2.0x on two free cores) and
 * a loop that allocates short-lived objects as fast as the model does (the collector, its
 * helper threads and the memory system as well, which the cores share). Run in the same
 * process as the measurement it calibrates, so both see the same machine and load.
 */
import { Worker } from 'node:worker_threads';

const BODY = `
const { parentPort, workerData } = require('node:worker_threads');
const t0 = performance.now();
let x = 0, n = 0;
while (performance.now() - t0 < workerData.ms) {
  if (workerData.kind === 'alu') {
    for (let i = 0; i < 1e5; i++) x = (x * 1103515245 + 12345) | 0;
  } else {
    // About the model's allocation rate: small objects, arrays and closures, all garbage soon.
    const a = [];
    for (let i = 0; i < 1000; i++) a.push({ i, s: [i, x], f: () => i });
    x += a.length;
  }
  n++;
}
parentPort.postMessage(n + (x & 0));
`;

async function work(threads: number, kind: 'alu' | 'alloc', ms: number): Promise<number> {
  const workers = Array.from(
    { length: threads },
    () => new Worker(BODY, { eval: true, workerData: { kind, ms } }),
  );
  const done = await Promise.all(
    workers.map(
      (w) => new Promise<number>((resolve, reject) => w.once('message', resolve).once('error', reject)),
    ),
  );
  return done.reduce((a, b) => a + b, 0);
}

/** The best of `rounds` ratios (2 threads' work over 1 thread's) for each kind of work. */
export async function machineCeiling(ms = 1500, rounds = 2): Promise<{ alu: number; alloc: number }> {
  const best = { alu: 0, alloc: 0 };
  for (let r = 0; r < rounds; r++) {
    for (const kind of ['alu', 'alloc'] as const) {
      const one = await work(1, kind, ms);
      const two = await work(2, kind, ms);
      best[kind] = Math.max(best[kind], two / one);
    }
  }
  return best;
}
