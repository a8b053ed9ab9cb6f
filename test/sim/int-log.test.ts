import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IntLog } from '../../src/sim/int-log.js';
import { Simulation } from '../../src/sim/index.js';

/** Reads a log back as a plain array. */
function contents(log: IntLog): number[] {
  const out: number[] = [];
  for (let i = 0; i < log.length; i++) out.push(log.at(i));
  return out;
}

describe('IntLog (growable, pooled 32-bit log)', () => {
  it('holds what was pushed, across growth, sealing, release and buffer reuse by other logs', () => {
    // Commands over several interleaved logs: push, push2, push3, seal, release. A sealed log lends
    // its buffer; a released one hands it to the pool at once, and the pool reclaims lent
    // buffers (the lender copies out) when it runs dry or too many lend. The next log that
    // grows gets such a buffer: a sealed log must not see that log's writes, pushing after
    // a seal must still append, and a released log reads as gone, then starts afresh.
    const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
    const cmd = fc.oneof(
      fc.record({
        kind: fc.constant('push' as const),
        log: fc.nat(5),
        xs: fc.array(int32, { maxLength: 3000 }),
      }),
      fc.record({ kind: fc.constant('push3' as const), log: fc.nat(5), x: int32, n: fc.nat(700) }),
      fc.record({ kind: fc.constant('push2' as const), log: fc.nat(5), x: int32, n: fc.nat(700) }),
      fc.record({ kind: fc.constant('seal' as const), log: fc.nat(5) }),
      fc.record({ kind: fc.constant('release' as const), log: fc.nat(5) }),
    );
    fc.assert(
      fc.property(fc.array(cmd, { maxLength: 25 }), (cmds) => {
        // Six logs: more than LENT_MAX (4) may lend at once.
        const logs = Array.from({ length: 6 }, () => new IntLog());
        const model: number[][] = [[], [], [], [], [], []];
        const released = [false, false, false, false, false, false];
        for (const c of cmds) {
          if (c.kind === 'push') {
            for (const x of c.xs) logs[c.log].push(x);
            model[c.log].push(...c.xs);
            if (c.xs.length > 0) released[c.log] = false;
          } else if (c.kind === 'push3') {
            for (let i = 0; i < c.n; i++) {
              logs[c.log].push3(c.x, i, i === 0 ? 0 : -i);
              model[c.log].push(c.x, i, i === 0 ? 0 : -i);
            }
            if (c.n > 0) released[c.log] = false;
          } else if (c.kind === 'push2') {
            for (let i = 0; i < c.n; i++) {
              logs[c.log].push2(i === 0 ? 0 : -i, c.x);
              model[c.log].push(i === 0 ? 0 : -i, c.x);
            }
            if (c.n > 0) released[c.log] = false;
          } else if (c.kind === 'seal') {
            logs[c.log].seal();
          } else {
            logs[c.log].release();
            model[c.log] = [];
            released[c.log] = true;
          }
        }
        for (let k = 0; k < 6; k++) {
          expect(logs[k].length).toBe(model[k].length);
          if (released[k]) expect(() => logs[k].at(0)).toThrow(/after release/);
          else expect(contents(logs[k])).toEqual(model[k]);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('a sealed log pushed to again owns its buffer again: no later reclaim or release takes it', () => {
    // Log a is sealed (lending its buffer), then appended to: the buffer must leave the lent
    // list. Then more logs than LENT_MAX seal and release, which reclaims and re-hands-out
    // lent buffers: a's contents must stay its own, and theirs must not see a's pushes.
    const a = new IntLog();
    for (let i = 0; i < 10; i++) a.push(i);
    a.seal();
    a.push(10);
    const others: IntLog[] = [];
    for (let k = 0; k < 8; k++) {
      const log = new IntLog();
      for (let i = 0; i < 20; i++) log.push(1000 * (k + 1) + i);
      log.seal();
      others.push(log);
    }
    for (const log of others.slice(0, 4)) log.release();
    const fresh = new IntLog();
    for (let i = 0; i < 30; i++) fresh.push(-i - 1);
    for (let i = 11; i < 20; i++) a.push(i);
    expect(contents(a)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(contents(fresh)).toEqual(Array.from({ length: 30 }, (_, i) => -i - 1));
    others
      .slice(4)
      .forEach((log, j) =>
        expect(contents(log)).toEqual(Array.from({ length: 20 }, (_, i) => 1000 * (j + 5) + i)),
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

describe('Simulation.releaseLogs (explore drops a run it keeps nothing of)', () => {
  const program = (s: Simulation): void => {
    for (const name of ['a', 'b']) {
      s.spawn(name, async () => {
        for (let i = 0; i < 50; i++) await s.yield();
      });
    }
  };

  it('makes the run unreadable with a clear error, and later runs replay the same as before', async () => {
    const first = new Simulation({ seed: 7 });
    const run = await first.run(program);
    const token = run.token;
    const again = new Simulation({ seed: 7 });
    const released = await again.run(program);
    expect(() => again.releaseLogs()).not.toThrow();
    expect(() => released.token).toThrow(/releaseLogs/);
    expect(() => released.schedule).toThrow(/releaseLogs/);
    // The released buffers serve the next runs: their contents are theirs alone.
    const third = new Simulation({ seed: 7 });
    expect((await third.run(program)).token).toBe(token);
  });

  it('is refused while the run goes on', async () => {
    const sim = new Simulation({ seed: 1 });
    let error: unknown = null;
    await sim.run((s) => {
      s.spawn('t', async () => {
        try {
          s.releaseLogs();
        } catch (err) {
          error = err;
        }
        await s.yield();
      });
    });
    expect(String(error)).toMatch(/releaseLogs: the run has not ended/);
  });
});
