import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { closest, didYouMean, editDistance } from '../../../src/scenario/file/suggest.js';

/** The textbook recursive definition (with neighbour swaps), memoised: the reference. */
function reference(a: string, b: string): number {
  const memo = new Map<string, number>();
  const d = (i: number, j: number): number => {
    if (i === 0) return j;
    if (j === 0) return i;
    const key = `${i},${j}`;
    const hit = memo.get(key);
    if (hit !== undefined) return hit;
    let v = Math.min(d(i - 1, j) + 1, d(i, j - 1) + 1, d(i - 1, j - 1) + (a[i - 1] === b[j - 1] ? 0 : 1));
    if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
      v = Math.min(v, d(i - 2, j - 2) + 1);
    memo.set(key, v);
    return v;
  };
  return d(a.length, b.length);
}

describe('did you mean', () => {
  it('edit distance agrees with the recursive definition', () => {
    const word = fc.string({ unit: fc.constantFrom('a', 'b', 'c', 'd'), maxLength: 9 });
    fc.assert(
      fc.property(word, word, (a, b) => editDistance(a, b) === reference(a, b)),
      { numRuns: 2000 },
    );
  });

  it('suggests the close word, and nothing for a distant one', () => {
    const roots = ['name', 'description', 'processes', 'devices', 'accesses', 'checkers', 'explore'];
    expect(closest('devics', roots)).toBe('devices');
    expect(closest('Devices', roots)).toBe('devices');
    expect(closest('procsses', roots)).toBe('processes');
    expect(closest('exlpore', roots)).toBe('explore'); // a swap costs one
    expect(closest('colour', roots)).toBeUndefined();
    expect(closest('devices', roots)).toBeUndefined(); // an allowed word needs no suggestion
    expect(didYouMean('wrte', ['read', 'write'])).toBe(' (did you mean "write"?)');
    expect(didYouMean(42, ['read'])).toBe('');
  });
});
