/**
 * Conformance of the notifier core with upstream mm/mmu_notifier.c and the inline wrappers
 * of include/linux/mmu_notifier.h, for behaviours the other notifier tests do not pin
 * down. Every describe block names the upstream function whose behaviour it checks.
 */
import { describe, expect, it } from 'vitest';

import { EAGAIN } from '../../src/sim/errno.js';
import { explore } from '../../src/explore/index.js';
import type { Simulation } from '../../src/sim/simulation.js';
import type { SimThread } from '../../src/sim/thread.js';
import type { MmStruct } from '../../src/mm/mm-struct.js';
import {
  MMU_NOTIFIER_RANGE_BLOCKABLE,
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_RELEASE,
  MmuNotifier,
  ULONG_MAX,
  mmInflightInvalidations,
  mmuIntervalNotifierInsert,
  mmuNotifierGet,
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierInvalidateRangeStartNonblock,
  mmuNotifierRangeInit,
  mmuNotifierRegister,
  mmuNotifierSrcu,
  mmuNotifierState,
  mmuNotifierSynchronize,
  mmuNotifierWarnings,
  type MmuIntervalNotifier,
  type MmuIntervalNotifierOps,
  type MmuNotifierOps,
  type MmuNotifierRange,
} from '../../src/notifier/index.js';
import { expectOk, Flag, newMm, runMain, runWorld, until, logging, noPanicOnWarn } from './helpers.js';

const PAGE = 4096;

function range(mm: MmStruct, start: number, end: number, flags = 0): MmuNotifierRange {
  return mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, flags, mm, start, end);
}

/** [G, N]: subscriptions->invalidate_seq and ->active_invalidate_ranges. */
function gn(mm: MmStruct): [number, number] {
  const st = mmuNotifierState(mm)!;
  return [st.invalidateSeq, st.activeInvalidateRanges];
}

/** Interval ops that store cur_seq and log "name:start-end:event:curSeq:blockable". */
function recorder(log: string[], name: string): MmuIntervalNotifierOps {
  return {
    invalidate(sub, r, curSeq) {
      sub.setSeq(curSeq);
      log.push(`${name}:${r.start}-${r.end}:${r.event}:${curSeq}:${r.blockable}`);
      return true;
    },
  };
}

/** The thread sleeps on the container's wait queue (in read_begin or remove). */
function sleepsOnWq(t: SimThread): boolean {
  return t.waitingOn?.describe() === 'waitqueue subscriptions->wq';
}

/**
 * __mmu_notifier_invalidate_range_start / mn_itree_invalidate: an interval callback
 * refusing a non-blockable range ends the interval part at once (mn_itree_inv_end) and
 * returns -EAGAIN before the classic list is visited (`if (ret) return ret;`).
 */
describe('__mmu_notifier_invalidate_range_start: interval refusal short-circuits the classic list', () => {
  it('returns -EAGAIN, calls no classic start (and no compensating end), leaves G even and N 0', async () => {
    expectOk(
      await runMain(async ({ mm }) => {
        const log: string[] = [];
        await mmuNotifierRegister(mm, logging(log, 'classic'));
        const x = await mmuIntervalNotifierInsert(mm, 0, PAGE, {
          invalidate(sub, r, curSeq) {
            log.push(`x:${curSeq}:${r.blockable}`);
            return r.blockable;
          },
        });
        expect(gn(mm)).toEqual([2, 0]);
        const r = range(mm, 0, PAGE, MMU_NOTIFIER_RANGE_BLOCKABLE);
        expect(await mmuNotifierInvalidateRangeStartNonblock(r)).toBe(-EAGAIN);
        expect(log).toEqual(['x:3:false']);
        // The window opened (G = 3) and was closed by the internal end: G even, N 0.
        expect(gn(mm)).toEqual([4, 0]);
        expect(mmInflightInvalidations(mm)).toBe(0);
        // The mm is not wedged: a blocking start/end pair reaches both flavours once.
        const r2 = range(mm, 0, PAGE);
        await mmuNotifierInvalidateRangeStart(r2);
        await mmuNotifierInvalidateRangeEnd(r2);
        expect(log).toEqual(['x:3:false', 'x:5:true', 'classic:start', 'classic:end']);
        await x.remove();
      }),
    );
  });
});

