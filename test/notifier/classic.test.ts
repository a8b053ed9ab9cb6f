import { describe, expect, it } from 'vitest';

import { EAGAIN, EINVAL, EOVERFLOW } from '../../src/sim/errno.js';
import { explore } from '../../src/explore/index.js';
import type { Simulation } from '../../src/sim/simulation.js';
import {
  MMU_NOTIFIER_RANGE_BLOCKABLE,
  MMU_NOTIFY_CLEAR,
  MmuNotifier,
  NotifierError,
  UINT_MAX,
  mmuIntervalNotifierInsert,
  mmuNotifierArchInvalidateSecondaryTlbs,
  mmuNotifierClearFlushYoung,
  mmuNotifierClearYoung,
  mmuNotifierGet,
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierInvalidateRangeStartNonblock,
  mmuNotifierRangeInit,
  mmuNotifierRegister,
  mmuNotifierState,
  mmuNotifierSynchronize,
  mmuNotifierTestYoung,
  mmuNotifierSrcu,
  type MmuNotifierOps,
} from '../../src/notifier/index.js';
import type { MmStruct } from '../../src/mm/mm-struct.js';
import { mnHlistFirst } from '../../src/notifier/subscriptions.js';
import {
  expectOk,
  expectViolation,
  Flag,
  newMm,
  runMain,
  runWorld,
  until,
  logging,
  noPanicOnWarn,
} from './helpers.js';

const PAGE = 4096;

function range(mm: MmStruct, start = 0, end = PAGE) {
  return mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, start, end);
}

describe('register / unregister', () => {
  it('pins the mm, calls start/end, newest first; unregister releases and unpins', async () => {
    expectOk(
      await runMain(async ({ mm }) => {
        const log: string[] = [];
        const a = await mmuNotifierRegister(mm, logging(log, 'a'));
        const b = await mmuNotifierRegister(mm, logging(log, 'b'));
        expect([mm.count, mmuNotifierState(mm)!.classic, mmuNotifierState(mm)!.hasItree]).toEqual([
          3,
          2,
          false,
        ]);
        const r = range(mm);
        await mmuNotifierInvalidateRangeStart(r);
        await mmuNotifierInvalidateRangeEnd(r);
        expect(log).toEqual(['b:start', 'a:start', 'b:end', 'a:end']);
        await a.unregister();
        expect(log.at(-1)).toBe('a:release');
        expect([mm.count, mmuNotifierState(mm)!.classic]).toEqual([2, 1]);
        log.length = 0;
        await mmuNotifierInvalidateRangeStart(r);
        await mmuNotifierInvalidateRangeEnd(r);
        expect(log).toEqual(['b:start', 'b:end']);
        await b.unregister();
        expect(mm.count).toBe(1);
      }),
    );
  });

  it('requires mm_users > 0 (kernel BUG) and rejects arch-TLB plus range callbacks with -EINVAL', async () => {
    const run = await runMain(async ({ mm }) => {
      mm.users = 0;
      await new MmuNotifier({}).register(mm);
    });
    expectViolation(run, 'kernel-bug', /registration on test with mm_users 0/);

    // Both kinds of callback is a kernel WARN (fatal under panic_on_warn, the default) ...
    expectViolation(
      await runMain(async ({ mm }) => {
        await new MmuNotifier({
          archInvalidateSecondaryTlbs: () => {},
          invalidateRangeEnd: () => {},
        }).register(mm);
      }),
      'kernel-warning',
      /has both arch_invalidate_secondary_tlbs and invalidate_range callbacks/,
    );
    // ... after which the kernel returns -EINVAL and registers nothing.
    expectOk(
      await runMain(
        async ({ mm }) => {
          const sub = new MmuNotifier({
            archInvalidateSecondaryTlbs: () => {},
            invalidateRangeEnd: () => {},
          });
          expect(await sub.register(mm)).toBe(-EINVAL);
          let err: unknown;
          try {
            await mmuNotifierRegister(mm, {
              archInvalidateSecondaryTlbs: () => {},
              invalidateRangeStart: () => 0,
            });
          } catch (e) {
            err = e;
          }
          expect((err as NotifierError).errno).toBe(-EINVAL);
          expect(mm.count).toBe(1);
        },
        1,
        noPanicOnWarn,
      ),
    );
  });

  it('walking the classic list outside subscriptions->lock and the SRCU section is a lock misuse', async () => {
    const outside = await runMain(async ({ mm }) => {
      await mmuNotifierRegister(mm, logging([], 'a'));
      mnHlistFirst(mm.notifierSubscriptions!);
    });
    expectViolation(
      outside,
      'lock-misuse',
      /mn_hlist walk by .* outside subscriptions->lock and the notifier SRCU section/,
    );
    // The same walk inside a read section is the contract, as every invalidation's walk is.
    expectOk(
      await runMain(async ({ mm, sim }) => {
        await mmuNotifierRegister(mm, logging([], 'a'));
        const srcu = mmuNotifierSrcu(sim);
        const idx = srcu.readLock();
        expect(mnHlistFirst(mm.notifierSubscriptions!)).not.toBeNull();
        srcu.readUnlock(idx);
      }),
    );
  });

  it('registerLocked requires the mmap lock for write', async () => {
    const run = await runMain(async ({ mm }) => {
      await new MmuNotifier({}).registerLocked(mm);
    });
    expectViolation(run, 'lock-misuse', /without mmap_lock held for write/);
  });

  it('after mm teardown released it, unregister only fences and unpins', async () => {
    expectOk(
      await runMain(async ({ mm }) => {
        const log: string[] = [];
        const a = await mmuNotifierRegister(mm, logging(log, 'a'));
        mm.mmget();
        await mm.mmput(); // not the last user
        expect(log).toEqual([]);
        await mm.mmput(); // exit_mmap: release
        expect(log).toEqual(['a:release']);
        expect(mmuNotifierState(mm)!.classic).toBe(0);
        expect(a.hashed).toBe(false);
        await a.unregister();
        expect(log).toEqual(['a:release']);
        expect(mm.count).toBe(0);
      }),
    );
  });

  it('unregister is a fence: it returns only after a running callback finished', async () => {
    expectOk(
      await runWorld(({ sim, mm }) => {
        const inCallback = new Flag(sim, 'in callback');
        const proceed = new Flag(sim, 'proceed');
        const owner = sim.kalloc({ name: 'owner' });
        let unregistered = false;
        let sub!: MmuNotifier;
        const registered = new Flag(sim, 'registered');
        sim.spawn('cpu', async () => {
          sub = await mmuNotifierRegister(mm, {
            invalidateRangeStart: async () => {
              inCallback.set();
              await proceed.wait();
              sim.use(owner, 'callback'); // would be a use-after-free without the fence
              return 0;
            },
          });
          registered.set();
          const r = range(mm);
          await mmuNotifierInvalidateRangeStart(r);
          await mmuNotifierInvalidateRangeEnd(r);
        });
        sim.spawn('driver', async () => {
          await registered.wait();
          await inCallback.wait();
          const unreg = sim.spawn('unregister', async () => {
            await sub.unregister();
            unregistered = true;
            sim.kfree(owner);
          });
          for (let i = 0; i < 10; i++) await sim.yield();
          expect(unregistered).toBe(false);
          proceed.set();
          await unreg.join();
          expect(unregistered).toBe(true);
        });
      }),
    );
  });
});

