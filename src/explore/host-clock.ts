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