/**
 * __mmu_notifier_release: mn_itree_release (a blockable MMU_NOTIFY_RELEASE over
 * [0, ULONG_MAX) to every interval subscription, then its end) runs to completion before
 * mn_hlist_release calls any classic `release`.
 */
describe('__mmu_notifier_release: interval RELEASE before classic release', () => {
  it('every interval subscription is invalidated with RELEASE before the first classic release', async () => {
    expectOk(
      await runMain(async ({ mm }) => {
        const log: string[] = [];
        const classicOps = (name: string): MmuNotifierOps => ({
          release: () => {
            const [g, n] = gn(mm);
            log.push(`${name}:release:G=${g}:N=${n}`);
          },
        });
        // Classic notifiers registered both before and after the interval subscriptions.
        const c1 = await mmuNotifierRegister(mm, classicOps('c1'));
        const a = await mmuIntervalNotifierInsert(mm, 0, PAGE, recorder(log, 'a'));
        const b = await mmuIntervalNotifierInsert(mm, 1 << 30, PAGE, recorder(log, 'b'));
        const c2 = await mmuNotifierRegister(mm, classicOps('c2'));
        await mm.mmput(); // last user: exit_mmap → mmu_notifier_release
        expect(log).toEqual([
          `a:0-${ULONG_MAX}:${MMU_NOTIFY_RELEASE}:3:true`,
          `b:0-${ULONG_MAX}:${MMU_NOTIFY_RELEASE}:3:true`,
          // The interval window was already closed when the classic releases ran.
          'c2:release:G=4:N=0',
          'c1:release:G=4:N=0',
        ]);
        await c1.unregister();
        await c2.unregister();
        await a.remove();
        await b.remove();
        expect(mm.count).toBe(0);
      }),
    );
  });
});

/**
 * mmu_notifier_unregister racing mn_hlist_release (exit_mmap): `release` may run in both
 * (upstream comment: "->release or any other notifier method may be invoked concurrently
 * with mmu_notifier_unregister"), but once unregister returns (after its synchronize_srcu)
 * no method of the notifier is running or will be invoked.
 */
describe('mmu_notifier_unregister vs mm teardown', () => {
  it('release runs once or twice, never after unregister returned, never still running at its return', async () => {
    const releaseCounts = new Set<number>();
    const result = await explore(
      { strategy: 'pct', depth: 3, schedules: 1500, seed: 7 },
      (sim: Simulation) => {
        const mm = newMm(sim);
        const callers: string[] = [];
        let running = 0;
        let unregistered = false;
        const ops: MmuNotifierOps = {
          release: async () => {
            sim.check(!unregistered, 'release called after mmu_notifier_unregister returned');
            callers.push(sim.current!.name);
            running++;
            await sim.yield();
            await sim.yield();
            running--;
          },
        };
        const registered = new Flag(sim, 'registered');
        let sub!: MmuNotifier;
        sim.spawn('main', async () => {
          const driver = sim.spawn('driver', async () => {
            sub = await mmuNotifierRegister(mm, ops);
            registered.set();
            await sub.unregister();
            sim.check(running === 0, 'unregister returned while a release was running');
            unregistered = true;
          });
          const exit = sim.spawn('exit', async () => {
            await registered.wait();
            await mm.mmput(); // the last user: exit_mmap
          });
          await driver.join();
          await exit.join();
          sim.check(callers.length >= 1 && callers.length <= 2, `release ran ${callers.length} times`);
          sim.check(mm.count === 0, `mm_count ${mm.count} after unregister and teardown`);
          releaseCounts.add(callers.length);
        });
      },
    );
    expect(result.violations.map((v) => `${v.kind}: ${v.message}`)).toEqual([]);
    expect(result.statuses.ok).toBe(result.schedules);
    // Both outcomes are reachable: release by one side only, and by both.
    expect([...releaseCounts].sort()).toEqual([1, 2]);
  });
});

/**
 * mmu_notifier_put: "This function can be called from the ops->release callback". The
 * free (mmu_notifier_free_rcu via call_srcu) waits for the SRCU grace period, which cannot
 * end while mn_hlist_release's own read section (around that release) is open.
 */
