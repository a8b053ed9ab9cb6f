/**
 * Built-in scenarios of the GPU SVM driver: a GPU VM mirroring a process through DONTNEED,
 * mprotect, fork and munmap (both flavors); drm_gpusvm's 2025 map-order bug (found) and its fix
 * (silent); a GPU and a NIC mirroring one buffer; seed 003's livelock under the three policies.
 */
import {
  MADV_DONTNEED,
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
} from '../../mm/constants.js';
import { Kernel } from '../../mm/kernel.js';
import type { SetupFn } from '../../sim/simulation.js';
import { Completion } from '../../sim/sync/completion.js';
import { registerScenario } from '../../scenario/registry.js';
import { livelockScenario } from '../livelock.js';
import { mirrorWorkload } from '../mirror-workload.js';
import type { AttachedMirror } from '../registry.js';
import type { GpuSvmBugs } from './device.js';
import type { GpuSvm } from './gpusvm.js';
import './device.js';
import '../odp/device.js';

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;

/** A GPU VM over a process's four pages, under the shared mirror workload (mirror-workload.ts). */
export function gpusvmMirrorScenario(
  flavor: 'drm_gpusvm' | 'nouveau2019' = 'drm_gpusvm',
  vram = false,
): SetupFn {
  return mirrorWorkload('gpu0', async (k, p) => {
    const ps = k.pageSize;
    const gpu = await k.createDevice('gpusvm', {
      name: 'gpu0',
      flavor,
      notifierSize: 1 << 21,
      chunkSizes: [2 * ps, ps],
      ...(vram ? { vramPages: 4, migrateOnFault: true } : {}),
    });
    return gpu.attach(p);
  });
}

/**
 * drm_gpusvm's map-order program: a 64 KiB range inside a PMD-mapped THP is bound, then the CPU
 * zaps a page of the THP outside the range. With the 2025 bug the bind stepped a whole huge page
 * and mapped memory outside the range, which no range's invalidation zaps.
 */
export function gpusvmMapOrderScenario(bugs: Partial<GpuSvmBugs> = {}): SetupFn {
  return (sim) => {
    const k = new Kernel(sim, { memoryPages: 2048 });
    const p = k.createProcess('app');
    const ps = k.pageSize;
    const base = 0x4000_0000;
    let vm: GpuSvm | null = null;
    const bound = new Completion(sim, 'bound');
    sim.spawn('app', async () => {
      const a = await p.mmap({ addr: base, length: k.pmdSize, prot: RW, flags: ANON | MAP_FIXED });
      sim.check(a === base, `mmap gave ${a}`);
      await p.madvise(base, k.pmdSize, MADV_HUGEPAGE);
      await p.write(base, new Uint8Array([1]));
      const gpu = await k.createDevice('gpusvm', {
        name: 'gpu0',
        notifierSize: k.pmdSize,
        chunkSizes: [16 * ps, ps],
        checkPagesThreshold: 0,
        ...bugs,
      });
      vm = (await gpu.attach(p)) as GpuSvm;
      const got = await vm.access(base, 'read', 1);
      sim.check(got instanceof Uint8Array && got[0] === 1, `GPU read ${String(got)}`);
      bound.completeAll();
    });
    sim.spawn('cpu1', async () => {
      await bound.wait();
      await p.madvise(base + k.pmdSize / 2, ps, MADV_DONTNEED);
      await vm!.detach();
    });
  };
}

/**
 * A GPU (drm_gpusvm) and an RDMA NIC (an explicit ODP MR) mirror one buffer: the GPU writes, the
 * NIC adds atomically, the CPU forks, zaps and reads; both devices and the CPU stay coherent.
 */
