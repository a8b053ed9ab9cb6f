import { describe, expect, it } from 'vitest';
import {
  Atomic,
  Completion,
  EINTR,
  Mutex,
  RwSemaphore,
  Simulation,
  SpinLock,
  Srcu,
  WaitQueue,
  type SetupFn,
} from '../../src/sim/index.js';
import { explore, simulate } from '../../src/explore/index.js';

/** Runs `setup` under `schedules` random schedules and expects no violation at all. */
async function holdsInEverySchedule(setup: SetupFn, schedules = 300): Promise<void> {
  const r = await explore({ strategy: 'random', schedules, seed: 1, shrink: false }, setup);
  expect(r.violations.map((v) => `${v.kind}: ${v.message}`)).toEqual([]);
  expect(r.statuses).toEqual({ ok: schedules });
}

describe('Completion', () => {
  it('wait passes only after complete, and complete lets exactly one waiter through', async () => {
    const log: string[] = [];
    const r = await simulate({ seed: 1 }, (sim) => {
      const c = new Completion(sim, 'c');
      for (const name of ['w1', 'w2']) {
        sim.spawn(name, async () => {
          await c.wait();
          log.push(name);
        });
      }
      sim.spawn('completer', async () => {
        await sim.sleep(100);
        log.push('complete');
        c.complete();
      });
    });
    // One waiter passes; the other waits forever: a deadlock naming the completion.
    expect(r.status).toBe('deadlock');
    expect(log).toHaveLength(2);
    expect(log[0]).toBe('complete');
    expect(r.violations[0].message).toMatch(/^deadlock: w\d waits for completion c$/);
  });

  it('a complete before the wait is remembered; completeAll lets every waiter through until reinit', async () => {
    const passed: string[] = [];
    let earlyDone: boolean | null = null;
    let blockedAfterReinit = false;
    const r = await simulate({ seed: 2 }, (sim) => {
      const c = new Completion(sim, 'c');
      const all = new Completion(sim, 'all');
      sim.spawn('early', async () => {
        c.complete();
        c.complete();
        await c.wait();
        await c.wait();
        earlyDone = c.isDone() || c.tryWait();
      });
      const waiters = ['a', 'b', 'c'].map((n) =>
        sim.spawn(n, async () => {
          await all.wait();
          await all.wait(); // completeAll is not consumed
          passed.push(n);
        }),
      );
      sim.spawn('opener', async () => {
        await sim.sleep(50);
        all.completeAll();
        for (const w of waiters) await w.join();
        sim.check(all.isDone(), 'completeAll consumed');
        all.reinit();
        sim.check(!all.isDone(), 'reinit left it done');
        const left = await all.waitTimeout(1000);
        blockedAfterReinit = left === 0;
      });
    });
    expect(r.status).toBe('ok');
    // Two completes before two waits: neither wait slept, and nothing is left over.
    const early = (r.trace ?? []).filter((e) => e.thread === 'early').map((e) => e.label);
    expect(early).toEqual(['wait_for_completion', 'wait_for_completion', 'exit']);
    expect(earlyDone).toBe(false);
    expect([...passed].sort()).toEqual(['a', 'b', 'c']);
    expect(blockedAfterReinit).toBe(true);
  });

  it('waitTimeout returns 0 after the timeout in virtual time, or the time left when completed', async () => {
    const out: Record<string, number> = {};
    const r = await simulate({ seed: 3, stepNs: 0 }, (sim) => {
      const never = new Completion(sim, 'never');
      const soon = new Completion(sim, 'soon');
      sim.spawn('timeout', async () => {
        const before = sim.now();
        out.ret = await never.waitTimeout(5000);
        out.elapsed = sim.now() - before;
      });
      sim.spawn('completed', async () => {
        const before = sim.now();
        out.left = await soon.waitTimeout(5000);
        out.completedAfter = sim.now() - before;
      });
      sim.spawn('completer', async () => {
        await sim.sleep(1200);
        soon.complete();
      });
    });
    expect(r.status).toBe('ok');
    expect(out.ret).toBe(0);
    expect(out.elapsed).toBe(5000);
    expect(out.completedAfter).toBe(1200);
    expect(out.left).toBe(3800);
  });
});