describe('mmu_notifier_put from the release callback', () => {
  it('does not deadlock; the notifier is freed only after a grace period', async () => {
    expectOk(
      await runMain(async ({ sim, mm }) => {
        const freed: MmuNotifier[] = [];
        const events: string[] = [];
        const ops: MmuNotifierOps = {
          allocNotifier: () => new MmuNotifier(ops, 'got'),
          freeNotifier: (s) => void freed.push(s),
          release: async (_mm, s) => {
            events.push('release');
            await s.put();
            for (let i = 0; i < 20; i++) await sim.yield(); // give the SRCU callback thread its chance
            events.push(`after put: users=${s.users} hashed=${s.hashed} freed=${freed.length}`);
          },
        };
        const sub = (await mmuNotifierGet(ops, mm)) as MmuNotifier;
        expect(mm.count).toBe(2);
        await mm.mmput(); // exit_mmap → release → put
        expect(events).toEqual(['release', 'after put: users=0 hashed=false freed=0']);
        await mmuNotifierSynchronize(sim);
        expect(freed).toEqual([sub]);
        expect(mm.count).toBe(0); // the free dropped the registration's pin
      }),
    );
  });
});

/**
 * mmu_interval_notifier_remove: only `mn_itree_is_invalidating()` (G odd) defers; while
 * ranges are in flight that hit no subscription (N > 0, G even) the subscription is taken
 * out of the tree at once and remove returns without waiting (seq stays 0).
 */
describe('mmu_interval_notifier_remove during a partial exclusion', () => {
  it('removes at once without waiting for the in-flight invalidation', async () => {
    expectOk(
      await runMain(async ({ mm }) => {
        const log: string[] = [];
        const x = await mmuIntervalNotifierInsert(mm, 0, PAGE, recorder(log, 'x'));
        const miss = range(mm, 16 * PAGE, 17 * PAGE);
        await mmuNotifierInvalidateRangeStart(miss);
        expect(gn(mm)).toEqual([2, 1]);
        // This thread holds the range open: a remove that waited would deadlock here.
        await x.remove();
        expect([x.inTree, x.state, mm.count]).toEqual([false, 'removed', 1]);
        expect(mmuNotifierState(mm)).toMatchObject({ itreeSize: 0, deferred: 0 });
        expect(gn(mm)).toEqual([2, 1]);
        await mmuNotifierInvalidateRangeEnd(miss);
        expect(gn(mm)).toEqual([2, 0]);
        expect(log).toEqual([]);
      }),
    );
  });
});

/**
 * mn_itree_inv_end: the final end of a window makes G even and calls
 * wake_up_all(&subscriptions->wq), so every sleeper in mmu_interval_read_begin and
 * mmu_interval_notifier_remove proceeds after that single end.
 */
describe('mn_itree_inv_end wakes every waiter', () => {
  it('two readers in read_begin and a remover in remove all proceed after one end', async () => {
    expectOk(
      await runWorld(({ sim, mm }) => {
        let x!: MmuIntervalNotifier;
        let z!: MmuIntervalNotifier;
        const opened = new Flag(sim, 'window open');
        const seqs: number[] = [];
        let removed = false;
        const r1 = sim.spawn('reader1', async () => {
          await opened.wait();
          seqs.push(await x.readBegin());
        });
        const r2 = sim.spawn('reader2', async () => {
          await opened.wait();
          seqs.push(await x.readBegin());
        });
        const rm = sim.spawn('remover', async () => {
          await opened.wait();
          await z.remove();
          removed = true;
        });
        sim.spawn('cpu', async () => {
          x = await mmuIntervalNotifierInsert(mm, 0, PAGE, recorder([], 'x'));
          z = await mmuIntervalNotifierInsert(mm, PAGE, PAGE, recorder([], 'z'));
          const r = range(mm, 0, 2 * PAGE);
          await mmuNotifierInvalidateRangeStart(r);
          expect([...gn(mm), x.invalidateSeq, z.invalidateSeq]).toEqual([3, 1, 3, 3]);
          opened.set();
          await until(sim, () => [r1, r2, rm].every(sleepsOnWq), 'all three to sleep on the wait queue');
          for (let i = 0; i < 10; i++) await sim.yield();
          expect([seqs, removed]).toEqual([[], false]);
          await mmuNotifierInvalidateRangeEnd(r); // the one and only end
          await r1.join();
          await r2.join();
          await rm.join();
          expect([seqs, removed, z.inTree, gn(mm)]).toEqual([[3, 3], true, false, [4, 0]]);
          await x.remove();
        });
      }),
    );
  });
});

