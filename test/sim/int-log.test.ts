import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IntLog } from '../../src/sim/int-log.js';

/** Reads a log back as a plain array. */
function contents(log: IntLog): number[] {
  const out: number[] = [];
  for (let i = 0; i < log.length; i++) out.push(log.at(i));
  return out;
}

describe('IntLog (growable, pooled 32-bit log)', () => {
  it('holds what was pushed, across growth, sealing and buffer reuse by other logs', () => {
    // Commands over several interleaved logs: push, push3, seal. A sealed log's buffer goes
    // back to the pool and is handed to the next log that grows: the sealed log must not
    // see that log's writes, and pushing after a seal must still append.
    const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
    const cmd = fc.oneof(
      fc.record({
        kind: fc.constant('push' as const),
        log: fc.nat(3),
        xs: fc.array(int32, { maxLength: 3000 }),
      }),
      fc.record({ kind: fc.constant('push3' as const), log: fc.nat(3), x: int32, n: fc.nat(700) }),
      fc.record({ kind: fc.constant('seal' as const), log: fc.nat(3) }),
    );
    fc.assert(
      fc.property(fc.array(cmd, { maxLength: 25 }), (cmds) => {
        const logs = [new IntLog(), new IntLog(), new IntLog(), new IntLog()];
        const model: number[][] = [[], [], [], []];
        for (const c of cmds) {
          if (c.kind === 'push') {
            for (const x of c.xs) logs[c.log].push(x);
            model[c.log].push(...c.xs);
          } else if (c.kind === 'push3') {
            for (let i = 0; i < c.n; i++) {
              logs[c.log].push3(c.x, i, i === 0 ? 0 : -i);
              model[c.log].push(c.x, i, i === 0 ? 0 : -i);
            }
          } else {
            logs[c.log].seal();
          }
        }
        for (let k = 0; k < 4; k++) {
          expect(logs[k].length).toBe(model[k].length);
          expect(contents(logs[k])).toEqual(model[k]);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('keeps every sealed log intact when the shared slab they are sealed into fills up', () => {
    // 400 logs of 1,000 integers each is more than one slab (2^18 integers) holds: the
    // later ones go to a fresh slab while the earlier ones still read from the old one.
    const logs: IntLog[] = [];
    for (let k = 0; k < 400; k++) {
      const log = new IntLog();
      for (let i = 0; i < 1000; i++) log.push(k * 1000 + i);
      log.seal();
      logs.push(log);
    }
    // A push after the seal copies out of the slab; it must not write into it.
    logs[0].push(-1);
    for (let k = 0; k < 400; k++) {
      const want = Array.from({ length: 1000 }, (_, i) => k * 1000 + i);
      expect(contents(logs[k])).toEqual(k === 0 ? [...want, -1] : want);
    }
  });
});