describe('get / put / synchronize', () => {
  it('one notifier per (mm, ops); the last put frees it after a grace period', async () => {
    expectOk(
      await runMain(async ({ sim, mm }) => {
        const freed: MmuNotifier[] = [];
        const ops: MmuNotifierOps = {
          allocNotifier: () => new MmuNotifier(ops, 'got'),
          freeNotifier: (s) => {
            expect(sim.canSleep()).toBe(false);
            freed.push(s);
          },
        };
        const a = await mmuNotifierGet(ops, mm);
        const b = await mmuNotifierGet(ops, mm);
        expect(a).toBeInstanceOf(MmuNotifier);
        expect(b).toBe(a);
        const sub = a as MmuNotifier;
        expect([sub.users, mm.count]).toEqual([2, 2]);
        await sub.put();
        expect([sub.users, sub.hashed]).toEqual([1, true]);
        await sub.put();
        expect(sub.hashed).toBe(false);
        expect(freed).toEqual([]);
        await mmuNotifierSynchronize(sim);
        expect(freed).toEqual([sub]);
        expect(mm.count).toBe(1);
      }),
    );
  });

  it('-EOVERFLOW past UINT_MAX references; the allocator error propagates', async () => {
    expectOk(
      await runMain(async ({ mm }) => {
        const ops: MmuNotifierOps = {};
        const sub = (await mmuNotifierGet(ops, mm)) as MmuNotifier;
        sub.users = UINT_MAX - 1;
        expect(await mmuNotifierGet(ops, mm)).toBe(sub);
        expect(await mmuNotifierGet(ops, mm)).toBe(-EOVERFLOW);
        expect(await mmuNotifierGet({ allocNotifier: () => -12 }, mm)).toBe(-12);
      }),
    );
  });

  it('put without a reference is a kernel warning', async () => {
    const run = await runMain(async ({ mm }) => {
      const sub = (await mmuNotifierGet({}, mm)) as MmuNotifier;
      await sub.put();
      await sub.put();
    });
    expectViolation(run, 'kernel-warning', /no reference left/);
  });

  it('put is not a fence, but the free is: a callback running at put still finds its notifier', async () => {
    // Explore: whatever the interleaving, freeing in free_notifier never races a callback.
    const result = await explore({ strategy: 'pct', schedules: 300, seed: 3 }, (sim: Simulation) => {
      const mm = newMm(sim);
      let sub: MmuNotifier | null = null;
      const ready = new Flag(sim, 'ready');
      sim.spawn('cpu', async () => {
        const ops: MmuNotifierOps = {
          invalidateRangeStart: async (_r, s) => {
            await sim.yield();
            sim.use(s, 'callback');
            return 0;
          },
          freeNotifier: (s) => sim.kfree(s),
        };
        sub = (await mmuNotifierGet(ops, mm)) as MmuNotifier;
        ready.set();
        for (let i = 0; i < 2; i++) {
          const r = range(mm);
          await mmuNotifierInvalidateRangeStart(r);
          await mmuNotifierInvalidateRangeEnd(r);
        }
      });
      sim.spawn('driver', async () => {
        await ready.wait();
        await sim.yield();
        await sub!.put();
        await mmuNotifierSynchronize(sim);
      });
    });
    expect(result.violations.map((v) => v.message)).toEqual([]);
  });
});

