import { describe, expect, it } from 'vitest';

import { EAGAIN, EINVAL, EOVERFLOW } from '../../src/sim/errno.js';
import { Mutex } from '../../src/sim/sync/mutex.js';
import {
  MMU_NOTIFIER_RANGE_BLOCKABLE,
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_RELEASE,
  MmuIntervalNotifier,
  NotifierError,
  ULONG_MAX,
  mmInflightInvalidations,
  mmuIntervalNotifierFind,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierSynchronize,
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierInvalidateRangeStartNonblock,
  mmuNotifierRangeInit,
  mmuNotifierState,
  mmuNotifierWarnings,
  type MmuIntervalNotifierOps,
  type MmuNotifierRange,
} from '../../src/notifier/index.js';
import type { MmStruct } from '../../src/mm/mm-struct.js';
import { expectOk, expectViolation, Flag, runMain, runWorld, until, noPanicOnWarn } from './helpers.js';

const PAGE = 4096;

/** ops recording every call as "name:start-end:event:curSeq". */
function recorder(log: string[], name: string, result: (range: MmuNotifierRange) => boolean = () => true) {
  const ops: MmuIntervalNotifierOps = {
    invalidate(sub, range, curSeq) {
      sub.setSeq(curSeq);
      log.push(`${name}:${range.start}-${range.end}:${range.event}:${curSeq}`);
      return result(range);
    },
  };
  return ops;
}

function range(mm: MmStruct, start: number, end: number, event = MMU_NOTIFY_CLEAR): MmuNotifierRange {
  return mmuNotifierRangeInit(event, 0, mm, start, end);
}

function G(mm: MmStruct): number {
  return mmuNotifierState(mm)!.invalidateSeq;
}
function N(mm: MmStruct): number {
  return mmuNotifierState(mm)!.activeInvalidateRanges;
}