describe('WaitQueue', () => {
  it('waitEvent sleeps until the condition holds and a wake-up comes', async () => {
    await holdsInEverySchedule((sim) => {
      const wq = new WaitQueue(sim, 'wq');
      let ready = false;
      let woke = 0;
      for (const n of ['a', 'b', 'c']) {
        sim.spawn(n, async () => {
          await wq.waitEvent(() => ready);
          sim.check(ready, `${n} passed wait_event before the condition held`);
          woke++;
        });
      }
      sim.spawn('waker', async () => {
        await sim.yield();
        wq.wakeUp(); // condition still false: the waiters go back to sleep
        await sim.yield();
        ready = true;
        wq.wakeUpAll();
      });
      sim.spawn('checker', async (self) => {
        for (const t of sim.threads) if (t !== self) await t.join();
        sim.check(woke === 3, `${woke} of 3 waiters woke`);
      });
    });
  });

  it('a waiter whose condition turns true without a wake-up stays asleep (deadlock)', async () => {
    const r = await simulate({ seed: 1 }, (sim) => {
      const wq = new WaitQueue(sim, 'wq');
      let ready = false;
      sim.spawn('waiter', () => wq.waitEvent(() => ready));
      sim.spawn('forgetful', async () => {
        await sim.sleep(10_000); // let the waiter sleep first
        ready = true; // ... but no wake_up
      });
    });
    expect(r.status).toBe('deadlock');
    expect(r.violations[0].message).toBe('deadlock: waiter waits for waitqueue wq');
  });

  it('wakeUpAll wakes every waiter and active() tells whether any waits', async () => {
    let activeBefore = false;
    let activeAfter = true;
    const woke: string[] = [];
    const r = await simulate({ seed: 5 }, (sim) => {
      const wq = new WaitQueue(sim, 'wq');
      let go = false;
      for (const n of ['a', 'b']) {
        sim.spawn(n, async () => {
          await wq.waitEvent(() => go);
          woke.push(n);
        });
      }
      sim.spawn('waker', async () => {
        await sim.sleep(100);
        activeBefore = wq.active();
        go = true;
        wq.wakeUpAll();
        activeAfter = wq.active();
      });
    });
    expect(r.status).toBe('ok');
    expect(activeBefore).toBe(true);
    expect(activeAfter).toBe(false);
    expect([...woke].sort()).toEqual(['a', 'b']);
  });

  it('waitEventTimeout advances virtual time and reports the timeout', async () => {
    const out: Record<string, number> = {};
    const r = await simulate({ seed: 1 }, (sim) => {
      const wq = new WaitQueue(sim, 'wq');
      sim.spawn('t', async () => {
        const before = sim.now();
        out.ret = await wq.waitEventTimeout(() => false, 1_000_000);
        out.elapsed = sim.now() - before;
      });
    });
    expect(r.status).toBe('ok');
    expect(out.ret).toBe(0);
    // The timeout counts from the point (a 10 ns step), and the exit is one more step.
    expect(out.elapsed).toBe(1_000_000 + 10);
    expect(r.timeNs).toBe(1_000_000 + 20);
  });

  it('waitEventTimeout returns the time left when the condition comes true in time', async () => {
    const out: Record<string, number> = {};
    const r = await simulate({ seed: 1, stepNs: 0 }, (sim) => {
      const wq = new WaitQueue(sim, 'wq');
      let ready = false;
      sim.spawn('t', async () => {
        out.ret = await wq.waitEventTimeout(() => ready, 1000);
        out.at = sim.now();
      });
      sim.spawn('w', async () => {
        await sim.sleep(300);
        ready = true;
        wq.wakeUpAll();
      });
    });
    expect(r.status).toBe('ok');
    expect(out).toEqual({ ret: 700, at: 300 });
  });

  it('a timeout shorter than a step parks the thread properly (regression)', async () => {
    // A timer that expired during the step that parks the thread used to fire on a
    // still-runnable thread: it stayed queued on the wait queue, was counted twice in
    // the run queue, and ran on with its state "blocked".
    const labels: string[] = [];
    let inRunQueue = -1;
    const r = await simulate({ seed: 1 }, (sim) => {
      const wq = new WaitQueue(sim, 'wq');
      const c = new Completion(sim, 'c');
      sim.spawn('short', async (self) => {
        const ret = await wq.waitEventTimeout(() => false, 5);
        expect(ret).toBe(0);
        inRunQueue = sim.runnable.filter((t) => t === self).length;
        await c.wait();
      });
      sim.spawn('other', async () => {
        await sim.sleep(500); // 'short' times out and sleeps on c meanwhile
        wq.wakeUpAll(); // must not wake 'short', which no longer waits here
        await sim.sleep(500);
        c.complete();
      });
    });
    for (const e of r.trace ?? []) if (e.thread === 'short') labels.push(e.label);
    expect(r.status).toBe('ok');
    expect(inRunQueue).toBe(1);
    expect(labels).toEqual([
      'wait_event_timeout',
      'wait_event_timeout_sleep',
      'wait_for_completion',
      'completion_sleep',
      'exit',
    ]);
  });

  it('waitEventKillable returns -EINTR on a fatal signal', async () => {
    let ret = 1;
    const r = await simulate({ seed: 1 }, (sim) => {
      const wq = new WaitQueue(sim, 'wq');
      const victim = sim.spawn('victim', async () => {
        ret = await wq.waitEventKillable(() => false);
      });
      sim.spawn('killer', async () => {
        await sim.sleep(100);
        sim.kill(victim);
      });
    });
    expect(r.status).toBe('ok');
    expect(ret).toBe(-EINTR);
  });
});

