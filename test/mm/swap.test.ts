import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { EEXIST, ENOENT, ENOMEM } from '../../src/sim/errno.js';
import { SwapSpace, type SwapViolationKind } from '../../src/mm/swap.js';

function swap(nslots: number): { sw: SwapSpace; seen: SwapViolationKind[] } {
  const seen: SwapViolationKind[] = [];
  const sw = new SwapSpace({ nslots, onViolation: (kind) => seen.push(kind) });
  return { sw, seen };
}

describe('SwapSpace', () => {
  it('allocates every slot once, then -ENOMEM', () => {
    const { sw } = swap(3);
    const got = [sw.alloc(), sw.alloc(), sw.alloc()];
    expect(new Set(got).size).toBe(3);
    expect(sw.alloc()).toBe(-ENOMEM);
    expect(sw.nrFree).toBe(0);
    expect(sw.nrUsed).toBe(3);
    expect(new SwapSpace({ nslots: 0 }).alloc()).toBe(-ENOMEM);
  });

  it('a slot lives while swap entries or the swap cache hold it', () => {
    const { sw, seen } = swap(2);
    const s = sw.alloc();
    expect(sw.hasCache(s)).toBe(true);
    expect(sw.count(s)).toBe(0);
    expect(sw.dup(s)).toBe(0); // the PTE reclaim installs
    expect(sw.dup(s)).toBe(0); // fork copies it
    sw.clearCache(s); // the folio leaves the swap cache
    expect(sw.isFree(s)).toBe(false);
    sw.free(s);
    expect(sw.count(s)).toBe(1);
    expect(sw.setCache(s)).toBe(0); // swap-in starts
    expect(sw.setCache(s)).toBe(-EEXIST); // a concurrent swap-in backs off
    sw.free(s);
    expect(sw.isFree(s)).toBe(false); // still cached
    sw.clearCache(s);
    expect(sw.isFree(s)).toBe(true);
    expect(sw.dup(s)).toBe(-ENOENT);
    expect(sw.setCache(s)).toBe(-ENOENT);
    sw.free(s);
    expect(seen).toEqual(['swap-use-after-free', 'swap-use-after-free']);
  });

  it('stores contents per slot and drops them when the slot is freed', () => {
    const { sw, seen } = swap(2);
    const s = sw.alloc();
    const page = new Uint8Array(4096);
    page[10] = 42;
    sw.write(s, page);
    page[10] = 0; // the slot keeps its own copy
    expect(sw.read(s)?.[10]).toBe(42);
    sw.clearCache(s);
    expect(sw.isFree(s)).toBe(true);
    const t = sw.alloc();
    expect(t).toBe(s);
    expect(sw.read(t)).toBeUndefined(); // reads as zeros
    expect(() => sw.write(t, new Uint8Array(10))).toThrow(RangeError);
    expect(() => sw.count(2)).toThrow(RangeError);
    expect(seen).toEqual([]);
  });

  it('reports a count underflow without changing anything', () => {
    const { sw, seen } = swap(1);
    const s = sw.alloc();
    sw.free(s);
    expect(seen).toEqual(['swap-count-underflow']);
    expect(sw.isFree(s)).toBe(false);
    expect(sw.violations).toHaveLength(1);
  });

  it('property: counts and freeing match a reference map', () => {
    const op = fc.oneof(
      fc.constant({ t: 'alloc' as const }),
      fc.record({
        t: fc.constantFrom('dup' as const, 'free' as const, 'setCache' as const, 'clearCache' as const),
        i: fc.nat(),
      }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const { sw, seen } = swap(8);
        const ref = new Map<number, { count: number; cache: boolean }>();
        // A free slot touched is a use-after-free; a reference or cache bit dropped that the
        // slot in use does not have is an underflow.
        const kinds: string[] = [];
        for (const o of ops) {
          if (o.t === 'alloc') {
            const s = sw.alloc();
            if (ref.size === 8) {
              expect(s).toBe(-ENOMEM);
              continue;
            }
            expect(ref.has(s)).toBe(false);
            ref.set(s, { count: 0, cache: true });
            continue;
          }
          const slot = o.i % 8;
          const r = ref.get(slot);
          if (o.t === 'dup') {
            expect(sw.dup(slot)).toBe(r ? 0 : -ENOENT);
            if (r) r.count++;
            else kinds.push('swap-use-after-free');
          } else if (o.t === 'free') {
            sw.free(slot);
            if (r && r.count > 0) r.count--;
            else kinds.push(r ? 'swap-count-underflow' : 'swap-use-after-free');
          } else if (o.t === 'setCache') {
            expect(sw.setCache(slot)).toBe(!r ? -ENOENT : r.cache ? -EEXIST : 0);
            if (r) r.cache = true;
          } else {
            sw.clearCache(slot);
            if (r && r.cache) r.cache = false;
            else kinds.push(r ? 'swap-count-underflow' : 'swap-use-after-free');
          }
          if (r && r.count === 0 && !r.cache) ref.delete(slot);
          expect(sw.nrUsed).toBe(ref.size);
          for (let s = 0; s < 8; s++) {
            expect(sw.isFree(s)).toBe(!ref.has(s));
            if (ref.has(s))
              expect([sw.count(s), sw.hasCache(s)]).toEqual([ref.get(s)!.count, ref.get(s)!.cache]);
          }
        }
        expect(seen).toEqual(kinds);
      }),
      { numRuns: 300 },
    );
  });
});
