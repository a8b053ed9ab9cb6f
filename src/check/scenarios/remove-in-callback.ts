/**
 * Must-find 10 on the real 'gpusvm' driver (drm_gpusvm's design): a GPU VM faults a page, which
 * creates a notifier and a one-page range, while the process unmaps that page. drm_gpusvm's UNMAP
 * callback zaps the GPU PTEs, marks the range unmapped and queues it for the garbage collector
 * worker, which removes the range and then the emptied notifier outside any callback. With the
 * switch `gpusvm.removeInCallback` the callback removes the range at once and calls
 * mmu_interval_notifier_remove on its own notifier: remove waits for the invalidation in progress,
 * which is the one calling it (lockdep's recursive acquisition of the invalidate-start map, and a
 * hang in the kernel).
 */
import type { SetupFn } from '../../sim/simulation.js';
import { Completion } from '../../sim/sync/completion.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../mm/constants.js';
import { Kernel } from '../../mm/kernel.js';
import type { AttachedMirror } from '../../drivers/registry.js';
import '../../drivers/gpusvm/device.js';
import '../../drivers/gpusvm/switches.js';

/**
 * A GPU reads a page of a two-page buffer (one-page ranges, a notifier per 8 KiB block) while the
 * process unmaps it, then reads the other page and detaches. Run with `switches:
 * { 'gpusvm.removeInCallback': true }` for the planted mistake.
 */
export function removeInCallbackScenario(): SetupFn {
  return (sim) => {
    const k = new Kernel(sim, { memoryPages: 64 });
    const p = k.createProcess('app');
    const ps = k.pageSize;
    let a = 0;
    let vm: AttachedMirror | null = null;
    const ready = new Completion(sim, 'gpu ready');
    sim.spawn('app', async () => {
      a = await p.mmap({ length: 4 * ps, prot: PROT_READ | PROT_WRITE, flags: MAP_PRIVATE | MAP_ANONYMOUS });
      await p.write(a, new Uint8Array([1]));
      await p.write(a + 2 * ps, new Uint8Array([1]));
      const gpu = await k.createDevice('gpusvm', { name: 'gpu0', notifierSize: 2 * ps, chunkSizes: [ps] });
      vm = await gpu.attach(p);
      ready.completeAll();
      await p.munmap(a, ps);
    });
    sim.spawn('gpu0', async () => {
      await ready.wait();
      const r0 = await vm!.access(a, 'read', 1);
      // Before the munmap the GPU reads the CPU's byte; after it the fault fails (-EFAULT).
      sim.check(
        typeof r0 === 'number' || (r0 instanceof Uint8Array && r0[0] === 1),
        `GPU read ${String(r0)} at the unmapped page`,
      );
      const r1 = await vm!.access(a + 2 * ps, 'read', 1);
      sim.check(r1 instanceof Uint8Array && r1[0] === 1, `GPU read ${String(r1)} at the mapped page`);
      await vm!.detach();
    });
  };
}
