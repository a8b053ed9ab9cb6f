/**
 * The six worked timelines of spec A.7, step by step, checking G (invalidate_seq), N
 * (active_invalidate_ranges) and S (each subscription's seq) after every step.
 * Initial state of each: idle, G = 2, X inserted while idle so S_X = 1.
 */
import { describe, expect, it } from 'vitest';

import { EAGAIN } from '../../src/sim/errno.js';
import { Mutex } from '../../src/sim/sync/mutex.js';
import type { Simulation } from '../../src/sim/simulation.js';
import type { MmStruct } from '../../src/mm/mm-struct.js';
import {
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_UNMAP,
  mmuIntervalNotifierInsert,
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierInvalidateRangeStartNonblock,
  mmuNotifierRangeInit,
  mmuNotifierState,
  type MmuIntervalNotifier,
  type MmuIntervalNotifierOps,
} from '../../src/notifier/index.js';
import { expectOk, Flag, runWorld, until } from './helpers.js';

const PAGE = 4096;
const X_START = 0x10000;

/** A driver with a user lock: invalidate takes it around setSeq, as drivers must. */
class Driver {
  readonly lock: Mutex;
  readonly calls: string[] = [];
  constructor(
    sim: Simulation,
    readonly name: string,
  ) {
    this.lock = new Mutex(sim, `${name}.lock`);
  }
  readonly ops: MmuIntervalNotifierOps = {
    invalidate: async (sub, range, curSeq) => {
      this.calls.push(`${this.name}@${curSeq}`);
      if (!range.blockable) {
        if (!(await this.lock.trylock())) return false;
      } else {
        await this.lock.lock();
      }
      sub.setSeq(curSeq);
      this.lock.unlock();
      return true;
    },
  };
}

function gns(mm: MmStruct, ...subs: MmuIntervalNotifier[]): number[] {
  const st = mmuNotifierState(mm)!;
  return [st.invalidateSeq, st.activeInvalidateRanges, ...subs.map((s) => s.invalidateSeq)];
}

const hitX = (mm: MmStruct) => mmuNotifierRangeInit(MMU_NOTIFY_UNMAP, 0, mm, X_START, X_START + PAGE);
const missAll = (mm: MmStruct) => mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, 0x900000, 0x901000);

