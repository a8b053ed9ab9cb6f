import { Worker } from 'node:worker_threads';

/**
 * Runs the export `fn` of the bench module `moduleUrl` with `arg` in a fresh V8 isolate (a
 * worker thread) and returns what it returns (a structured-cloneable value), as JMH forks a
 * fresh JVM for each benchmark: a measurement made after other workloads in the same isolate
 * inherits their JIT type feedback and heap, and reads what ran before as much as itself (the
 * runtime's 300-step schedules read 25-57% slower per step after the bench's contention and
 * fast-check sections than alone). The caller's thread waits, using no CPU, so that
 * `process.cpuUsage()` in the isolate still measures the isolate's own work. The isolate sees
 * `gc` when the process was started with `--expose-gc` (V8 flags are per process).
 */
export function inFreshIsolate<T>(moduleUrl: string, fn: string, arg?: unknown): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const worker = new Worker(new URL('./isolate-entry.mjs', import.meta.url), {
      workerData: { moduleUrl, fn, arg },
    });
    let result: { value: T } | null = null;
    worker.once('message', (value: T) => {
      result = { value };
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (result !== null) resolve(result.value);
      else
        reject(new Error(`bench isolate for ${fn} (${moduleUrl}) exited with code ${code} before reporting`));
    });
  });
}
