/**
 * TouchedMap (src/sim/touched-map.ts): it behaves as a Map, and each access is exactly one
 * dpor touch of its object, a read for the operations that only read. Checked against a plain
 * Map as the reference model, on random operation sequences; then in a real run, where dpor
 * must see the touches (a step that reads the map conflicts with one that changes it).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { checkCommutation } from '../../src/explore/dpor/audit.js';
import type { Simulation } from '../../src/sim/simulation.js';
import { TouchedMap } from '../../src/sim/touched-map.js';

type Op =
  | { kind: 'get' | 'has' | 'delete'; key: number }
  | { kind: 'set'; key: number; value: number }
  | { kind: 'clear' | 'size' | 'iterate' | 'forEach' | 'keys' | 'values' | 'entries' };

const READS = new Set(['get', 'has', 'size', 'iterate', 'forEach', 'keys', 'values', 'entries']);

const key = fc.integer({ min: 0, max: 7 });
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constantFrom('get' as const, 'has' as const, 'delete' as const), key }),
  fc.record({ kind: fc.constant('set' as const), key, value: fc.integer() }),
  fc.record({
    kind: fc.constantFrom(
      'clear' as const,
      'size' as const,
      'iterate' as const,
      'forEach' as const,
      'keys' as const,
      'values' as const,
      'entries' as const,
    ),
  }),
);

/** Applies `o` to `m`, giving what a caller would see. */
function apply(m: Map<number, number>, o: Op): unknown {
  switch (o.kind) {
    case 'get':
      return m.get(o.key);
    case 'has':
      return m.has(o.key);
    case 'delete':
      return m.delete(o.key);
    case 'set':
      return m.set(o.key, o.value) === m;
    case 'clear':
      return m.clear();
    case 'size':
      return m.size;
    case 'iterate':
      return [...m];
    case 'forEach': {
      const seen: [number, number][] = [];
      m.forEach((v, k, map) => seen.push([k, v, map === m ? 1 : 0] as unknown as [number, number]));
      return seen;
    }
    case 'keys':
      return [...m.keys()];
    case 'values':
      return [...m.values()];
    case 'entries':
      return [...m.entries()];
  }
}

describe('TouchedMap', () => {
  it('behaves as a Map and touches its object once per access, reads as reads', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const touches: [string, boolean][] = [];
        const sim = { touch: (object: string, read = false) => touches.push([object, read]) };
        const m = new TouchedMap<number, number>(sim as unknown as Simulation, 'dev0.pt');
        const ref = new Map<number, number>();
        for (const o of ops) {
          const before = touches.length;
          expect(apply(m, o)).toEqual(apply(ref, o));
          expect(touches.slice(before)).toEqual([['dev0.pt', READS.has(o.kind)]]);
        }
        expect([...m]).toEqual([...ref]);
      }),
    );
  });

  it('orders a walk that reads it after a change another thread makes (dpor sees both)', async () => {
    // A device table filled by one thread and walked by another, each at a point of its own:
    // only the map's touches relate them. The check swaps every two steps dpor calls
    // independent; with a plain Map it finds the pair, with a TouchedMap none.
    const setup =
      (touched: boolean) =>
      (sim: Simulation): void => {
        const table = touched ? new TouchedMap<number, number>(sim, 'dev0.pt') : new Map<number, number>();
        sim.spawn('map', async () => {
          await sim.point('work', 'map.local');
          table.set(0x1000, 7);
          await sim.point('work', 'map.local');
        });
        sim.spawn('walk', async () => {
          await sim.point('work', 'walk.local');
          const found = table.has(0x1000);
          await sim.point(found ? 'hit' : 'miss', 'walk.local');
        });
      };
    expect((await checkCommutation({ setup: setup(false) }, 100)).size).toBeGreaterThan(0);
    expect((await checkCommutation({ setup: setup(true) }, 100)).size).toBe(0);
  });
});
