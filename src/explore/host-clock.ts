/**
 * The exploration engine's one reading of real time: the wall-clock budget of
 * `--time-limit` (and the progress reports) is checked between schedules, never inside a
 * simulation. It decides how many schedules run, not what any of them does: every schedule
 * still replays exactly from its token. Model code (src/sim, src/mm, ...) must not call it;
 * lint forbids real time there and here everywhere else.
 */
export function hostNowMs(): number {
  // eslint-disable-next-line no-restricted-properties -- the engine's wall-clock budget, between schedules
  return performance.now();
}

/**
 * Calls `fn` every `ms` milliseconds of real time on the host thread until the returned
 * function is called: the engine's progress reports across worker threads (and the
 * `--stop-on-first` check they carry). Like hostNowMs, it decides when the engine looks at
 * its runners, never what a schedule does. Not for model code.
 */
export function everyHostMs(ms: number, fn: () => void): () => void {
  const timer = setInterval(fn, ms);
  return () => clearInterval(timer);
}