export function gpuAndNicScenario(): SetupFn {
  return (sim) => {
    const k = new Kernel(sim, { memoryPages: 256 });
    const p = k.createProcess('app');
    const ps = k.pageSize;
    let a = 0;
    let gpu: AttachedMirror | null = null;
    let mr: AttachedMirror | null = null;
    const ready = new Completion(sim, 'devices ready');
    const gpuDone = new Completion(sim, 'gpu wrote');
    const nicDone = new Completion(sim, 'nic added');
    sim.spawn('app', async () => {
      a = await p.mmap({ length: 4 * ps, prot: RW, flags: ANON });
      await p.write(a, new Uint8Array(4 * ps));
      gpu = await (await k.createDevice('gpusvm', { name: 'gpu0', notifierSize: 1 << 21 })).attach(p);
      mr = await (await k.createDevice('odp', { name: 'mlx0' })).attach(p, { start: a, length: 4 * ps });
      ready.completeAll();
      const child = await p.fork();
      await p.madvise(a + 3 * ps, ps, MADV_DONTNEED);
      await gpuDone.wait();
      await nicDone.wait();
      const got = (await p.read(a, 16)) as Uint8Array;
      sim.check(got[0] === 7, `the CPU reads ${got[0]} at byte 0 where the GPU wrote 7`);
      sim.check(got[8] === 3, `the CPU reads ${got[8]} at byte 8 after the NIC added 3`);
      await child.exit(0);
      await gpu.detach();
      await mr.detach();
    });
    sim.spawn('gpu0', async () => {
      await ready.wait();
      sim.check((await gpu!.access(a, 'write', new Uint8Array([7]))) === 0, 'GPU write failed');
      gpuDone.completeAll();
    });
    sim.spawn('mlx0', async () => {
      await ready.wait();
      const old = await mr!.access(a + 8, 'atomic', { add: 3 });
      sim.check(old === 0n, `NIC atomic saw ${String(old)}`);
      const back = await mr!.access(a, 'read', 1);
      sim.check(back instanceof Uint8Array, `NIC read failed: ${String(back)}`);
      nicDone.completeAll();
    });
  };
}

/**
 * Nouveau's atomic path: the GPU adds atomically to a page (make_device_exclusive) while the CPU
 * zaps the page (MADV_DONTNEED, which makes the atomic fault retry). The CPU then reads the GPU's
 * result. With the 2025 bug a retry leaves the folio locked and the next attempt waits on it forever.
 */
export function nouveauAtomicScenario(bugs: Partial<GpuSvmBugs> = {}): SetupFn {
  return (sim) => {
    const k = new Kernel(sim, { memoryPages: 128 });
    const p = k.createProcess('app');
    const ps = k.pageSize;
    let a = 0;
    let vm: AttachedMirror | null = null;
    const ready = new Completion(sim, 'vm ready');
    const added = new Completion(sim, 'gpu added');
    sim.spawn('app', async () => {
      a = await p.mmap({ length: ps, prot: RW, flags: ANON });
      await p.write(a, new Uint8Array([5]));
      // Each walk costs 1 us so that the fault loop's 1 s timeout bounds a retry chain: a retry
      // leaves its exclusive entry installed and the next make_device_exclusive revokes it
      // (an invalidation the temporary notifier counts), which can repeat until the timeout.
      const gpu = await k.createDevice('gpusvm', {
        name: 'gpu0',
        flavor: 'nouveau2019',
        faultCostNs: 1000,
        retryTimeoutMs: 1,
        ...bugs,
      });
      vm = await gpu.attach(p);
      ready.completeAll();
      await p.madvise(a, ps, MADV_DONTNEED);
      await added.wait();
      const got = (await p.read(a, 1)) as Uint8Array;
      // The zap may land before the atomic (the GPU added to 0) or after it (the page reads 0).
      sim.check(
        got[0] === seen + 1 || got[0] === 0,
        `the CPU reads ${got[0]} after the GPU added 1 to ${seen}`,
      );
    });
    let seen = -1;
    sim.spawn('gpu0', async () => {
      await ready.wait();
      const old = await vm!.access(a, 'atomic', { add: 1 });
      const failed = typeof old === 'number' && old < 0; // the fault timed out (-EBUSY: cancelled)
      sim.check(
        failed || old === 5n || old === 0n,
        `GPU atomic saw ${String(old)} (5 before the zap, 0 after)`,
      );
      seen = failed ? -1 : Number(old);
      await vm!.detach();
      added.completeAll();
    });
  };
}

const pct = { strategy: 'pct' as const, schedules: 300, depth: 3 };

