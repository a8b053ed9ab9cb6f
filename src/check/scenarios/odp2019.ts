/**
 * The `odp2019` driver's timeout race (issue 11, must-find 5), built on the registered driver
 * (src/drivers/legacy/odp2019.ts): a NIC faults a page of its MR while the CPU zaps it twice
 * (MADV_DONTNEED); a GPU's classic notifier on the same mm waits for its fences inside each
 * invalidation (radeon_mn waited for the fences of its BOs), so the invalidation stays open longer
 * than the fault's wait timeout. With the run switch `odp2019.mapOnTimeout` (a planted mistake)
 * the timeout path maps the page its stale walk pinned; without it the fault starts over.
 */
import type { SetupFn } from '../../sim/simulation.js';
import { Completion } from '../../sim/sync/completion.js';
import { MADV_DONTNEED, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../mm/constants.js';
import { Kernel } from '../../mm/kernel.js';
import { mmuNotifierRegister } from '../../notifier/classic.js';
import type { AttachedMirror } from '../../drivers/registry.js';
import '../../drivers/legacy/odp2019.js';

/** The program: one MR over one page, a NIC reading it twice, the CPU zapping it twice. */
export function odp2019Scenario(): SetupFn {
  return (sim) => {
    const k = new Kernel(sim, { memoryPages: 64 });
    const p = k.createProcess('app');
    const ps = k.pageSize;
    let a = 0;
    let mr: AttachedMirror | null = null;
    const ready = new Completion(sim, 'mr ready');
    sim.spawn('app', async () => {
      a = await p.mmap({ length: ps, prot: PROT_READ | PROT_WRITE, flags: MAP_PRIVATE | MAP_ANONYMOUS });
      await p.write(a, new Uint8Array([1]));
      // Another secondary MMU whose invalidation waits for its device; registered first, it is
      // walked after the MR's notifier, so the MR's count stays raised through the wait.
      await mmuNotifierRegister(p.mm, {
        invalidateRangeStart: async () => {
          await sim.sleep(5_000, 'gpu fence wait');
          return 0;
        },
      });
      const nic = await k.createDevice('odp2019', { name: 'mlx0', timeoutNs: 2_000 });
      mr = await nic.attach(p, { start: a, length: ps });
      ready.completeAll();
      await p.madvise(a, ps, MADV_DONTNEED);
      await p.write(a, new Uint8Array([2]));
      await p.madvise(a, ps, MADV_DONTNEED);
    });
    sim.spawn('mlx0', async () => {
      await ready.wait();
      await mr!.access(a, 'read', 1);
      await mr!.access(a, 'read', 1);
    });
  };
}
