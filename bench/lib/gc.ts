/**
 * The collector, for benchmarks run with `--expose-gc` (npm run bench does): a measurement
 * that starts on a collected heap does not pay for the garbage of whatever ran before it.
 * Without the flag these do nothing.
 */

/** Whether the process exposes the collector (`node --expose-gc`). */
export function hasGc(): boolean {
  return (globalThis as { gc?: () => void }).gc !== undefined;
}

/** Runs a full collection `times` times (twice settles what finalisers freed). */
export function gc(times = 1): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g === undefined) return;
  for (let i = 0; i < times; i++) g();
}