let registered = false;

/** Adds this driver's built-in scenarios to the registry (once; src/scenario/builtin calls it). */
export function registerGpuSvmScenarios(): void {
  if (registered) return;
  registered = true;
  registerScenario({
    name: 'gpusvm-mirror',
    summary: 'a drm_gpusvm GPU VM mirrored through DONTNEED, mprotect, fork and munmap',
    description:
      'Notifiers and ranges are created on GPU fault; invalidations zap and unmap ranges, UNMAP\n' +
      'queues them for the garbage collector; the GPU and the CPU each see what the other wrote.',
    expect: 'clean',
    setup: gpusvmMirrorScenario(),
    defaults: pct,
  });

  registerScenario({
    name: 'gpusvm-vram',
    summary: 'the same GPU VM migrating ranges to VRAM on fault (device-private pages, eviction)',
    description:
      'Ranges move to VRAM on GPU fault, back to system memory on CPU touch or under VRAM pressure,\n' +
      'while the CPU zaps, write-protects, forks and unmaps.',
    expect: 'clean',
    setup: gpusvmMirrorScenario('drm_gpusvm', true),
    defaults: pct,
  });

  registerScenario({
    name: 'nouveau2019-mirror',
    summary: "nouveau's 2019 flow: a one-page notifier per fault and a whole-mm notifier clearing PTEs",
    description: 'The same program on the nouveau flavor; the interval notifier runs before the classic one.',
    expect: 'clean',
    setup: gpusvmMirrorScenario('nouveau2019'),
    defaults: pct,
  });

  registerScenario({
    name: 'gpusvm-map-order',
    summary: "2025: drm_gpusvm's map order unclamped maps memory outside a range inside a THP",
    description:
      'A 64 KiB range inside a PMD-mapped THP is bound stepping by the CPU mapping order; without the\n' +
      'clamp the GPU maps the whole huge page, and a zap outside the range leaves it stale.',
    expect: 'violation',
    setup: gpusvmMapOrderScenario({ mapOrderClamp: true }),
    defaults: pct,
  });

  registerScenario({
    name: 'gpusvm-map-order-fixed',
    summary: 'the same THP program on the fix (each step clamped to the range and the huge page)',
    description: 'The GPU maps only its range; the zap outside it concerns no GPU entry.',
    expect: 'clean',
    setup: gpusvmMapOrderScenario(),
    defaults: pct,
  });

  registerScenario({
    name: 'nouveau-atomic',
    summary: "nouveau's atomic fault (make_device_exclusive) racing a CPU write to the same page",
    description: 'The GPU atomic retries when the CPU zaps the page under it; the result is coherent.',
    expect: 'clean',
    setup: nouveauAtomicScenario(),
    defaults: pct,
  });

  registerScenario({
    name: 'nouveau-atomic-folio-locked',
    summary: "2025: nouveau's atomic retry left the folio locked; the next attempt waits forever",
    description:
      'A retry after make_device_exclusive kept the folio locked and referenced; the next\n' +
      'make_device_exclusive waits for that lock (fixed by unlocking and putting it before the retry).',
    expect: 'violation',
    setup: nouveauAtomicScenario({ atomicFolioLocked: true }),
    defaults: pct,
  });

  registerScenario({
    name: 'gpu-and-nic',
    summary: 'a GPU and an RDMA NIC mirror one buffer while the CPU forks and zaps',
    description: 'Two drivers on one process: GPU writes, NIC atomics, CPU reads; all coherent.',
    expect: 'clean',
    setup: gpuAndNicScenario(),
    defaults: pct,
  });

  for (const policy of ['none', 'timeout', 'mmap-write-fallback'] as const) {
    registerScenario({
      name: `gpusvm-livelock-${policy}`,
      summary: `seed 003 on the GPU: a CPU keeps invalidating the faulted page; retry policy '${policy}'`,
      description: 'As odp-livelock-*, through drm_gpusvm get_pages.',
      expect: policy === 'none' ? 'violation' : 'clean',
      setup: livelockScenario({ driver: 'gpusvm', policy }),
      defaults: { strategy: 'random', schedules: 20 },
    });
  }
}
