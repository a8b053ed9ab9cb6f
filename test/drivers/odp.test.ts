import { describe, expect, it } from 'vitest';
import { Simulation, type RunResult } from '../../src/sim/simulation.js';
import { expectReachedAndClean, exploreTeardownRace } from './teardown-race.js';
import { EFAULT, EINTR, EIO, EINVAL } from '../../src/sim/errno.js';
import { Kernel } from '../../src/mm/kernel.js';
import { MADV_DONTNEED, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../src/mm/constants.js';
import { PG_dirty } from '../../src/mm/physical.js';
import '../../src/drivers/odp/index.js';
import type { OdpDevice, OdpMr, ImplicitOdpMr } from '../../src/drivers/odp/index.js';

const PAGE = 4096;

async function run(body: (k: Kernel, sim: Simulation) => Promise<void>): Promise<RunResult> {
  const sim = new Simulation({ seed: 1, maxSteps: 2_000_000 });
  return sim.run((s) => {
    const k = new Kernel(s, { memoryPages: 512, swapPages: 64 });
    s.spawn('main', () => body(k, s));
  });
}

function ok(r: RunResult): void {
  const v = r.violations[0];
  if (r.status !== 'ok') throw new Error(v ? `${v.kind}: ${v.message}` : `run ended ${r.status}`);
}

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;

describe('odp driver: explicit memory regions', () => {
  it('maps resident pages at registration, faults the rest, and device and CPU see each other', async () => {
    let seen: Record<string, unknown> = {};
    const r = await run(async (k) => {
      const p = k.createProcess('app');
      const a = await p.mmap({ length: 4 * PAGE, prot: RW, flags: ANON });
      await p.write(a, new Uint8Array([1, 2, 3])); // page 0 resident
      const nic = (await k.createDevice('odp', { name: 'mlx0' })) as OdpDevice;
      const mr = (await nic.attach(p, { start: a, length: 4 * PAGE })) as OdpMr;
      const afterReg = mr.entries.size;
      const got = (await mr.access(a, 'read', 3)) as Uint8Array;
      const faultsBefore = nic.stats.completed;
      expect(await mr.access(a + 2 * PAGE, 'write', new Uint8Array([9, 8]))).toBe(0);
      const cpu = (await p.read(a + 2 * PAGE, 2)) as Uint8Array;
      const old = await mr.access(a + 8, 'atomic', { add: 5 });
      const old2 = await mr.access(a + 8, 'atomic', { add: 1 });
      seen = {
        afterReg,
        got: [...got],
        faults: nic.stats.completed - faultsBefore,
        cpu: [...cpu],
        old,
        old2,
        npages: mr.umem.npages,
      };
      await mr.detach();
      seen.afterDetach = await mr.access(a, 'read', 1);
    });
    ok(r);
    expect(seen).toEqual({
      afterReg: 1,
      got: [1, 2, 3],
      faults: 1,
      cpu: [9, 8],
      old: 0n,
      old2: 5n,
      npages: 2,
      afterDetach: -EINVAL,
    });
  });

  it('invalidation zaps the MTT, unmaps DMA, marks written pages dirty; the device refaults', async () => {
    const seen: Record<string, unknown> = {};
    const r = await run(async (k) => {
      const p = k.createProcess('app');
      const a = await p.mmap({ length: 2 * PAGE, prot: RW, flags: ANON });
      const nic = (await k.createDevice('odp')) as OdpDevice;
      const mr = (await nic.attach(p, { start: a, length: 2 * PAGE })) as OdpMr;
      expect(await mr.access(a, 'write', new Uint8Array([7]))).toBe(0);
      const pfn = mr.lookup(a)!.pfn;
      k.phys.clearFlag(pfn, PG_dirty);
      await p.madvise(a, PAGE, MADV_DONTNEED);
      seen.zapped = mr.lookup(a) === undefined;
      seen.npages = mr.umem.npages;
      seen.zaps = mr.seen.zaps;
      seen.dirty = k.phys.testFlag(pfn, PG_dirty) || k.phys.isFree(pfn);
      seen.read = [...((await mr.access(a, 'read', 1)) as Uint8Array)];
      await p.munmap(a, 2 * PAGE);
      seen.afterUnmap = await mr.access(a, 'read', 1);
      seen.qp = mr.qpState;
      seen.later = await mr.access(a + PAGE, 'read', 1);
      await mr.detach();
    });
    ok(r);
    expect(seen).toEqual({
      zapped: true,
      npages: 0,
      zaps: 1,
      dirty: true,
      read: [0],
      afterUnmap: -EIO,
      qp: 'error',
      later: -EIO,
    });
  });

  it('an mm exit while an MR exists: access moves the QP to error, dereg still works', async () => {
    const seen: Record<string, unknown> = {};
    const r = await run(async (k) => {
      const p = k.createProcess('app');
      const a = await p.mmap({ length: 2 * PAGE, prot: RW, flags: ANON });
      const nic = (await k.createDevice('odp')) as OdpDevice;
      const mr = (await nic.attach(p, { start: a, length: 2 * PAGE })) as OdpMr;
      expect(await mr.access(a, 'write', new Uint8Array([1]))).toBe(0);
      await p.exit(0);
      seen.entries = mr.entries.size;
      seen.access = await mr.access(a, 'read', 1);
      seen.errno = mr.qpErrno;
      await mr.detach();
      seen.notifier = mr.notifier.state;
    });
    ok(r);
    expect(seen).toEqual({ entries: 0, access: -EIO, errno: -EINVAL, notifier: 'removed' });
  });

  it('prefetch maps read-only, write or resident only; deregistration waits for prefetch work', async () => {
    const seen: Record<string, unknown> = {};
    const r = await run(async (k) => {
      const p = k.createProcess('app');
      const a = await p.mmap({ length: 4 * PAGE, prot: RW, flags: ANON });
      const nic = (await k.createDevice('odp')) as OdpDevice;
      const mr = (await nic.attach(p, { start: a, length: 4 * PAGE })) as OdpMr;
      expect(await mr.prefetch(a, PAGE, 'prefetch', true)).toBe(0);
      expect(await mr.prefetch(a + PAGE, PAGE, 'prefetch-write', true)).toBe(0);
      expect(await mr.prefetch(a + 2 * PAGE, PAGE, 'prefetch-no-fault', true)).toBe(0);
      seen.ro = mr.lookup(a)?.write;
      seen.rw = mr.lookup(a + PAGE)?.write;
      seen.none = mr.lookup(a + 2 * PAGE);
      expect(await mr.prefetch(a + 3 * PAGE, PAGE, 'prefetch-write')).toBe(0);
      await mr.detach();
      seen.usecount = mr.usecount;
      seen.gone = await mr.prefetch(a, PAGE, 'prefetch', true);
    });
    ok(r);
    expect(seen).toEqual({ ro: false, rw: true, none: undefined, usecount: 0, gone: -2 });
  });

  it('frees the umem of an MR whose registration fails (mm gone, or a fatal signal during the first registration)', async () => {
    const seen: Record<string, unknown> = {};
    const sim = new Simulation({ seed: 1, maxSteps: 2_000_000, trace: true });
    const r = await sim.run((s) => {
      const k = new Kernel(s, { memoryPages: 512, swapPages: 64 });
      s.spawn('main', async (self) => {
        const nic = (await k.createDevice('odp', { name: 'mlx0' })) as OdpDevice;
        // A fatal signal: the mm's first registration (mm_take_all_locks) gives -EINTR.
        const p = k.createProcess('app');
        const a = await p.mmap({ length: 4 * PAGE, prot: RW, flags: ANON });
        s.kill(self);
        seen.killed = await nic.regMr(p, a, 4 * PAGE, true);
        // The address space is gone (the structure pinned, as the umem's owning_mm is): mmget_not_zero fails.
        const q = k.createProcess('gone');
        const b = await q.mmap({ length: 4 * PAGE, prot: RW, flags: ANON });
        const mm = q.mm;
        mm.mmgrab();
        await q.exit(0);
        seen.gone = await nic.regMr(q, b, 4 * PAGE, true);
        mm.mmdrop();
        seen.mrs = nic.mrs.length;
      });
    });
    ok(r);
    expect(seen).toEqual({ killed: -EINTR, gone: -EFAULT, mrs: 0 });
    const freed = (r.trace ?? []).filter((e) => e.label === 'kfree').map((e) => e.object);
    expect(freed).toEqual(expect.arrayContaining(['ib_umem_odp mlx0.mr100', 'ib_umem_odp mlx0.mr101']));
  });

  it('bad attach options are clear errors', async () => {
    const r = await run(async (k) => {
      const p = k.createProcess('app');
      const nic = await k.createDevice('odp', { name: 'mlx0' });
      await expect(nic.attach(p, { start: 0 })).rejects.toThrow(/needs start and length/);
      await expect(nic.attach(p, { start: 0, length: 1, acces: 'r' })).rejects.toThrow(
        "mlx0.attach(): unknown option 'acces'; options: start, length, access, implicit",
      );
      await expect(k.createDevice('odp', { retry: 'sometimes' })).rejects.toThrow(
        /option 'retry' must be one of 'none', 'timeout', 'mmap-write-fallback'/,
      );
      await expect(k.createDevice('odp', { implicitChildBytes: 5000 })).rejects.toThrow(/power of two/);
    });
    ok(r);
  });
});

describe('odp driver: implicit memory regions', () => {
  it('creates a child on first fault, reclaims it once emptied, and recreates it', async () => {
    const seen: Record<string, unknown> = {};
    const r = await run(async (k) => {
      const p = k.createProcess('app');
      const a = await p.mmap({ length: 4 * PAGE, prot: RW, flags: ANON });
      await p.write(a, new Uint8Array([5]));
      const nic = (await k.createDevice('odp', { implicitChildBytes: 1 << 21 })) as OdpDevice;
      const imr = (await nic.attach(p, { implicit: true })) as ImplicitOdpMr;
      seen.read = [...((await imr.access(a, 'read', 1)) as Uint8Array)];
      seen.children = imr.children.size;
      await p.madvise(a, 4 * PAGE, MADV_DONTNEED);
      // the destroy work runs on its own thread
      for (let i = 0; i < 50 && imr.ksm.size > 0; i++) await k.sim.yield();
      seen.reclaimed = imr.seen.childrenReclaimed;
      seen.childrenAfter = imr.children.size;
      expect(await imr.access(a, 'write', new Uint8Array([6]))).toBe(0);
      seen.created = imr.seen.childrenCreated;
      seen.cpu = [...((await p.read(a, 1)) as Uint8Array)];
      await imr.detach();
      seen.usecount = imr.usecount;
    });
    ok(r);
    expect(seen).toEqual({
      read: [5],
      children: 1,
      reclaimed: 1,
      childrenAfter: 0,
      created: 2,
      cpu: [6],
      usecount: 0,
    });
  });

  it('deregistration waits for a fault in flight on the parent key, so no child outlives it', async () => {
    // A device access that misses faults on the parent key while the parent is deregistered. The
    // fault holds a usecount reference (pagefault_single_data_segment), so the deregistration
    // waits for it and then destroys the child it created; without the reference the child was
    // created after the deregistration's sweep and stayed, notifier and all.
    const r = await exploreTeardownRace(
      async (k, p) => {
        const a = await p.mmap({ length: 2 * PAGE, prot: RW, flags: ANON });
        await p.write(a, new Uint8Array([7]));
        const nic = (await k.createDevice('odp', { name: 'mlx0', implicitChildBytes: 1 << 21 })) as OdpDevice;
        const imr = (await nic.attach(p, { implicit: true })) as ImplicitOdpMr;
        return {
          access: () => imr.access(a, 'read', 1),
          teardown: () => imr.detach(),
          leftover: () => imr.children.size + imr.ksm.size,
        };
      },
      150,
      3,
    );
    expectReachedAndClean(r, 150);
    // An access that won read the byte; one that lost failed the QP (-EIO), or found the MR gone (-EINVAL).
    for (const o of r.outcomes)
      expect(o.access instanceof Uint8Array ? o.access[0] : o.access).toSatisfy(
        (x) => x === 7 || x === -EIO || x === -EINVAL,
      );
  });

  it('releases a new child whose notifier insert failed (a fatal signal during the first registration)', async () => {
    const seen: Record<string, unknown> = {};
    let childName = '';
    const sim = new Simulation({ seed: 1, maxSteps: 2_000_000, trace: true });
    const r = await sim.run((s) => {
      const k = new Kernel(s, { memoryPages: 512, swapPages: 64 });
      s.spawn('main', async (self) => {
        const p = k.createProcess('app');
        const a = await p.mmap({ length: 4 * PAGE, prot: RW, flags: ANON });
        await p.write(a, new Uint8Array([5]));
        const nic = (await k.createDevice('odp', { name: 'mlx0', implicitChildBytes: 1 << 21 })) as OdpDevice;
        const imr = (await nic.attach(p, { implicit: true })) as ImplicitOdpMr;
        // The access faults in this thread; the child's insert is the mm's first registration,
        // whose mm_take_all_locks gives -EINTR with a fatal signal pending.
        s.kill(self);
        seen.access = await imr.access(a, 'read', 1);
        seen.children = imr.children.size;
        childName = `ib_umem_odp ${imr.name}.child${Math.floor(a / (1 << 21))}`;
      });
    });
    ok(r);
    expect(seen).toEqual({ access: -EIO, children: 0 });
    // ib_umem_odp_alloc_child frees the umem when its insert fails: so must the model.
    const freed = (r.trace ?? []).filter((e) => e.label === 'kfree').map((e) => e.object);
    expect(freed).toContain(childName);
  });
});