/**
 * mmu_interval_read_begin: "Notice that mmu_interval_read_retry() can already be true at
 * this point, avoiding loops here allows the caller to provide a global time bound." The
 * wait is `wait_event(wq, invalidate_seq != seq)` once; it returns the seq read before
 * sleeping even if a second window has meanwhile opened and invalidated the subscription.
 */
describe('mmu_interval_read_begin does not loop', () => {
  it('returns the old seq inside a second window that already hit the subscription; read_retry is true', async () => {
    // Random scheduling (not pct): the threads spin-wait with yields, which pct could starve.
    let insideSecondWindow = 0;
    const result = await explore({ strategy: 'random', schedules: 300, seed: 11 }, (sim: Simulation) => {
      const mm = newMm(sim);
      let x!: MmuIntervalNotifier;
      const firstOpen = new Flag(sim, 'first window open');
      let secondHit = false;
      let returned = false;
      const reader = sim.spawn('reader', async () => {
        await firstOpen.wait();
        const seq = await x.readBegin();
        const [g] = gn(mm);
        returned = true;
        expect(seq).toBe(3); // the value read in the first window, never a fresh one
        if (x.invalidateSeq === g) {
          // Returned while the second window (G = 5) is open and has already hit x.
          expect([g, x.invalidateSeq]).toEqual([5, 5]);
          insideSecondWindow++;
        }
        await until(sim, () => secondHit, 'the second window to hit x');
        expect(x.readRetry(seq)).toBe(true);
      });
      sim.spawn('cpu', async () => {
        x = await mmuIntervalNotifierInsert(mm, 0, PAGE, recorder([], 'x'));
        const first = range(mm, 0, PAGE);
        await mmuNotifierInvalidateRangeStart(first);
        firstOpen.set();
        await until(sim, () => sleepsOnWq(reader), 'the reader to sleep in read_begin');
        await mmuNotifierInvalidateRangeEnd(first);
        const second = range(mm, 0, PAGE);
        await mmuNotifierInvalidateRangeStart(second);
        expect([...gn(mm), x.invalidateSeq]).toEqual([5, 1, 5]);
        secondHit = true;
        // A read_begin that looped would sleep until this window closes: it must not.
        await until(sim, () => returned, 'read_begin to return with the second window open');
        await mmuNotifierInvalidateRangeEnd(second);
        await reader.join();
        await x.remove();
      });
    });
    expect(result.violations.map((v) => `${v.kind}: ${v.message}`)).toEqual([]);
    expect(result.statuses.ok).toBe(result.schedules);
    expect(insideSecondWindow).toBeGreaterThan(0);
  });
});

/**
 * mn_hlist_invalidate_range_start: a failing classic start is WARNed about on a blockable
 * range but still recorded, so the compensation loop calls every invalidate_range_end;
 * the blocking wrapper mmu_notifier_invalidate_range_start ignores the result and its
 * caller goes on to mmu_notifier_invalidate_range_end, which calls every end again. On a
 * non-blockable range the compensation reaches every notifier that has an end, even one
 * without a start.
 */