describe('spec A.7 worked scenarios', () => {
  it('1: clean read', async () => {
    expectOk(
      await runWorld(({ sim, mm }) => {
        sim.spawn('reader', async () => {
          const d = new Driver(sim, 'x');
          const x = await mmuIntervalNotifierInsert(mm, X_START, PAGE, d.ops, { userLock: d.lock });
          expect(gns(mm, x)).toEqual([2, 0, 1]);
          const seq = await x.readBegin();
          expect(seq).toBe(1);
          await d.lock.lock();
          expect(x.readRetry(seq)).toBe(false);
          d.lock.unlock();
          expect(gns(mm, x)).toEqual([2, 0, 1]);
          await x.remove();
        });
      }),
    );
  });

  it('2: collision during read', async () => {
    expectOk(
      await runWorld(({ sim, mm }) => {
        const d = new Driver(sim, 'x');
        let x!: MmuIntervalNotifier;
        const r1 = new Flag(sim, 'r1');
        const c1 = new Flag(sim, 'c1');
        const r2 = new Flag(sim, 'r2');
        let second = -1;
        sim.spawn('reader', async () => {
          x = await mmuIntervalNotifierInsert(mm, X_START, PAGE, d.ops, { userLock: d.lock });
          const seq = await x.readBegin(); // step 1
          expect(seq).toBe(1);
          r1.set();
          await c1.wait();
          await d.lock.lock(); // step 3
          expect(x.readRetry(seq)).toBe(true);
          d.lock.unlock();
          r2.set();
          second = await x.readBegin(); // step 4: sleeps until the window closes
          expect(second).toBe(3); // step 6
          expect(gns(mm, x)).toEqual([4, 0, 3]);
          await d.lock.lock();
          expect(x.readRetry(second)).toBe(false);
          d.lock.unlock();
          await x.remove();
        });
        sim.spawn('cpu', async () => {
          await r1.wait();
          const r = hitX(mm);
          await mmuNotifierInvalidateRangeStart(r); // step 2
          expect(d.calls).toEqual(['x@3']);
          expect(gns(mm, x)).toEqual([3, 1, 3]);
          c1.set();
          await r2.wait();
          await until(sim, () => mm.notifierSubscriptions!.wq.active(), 'reader asleep in read_begin');
          for (let i = 0; i < 5; i++) await sim.yield();
          expect(second).toBe(-1); // still asleep: S_X == G
          await mmuNotifierInvalidateRangeEnd(r); // step 5
          expect(gns(mm, x)).toEqual([4, 0, 3]);
        });
      }),
    );
  });

  it('3: two overlapping invalidations, only one hits X', async () => {
    expectOk(
      await runWorld(({ sim, mm }) => {
        const d = new Driver(sim, 'x');
        let x!: MmuIntervalNotifier;
        const ready = new Flag(sim, 'ready');
        let got = -1;
        sim.spawn('cpu', async () => {
          x = await mmuIntervalNotifierInsert(mm, X_START, PAGE, d.ops, { userLock: d.lock });
          const a = missAll(mm);
          const b = hitX(mm);
          await mmuNotifierInvalidateRangeStart(a); // 1
          expect(gns(mm, x)).toEqual([2, 1, 1]);
          await mmuNotifierInvalidateRangeStart(b); // 2
          expect(gns(mm, x)).toEqual([3, 2, 3]);
          await mmuNotifierInvalidateRangeEnd(b); // 3
          expect(gns(mm, x)).toEqual([3, 1, 3]);
          ready.set();
          await until(sim, () => mm.notifierSubscriptions!.wq.active(), 'reader asleep in read_begin');
          expect(got).toBe(-1); // 4: the reader sleeps although B is done
          await mmuNotifierInvalidateRangeEnd(a); // 5
          expect(gns(mm, x)).toEqual([4, 0, 3]);
        });
        sim.spawn('reader', async () => {
          await ready.wait();
          got = await x.readBegin();
          expect(got).toBe(3);
          expect(gns(mm, x)).toEqual([4, 0, 3]);
          await x.remove();
        });
      }),
    );
  });

  it('4: insert during partial exclusion', async () => {
    expectOk(
      await runWorld(({ sim, mm }) => {
        const dx = new Driver(sim, 'x');
        const dy = new Driver(sim, 'y');
        let y!: MmuIntervalNotifier;
        const ready = new Flag(sim, 'ready');
        let got = -1;
        sim.spawn('cpu', async () => {
          const x = await mmuIntervalNotifierInsert(mm, X_START, PAGE, dx.ops, { userLock: dx.lock });
          const a = missAll(mm);
          await mmuNotifierInvalidateRangeStart(a); // 1
          expect(gns(mm, x)).toEqual([2, 1, 1]);
          y = await mmuIntervalNotifierInsert(mm, 0x900000, PAGE, dy.ops, { userLock: dy.lock }); // 2
          expect(gns(mm, x, y)).toEqual([3, 1, 1, 3]);
          expect(y.inTree).toBe(true);
          ready.set();
          await until(sim, () => mm.notifierSubscriptions!.wq.active(), 'reader asleep in read_begin');
          expect(got).toBe(-1); // 3: readers of Y wait for A
          expect(dy.calls).toEqual([]); // A started before Y existed
          await mmuNotifierInvalidateRangeEnd(a);
          expect(gns(mm, x, y)).toEqual([4, 0, 1, 3]);
          await x.remove();
        });
        sim.spawn('reader', async () => {
          await ready.wait();
          got = await y.readBegin();
          expect(got).toBe(3);
          await y.remove();
        });
      }),
    );
  });

  it('5: insert and remove during full exclusion', async () => {
    expectOk(
      await runWorld(({ sim, mm }) => {
        const dx = new Driver(sim, 'x');
        const dy = new Driver(sim, 'y');
        let x!: MmuIntervalNotifier;
        const ready = new Flag(sim, 'ready');
        let removed = false;
        sim.spawn('cpu', async () => {
          x = await mmuIntervalNotifierInsert(mm, X_START, PAGE, dx.ops, { userLock: dx.lock });
          const b = hitX(mm);
          await mmuNotifierInvalidateRangeStart(b); // 1
          expect(gns(mm, x)).toEqual([3, 1, 3]);
          const y = await mmuIntervalNotifierInsert(mm, 0x900000, PAGE, dy.ops, { userLock: dy.lock }); // 2
          expect(gns(mm, x, y)).toEqual([3, 1, 3, 3]);
          expect([y.inTree, mmuNotifierState(mm)!.deferred]).toEqual([false, 1]);
          const pins = mm.count;
          await y.remove(); // 3: cancels the deferred add, no wait, mmdrop
          expect([y.inTree, mmuNotifierState(mm)!.deferred, mm.count]).toEqual([false, 0, pins - 1]);
          ready.set(); // 3': another thread removes X
          await until(sim, () => mmuNotifierState(mm)!.deferred === 1, 'deferred removal of X');
          for (let i = 0; i < 5; i++) await sim.yield();
          expect([removed, x.inTree]).toEqual([false, true]);
          await mmuNotifierInvalidateRangeEnd(b); // 4
          expect(gns(mm, x)).toEqual([4, 0, 3]);
          expect([x.inTree, mmuNotifierState(mm)!.itreeSize]).toEqual([false, 0]);
        });
        sim.spawn('remover', async () => {
          await ready.wait();
          await x.remove();
          removed = true;
          expect(gns(mm)).toEqual([4, 0]);
        });
      }),
    );
  });

  it('6: non-blocking failure', async () => {
    expectOk(
      await runWorld(({ sim, mm }) => {
        const dx = new Driver(sim, 'x');
        const dz = new Driver(sim, 'z');
        const holding = new Flag(sim, 'holding');
        const done = new Flag(sim, 'done');
        sim.spawn('reaper', async () => {
          const x = await mmuIntervalNotifierInsert(mm, X_START, PAGE, dx.ops, { userLock: dx.lock });
          const z = await mmuIntervalNotifierInsert(mm, X_START + PAGE, PAGE, dz.ops, { userLock: dz.lock });
          await holding.wait();
          const r = mmuNotifierRangeInit(MMU_NOTIFY_UNMAP, 0, mm, X_START, X_START + 2 * PAGE); // 1
          const ret = await mmuNotifierInvalidateRangeStartNonblock(r);
          expect(dx.calls).toEqual(['x@3']); // 2: X could not trylock; Z not called
          expect(dz.calls).toEqual([]);
          expect(ret).toBe(-EAGAIN); // 3
          expect(gns(mm, x, z)).toEqual([4, 0, 1, 1]);
          done.set();
          await x.remove();
          await z.remove();
        });
        sim.spawn('driver', async () => {
          await dx.lock.lock();
          holding.set();
          await done.wait();
          dx.lock.unlock();
        });
      }),
    );
  });
});
