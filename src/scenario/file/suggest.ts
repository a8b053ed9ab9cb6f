/**
 * "Did you mean": the allowed word closest to a misspelt one, by edit distance (insertions,
 * deletions, substitutions and swaps of neighbours each cost 1), case-insensitive. A word
 * counts as close when at most a third of it (at least one letter) differs, so `devics` finds
 * `devices` and `wrte` finds `write`, while an unrelated word suggests nothing.
 */

/** Optimal string alignment distance between `a` and `b`. */
export function editDistance(a: string, b: string): number {
  const m = a.length;
  const n = b.length;
  let prev2 = new Array<number>(n + 1).fill(0);
  let prev = Array.from({ length: n + 1 }, (_, j) => j);
  for (let i = 1; i <= m; i++) {
    const row = new Array<number>(n + 1);
    row[0] = i;
    for (let j = 1; j <= n; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, prev2[j - 2] + 1);
      row[j] = d;
    }
    prev2 = prev;
    prev = row;
  }
  return prev[n];
}

/** The allowed word closest to `word`, when one is close enough; ties go to the first listed. */
export function closest(word: string, allowed: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  const limit = Math.max(1, Math.floor(w.length / 3));
  let best: string | undefined;
  let bestD = Infinity;
  for (const a of allowed) {
    if (a === word) continue;
    const d = editDistance(w, a.toLowerCase());
    if (d <= limit && d < bestD) {
      best = a;
      bestD = d;
    }
  }
  return best;
}

/** ` (did you mean "x"?)`, or '' when nothing is close. */
export function didYouMean(word: unknown, allowed: readonly string[]): string {
  if (typeof word !== 'string' || word.length > 64) return '';
  const c = closest(word, allowed);
  return c === undefined ? '' : ` (did you mean ${JSON.stringify(c)}?)`;
}