describe('Srcu', () => {
  /**
   * reader1 enters before synchronize starts; reader2 enters after it started and
   * stays inside until synchronize returned. The grace period must wait for reader1
   * and must not wait for reader2.
   */
  const gracePeriod: SetupFn = (sim) => {
    const srcu = new Srcu(sim, 'srcu');
    const r1In = new Completion(sim, 'r1_in');
    const gpStarted = new Completion(sim, 'gp_started');
    const gpDone = new Completion(sim, 'gp_done');
    const events: string[] = [];
    sim.spawn('reader1', async () => {
      const idx = srcu.readLock();
      events.push('r1 lock');
      r1In.complete();
      await gpStarted.wait();
      for (let i = 0; i < 3; i++) await sim.yield();
      events.push('r1 unlock');
      srcu.readUnlock(idx);
    });
    sim.spawn('reader2', async () => {
      await gpStarted.wait();
      const idx = srcu.readLock();
      events.push('r2 lock');
      await gpDone.wait(); // inside the section until the grace period ended
      events.push('r2 unlock');
      srcu.readUnlock(idx);
    });
    sim.spawn('writer', async () => {
      await r1In.wait();
      gpStarted.completeAll();
      await srcu.synchronize();
      events.push('gp done');
      gpDone.complete();
    });
    sim.spawn('checker', async (self) => {
      for (const t of sim.threads) if (t !== self) await t.join();
      const at = (e: string) => events.indexOf(e);
      sim.check(at('r1 unlock') < at('gp done'), `grace period ended before reader1 left: ${events}`);
      sim.check(at('gp done') < at('r2 unlock'), `events out of order: ${events}`);
      sim.check(at('r2 lock') >= 0, `reader2 never entered: ${events}`);
    });
  };

  it('synchronize waits for pre-existing readers only', async () => {
    await holdsInEverySchedule(gracePeriod, 500);
    const dfs = await explore({ strategy: 'dfs', schedules: 5000, preemptionBound: 2 }, gracePeriod);
    expect(dfs.violations).toEqual([]);
    expect(dfs.statuses.ok).toBe(dfs.schedules);
  });

  it('synchronize without readers returns at once', async () => {
    let elapsed = -1;
    const r = await simulate({ seed: 1, stepNs: 0 }, (sim) => {
      const srcu = new Srcu(sim, 's');
      sim.spawn('w', async () => {
        const before = sim.now();
        await srcu.synchronize();
        elapsed = sim.now() - before;
      });
    });
    expect(r.status).toBe('ok');
    expect(elapsed).toBe(0);
  });

  it('callSrcu runs the callback after the grace period, in a context that must not sleep', async () => {
    await holdsInEverySchedule((sim) => {
      const srcu = new Srcu(sim, 'srcu');
      let inside = false;
      let ran = 0;
      let couldSleep = true;
      const entered = new Completion(sim, 'entered');
      sim.spawn('reader', async () => {
        const idx = srcu.readLock();
        inside = true;
        entered.complete();
        for (let i = 0; i < 4; i++) await sim.yield();
        inside = false;
        srcu.readUnlock(idx);
      });
      sim.spawn('freer', async () => {
        await entered.wait();
        srcu.callSrcu(() => {
          sim.check(!inside, 'callback ran inside a pre-existing read-side section');
          couldSleep = sim.canSleep();
          ran++;
        });
        await srcu.barrier();
        sim.check(ran === 1, `after srcu_barrier the callback ran ${ran} times`);
        sim.check(!couldSleep, 'callback ran in a context that may sleep');
      });
    });
  });

  it('barrier waits for every queued callback; a reader after callSrcu does not delay it', async () => {
    const order: string[] = [];
    const r = await simulate({ seed: 3 }, (sim) => {
      const srcu = new Srcu(sim, 'srcu');
      sim.spawn('t', async () => {
        srcu.callSrcu(() => order.push('cb1'));
        srcu.callSrcu(() => order.push('cb2'));
        const idx = srcu.readLock(); // a new reader: the callbacks do not wait for it
        await srcu.barrier();
        order.push('barrier');
        srcu.readUnlock(idx);
      });
    });
    expect(r.status).toBe('ok');
    expect(order).toEqual(['cb1', 'cb2', 'barrier']);
  });

  it('unbalanced readUnlock is lock misuse', async () => {
    const r = await simulate({ seed: 1 }, (sim) => {
      const srcu = new Srcu(sim, 's');
      sim.spawn('t', async () => {
        srcu.readUnlock(0);
      });
    });
    expect(r.violations.map((v) => v.kind)).toEqual(['lock-misuse']);
  });
});

