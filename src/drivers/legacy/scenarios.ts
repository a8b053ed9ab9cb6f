/**
 * Built-in scenarios of the legacy designs: each known race, found.
 */
import { MADV_DONTNEED, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../mm/constants.js';
import { Kernel } from '../../mm/kernel.js';
import type { SetupFn } from '../../sim/simulation.js';
import { Completion } from '../../sim/sync/completion.js';
import { registerScenario } from '../../scenario/registry.js';
import type { AttachedMirror } from '../registry.js';
import './userptr-list.js';
import './odp2019.js';
import './hmm-mirror-2019.js';

/**
 * userptr-list's race: the device pins and maps a page while the CPU zaps it (MADV_DONTNEED, or
 * `munmap`); with no sequence, an invalidation between the pin and the map is missed and the device
 * keeps a page the CPU no longer maps (after munmap the pin keeps it allocated: memory the process
 * no longer has).
 */
export function userptrListScenario(cpuOp: 'dontneed' | 'munmap' = 'dontneed'): SetupFn {
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
      if (cpuOp === 'munmap') await p.munmap(a, ps);
      else await p.madvise(a, ps, MADV_DONTNEED);
    });
    sim.spawn('gpu0', async () => {
      await ready.wait();
      await u!.access(a, 'write', new Uint8Array([2]));
      await u!.detach();
    });
  };
}

let registered = false;

/** Adds the legacy designs' scenarios to the registry (once). */
export function registerLegacyScenarios(): void {
  if (registered) return;
  registered = true;
  registerScenario({
    name: 'userptr-list-race',
    summary: 'legacy userptr list: pages pinned with no sequence, an invalidation between pin and map missed',
    description:
      "Seed 000's linear-list userptr: the invalidation walks the list before the device has mapped\n" +
      'the page it already pinned; the device then maps a page the CPU no longer maps.',
    expect: 'violation',
    setup: userptrListScenario(),
    defaults: { strategy: 'random', schedules: 300 },
  });
}