describe('invalidate start / end, classic part', () => {
  it('non-blockable: all visited after a refusal, then compensating ends, -EAGAIN', async () => {
    expectOk(
      await runMain(async ({ sim, mm }) => {
        const log: string[] = [];
        await mmuNotifierRegister(mm, logging(log, 'a'));
        await mmuNotifierRegister(mm, {
          invalidateRangeStart: () => {
            log.push(`refuse:${sim.canSleep() ? 'blockable' : 'nonblock'}`);
            return -EAGAIN;
          },
        });
        await mmuNotifierRegister(mm, logging(log, 'c'));
        const r = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, MMU_NOTIFIER_RANGE_BLOCKABLE, mm, 0, PAGE);
        expect(await mmuNotifierInvalidateRangeStartNonblock(r)).toBe(-EAGAIN);
        expect(log).toEqual(['c:start', 'refuse:nonblock', 'a:start', 'c:end', 'a:end']);
      }),
    );
  });

  it('a refusal on a blockable range, or by a notifier with an end, is a kernel warning', async () => {
    const run = await runMain(async ({ mm }) => {
      await mmuNotifierRegister(mm, { invalidateRangeStart: () => -EAGAIN });
      await mmuNotifierInvalidateRangeStart(range(mm));
    });
    expectViolation(run, 'kernel-warning', /returned -11 for a blockable range/);
    const run2 = await runMain(async ({ mm }) => {
      await mmuNotifierRegister(mm, { invalidateRangeStart: () => -EAGAIN, invalidateRangeEnd: () => {} });
      await mmuNotifierInvalidateRangeStartNonblock(range(mm));
    });
    expectViolation(run2, 'kernel-warning', /failed but the notifier has invalidate_range_end/);
  });

  it('reproduces upstream: a classic refusal after a successful interval part leaves N raised', async () => {
    expectOk(
      await runMain(async ({ mm }) => {
        await mmuIntervalNotifierInsert(mm, 0, PAGE, { invalidate: () => true });
        await mmuNotifierRegister(mm, { invalidateRangeStart: () => -EAGAIN });
        expect(await mmuNotifierInvalidateRangeStartNonblock(range(mm))).toBe(-EAGAIN);
        const st = mmuNotifierState(mm)!;
        expect([st.invalidateSeq, st.activeInvalidateRanges]).toEqual([3, 1]);
      }),
    );
  });

  it('registration waits for in-flight ranges and holds new ones off: no end without its start', async () => {
    expectOk(
      await runWorld(({ sim, mm }) => {
        const log: string[] = [];
        const started = new Flag(sim, 'started');
        let registered = false;
        sim.spawn('cpu', async () => {
          const r = range(mm);
          await mmuNotifierInvalidateRangeStart(r); // no container yet: nothing to call
          started.set();
          await until(sim, () => mm.mmapLock.writer !== null, 'registration');
          for (let i = 0; i < 5; i++) await sim.yield();
          expect(registered).toBe(false);
          await mmuNotifierInvalidateRangeEnd(r);
          expect(log).toEqual([]); // the new notifier never sees this range's end
          await until(sim, () => registered, 'registration');
          const r2 = range(mm);
          await mmuNotifierInvalidateRangeStart(r2);
          await mmuNotifierInvalidateRangeEnd(r2);
          expect(log).toEqual(['n:start', 'n:end']);
        });
        sim.spawn('driver', async () => {
          await started.wait();
          await mmuNotifierRegister(mm, logging(log, 'n'));
          registered = true;
        });
      }),
    );
  });
});