describe('RwSemaphore', () => {
  it('readers share; a writer excludes readers and writers', async () => {
    let maxReaders = 0;
    await holdsInEverySchedule((sim) => {
      const rw = new RwSemaphore(sim, 'rw');
      let readers = 0;
      let writers = 0;
      for (const n of ['r1', 'r2', 'r3']) {
        sim.spawn(n, async () => {
          await rw.downRead();
          readers++;
          maxReaders = Math.max(maxReaders, readers);
          sim.check(writers === 0, `${n} reads while a writer holds the lock`);
          await sim.yield();
          await sim.yield();
          readers--;
          rw.upRead();
        });
      }
      for (const n of ['w1', 'w2']) {
        sim.spawn(n, async () => {
          await rw.downWrite();
          writers++;
          sim.check(
            writers === 1 && readers === 0,
            `${n} writes with ${writers - 1} writers, ${readers} readers`,
          );
          await sim.yield();
          writers--;
          rw.upWrite();
        });
      }
    }, 500);
    // Some schedule had all three readers inside at once.
    expect(maxReaders).toBe(3);
  });

  it('a reader arriving behind a queued writer waits for it', async () => {
    const order: string[] = [];
    const r = await simulate({ seed: 1 }, (sim) => {
      const rw = new RwSemaphore(sim, 'rw');
      const held = new Completion(sim, 'held');
      sim.spawn('r1', async () => {
        await rw.downRead();
        held.completeAll();
        await sim.sleep(1000); // the writer queues meanwhile, then r2 arrives
        order.push('r1 up');
        rw.upRead();
      });
      sim.spawn('w', async () => {
        await held.wait();
        await rw.downWrite();
        order.push('w in');
        rw.upWrite();
      });
      sim.spawn('r2', async () => {
        await held.wait();
        await sim.sleep(500); // after the writer queued
        await rw.downRead();
        order.push('r2 in');
        rw.upRead();
      });
    });
    expect(r.status).toBe('ok');
    expect(order).toEqual(['r1 up', 'w in', 'r2 in']);
  });

  it('a recursive read with a writer queued in between deadlocks', async () => {
    const r = await simulate({ seed: 1 }, (sim) => {
      const rw = new RwSemaphore(sim, 'mmap_lock');
      const held = new Completion(sim, 'held');
      sim.spawn('reader', async () => {
        await rw.downRead();
        held.complete();
        await sim.sleep(1000); // the writer queues meanwhile
        await rw.downRead(); // behind the writer, which waits for us
        rw.upRead();
        rw.upRead();
      });
      sim.spawn('writer', async () => {
        await held.wait();
        await rw.downWrite();
        rw.upWrite();
      });
    });
    expect(r.status).toBe('deadlock');
    const v = r.violations[0];
    expect(v.message).toContain('reader waits for rwsem mmap_lock held by reader');
    expect(v.message).toContain('writer waits for rwsem mmap_lock held by reader');
    expect(v.threads).toEqual(['reader']);
  });

  it('a recursive read without a queued writer is fine', async () => {
    const r = await simulate({ seed: 1 }, (sim) => {
      const rw = new RwSemaphore(sim, 'rw');
      sim.spawn('reader', async () => {
        await rw.downRead();
        await rw.downRead();
        rw.upRead();
        rw.upRead();
      });
    });
    expect(r.status).toBe('ok');
  });

  it('taking the write side twice is reported as a deadlock', async () => {
    const r = await simulate({ seed: 1 }, (sim) => {
      const rw = new RwSemaphore(sim, 'rw');
      sim.spawn('t', async () => {
        await rw.downWrite();
        await rw.downRead();
      });
    });
    expect(r.status).toBe('deadlock');
    expect(r.violations[0].message).toBe('thread t down_read on rw which it already holds');
  });

  it('trylocks succeed only when the lock is free for them', async () => {
    const got: Record<string, boolean> = {};
    const r = await simulate({ seed: 1 }, (sim) => {
      const rw = new RwSemaphore(sim, 'rw');
      const stage = new Completion(sim, 'stage');
      sim.spawn('a', async () => {
        got.writeWhenFree = await rw.downWriteTrylock();
        stage.complete();
        await sim.sleep(100);
        rw.upWrite();
        await rw.downRead();
        stage.complete();
        await sim.sleep(100);
        rw.upRead();
      });
      sim.spawn('b', async () => {
        await stage.wait();
        got.readUnderWriter = await rw.downReadTrylock();
        got.writeUnderWriter = await rw.downWriteTrylock();
        await stage.wait();
        got.readUnderReader = await rw.downReadTrylock();
        got.writeUnderReader = await rw.downWriteTrylock();
        rw.upRead();
      });
    });
    expect(r.status).toBe('ok');
    expect(got).toEqual({
      writeWhenFree: true,
      readUnderWriter: false,
      writeUnderWriter: false,
      readUnderReader: true,
      writeUnderReader: false,
    });
  });

  it('read trylock fails while a writer is queued', async () => {
    let got = true;
    const r = await simulate({ seed: 1 }, (sim) => {
      const rw = new RwSemaphore(sim, 'rw');
      const held = new Completion(sim, 'held');
      sim.spawn('r1', async () => {
        await rw.downRead();
        held.completeAll();
        await sim.sleep(1000);
        rw.upRead();
      });
      sim.spawn('w', async () => {
        await held.wait();
        await rw.downWrite();
        rw.upWrite();
      });
      sim.spawn('r2', async () => {
        await held.wait();
        await sim.sleep(500);
        got = await rw.downReadTrylock();
      });
    });
    expect(r.status).toBe('ok');
    expect(got).toBe(false);
  });

  it('downgradeWrite turns the writer into a reader and admits queued readers, not writers', async () => {
    const order: string[] = [];
    const r = await simulate({ seed: 1 }, (sim) => {
      const rw = new RwSemaphore(sim, 'rw');
      const held = new Completion(sim, 'held');
      sim.spawn('owner', async (self) => {
        await rw.downWrite();
        held.completeAll();
        await sim.sleep(1000); // a reader and then a writer queue
        rw.downgradeWrite();
        sim.check(rw.isHeldBy(self) && !rw.isWriteHeldBy(self), 'downgrade did not leave a read hold');
        await sim.sleep(1000);
        order.push('owner up');
        rw.upRead();
      });
      sim.spawn('reader', async () => {
        await held.wait();
        await rw.downRead();
        order.push('reader in');
        rw.upRead();
      });
      sim.spawn('writer', async () => {
        await held.wait();
        await sim.sleep(500);
        await rw.downWrite();
        order.push('writer in');
        rw.upWrite();
      });
    });
    expect(r.status).toBe('ok');
    expect(order).toEqual(['reader in', 'owner up', 'writer in']);
  });

  it('killable acquisitions return -EINTR on sim.kill and leave the queue intact', async () => {
    const out: Record<string, number> = {};
    const order: string[] = [];
    const r = await simulate({ seed: 1 }, (sim) => {
      const rw = new RwSemaphore(sim, 'rw');
      const held = new Completion(sim, 'held');
      sim.spawn('owner', async () => {
        await rw.downWrite();
        held.completeAll();
        await sim.sleep(1000);
        rw.upWrite();
      });
      const victimR = sim.spawn('victimR', async () => {
        await held.wait();
        out.read = await rw.downReadKillable();
      });
      const victimW = sim.spawn('victimW', async () => {
        await held.wait();
        out.write = await rw.downWriteKillable();
      });
      sim.spawn('reader', async () => {
        await held.wait();
        await sim.sleep(200);
        await rw.downRead();
        order.push('reader in');
        rw.upRead();
      });
      sim.spawn('killer', async () => {
        await sim.sleep(500);
        sim.kill(victimR);
        sim.kill(victimW);
        sim.check(sim.fatalSignalPending() === false, 'the killer itself got the signal');
      });
    });
    expect(r.status).toBe('ok');
    expect(out).toEqual({ read: -EINTR, write: -EINTR });
    expect(order).toEqual(['reader in']);
  });

  it('a killable acquisition of a free lock succeeds even with a fatal signal pending', async () => {
    let ret = 1;
    const r = await simulate({ seed: 1 }, (sim) => {
      const rw = new RwSemaphore(sim, 'rw');
      sim.spawn('t', async (self) => {
        sim.kill(self);
        ret = await rw.downReadKillable();
        rw.upRead();
      });
    });
    expect(r.status).toBe('ok');
    expect(ret).toBe(0);
  });
});

