import { describe, expect, it } from 'vitest';
import * as api from '../src/index.js';
import {
  Completion,
  EAGAIN,
  EFAULT,
  ESRCH,
  explore,
  Kernel,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MAP_SHARED,
  MADV_DONTNEED,
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_UNMAP,
  MmError,
  MmuIntervalNotifier,
  MmuNotifier,
  mmuIntervalNotifierInsert,
  mmuNotifierRegister,
  Mutex,
  NotifierError,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  replay,
  RwSemaphore,
  SIGKILL,
  simulate,
  SimUsageError,
  SpinLock,
  type MmuNotifierRange,
  type Process,
  type RunResult,
  type Simulation,
} from '../src/index.js';

const bytes = (b: Uint8Array | number): number[] | number => (typeof b === 'number' ? b : Array.from(b));

/** Two increments of a shared counter; `locked` serialises them with a Mutex. */
function counter(locked: boolean) {
  return (sim: Simulation) => {
    let x = 0;
    const lock = new Mutex(sim, 'counter_lock');
    const done = new Completion(sim, 'done');
    for (const name of ['cpu0', 'cpu1']) {
      sim.spawn(name, async () => {
        if (locked) await lock.lock();
        const v = x;
        await sim.yield();
        x = v + 1;
        if (locked) lock.unlock();
        done.complete();
      });
    }
    sim.spawn('checker', async () => {
      await done.wait();
      await done.wait();
      sim.check(x === 2, `lost update: x is ${x} after two increments`);
    });
  };
}