describe('mmu_interval_notifier_insert', () => {
  it('enables interval mode, pins the mm and seeds S = G - 1 when idle', async () => {
    expectOk(
      await runMain(async ({ mm }) => {
        const sub = await mmuIntervalNotifierInsert(mm, PAGE, PAGE, recorder([], 'x'));
        const st = mmuNotifierState(mm)!;
        expect(st.hasItree).toBe(true);
        expect(st.invalidateSeq).toBe(2);
        expect(st.itreeSize).toBe(1);
        expect(sub.invalidateSeq).toBe(1);
        expect([sub.start, sub.last]).toEqual([PAGE, 2 * PAGE - 1]);
        expect(sub.inTree).toBe(true);
        expect(mm.count).toBe(2);
        await sub.remove();
        expect(mm.count).toBe(1);
        expect(mmuNotifierState(mm)!.itreeSize).toBe(0);
      }),
    );
  });

  it('returns -EOVERFLOW for a zero length and for an interval past ULONG_MAX', async () => {
    expectOk(
      await runMain(async ({ mm }) => {
        const ops = recorder([], 'x');
        expect(await new MmuIntervalNotifier(ops).insert(mm, PAGE, 0)).toBe(-EOVERFLOW);
        expect(await new MmuIntervalNotifier(ops).insert(mm, ULONG_MAX, 2)).toBe(-EOVERFLOW);
        expect(await new MmuIntervalNotifier(ops).insert(mm, 2, ULONG_MAX)).toBe(-EOVERFLOW);
        // The largest interval that fits.
        const all = new MmuIntervalNotifier(ops);
        expect(await all.insert(mm, 0, ULONG_MAX + 1 - 1)).toBe(0);
        expect(all.last).toBe(ULONG_MAX - 1);
        const top = new MmuIntervalNotifier(ops);
        expect(await top.insert(mm, ULONG_MAX, 1)).toBe(0);
        // The failed inserts took no pin and left no trace; interval mode stays on.
        expect(mm.count).toBe(3);
        expect(mmuNotifierState(mm)!.itreeSize).toBe(2);
        await all.remove();
        await top.remove();
        expect(mm.count).toBe(1);
      }),
    );
  });

  it('the throwing form carries the errno', async () => {
    expectOk(
      await runMain(async ({ mm }) => {
        let err: unknown = null;
        try {
          await mmuIntervalNotifierInsert(mm, PAGE, 0, recorder([], 'x'));
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(NotifierError);
        expect((err as NotifierError).errno).toBe(-EOVERFLOW);
        expect((err as Error).message).toMatch(/-EOVERFLOW/);
      }),
    );
  });

  it('rejects arguments that are not addresses as a usage error', async () => {
    await expect(
      runMain(async ({ mm }) => {
        await new MmuIntervalNotifier(recorder([], 'x')).insert(mm, -1, PAGE);
      }),
    ).rejects.toThrow(/start and length must be integers/);
  });

  it('on an mm without users: BUG when interval mode must be enabled', async () => {
    const run = await runMain(async ({ mm }) => {
      mm.users = 0;
      await new MmuIntervalNotifier(recorder([], 'x')).insert(mm, 0, PAGE);
    });
    expectViolation(run, 'kernel-bug', /mm_users 0/);
  });

  it('on an mm without users once interval mode is on: WARN, then -EINVAL', async () => {
    const run = await runMain(async ({ mm }) => {
      const a = await mmuIntervalNotifierInsert(mm, 0, PAGE, recorder([], 'a'));
      mm.users = 0;
      await new MmuIntervalNotifier(recorder([], 'x')).insert(mm, PAGE, PAGE);
      void a;
    });
    expectViolation(run, 'kernel-warning', /mm_users 0/);

    expectOk(
      await runMain(
        async ({ sim, mm }) => {
          const a = await mmuIntervalNotifierInsert(mm, 0, PAGE, recorder([], 'a'));
          mm.users = 0;
          expect(await new MmuIntervalNotifier(recorder([], 'x')).insert(mm, PAGE, PAGE)).toBe(-EINVAL);
          expect(mmuNotifierWarnings(sim)).toHaveLength(1);
          expect(mm.count).toBe(2);
          mm.users = 1;
          await a.remove();
        },
        1,
        noPanicOnWarn,
      ),
    );
  });

  it('insert while holding the mmap lock is reported; insertLocked requires it for write', async () => {
    const run = await runMain(async ({ mm }) => {
      await mm.mmapLock.downRead();
      await new MmuIntervalNotifier(recorder([], 'x')).insert(mm, 0, PAGE);
    });
    expectViolation(run, 'lock-misuse', /holding its mmap_lock/);

    const run2 = await runMain(async ({ mm }) => {
      await mm.mmapLock.downRead();
      await new MmuIntervalNotifier(recorder([], 'x')).insertLocked(mm, 0, PAGE);
    });
    expectViolation(run2, 'lock-misuse', /without mmap_lock held for write/);

    expectOk(
      await runMain(async ({ mm }) => {
        await mm.mmapLock.downWrite();
        const sub = new MmuIntervalNotifier(recorder([], 'x'));
        expect(await sub.insertLocked(mm, 0, PAGE)).toBe(0);
        mm.mmapLock.upWrite();
        expect(sub.inTree).toBe(true);
        await sub.remove();
      }),
    );
  });

  it('during a partial exclusion: inserted at once, G made odd, S = G', async () => {
    expectOk(
      await runMain(async ({ mm }) => {
        const a = await mmuIntervalNotifierInsert(mm, 0, PAGE, recorder([], 'a'));
        const r = range(mm, 8 * PAGE, 9 * PAGE);
        await mmuNotifierInvalidateRangeStart(r);
        expect([G(mm), N(mm)]).toEqual([2, 1]);
        const y = await mmuIntervalNotifierInsert(mm, 8 * PAGE, PAGE, recorder([], 'y'));
        expect(y.inTree).toBe(true);
        expect([G(mm), y.invalidateSeq]).toEqual([3, 3]);
        await mmuNotifierInvalidateRangeEnd(r);
        expect([G(mm), N(mm)]).toEqual([4, 0]);
        expect(await y.readBegin()).toBe(3);
        await a.remove();
        await y.remove();
      }),
    );
  });

  it('during a full exclusion: deferred (not in the tree) until the final end; deferred LIFO', async () => {
    expectOk(
      await runMain(async ({ mm }) => {
        const log: string[] = [];
        const a = await mmuIntervalNotifierInsert(mm, 0, PAGE, recorder(log, 'a'));
        const r = range(mm, 0, PAGE);
        await mmuNotifierInvalidateRangeStart(r);
        expect(G(mm)).toBe(3);
        const y1 = await mmuIntervalNotifierInsert(mm, 5 * PAGE, PAGE, recorder(log, 'y1'));
        const y2 = await mmuIntervalNotifierInsert(mm, 5 * PAGE, PAGE, recorder(log, 'y2'));
        expect([y1.inTree, y2.inTree, y1.invalidateSeq, y2.invalidateSeq]).toEqual([false, false, 3, 3]);
        expect(mmuNotifierState(mm)!.deferred).toBe(2);
        // A find sees pending insertions (most recent first), consistent with program order.
        expect(await mmuIntervalNotifierFind(mm, y2.ops, 0, ULONG_MAX)).toBe(y2);
        await mmuNotifierInvalidateRangeEnd(r);
        expect([G(mm), y1.inTree, y2.inTree]).toEqual([4, true, true]);
        expect(mmuNotifierState(mm)!.deferred).toBe(0);
        // LIFO: y2 was queued last, applied first, so it comes first among equal starts.
        const r2 = range(mm, 5 * PAGE, 6 * PAGE);
        await mmuNotifierInvalidateRangeStart(r2);
        await mmuNotifierInvalidateRangeEnd(r2);
        expect(log.slice(-2).map((l) => l.split(':')[0])).toEqual(['y2', 'y1']);
        for (const s of [a, y1, y2]) await s.remove();
      }),
    );
  });
});

describe('mmu_interval_notifier_remove', () => {
  it('double remove is a kernel warning', async () => {
    const run = await runMain(async ({ mm }) => {
      const a = await mmuIntervalNotifierInsert(mm, 0, PAGE, recorder([], 'a'));
      await a.remove();
      await a.remove();
    });
    expectViolation(run, 'kernel-warning', /not in the interval tree/);
  });

  it('double remove during an exclusion window is a kernel BUG', async () => {
    const run = await runMain(async ({ mm }) => {
      const a = await mmuIntervalNotifierInsert(mm, 0, PAGE, recorder([], 'a'));
      const b = await mmuIntervalNotifierInsert(mm, PAGE, PAGE, recorder([], 'b'));
      await a.remove();
      await mmuNotifierInvalidateRangeStart(range(mm, PAGE, 2 * PAGE));
      await a.remove();
      void b;
    });
    expectViolation(run, 'kernel-bug', /neither in the interval tree nor pending insertion/);
  });

  it('cancels a pending insertion without waiting', async () => {
    expectOk(
      await runMain(async ({ mm }) => {
        const a = await mmuIntervalNotifierInsert(mm, 0, PAGE, recorder([], 'a'));
        const r = range(mm, 0, PAGE);
        await mmuNotifierInvalidateRangeStart(r);
        const y = await mmuIntervalNotifierInsert(mm, PAGE, PAGE, recorder([], 'y'));
        expect(mmuNotifierState(mm)!.deferred).toBe(1);
        await y.remove(); // would deadlock if it waited: this thread holds the window open
        expect(mmuNotifierState(mm)!.deferred).toBe(0);
        expect([y.inTree, y.state, mm.count]).toEqual([false, 'removed', 2]);
        await mmuNotifierInvalidateRangeEnd(r);
        expect(mmuNotifierState(mm)!.itreeSize).toBe(1);
        await a.remove();
      }),
    );
  });

  it('during a window: waits for the final end, which takes it out of the tree', async () => {
    expectOk(
      await runWorld(({ sim, mm }) => {
        let x: MmuIntervalNotifier;
        const inserted = new Flag(sim, 'inserted');
        const started = new Flag(sim, 'started');
        let removed = false;
        sim.spawn('cpu', async () => {
          x = await mmuIntervalNotifierInsert(mm, 0, PAGE, recorder([], 'x'));
          inserted.set();
          const r = range(mm, 0, PAGE);
          await mmuNotifierInvalidateRangeStart(r);
          started.set();
          await until(sim, () => x.state === 'removing' && mmuNotifierState(mm)!.deferred === 1, 'remover');
          for (let i = 0; i < 5; i++) await sim.yield();
          expect(removed).toBe(false);
          expect(x.inTree).toBe(true);
          await mmuNotifierInvalidateRangeEnd(r);
        });
        sim.spawn('remover', async () => {
          await inserted.wait();
          await started.wait();
          await x.remove();
          removed = true;
          expect([x.inTree, G(mm), mm.count]).toEqual([false, 4, 1]);
        });
      }),
    );
  });

  it('from an invalidate callback of the same mm is recursive locking (it would wait for itself)', async () => {
    const run = await runMain(async ({ mm }) => {
      const a = await mmuIntervalNotifierInsert(mm, 0, PAGE, {
        async invalidate(sub) {
          await sub.remove();
          return true;
        },
      });
      void a;
      await mmuNotifierInvalidateRangeStart(range(mm, 0, PAGE));
    });
    expectViolation(
      run,
      'lock-order',
      /recursive locking: main calls mmu_interval_notifier_remove from inside/,
    );
  });
});

describe('lockdep map mmu_notifier_invalidate_range_start', () => {
  /** A driver lock its invalidate callback takes, not declared to the subscription as its user lock. */
  async function driver(mm: MmStruct, lock: Mutex): Promise<MmuIntervalNotifier> {
    return mmuIntervalNotifierInsert(mm, 0, PAGE, {
      async invalidate(sub, _r, curSeq) {
        await lock.lock();
        sub.setSeq(curSeq);
        lock.unlock();
        return true;
      },
    });
  }

  it('reports read_begin under a lock the callback takes, in a run that did not deadlock', async () => {
    const run = await runMain(async ({ sim, mm }) => {
      const lock = new Mutex(sim, 'driver->lock');
      const sub = await driver(mm, lock);
      const r = range(mm, 0, PAGE);
      await mmuNotifierInvalidateRangeStart(r); // the callback takes driver->lock inside the map
      await mmuNotifierInvalidateRangeEnd(r);
      await lock.lock();
      await sub.readBegin(); // driver->lock -> map closes the cycle; nothing was invalidating
      lock.unlock();
    });
    expectViolation(
      run,
      'lock-order',
      /main takes mmu_notifier_invalidate_range_start while holding driver->lock/,
    );
  });

  it('reports remove under such a lock in the other order too (remove first, callback later)', async () => {
    const run = await runMain(async ({ sim, mm }) => {
      const lock = new Mutex(sim, 'driver->lock');
      const first = await driver(mm, lock);
      await lock.lock();
      await first.remove();
      lock.unlock();
      await driver(mm, lock);
      const r = range(mm, 0, PAGE);
      await mmuNotifierInvalidateRangeStart(r); // map -> driver->lock closes it here
      await mmuNotifierInvalidateRangeEnd(r);
    });
    expectViolation(
      run,
      'lock-order',
      /main takes driver->lock while holding mmu_notifier_invalidate_range_start/,
    );
  });

  it('is silent on the documented pattern: read_begin, then the lock around read_retry', async () => {
    const run = await runMain(async ({ sim, mm }) => {
      const lock = new Mutex(sim, 'driver->lock');
      const sub = await driver(mm, lock);
      const r = range(mm, 0, PAGE);
      await mmuNotifierInvalidateRangeStart(r);
      await mmuNotifierInvalidateRangeEnd(r);
      const seq = await sub.readBegin();
      await lock.lock();
      expect(sub.readRetry(seq)).toBe(false);
      lock.unlock();
      await sub.remove();
    });
    expectOk(run);
  });

  it('reports read_begin from inside an invalidate callback as recursive', async () => {
    const run = await runMain(async ({ mm }) => {
      await mmuIntervalNotifierInsert(mm, 0, PAGE, {
        async invalidate(sub) {
          await sub.readBegin();
          return true;
        },
      });
      await mmuNotifierInvalidateRangeStart(range(mm, 0, PAGE));
    });
    expectViolation(run, 'lock-order', /recursive locking: main calls mmu_interval_read_begin/);
  });
});

describe('removeDeferred, find, synchronize', () => {
  it('from its own callback: applied at the final end, then release, then the pin', async () => {
    expectOk(
      await runMain(async ({ mm }) => {
        const events: string[] = [];
        const ops: MmuIntervalNotifierOps = {
          async invalidate(sub, r, curSeq) {
            sub.setSeq(curSeq);
            events.push('invalidate');
            await sub.removeDeferred();
            events.push(`queued inTree=${sub.inTree}`);
            return true;
          },
          release(sub) {
            events.push(`release inTree=${sub.inTree} G=${G(mm)}`);
          },
        };
        const a = await mmuIntervalNotifierInsert(mm, 0, PAGE, ops);
        const b = await mmuIntervalNotifierInsert(mm, 0, PAGE, recorder([], 'b'));
        // find skips a subscription whose removal is pending.
        const r = range(mm, 0, PAGE);
        await mmuNotifierInvalidateRangeStart(r);
        expect(await mmuIntervalNotifierFind(mm, ops, 0, ULONG_MAX)).toBe(null);
        expect(events).toEqual(['invalidate', 'queued inTree=true']);
        expect(mm.count).toBe(3);
        await mmuNotifierInvalidateRangeEnd(r);
        expect(events[2]).toBe('release inTree=false G=4');
        expect([a.state, mm.count]).toEqual(['removed', 2]);
        await b.remove();
      }),
    );
  });

  it('when idle: immediate release; synchronize waits for an open window', async () => {
    expectOk(
      await runWorld(({ sim, mm }) => {
        const released: string[] = [];
        const ops: MmuIntervalNotifierOps = {
          invalidate: () => true,
          release: (sub) => released.push(sub.name),
        };
        const started = new Flag(sim, 'started');
        let synced = false;
        sim.spawn('cpu', async () => {
          const a = await mmuIntervalNotifierInsert(mm, 0, PAGE, ops, { name: 'a' });
          await a.removeDeferred();
          expect(released).toEqual(['a']);
          const b = await mmuIntervalNotifierInsert(mm, 0, PAGE, ops, { name: 'b' });
          expect(await mmuIntervalNotifierFind(mm, ops, 0, 0)).toBe(b);
          expect(await mmuIntervalNotifierFind(mm, ops, PAGE, 2 * PAGE)).toBe(null);
          const r = range(mm, 0, PAGE);
          await mmuNotifierInvalidateRangeStart(r);
          await b.removeDeferred();
          started.set();
          await until(sim, () => mmuNotifierState(mm)!.deferred === 1, 'queue');
          for (let i = 0; i < 5; i++) await sim.yield();
          expect(synced).toBe(false);
          await mmuNotifierInvalidateRangeEnd(r);
        });
        sim.spawn('unload', async () => {
          await started.wait();
          await mmuIntervalNotifierSynchronize(mm);
          synced = true;
          expect(released).toEqual(['a', 'b']);
          expect(mm.count).toBe(1);
        });
      }),
    );
  });
});

describe('read side', () => {
  it('readRetry and setSeq assert the user lock when it is known', async () => {
    const run = await runMain(async ({ sim, mm }) => {
      const lock = new Mutex(sim, 'driver');
      const sub = await mmuIntervalNotifierInsert(mm, 0, PAGE, recorder([], 'x'), { userLock: lock });
      const seq = await sub.readBegin();
      await lock.lock();
      expect(sub.readRetry(seq)).toBe(false);
      lock.unlock();
      sub.readRetry(seq);
    });
    expectViolation(run, 'lock-misuse', /mmu_interval_read_retry requires driver held/);

    const run2 = await runMain(async ({ sim, mm }) => {
      const lock = new Mutex(sim, 'driver');
      await mmuIntervalNotifierInsert(mm, 0, PAGE, recorder([], 'x'), { userLock: lock });
      await mmuNotifierInvalidateRangeStart(range(mm, 0, PAGE));
    });
    expectViolation(run2, 'lock-misuse', /mmu_interval_set_seq requires driver held/);
  });

  it('setSeq with an even value breaks the invariant', async () => {
    const run = await runMain(async ({ mm }) => {
      const sub = await mmuIntervalNotifierInsert(mm, 0, PAGE, recorder([], 'x'));
      sub.setSeq(4);
    });
    expectViolation(run, 'notifier-invariant', /cur_seq is even/);
  });

  it('checkRetry is true once a callback stored a newer seq', async () => {
    expectOk(
      await runMain(async ({ mm }) => {
        const sub = await mmuIntervalNotifierInsert(mm, 0, PAGE, recorder([], 'x'));
        const seq = await sub.readBegin();
        expect(sub.checkRetry(seq)).toBe(false);
        const r = range(mm, 0, PAGE);
        await mmuNotifierInvalidateRangeStart(r);
        expect(sub.checkRetry(seq)).toBe(true);
        expect(sub.readRetry(seq)).toBe(true);
        await mmuNotifierInvalidateRangeEnd(r);
        await sub.remove();
      }),
    );
  });
});

describe('invalidation', () => {
  it('calls only overlapping subscriptions, in start order, with one odd cur_seq', async () => {
    expectOk(
      await runMain(async ({ mm }) => {
        const log: string[] = [];
        const subs = [
          await mmuIntervalNotifierInsert(mm, 4 * PAGE, PAGE, recorder(log, 'd')),
          await mmuIntervalNotifierInsert(mm, 0, PAGE, recorder(log, 'a')),
          await mmuIntervalNotifierInsert(mm, 2 * PAGE, 2 * PAGE, recorder(log, 'b')),
          await mmuIntervalNotifierInsert(mm, 3 * PAGE, PAGE, recorder(log, 'c')),
        ];
        const r = range(mm, 3 * PAGE, 5 * PAGE);
        await mmuNotifierInvalidateRangeStart(r);
        expect(log).toEqual([
          `b:${3 * PAGE}-${5 * PAGE}:1:3`,
          `c:${3 * PAGE}-${5 * PAGE}:1:3`,
          `d:${3 * PAGE}-${5 * PAGE}:1:3`,
        ]);
        expect(r.flags & MMU_NOTIFIER_RANGE_BLOCKABLE).toBe(1);
        await mmuNotifierInvalidateRangeEnd(r);
        expect([G(mm), N(mm), mmInflightInvalidations(mm)]).toEqual([4, 0, 0]);
        // The end of the range is exclusive.
        await mmuNotifierInvalidateRangeStart(range(mm, PAGE, 2 * PAGE));
        expect(log).toHaveLength(3);
        expect(G(mm)).toBe(4);
        for (const s of subs) await s.remove();
      }),
    );
  });

  it('non-blockable: a refusal stops the walk, unwinds N and G, gives -EAGAIN', async () => {
    expectOk(
      await runMain(async ({ sim, mm }) => {
        const log: string[] = [];
        let nonBlock = false;
        const x = await mmuIntervalNotifierInsert(mm, 0, PAGE, {
          invalidate(sub, r, curSeq) {
            nonBlock = !sim.canSleep();
            log.push(`x:${curSeq}`);
            return false;
          },
        });
        const z = await mmuIntervalNotifierInsert(mm, PAGE, PAGE, recorder(log, 'z'));
        const r = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, MMU_NOTIFIER_RANGE_BLOCKABLE, mm, 0, 2 * PAGE);
        expect(await mmuNotifierInvalidateRangeStartNonblock(r)).toBe(-EAGAIN);
        expect(r.blockable).toBe(false);
        expect(nonBlock).toBe(true);
        expect(log).toEqual(['x:3']);
        expect([G(mm), N(mm), mmInflightInvalidations(mm)]).toEqual([4, 0, 0]);
        await x.remove();
        await z.remove();
      }),
    );
  });

  it('a non-blockable callback that sleeps is reported', async () => {
    const run = await runMain(async ({ sim, mm }) => {
      const lock = new Mutex(sim, 'driver');
      await mmuIntervalNotifierInsert(mm, 0, PAGE, {
        async invalidate() {
          await lock.lock();
          lock.unlock();
          return true;
        },
      });
      await mmuNotifierInvalidateRangeStartNonblock(range(mm, 0, PAGE));
    });
    expectViolation(run, 'sleep-in-atomic', /non-blockable/);
  });

  it('false on a blockable range is a kernel warning', async () => {
    const run = await runMain(async ({ mm }) => {
      await mmuIntervalNotifierInsert(
        mm,
        0,
        PAGE,
        recorder([], 'x', () => false),
      );
      await mmuNotifierInvalidateRangeStart(range(mm, 0, PAGE));
    });
    expectViolation(run, 'kernel-warning', /returned false for a blockable range/);
  });

  it('an end without a start drives N negative, which is reported', async () => {
    const run = await runMain(async ({ mm }) => {
      await mmuIntervalNotifierInsert(mm, 0, PAGE, recorder([], 'x'));
      await mmuNotifierInvalidateRangeEnd(range(mm, 0, PAGE));
    });
    expectViolation(run, 'notifier-invariant', /active_invalidate_ranges is negative/);
    // Without interval mode, the registration gate's own count catches it.
    const run2 = await runMain(async ({ mm }) => {
      await mmuNotifierInvalidateRangeEnd(range(mm, 0, PAGE));
    });
    expectViolation(run2, 'notifier-invariant', /without a matching invalidate_range_start/);
  });

  it('mm teardown sends RELEASE over [0, ULONG_MAX) and leaves subscriptions inserted', async () => {
    expectOk(
      await runMain(async ({ mm }) => {
        const log: string[] = [];
        const a = await mmuIntervalNotifierInsert(mm, 0, PAGE, recorder(log, 'a'));
        const b = await mmuIntervalNotifierInsert(mm, ULONG_MAX - PAGE, PAGE, recorder(log, 'b'));
        await mm.mmput();
        expect(log).toEqual([
          `a:0-${ULONG_MAX}:${MMU_NOTIFY_RELEASE}:3`,
          `b:0-${ULONG_MAX}:${MMU_NOTIFY_RELEASE}:3`,
        ]);
        expect([G(mm), N(mm), a.inTree, b.inTree, mm.count]).toEqual([4, 0, true, true, 2]);
        await a.remove();
        await b.remove();
        expect(mm.count).toBe(0);
      }),
    );
  });
});