describe('Mutex and SpinLock', () => {
  it('mutual exclusion holds in every schedule', async () => {
    await holdsInEverySchedule((sim) => {
      const m = new Mutex(sim, 'm');
      const s = new SpinLock(sim, 's');
      let inM = 0;
      let inS = 0;
      for (let i = 0; i < 4; i++) {
        sim.spawn(`t${i}`, async () => {
          await m.lock();
          inM++;
          sim.check(inM === 1, `${inM} threads inside the mutex`);
          await sim.yield();
          inM--;
          m.unlock();
          await s.lock();
          inS++;
          sim.check(inS === 1, `${inS} threads inside the spinlock`);
          await sim.point('under spinlock');
          inS--;
          s.unlock();
        });
      }
    });
  });

  it('trylock and isLocked', async () => {
    const got: boolean[] = [];
    const r = await simulate({ seed: 1 }, (sim) => {
      const m = new Mutex(sim, 'm');
      const s = new SpinLock(sim, 's');
      sim.spawn('t', async () => {
        got.push(await m.trylock(), m.isLocked(), await s.trylock(), s.isLocked());
        m.unlock();
        s.unlock();
        got.push(m.isLocked(), s.isLocked());
      });
      sim.spawn('u', async () => {
        await sim.sleep(100);
        got.push(await m.trylock(), await s.trylock());
        m.unlock();
        s.unlock();
      });
    });
    expect(r.status).toBe('ok');
    expect(got).toEqual([true, true, true, true, false, false, true, true]);
  });

  it('a thread that takes a mutex it holds is reported (AA deadlock)', async () => {
    for (const kind of ['mutex', 'spinlock'] as const) {
      const r = await simulate({ seed: 1 }, (sim) => {
        const l = kind === 'mutex' ? new Mutex(sim, 'l') : new SpinLock(sim, 'l');
        sim.spawn('t', async () => {
          await l.lock();
          await l.lock();
        });
      });
      expect(r.status).toBe('deadlock');
      expect(r.violations[0].message).toBe(`thread t takes ${kind} l it already holds (AA deadlock)`);
    }
  });

  it('lockKillable returns -EINTR on a fatal signal, and the next waiter still gets the mutex', async () => {
    const out: Record<string, number | boolean> = {};
    const r = await simulate({ seed: 1 }, (sim) => {
      const m = new Mutex(sim, 'm');
      const held = new Completion(sim, 'held');
      sim.spawn('owner', async () => {
        await m.lock();
        held.completeAll();
        await sim.sleep(1000);
        m.unlock();
      });
      const victim = sim.spawn('victim', async () => {
        await held.wait();
        out.victim = await m.lockKillable();
      });
      sim.spawn('next', async () => {
        await held.wait();
        await sim.sleep(100);
        out.next = await m.lockKillable();
        m.unlock();
      });
      sim.spawn('killer', async () => {
        await sim.sleep(500);
        sim.kill(victim);
      });
    });
    expect(r.status).toBe('ok');
    expect(out).toEqual({ victim: -EINTR, next: 0 });
  });

  it('a killed waiter woken by the unlock does not lose the hand-off (regression)', async () => {
    // The victim is woken by the unlock and then sees its signal: the mutex is free,
    // so it takes it (as the kernel's trylock-before-signal-check does) rather than
    // returning -EINTR and leaving the next waiter asleep on a free mutex.
    const out: Record<string, number> = {};
    const r = await simulate({ seed: 1 }, (sim) => {
      const m = new Mutex(sim, 'm');
      const held = new Completion(sim, 'held');
      let victim: ReturnType<typeof sim.spawn> | null = null;
      sim.spawn('owner', async () => {
        await m.lock();
        held.completeAll();
        await sim.sleep(1000);
        m.unlock(); // wakes the victim, first in line
        victim!.fatalSignal = true; // signal arrives between wake-up and run, not a killable wake
      });
      victim = sim.spawn('victim', async () => {
        await held.wait();
        out.victim = await m.lockKillable();
        if (out.victim === 0) m.unlock();
      });
      sim.spawn('next', async () => {
        await held.wait();
        await sim.sleep(100);
        await m.lock();
        out.next = 0;
        m.unlock();
      });
    });
    expect(r.status).toBe('ok');
    expect(out).toEqual({ victim: 0, next: 0 });
  });
});