/** DESIGN.md's public API sketch is a contract: its names exist and its forms work. */
describe('public API sketch', () => {
  it('exports the names the sketch uses, with the Linux values', () => {
    const names = [
      'explore',
      'replay',
      'Mutex',
      'SpinLock',
      'RwSemaphore',
      'WaitQueue',
      'Completion',
      'Srcu',
      'Kernel',
      'mmuNotifierRegister',
      'mmuIntervalNotifierInsert',
      'PROT_READ',
      'PROT_WRITE',
      'PROT_NONE',
      'MAP_PRIVATE',
      'MAP_SHARED',
      'MAP_ANONYMOUS',
      'MAP_HUGETLB',
      'MADV_DONTNEED',
      'MADV_HUGEPAGE',
      'MADV_NOHUGEPAGE',
      'MADV_FREE',
      'MADV_COLLAPSE',
      'MREMAP_MAYMOVE',
      'MREMAP_FIXED',
      'MREMAP_DONTUNMAP',
      'SIGKILL',
      'FOLL_WRITE',
      'FOLL_LONGTERM',
      'MMU_NOTIFY_UNMAP',
      'EPERM',
      'ENOENT',
      'EINTR',
      'EFAULT',
      'EINVAL',
      'EBUSY',
      'EAGAIN',
      'ENOMEM',
    ];
    const missing = names.filter((n) => !(n in api));
    expect(missing).toEqual([]);
    expect([
      api.EPERM,
      api.ENOENT,
      api.EINTR,
      api.EFAULT,
      api.EINVAL,
      api.EBUSY,
      api.EAGAIN,
      api.ENOMEM,
    ]).toEqual([1, 2, 4, 14, 22, 16, 11, 12]);
    expect([
      api.PROT_NONE,
      api.PROT_READ,
      api.PROT_WRITE,
      api.MAP_SHARED,
      api.MAP_PRIVATE,
      api.MAP_ANONYMOUS,
    ]).toEqual([0, 1, 2, 1, 2, 0x20]);
    expect([api.MAP_HUGETLB, api.MADV_DONTNEED, api.MADV_FREE, api.MADV_HUGEPAGE, api.MADV_COLLAPSE]).toEqual(
      [0x40000, 4, 8, 14, 25],
    );
    expect([api.MREMAP_MAYMOVE, api.MREMAP_FIXED, api.MREMAP_DONTUNMAP, api.SIGKILL]).toEqual([1, 2, 4, 9]);
    expect([api.FOLL_WRITE, api.FOLL_LONGTERM]).toEqual([1, 1 << 8]);
  });

  it('explore finds a planted lost update, stays silent with the lock, and replay reproduces it', async () => {
    const racy = counter(false);
    const r = await explore({ strategy: 'pct', depth: 3, schedules: 200, seed: 1 }, racy);
    expect(r.schedules).toBe(200);
    expect(r.exhausted).toBe(false);
    expect(r.violations).toHaveLength(1);
    const v = r.violations[0];
    expect(v.kind).toBe('assertion');
    expect(v.message).toBe('lost update: x is 1 after two increments');
    expect(v.diagram).toContain('cpu0');
    expect(v.diagram).toContain('cpu1');

    const run = await replay(v.token, racy);
    expect(run.status).toBe('violation');
    expect(run.violations.map((x) => [x.kind, x.message, x.signature])).toEqual([
      [v.kind, v.message, v.signature],
    ]);
    expect(run.trace).toBeDefined();
    expect(run.trace!.length).toBeGreaterThan(0);
    expect(run.trace![run.trace!.length - 1].step).toBeLessThanOrEqual(run.steps);
    // Replaying again gives the same steps, trace and violations.
    const again = await replay(v.token, racy);
    expect(again.steps).toBe(run.steps);
    expect(again.trace).toEqual(run.trace);
    expect(again.violations).toEqual(run.violations);
    expect(again.token).toBe(v.token);

    const safe = await explore({ strategy: 'pct', depth: 3, schedules: 200, seed: 1 }, counter(true));
    expect(safe.violations).toEqual([]);
    expect(safe.statuses).toEqual({ ok: 200 });
  });

  it('replay of a clean run reproduces its trace step for step', async () => {
    const setup = counter(true);
    const first = await simulate({ seed: 7 }, setup);
    expect(first.status).toBe('ok');
    const again = await replay(first.token, setup);
    expect(again.status).toBe('ok');
    expect(again.steps).toBe(first.steps);
    expect(again.trace).toEqual(first.trace);
    expect(again.violations).toEqual([]);
    // A token for another program is refused with a usage error, not silently misapplied.
    await expect(replay(first.token, counter(false))).rejects.toBeInstanceOf(SimUsageError);
  });

  it('trylocks are scheduling points that return a promise of the kernel answer', async () => {
    const seen: string[] = [];
    const run = await simulate({ seed: 2 }, (sim) => {
      const rw = new RwSemaphore(sim, 'rw');
      const m = new Mutex(sim, 'm');
      const s = new SpinLock(sim, 's');
      const held = new Completion(sim, 'held');
      const released = new Completion(sim, 'released');
      let tried = false;
      sim.spawn('writer', async () => {
        await rw.downWrite();
        await m.lock();
        await s.lock();
        held.complete();
        while (!tried) await sim.yield(); // spin: no sleeping under a spinlock
        s.unlock();
        m.unlock();
        rw.upWrite();
        released.complete();
      });
      sim.spawn('reader', async () => {
        await held.wait();
        const p = rw.downReadTrylock();
        expect(p).toBeInstanceOf(Promise);
        seen.push(`contended rw:${await p} mutex:${await m.trylock()} spin:${await s.trylock()}`);
        tried = true;
        await released.wait();
        const r = await rw.downReadTrylock();
        const w = await rw.downWriteTrylock();
        seen.push(
          `free read:${r} write-while-read:${w} mutex:${await m.trylock()} spin:${await s.trylock()}`,
        );
        s.unlock();
        m.unlock();
        rw.upRead();
      });
    });
    expect(run.violations).toEqual([]);
    expect(seen).toEqual([
      'contended rw:false mutex:false spin:false',
      'free read:true write-while-read:false mutex:true spin:true',
    ]);
    // Each trylock was a scheduling point of its own in the trace.
    const labels = (run.trace ?? []).filter((e) => e.thread === 'reader').map((e) => e.label);
    expect(labels.filter((l) => /trylock/.test(l)).length).toBeGreaterThanOrEqual(7);
  });

  it('runs the sketch: a process, a classic and an interval notifier, munmap', async () => {
    const events: string[] = [];
    const run = await simulate({ seed: 3 }, (sim) => {
      const k = new Kernel(sim, { memoryPages: 1 << 10, swapPages: 1 << 8 });
      const p = k.createProcess('app');
      sim.spawn('main', async () => {
        const length = 4 * k.pageSize;
        const addr = await p.mmap({
          length,
          prot: PROT_READ | PROT_WRITE,
          flags: MAP_PRIVATE | MAP_ANONYMOUS,
        });
        expect(addr).toBeGreaterThan(0);
        expect(addr % k.pageSize).toBe(0);
        expect(await p.write(addr, new Uint8Array([1, 2, 3]))).toBe(0);
        expect(bytes(await p.read(addr, 3))).toEqual([1, 2, 3]);
        const mn = await mmuNotifierRegister(p.mm, {
          invalidateRangeStart(range) {
            events.push(`start ${range.event} ${range.start - addr} ${range.end - addr}`);
            return 0;
          },
          invalidateRangeEnd(range) {
            events.push(`end ${range.event}`);
          },
          release() {
            events.push('release');
          },
        });
        const lock = new Mutex(sim, 'driver');
        const sub = await mmuIntervalNotifierInsert(p.mm, addr + k.pageSize, k.pageSize, {
          async invalidate(s, range, curSeq) {
            await lock.lock();
            s.setSeq(curSeq);
            events.push(`interval ${range.event}`);
            lock.unlock();
            return true;
          },
        });
        const seq = await sub.readBegin();
        await lock.lock();
        expect(sub.readRetry(seq)).toBe(false);
        lock.unlock();
        expect(await p.munmap(addr, 2 * k.pageSize)).toBe(0);
        await lock.lock();
        expect(sub.readRetry(seq)).toBe(true);
        lock.unlock();
        expect(sub.checkRetry(seq)).toBe(true);
        // The unmapped range faults; the rest still holds its memory.
        expect(await p.read(addr, 1)).toBe(-EFAULT);
        expect(await p.write(addr + 2 * k.pageSize, new Uint8Array([5]))).toBe(0);
        await sub.remove();
        await mn.unregister();
        expect(await p.exit()).toBe(0);
        expect(await p.exit()).toBe(-ESRCH);
      });
    });
    expect(run.status).toBe('ok');
    // Interval notifiers run before classic ones; unregister calls release.
    expect(events).toEqual([
      `interval ${MMU_NOTIFY_UNMAP}`,
      `start ${MMU_NOTIFY_UNMAP} 0 ${2 * 4096}`,
      `end ${MMU_NOTIFY_UNMAP}`,
      'release',
    ]);
  });

  it('mprotect, madvise and the mmap lock behave as the sketch says', async () => {
    const run = await simulate({ seed: 4 }, (sim) => {
      const k = new Kernel(sim, { memoryPages: 1 << 10, swapPages: 1 << 8 });
      const p = k.createProcess('app');
      sim.spawn('main', async () => {
        const len = 2 * k.pageSize;
        const addr = await p.mmap({
          length: len,
          prot: PROT_READ | PROT_WRITE,
          flags: MAP_PRIVATE | MAP_ANONYMOUS,
        });
        expect(await p.write(addr, new Uint8Array([7]))).toBe(0);
        expect(await p.mprotect(addr, len, PROT_READ)).toBe(0);
        expect(await p.write(addr, new Uint8Array([8]))).toBe(-EFAULT);
        expect(bytes(await p.read(addr, 1))).toEqual([7]);
        expect(await p.mprotect(addr, len, PROT_NONE)).toBe(0);
        expect(await p.read(addr, 1)).toBe(-EFAULT);
        expect(await p.mprotect(addr, len, PROT_READ | PROT_WRITE)).toBe(0);
        expect(await p.madvise(addr, len, MADV_DONTNEED)).toBe(0);
        expect(bytes(await p.read(addr, 1))).toEqual([0]); // private anonymous memory reads zero again
        await p.mm.mmapLock.downRead();
        expect(p.mm.mmapLock.isLocked()).toBe(true);
        p.mm.mmapLock.upRead();
        expect(p.mm.mmapLock.isLocked()).toBe(false);
        expect(p.mm.mmgetNotZero()).toBe(true);
        await p.mm.mmput();
        p.mm.mmgrab(); // keep the mm_struct (not its address space) past exit
        await p.exit();
        expect(p.mm.mmgetNotZero()).toBe(false); // no users left: the mm is exiting
        p.mm.mmdrop();
      });
    });
    expect(run.violations).toEqual([]);
  });

  it('fork copies private memory on write and shares shared memory', async () => {
    const seen: Record<string, unknown> = {};
    const run = await simulate({ seed: 5 }, (sim) => {
      const k = new Kernel(sim, { memoryPages: 1 << 10, swapPages: 1 << 8 });
      const p = k.createProcess('parent');
      sim.spawn('main', async () => {
        const len = k.pageSize;
        const priv = await p.mmap({
          length: len,
          prot: PROT_READ | PROT_WRITE,
          flags: MAP_PRIVATE | MAP_ANONYMOUS,
        });
        const shared = await p.mmap({
          length: len,
          prot: PROT_READ | PROT_WRITE,
          flags: MAP_SHARED | MAP_ANONYMOUS,
        });
        await p.write(priv, new Uint8Array([1, 2, 3]));
        await p.write(shared, new Uint8Array([4, 5, 6]));
        const child: Process = await p.fork();
        expect(child.pid).not.toBe(p.pid);
        seen.childBefore = bytes(await child.read(priv, 3));
        expect(await child.write(priv, new Uint8Array([9]))).toBe(0);
        expect(await p.write(priv + 1, new Uint8Array([8]))).toBe(0);
        expect(await child.write(shared, new Uint8Array([7]))).toBe(0);
        seen.parentPriv = bytes(await p.read(priv, 3));
        seen.childPriv = bytes(await child.read(priv, 3));
        seen.parentShared = bytes(await p.read(shared, 3));
        expect(await child.exit(7)).toBe(0);
        seen.status = await child.wait();
        seen.childAfterExit = await child.read(priv, 1);
        // fork of a dead process: the kernel form gives -ESRCH, the sketch's form throws it.
        seen.forkDead = await child.forkOrErrno();
        await expect(child.fork()).rejects.toMatchObject({ name: 'MmError', errno: -ESRCH });
        seen.pid = child.pid;
        await p.exit();
      });
    });
    expect(run.status).toBe('ok');
    expect(seen).toEqual({
      childBefore: [1, 2, 3],
      parentPriv: [1, 8, 3],
      childPriv: [9, 2, 3],
      parentShared: [7, 5, 6],
      status: { pid: seen.pid, code: 7, signal: 0 },
      childAfterExit: -ESRCH,
      forkDead: -ESRCH,
      pid: seen.pid,
    });
    expect(new MmError(-ESRCH, 'x').message).toBe('x failed with -ESRCH');
  });

  it('reclaim swaps pages out through CLEAR invalidations and reading them back swaps them in', async () => {
    const events: number[] = [];
    let reclaimed = -1;
    const run = await simulate({ seed: 6 }, (sim) => {
      const k = new Kernel(sim, { memoryPages: 1 << 10, swapPages: 1 << 8 });
      const p = k.createProcess('app');
      sim.spawn('main', async () => {
        const n = 4;
        const addr = await p.mmap({
          length: n * k.pageSize,
          prot: PROT_READ | PROT_WRITE,
          flags: MAP_PRIVATE | MAP_ANONYMOUS,
        });
        for (let i = 0; i < n; i++)
          await p.write(addr + i * k.pageSize, new Uint8Array([0x10 + i, 0x20 + i]));
        const mn = await mmuNotifierRegister(p.mm, {
          invalidateRangeStart(range: MmuNotifierRange) {
            events.push(range.event);
            return 0;
          },
        });
        reclaimed = await k.reclaim(n);
        const after = events.length;
        for (let i = 0; i < n; i++)
          expect(bytes(await p.read(addr + i * k.pageSize, 2)), `page ${i}`).toEqual([0x10 + i, 0x20 + i]);
        // Swap-in is a fault, not an invalidation.
        expect(events.length).toBe(after);
        await mn.unregister();
        await p.exit();
      });
    });
    expect(run.status).toBe('ok');
    expect(reclaimed).toBe(4);
    expect(events.length).toBeGreaterThanOrEqual(1);
    expect(new Set(events)).toEqual(new Set([MMU_NOTIFY_CLEAR]));
  });

  it('oomKill kills the victim and reaps its memory with non-blockable UNMAP invalidations', async () => {
    const ranges: string[] = [];
    const seen: Record<string, unknown> = {};
    const run = await simulate({ seed: 8 }, (sim) => {
      const k = new Kernel(sim, { memoryPages: 1 << 10, swapPages: 1 << 8 });
      const victim = k.createProcess('victim');
      sim.spawn('main', async () => {
        const len = 2 * k.pageSize;
        const addr = await victim.mmap({
          length: len,
          prot: PROT_READ | PROT_WRITE,
          flags: MAP_PRIVATE | MAP_ANONYMOUS,
        });
        await victim.write(addr, new Uint8Array([1]));
        // The driver keeps a user reference, so the kill alone does not tear the mm down:
        // the OOM reaper does, without waiting for it.
        expect(victim.mm.mmgetNotZero()).toBe(true);
        const mn = await mmuNotifierRegister(victim.mm, {
          invalidateRangeStart(range) {
            ranges.push(
              `${range.event} ${range.blockable ? 'blockable' : 'nonblock'} ${range.end - range.start}`,
            );
            return 0;
          },
        });
        seen.ret = await k.oomKill(victim);
        seen.state = victim.state;
        seen.read = await victim.read(addr, 1);
        seen.again = await k.oomKill(victim);
        seen.status = await victim.wait();
        await mn.unregister();
        await victim.mm.mmput();
      });
    });
    expect(run.status).toBe('ok');
    expect(seen).toEqual({
      ret: 0,
      state: 'zombie',
      read: -ESRCH,
      again: -ESRCH,
      status: { pid: expect.any(Number), code: 0, signal: SIGKILL },
    });
    expect(ranges).toEqual([`${MMU_NOTIFY_UNMAP} nonblock ${2 * 4096}`]);
  });

  it('kfree then use reports a use-after-free naming the object and both threads', async () => {
    const run: RunResult = await simulate({ seed: 9 }, (sim) => {
      const obj = sim.kalloc({ pfn: 1 }, 'dmirror_bounce');
      const used = new Completion(sim, 'used');
      const freed = new Completion(sim, 'freed');
      sim.spawn('release', async () => {
        await used.wait();
        sim.kfree(obj);
        freed.complete();
        await sim.yield();
      });
      sim.spawn('fault', async () => {
        sim.use(obj, 'before free'); // fine while allocated
        used.complete();
        await freed.wait();
        sim.use(obj, 'read pfn');
      });
    });
    expect(run.status).toBe('violation');
    expect(run.violations).toHaveLength(1);
    const v = run.violations[0];
    expect(v.kind).toBe('use-after-free');
    expect(v.message).toMatch(/^use-after-free of dmirror_bounce \(read pfn\) by fault at step \d+/);
    expect(v.message).toContain('freed by release');
    expect(v.threads.sort()).toEqual(['fault', 'release']);
    expect(v.token).toBe(run.token);
  });

  it('runs the forms of "More of the surface": files, mremap, exit codes, kill, spawn from a thread', async () => {
    const seen: Record<string, unknown> = {};
    const run = await simulate({ seed: 11 }, (sim) => {
      const k = new Kernel(sim, { memoryPages: 1 << 10, swapPages: 1 << 8, hugetlbPages: 1 });
      seen.sizes = [k.pageSize, k.pmdSize, k.hugePageSize];
      const p = k.createProcess('app');
      sim.spawn('main', async () => {
        const f = k.createFile('data', 2 * k.pageSize);
        expect(await f.pwrite(new Uint8Array([1, 2, 3]), 10)).toBe(3);
        const fa = await p.mmap({
          length: 2 * k.pageSize,
          prot: PROT_READ | PROT_WRITE,
          flags: MAP_SHARED,
          file: f,
          offset: 0,
        });
        seen.mappedFile = bytes(await p.read(fa + 10, 3));
        await p.write(fa + k.pageSize, new Uint8Array([42]));
        seen.fileAfterStore = bytes(await f.pread(1, k.pageSize));

        const a = await p.mmap({
          length: k.pageSize,
          prot: PROT_READ | PROT_WRITE,
          flags: MAP_PRIVATE | MAP_ANONYMOUS,
        });
        await p.write(a, new Uint8Array([7, 8]));
        const target = a + 64 * k.pageSize;
        const moved = await p.mremap(
          a,
          k.pageSize,
          2 * k.pageSize,
          api.MREMAP_MAYMOVE | api.MREMAP_FIXED,
          target,
        );
        seen.moved = moved === target;
        seen.movedBytes = bytes(await p.read(target, 2));
        seen.oldGone = await p.read(a, 1);

        const t0 = sim.now();
        const child = await p.fork();
        const killer = sim.spawn('killer', async () => {
          seen.kill = await child.kill(SIGKILL);
          seen.killAgain = await child.kill(SIGKILL);
        });
        seen.killed = await child.wait();
        await sim.join(killer);
        seen.timePassed = sim.now() > t0;
        expect(await p.exit(3)).toBe(0);
        seen.pid = child.pid;
      });
    });
    expect(run.violations).toEqual([]);
    expect(seen).toEqual({
      sizes: [4096, 2 << 20, 2 << 20],
      mappedFile: [1, 2, 3],
      fileAfterStore: [42],
      moved: true,
      movedBytes: [7, 8],
      oldGone: -EFAULT,
      kill: 0,
      killAgain: -ESRCH,
      killed: { pid: seen.pid, code: 0, signal: SIGKILL },
      timePassed: true,
      pid: seen.pid,
    });
  });

  it('system calls give -errno for what the kernel rejects and throw only for values no C caller could pass', async () => {
    const seen: string[] = [];
    const run = await simulate({ seed: 12 }, (sim) => {
      const k = new Kernel(sim, { memoryPages: 256 });
      const p = k.createProcess('app');
      sim.spawn('main', async () => {
        const calls: [string, () => Promise<unknown>][] = [
          ['mmap flags 0', () => p.mmap({ length: 4096, prot: PROT_READ, flags: 0 })],
          ['madvise 999', () => p.madvise(0x10000, 4096, 999)],
          ['munmap unaligned', () => p.munmap(0x10001, 4096)],
          ['read above TASK_SIZE', () => p.read(2 ** 52, 1)],
          ['kill 15', () => p.kill(15)],
          [
            'mmap length -1',
            () => p.mmap({ length: -1, prot: PROT_READ, flags: MAP_PRIVATE | MAP_ANONYMOUS }),
          ],
          ['munmap start 1.5', () => p.munmap(1.5, 4096)],
        ];
        for (const [what, call] of calls) {
          try {
            const r = await call();
            seen.push(`${what}: ${typeof r === 'number' ? api.errnoName(r) : typeof r}`);
          } catch (e) {
            seen.push(`${what}: throws ${(e as Error).name}: ${(e as Error).message}`);
          }
        }
        await p.exit();
      });
    });
    expect(run.violations).toEqual([]);
    expect(seen).toEqual([
      'mmap flags 0: -EINVAL',
      'madvise 999: -EINVAL',
      'munmap unaligned: -EINVAL',
      'read above TASK_SIZE: -EFAULT',
      'kill 15: -EINVAL',
      'mmap length -1: throws RangeError: mmap: length must be a non-negative integer, got -1',
      'munmap start 1.5: throws RangeError: munmap: start and length must be non-negative integers, got 1.5, 4096',
    ]);
  });

  it('offers the kernel errno forms next to the three throwing forms of the sketch', async () => {
    const seen: Record<string, unknown> = {};
    const run = await simulate({ seed: 10 }, (sim) => {
      const k = new Kernel(sim, { memoryPages: 1 << 10, swapPages: 1 << 8 });
      const p = k.createProcess('app');
      sim.spawn('main', async () => {
        const sub = new MmuIntervalNotifier({ invalidate: () => true });
        seen.insertZero = await sub.insert(p.mm, 0x10000, 0); // length 0: -EOVERFLOW, not a throw
        await mmuIntervalNotifierInsert(p.mm, 0x10000, 0, { invalidate: () => true }).catch((e: unknown) => {
          seen.thrown = e instanceof NotifierError ? [e.name, e.errno] : e;
        });
        const mn = new MmuNotifier({ invalidateRangeStart: () => -EAGAIN });
        seen.register = await mn.register(p.mm);
        await mn.unregister();
        await p.exit();
      });
    });
    expect(run.status).toBe('ok');
    expect(seen).toEqual({
      insertZero: -api.EOVERFLOW,
      thrown: ['NotifierError', -api.EOVERFLOW],
      register: 0,
    });
  });
});