describe('read_begin contract', () => {
  it('calling read_begin while holding the user lock is reported', async () => {
    const run = await runMain(async ({ sim, mm }) => {
      const lock = new Mutex(sim, 'driver');
      const sub = await mmuIntervalNotifierInsert(mm, 0, PAGE, recorder([], 'x'), { userLock: lock });
      await lock.lock();
      await sub.readBegin();
    });
    expectViolation(run, 'lock-misuse', /mmu_interval_read_begin on .* holding driver/);
  });
});

describe('invalidating an empty range [a, a) (mn_itree_inv_start_range with end - 1 < start)', () => {
  it('hits the subscriptions that start before a and end at or after it; [0, 0) hits every one', async () => {
    expectOk(
      await runMain(async ({ mm }) => {
        const log: string[] = [];
        await mmuIntervalNotifierInsert(mm, 0, 2 * PAGE, recorder(log, 'straddles'));
        await mmuIntervalNotifierInsert(mm, PAGE, PAGE, recorder(log, 'starts-at-a'));
        await mmuIntervalNotifierInsert(mm, 0, PAGE, recorder(log, 'ends-before-a'));
        await mmuIntervalNotifierInsert(mm, 3 * PAGE, PAGE, recorder(log, 'after'));

        const r = range(mm, PAGE, PAGE);
        await mmuNotifierInvalidateRangeStart(r);
        expect(log).toEqual([`straddles:${PAGE}-${PAGE}:${MMU_NOTIFY_CLEAR}:3`]);
        expect([G(mm), N(mm)]).toEqual([3, 1]); // a hit opens a full exclusion, as for any range
        await mmuNotifierInvalidateRangeEnd(r);
        expect(G(mm)).toBe(4);

        log.length = 0;
        const zero = range(mm, 0, 0);
        await mmuNotifierInvalidateRangeStart(zero); // end - 1 wraps to ULONG_MAX
        await mmuNotifierInvalidateRangeEnd(zero);
        expect(log.map((l) => l.split(':')[0])).toEqual([
          'straddles',
          'ends-before-a',
          'starts-at-a',
          'after',
        ]);
      }),
    );
  });
});

describe('mmu_interval_notifier_insert: might_lock(mmap_lock)', () => {
  it("orders the caller's locks before mmap_lock even when this insert does not take it", async () => {
    const run = await runMain(async ({ sim, mm }) => {
      const lock = new Mutex(sim, 'driver->lock');
      await mmuIntervalNotifierInsert(mm, 0, PAGE, {
        async invalidate(sub, _r, curSeq) {
          await lock.lock();
          sub.setSeq(curSeq);
          lock.unlock();
          return true;
        },
      });
      // munmap-like: the invalidation runs under the mmap lock, the callback takes driver->lock.
      await mm.mmapLock.downWrite();
      const r = range(mm, 0, PAGE);
      await mmuNotifierInvalidateRangeStart(r);
      await mmuNotifierInvalidateRangeEnd(r);
      mm.mmapLock.upWrite();
      // The mm is in interval mode already, so this insert takes no mmap lock; it could have.
      await lock.lock();
      await mmuIntervalNotifierInsert(mm, PAGE, PAGE, recorder([], 'b'));
      lock.unlock();
    });
    expectViolation(run, 'lock-order', /main takes mmap_lock while holding driver->lock/);
  });
});
