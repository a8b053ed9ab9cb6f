/**
 * The legacy userptr list (seed 000's linear list behind a classic notifier, GUP pins, no sequence)
 * against munmap: the device pins a page and, with no sequence to tell it an invalidation ran in
 * between, maps it after the process unmapped it. The pin keeps the page allocated, so the device
 * goes on using memory the process no longer has: a stale mapping.
 */
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../mm/constants.js';
import { Kernel } from '../../mm/kernel.js';
import type { SetupFn } from '../../sim/simulation.js';
import { Completion } from '../../sim/sync/completion.js';
import type { AttachedMirror } from '../../drivers/registry.js';
import '../../drivers/legacy/userptr-list.js';

/** A GPU writes through a two-page userptr while the process unmaps its first page. */
export function userptrMunmapScenario(): SetupFn {
  return (sim) => {
    const k = new Kernel(sim, { memoryPages: 128 });
    const p = k.createProcess('app');
    const ps = k.pageSize;
    let a = 0;
    let u: AttachedMirror | null = null;
    const ready = new Completion(sim, 'userptr ready');
    sim.spawn('app', async () => {
      a = await p.mmap({ length: 2 * ps, prot: PROT_READ | PROT_WRITE, flags: MAP_PRIVATE | MAP_ANONYMOUS });
      await p.write(a, new Uint8Array([1]));
      const dev = await k.createDevice('userptr-list', { name: 'gpu0' });
      u = await dev.attach(p, { start: a, length: 2 * ps });
      ready.completeAll();
      await p.munmap(a, ps);
    });
    sim.spawn('gpu0', async () => {
      await ready.wait();
      await u!.access(a, 'write', new Uint8Array([2]));
      await u!.detach();
    });
  };
}