describe('Atomic', () => {
  it('increments are never lost, unlike plain read-modify-write', async () => {
    await holdsInEverySchedule((sim) => {
      const a = new Atomic(sim, 'refs', 1);
      const ts = ['a', 'b', 'c'].map((n) =>
        sim.spawn(n, async () => {
          await a.incReturn();
          await a.addReturn(2);
          await a.decReturn();
        }),
      );
      sim.spawn('check', async () => {
        for (const t of ts) await t.join();
        sim.check((await a.read()) === 7, `refs is ${a.peek()}`);
        sim.check(!(await a.decAndTest()), 'decAndTest at 6');
        sim.check((await a.cmpxchg(6, 0)) === 6 && a.peek() === 0, 'cmpxchg');
        sim.check(!(await a.incNotZero()), 'incNotZero at 0');
        await a.set(3);
        sim.check(await a.incNotZero(), 'incNotZero at 3');
      });
    });
  });
});

describe('threads', () => {
  it('join waits for the thread to exit', async () => {
    await holdsInEverySchedule((sim) => {
      let done = false;
      const worker = sim.spawn('worker', async () => {
        for (let i = 0; i < 3; i++) await sim.yield();
        done = true;
      });
      sim.spawn('joiner', async () => {
        await worker.join();
        sim.check(done && worker.done, 'join returned before the worker exited');
        await sim.join(worker); // joining a finished thread returns at once
      });
    });
  });

  it('a daemon does not keep the run alive, and a daemon blocked at the end is no deadlock', async () => {
    let loops = 0;
    const r = await simulate({ seed: 1 }, (sim) => {
      const wq = new WaitQueue(sim, 'work');
      let work = 0;
      sim.spawn(
        'kworker',
        async () => {
          for (;;) {
            await wq.waitEvent(() => work > 0);
            work--;
            loops++;
          }
        },
        { daemon: true },
      );
      sim.spawn(
        'spinner',
        async () => {
          for (;;) await sim.yield();
        },
        { daemon: true },
      );
      sim.spawn('main', async () => {
        for (let i = 0; i < 3; i++) {
          work++;
          wq.wakeUpAll();
          await sim.sleep(100);
        }
      });
    });
    expect(r.status).toBe('ok');
    expect(loops).toBe(3);
  });

  it('a run whose threads all block is a deadlock with the wait-for graph', async () => {
    const r = await simulate({ seed: 1 }, (sim) => {
      const a = new Completion(sim, 'a');
      const b = new Completion(sim, 'b');
      const m = new Mutex(sim, 'm');
      const locked = new Completion(sim, 'locked');
      sim.spawn('t1', async () => {
        await m.lock();
        locked.complete();
        await a.wait();
      });
      sim.spawn('t2', () => b.wait());
      sim.spawn('t3', async () => {
        await locked.wait();
        await m.lock();
      });
    });
    expect(r.status).toBe('deadlock');
    expect(r.violations).toHaveLength(1);
    expect(r.violations[0].details?.waitFor).toEqual([
      { thread: 't1', waitsFor: 'completion a', heldBy: [] },
      { thread: 't2', waitsFor: 'completion b', heldBy: [] },
      { thread: 't3', waitsFor: 'mutex m', heldBy: ['t1'] },
    ]);
    expect(r.violations[0].threads).toEqual(['t1', 't2', 't3']);
  });

  it('an endless yield loop ends with the step-limit status', async () => {
    const r = await new Simulation({ seed: 1, maxSteps: 500 }).run((sim) => {
      sim.spawn('spin', async () => {
        for (;;) await sim.yield();
      });
    });
    expect(r.status).toBe('step-limit');
    expect(r.steps).toBe(501);
    expect(r.violations.map((v) => v.kind)).toEqual(['step-limit']);
    expect(r.violations[0].message).toBe(
      "run exceeded 500 steps (livelock or unbounded loop?): thread spin never ends: keeps running (501 steps, latest 'yield')",
    );
    expect(r.violations[0].signature).toBe('step-limit: never ends: spin at yield');
    expect(r.violations[0].threads).toEqual(['spin']);
  });

  it('threads spawned from threads run, and a thread exiting with a lock held is reported', async () => {
    const r = await simulate({ seed: 1 }, (sim) => {
      const m = new Mutex(sim, 'm');
      sim.spawn('parent', async () => {
        const child = sim.spawn('child', async () => {
          await m.lock();
        });
        await child.join();
      });
    });
    expect(r.status).toBe('violation');
    expect(r.violations[0].kind).toBe('lock-held-at-exit');
    expect(r.violations[0].message).toBe('thread child exited holding m');
  });

  it('virtual time advances only when every thread waits on a timer', async () => {
    const at: number[] = [];
    const r = await simulate({ seed: 1, stepNs: 0 }, (sim) => {
      for (const ns of [300, 100, 200]) {
        sim.spawn(`s${ns}`, async () => {
          await sim.sleep(ns);
          at.push(sim.now());
        });
      }
    });
    expect(r.status).toBe('ok');
    expect(at).toEqual([100, 200, 300]);
    expect(r.timeNs).toBe(300);
  });
});