describe('mn_hlist_invalidate_range_start: classic failures', () => {
  it('blockable range: warning, then every end callback runs twice for one start (compensation + end)', async () => {
    expectOk(
      await runMain(
        async ({ sim, mm }) => {
          const log: string[] = [];
          await mmuNotifierRegister(mm, {
            invalidateRangeStart: () => {
              log.push('fail:start');
              return -EAGAIN;
            },
          });
          await mmuNotifierRegister(mm, logging(log, 'a')); // newest: visited first
          const r = range(mm, 0, PAGE);
          await mmuNotifierInvalidateRangeStart(r);
          expect(log).toEqual(['a:start', 'fail:start', 'a:end']);
          await mmuNotifierInvalidateRangeEnd(r);
          expect(log).toEqual(['a:start', 'fail:start', 'a:end', 'a:end']);
          expect(mmuNotifierWarnings(sim)).toHaveLength(1);
          expect(mmuNotifierWarnings(sim)[0]).toMatch(/returned -11 for a blockable range/);
          expect(mmInflightInvalidations(mm)).toBe(0);
        },
        1,
        noPanicOnWarn,
      ),
    );
  });

  it('non-blockable range: the compensation calls an end-only notifier too, once; the caller calls no end', async () => {
    expectOk(
      await runMain(async ({ sim, mm }) => {
        const log: string[] = [];
        await mmuNotifierRegister(mm, {
          invalidateRangeEnd: (r) => void log.push(`endOnly:end:${r.blockable}`),
        });
        await mmuNotifierRegister(mm, { invalidateRangeStart: () => (log.push('fail:start'), -EAGAIN) });
        const r = range(mm, 0, PAGE, MMU_NOTIFIER_RANGE_BLOCKABLE);
        expect(await mmuNotifierInvalidateRangeStartNonblock(r)).toBe(-EAGAIN);
        expect(log).toEqual(['fail:start', 'endOnly:end:false']);
        expect(mmuNotifierWarnings(sim)).toEqual([]);
        expect(mmInflightInvalidations(mm)).toBe(0);
      }),
    );
  });
});

/**
 * mmu_notifier_get_locked / mmu_notifier_put: the last put unhashes the notifier at once
 * and frees it from call_srcu; find_get_mmu_notifier walks only the list, so a get in
 * between allocates and registers a new notifier.
 */
describe('mmu_notifier_get while the previous notifier awaits its free', () => {
  it('allocates a fresh notifier; the old one is freed after the grace period', async () => {
    expectOk(
      await runMain(async ({ sim, mm }) => {
        const freed: string[] = [];
        const started: string[] = [];
        let n = 0;
        const ops: MmuNotifierOps = {
          allocNotifier: () => new MmuNotifier(ops, `n${++n}`),
          freeNotifier: (s) => void freed.push(s.name),
          invalidateRangeStart: (_r, s) => (started.push(s.name), 0),
        };
        const srcu = mmuNotifierSrcu(sim);
        const old = (await mmuNotifierGet(ops, mm)) as MmuNotifier;
        const idx = srcu.readLock(); // hold the grace period off: the free stays pending
        await old.put();
        const fresh = (await mmuNotifierGet(ops, mm)) as MmuNotifier;
        expect(fresh).toBeInstanceOf(MmuNotifier);
        expect(fresh).not.toBe(old);
        expect([fresh.name, fresh.users, fresh.hashed]).toEqual(['n2', 1, true]);
        expect([old.users, old.hashed, freed, mm.count]).toEqual([0, false, [], 3]);
        srcu.readUnlock(idx);
        await mmuNotifierSynchronize(sim);
        expect([freed, mm.count]).toEqual([['n1'], 2]);
        const r = range(mm, 0, PAGE);
        await mmuNotifierInvalidateRangeStart(r);
        await mmuNotifierInvalidateRangeEnd(r);
        expect(started).toEqual(['n2']);
        expect(await mmuNotifierGet(ops, mm)).toBe(fresh); // the live one is found again
        await fresh.put();
        await fresh.put();
        await mmuNotifierSynchronize(sim);
        expect([freed, mm.count]).toEqual([['n1', 'n2'], 1]);
      }),
    );
  });
});

/**
 * mmu_notifier_invalidate_range_start / _nonblock (include/linux/mmu_notifier.h): the
 * blockable bit is set or cleared only `if (mm_has_notifiers(range->mm))`, i.e. once the
 * mm has a container (even one whose list is empty again); without one the nonblock form
 * returns 0.
 */
