import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StepCoverage } from '../../src/sim/coverage.js';
import { Simulation } from '../../src/sim/index.js';
import { SimThread } from '../../src/sim/thread.js';

describe('StepCoverage (interned pairs, per-thread hints)', () => {
  it('reports exactly the distinct (thread, operation, object) triples of each run', () => {
    // Several runs in a row share the interning table and its hints (as an exploration's
    // runs do); each run must report its own triples, each once, whatever the hints say.
    const label = fc.constantFrom('lock', 'yield', 'set_pte', 'lock ', 'wait');
    const object = fc.constantFrom(undefined, 'm', 'mm0', 'page 0x1000', 'page 0x2000', '');
    const step = fc.tuple(fc.nat(3), label, object);
    fc.assert(
      fc.property(fc.array(fc.array(step, { maxLength: 200 }), { minLength: 1, maxLength: 4 }), (runs) => {
        for (const steps of runs) {
          const sim = new Simulation();
          const threads = [0, 1, 2, 3].map((id) => new SimThread(sim, id, `t${id}`, false));
          const cov = new StepCoverage();
          const model = new Set<string>();
          for (const [tid, l, o] of steps) {
            // Built strings as well as literals: equal text must count as one object.
            cov.step(threads[tid], `${l}`, o === undefined ? undefined : `${o}`);
            model.add(JSON.stringify([tid, l, o ?? null]));
          }
          const got: string[] = [];
          cov.forEach((tid, l, o) => got.push(JSON.stringify([tid, l, o ?? null])));
          expect(got.length).toBe(new Set(got).size);
          expect(new Set(got)).toEqual(model);
        }
      }),
      { numRuns: 300 },
    );
  });
});