describe('aging broadcasts and secondary TLBs', () => {
  it('clear_young ORs; arch_invalidate_secondary_tlbs reaches every notifier that has it, atomically', async () => {
    expectOk(
      await runMain(async ({ sim, mm }) => {
        const calls: string[] = [];
        expect(await mmuNotifierClearYoung(mm, 0, PAGE)).toBe(false);
        await mmuNotifierRegister(mm, {
          clearYoung: () => false,
          archInvalidateSecondaryTlbs: (_mm, start, end) =>
            void calls.push(`a:${start}-${end}:${sim.canSleep()}`),
        });
        await mmuNotifierRegister(mm, { clearYoung: () => true });
        expect(await mmuNotifierClearYoung(mm, 0, PAGE)).toBe(true);
        await mmuNotifierArchInvalidateSecondaryTlbs(mm, 0, PAGE);
        expect(calls).toEqual([`a:0-${PAGE}:false`]);
      }),
    );
  });

  it('clear_flush_young ORs every notifier; test_young stops at the first true', async () => {
    expectOk(
      await runMain(async ({ sim, mm }) => {
        const calls: string[] = [];
        expect(await mmuNotifierClearFlushYoung(mm, 0, PAGE)).toBe(false);
        await mmuNotifierRegister(mm, {
          clearFlushYoung: () => (calls.push('a'), false),
          testYoung: () => (calls.push('ta'), true),
        });
        await mmuNotifierRegister(mm, {
          clearFlushYoung: () => {
            calls.push(`b:${sim.canSleep()}`);
            return true;
          },
          testYoung: () => (calls.push('tb'), true),
        });
        expect(await mmuNotifierClearFlushYoung(mm, 0, PAGE)).toBe(true);
        expect(await mmuNotifierTestYoung(mm, 0)).toBe(true);
        expect(calls).toEqual(['b:false', 'a', 'tb']);
      }),
    );
  });
});

describe('registration (mm_take_all_locks) against ranges in flight', () => {
  it('lets a thread that holds a range open a nested one while a registration waits', async () => {
    // In the kernel the nested start runs under the rmap lock the registration is waiting
    // for, so the registration waits for it. A gate that parked the nested start would
    // deadlock: the registration waits for the outer range, which waits for the nested one.
    for (const seed of [1, 2, 3, 4, 5]) {
      expectOk(
        await runWorld(({ sim, mm }) => {
          const opened = new Flag(sim, 'outer range open');
          let registering = false;
          sim.spawn('cpu', async () => {
            const outer = range(mm);
            await mmuNotifierInvalidateRangeStart(outer);
            opened.set();
            await until(sim, () => registering, 'registration');
            for (let i = 0; i < 5; i++) await sim.yield(); // let it reach its wait
            const nested = range(mm);
            await mmuNotifierInvalidateRangeStart(nested);
            await mmuNotifierInvalidateRangeEnd(nested);
            await mmuNotifierInvalidateRangeEnd(outer);
          });
          sim.spawn('register', async () => {
            await opened.wait();
            await mm.mmapLock.downWrite();
            registering = true;
            expect(await new MmuNotifier({}).registerLocked(mm)).toBe(0);
            mm.mmapLock.upWrite();
          });
        }, seed),
      );
    }
  });
});

describe('mmu_notifier_unregister_no_release (since removed upstream)', () => {
  it('unhashes and drops the mm pin without calling release and without a grace period', async () => {
    expectOk(
      await runMain(async ({ sim, mm }) => {
        const log: string[] = [];
        const sub = await mmuNotifierRegister(mm, logging(log, 'a'));
        expect(mm.count).toBe(2);
        const srcu = mmuNotifierSrcu(sim);
        const idx = srcu.readLock(); // a reader in flight: unregister() would wait for it
        await sub.unregisterNoRelease();
        srcu.readUnlock(idx);
        expect(log).toEqual([]); // no release
        expect([mm.count, mmuNotifierState(mm)!.classic]).toEqual([1, 0]);
        const r = range(mm);
        await mmuNotifierInvalidateRangeStart(r);
        await mmuNotifierInvalidateRangeEnd(r);
        expect(log).toEqual([]); // no longer listed
      }),
    );
  });
});