describe('invalidate start wrappers on an mm without notifiers', () => {
  it('leave range.flags untouched and return 0; with a container they set / clear the bit', async () => {
    expectOk(
      await runMain(async ({ mm }) => {
        const keep = range(mm, 0, PAGE, MMU_NOTIFIER_RANGE_BLOCKABLE);
        expect(await mmuNotifierInvalidateRangeStartNonblock(keep)).toBe(0);
        expect(keep.flags).toBe(MMU_NOTIFIER_RANGE_BLOCKABLE);
        await mmuNotifierInvalidateRangeEnd(keep);
        const clear = range(mm, 0, PAGE, 0);
        await mmuNotifierInvalidateRangeStart(clear);
        expect(clear.flags).toBe(0);
        await mmuNotifierInvalidateRangeEnd(clear);
        expect(mm.notifierSubscriptions).toBe(null); // no lazy creation either

        // Contrast: a container whose list is empty again still counts as "has notifiers".
        const sub = await mmuNotifierRegister(mm, {});
        await sub.unregister();
        expect(mmuNotifierState(mm)!.classic).toBe(0);
        const set = range(mm, 0, PAGE, 0);
        await mmuNotifierInvalidateRangeStart(set);
        expect(set.flags).toBe(MMU_NOTIFIER_RANGE_BLOCKABLE);
        await mmuNotifierInvalidateRangeEnd(set);
        const cleared = range(mm, 0, PAGE, MMU_NOTIFIER_RANGE_BLOCKABLE);
        expect(await mmuNotifierInvalidateRangeStartNonblock(cleared)).toBe(0);
        expect(cleared.flags).toBe(0);
        await mmuNotifierInvalidateRangeEnd(cleared);
      }),
    );
  });
});

/**
 * __mmu_notifier_invalidate_range_start / _end and __mmu_notifier_register(NULL): the
 * interval machinery (N, G) runs only `if (subscriptions->has_itree)`, and has_itree is
 * set by the first interval insert and never cleared (mmu_interval_notifier_remove does
 * not touch it).
 */
describe('has_itree gates the sequence words', () => {
  it('classic-only: N stays 0 and G unchanged even mid-flight; interval mode outlives its last subscription', async () => {
    expectOk(
      await runMain(async ({ mm }) => {
        const log: string[] = [];
        await mmuNotifierRegister(mm, logging(log, 'c'));
        expect(mmuNotifierState(mm)!.hasItree).toBe(false);
        const r = range(mm, 0, PAGE);
        await mmuNotifierInvalidateRangeStart(r);
        expect(gn(mm)).toEqual([2, 0]); // in flight, yet not counted
        await mmuNotifierInvalidateRangeEnd(r);
        expect(gn(mm)).toEqual([2, 0]);
        expect(log).toEqual(['c:start', 'c:end']);

        const x = await mmuIntervalNotifierInsert(mm, 0, PAGE, recorder([], 'x'));
        await x.remove();
        expect(mmuNotifierState(mm)).toMatchObject({ hasItree: true, itreeSize: 0 });
        // Still interval mode: an in-flight range is counted (partial exclusion), G stays even.
        const r2 = range(mm, 0, PAGE);
        await mmuNotifierInvalidateRangeStart(r2);
        expect(gn(mm)).toEqual([2, 1]);
        await mmuNotifierInvalidateRangeEnd(r2);
        expect(gn(mm)).toEqual([2, 0]);
      }),
    );
  });
});

/**
 * mmu_notifier_unregister: the "still listed?" test and srcu_read_lock are two steps, so
 * teardown's mn_hlist_release can call release, unhash and pass its grace period in between;
 * unregister's own release then runs after exit_mmap has gone on. The model keeps the window.
 */
describe('mmu_notifier_unregister racing exit_mmap (the window before srcu_read_lock)', () => {
  it('lets unregister call release after teardown finished, in some schedule', async () => {
    let late = 0;
    const r = await explore({ strategy: 'random', schedules: 2000, seed: 3 }, (sim) => {
      const mm = newMm(sim);
      let tornDown = false;
      const prev = mm.exitMmap;
      mm.exitMmap = async (m) => {
        await prev?.(m);
        tornDown = true; // exit_mmap went on past mmu_notifier_release: pages are being freed
      };
      const registered = new Flag(sim, 'registered');
      let mn: MmuNotifier | undefined;
      sim.spawn('driver', async () => {
        mm.mmgrab();
        mn = await mmuNotifierRegister(mm, {
          release: () => {
            if (tornDown) late++;
          },
        });
        registered.set();
        await mn.unregister();
        mm.mmdrop();
      });
      sim.spawn('exit', async () => {
        await registered.wait();
        await mm.mmput();
      });
    });
    expect(r.violations).toEqual([]);
    expect(late).toBeGreaterThan(0);
  });
});
