import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WaitList } from '../../src/sim/sync/wait-list.js';
import type { SimThread } from '../../src/sim/thread.js';

/** Stand-ins for threads: the list only stores and compares them. */
const threads = Array.from({ length: 8 }, (_, i) => ({ id: i }) as unknown as SimThread);

describe('WaitList (FIFO of parked threads)', () => {
  it('behaves as a plain FIFO array under add, shift, cancelWait and takeAll', () => {
    // Long runs of adds and shifts move the head past the compaction threshold (32), so the
    // index bookkeeping (head, tail, the in-place compaction) is exercised, not just the array.
    const cmd = fc.oneof(
      {
        arbitrary: fc.record({
          op: fc.constant('add' as const),
          t: fc.nat(7),
          n: fc.integer({ min: 1, max: 40 }),
        }),
        weight: 4,
      },
      {
        arbitrary: fc.record({ op: fc.constant('shift' as const), n: fc.integer({ min: 1, max: 40 }) }),
        weight: 4,
      },
      { arbitrary: fc.record({ op: fc.constant('cancel' as const), t: fc.nat(7) }), weight: 2 },
      { arbitrary: fc.record({ op: fc.constant('takeAll' as const) }), weight: 1 },
    );
    fc.assert(
      fc.property(fc.array(cmd, { maxLength: 60 }), (cmds) => {
        const list = new WaitList('test');
        const model: SimThread[] = [];
        for (const c of cmds) {
          if (c.op === 'add') {
            for (let i = 0; i < c.n; i++) {
              const t = threads[(c.t + i) % threads.length];
              list.add(t);
              model.push(t);
            }
          } else if (c.op === 'shift') {
            for (let i = 0; i < c.n; i++) expect(list.shift()).toBe(model.shift());
          } else if (c.op === 'cancel') {
            list.cancelWait(threads[c.t]);
            const i = model.indexOf(threads[c.t]);
            if (i >= 0) model.splice(i, 1);
          } else {
            expect(list.takeAll()).toEqual(model.splice(0));
          }
          expect(list.length).toBe(model.length);
          expect(list.waiters).toEqual(model);
        }
      }),
      { numRuns: 300 },
    );
  });
});
