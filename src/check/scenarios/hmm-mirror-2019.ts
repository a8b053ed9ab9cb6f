/**
 * Seed 004's three hmm_mirror races (issue 11, must-find 6 to 8), built on the registered
 * `hmm-mirror-2019` driver (src/drivers/legacy): each found with the 2019 code (the driver's
 * default) and silent with the fix upstream made, a switch of the run:
 *
 * - exit: a device faults while the process exits; without `hmm2019.mmgetInFault` the fault walks
 *   VMAs that the 2019 exit_mmap frees without the mmap lock (a use-after-free of the VMA);
 * - lifetime: one mirror comes and goes, a second registers after it, and the CPU invalidates
 *   throughout; without `hmm2019.srcuFree` a callback uses the freed struct hmm (unregister is not a
 *   fence); without `hmm2019.containerOf` one invalidation reaches the new struct hmm through the
 *   old notifier (mm->hmm) as well as its own.
 */
import type { SetupFn } from '../../sim/simulation.js';
import { Completion } from '../../sim/sync/completion.js';
import { MADV_DONTNEED, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../mm/constants.js';
import { Kernel } from '../../mm/kernel.js';
import type { AttachedMirror } from '../../drivers/registry.js';
import '../../drivers/legacy/hmm-mirror-2019.js';

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;

/** Seed 004's exit race: a device (CPU0 of the seed's diagram) faults two pages while the process exits (CPU1). */
export function hmmMirror2019ExitScenario(): SetupFn {
  return (sim) => {
    const k = new Kernel(sim, { memoryPages: 64 });
    const p = k.createProcess('app');
    const ps = k.pageSize;
    let a = 0;
    let m: AttachedMirror | null = null;
    const ready = new Completion(sim, 'mirror registered');
    sim.spawn('app', async () => {
      a = await p.mmap({ length: 2 * ps, prot: RW, flags: ANON });
      await p.write(a, new Uint8Array(2 * ps).fill(1));
      const gpu = await k.createDevice('hmm-mirror-2019', { name: 'gpu0' });
      m = await gpu.attach(p);
      ready.completeAll();
    });
    sim.spawn('exit', async () => {
      await ready.wait();
      await p.exit();
    });
    sim.spawn('dev', async () => {
      await ready.wait();
      await m!.access(a, 'read', 1);
      await m!.access(a + ps, 'read', 1);
    });
  };
}

/**
 * Seed 004's struct hmm lifetime: drv1's mirror registers and unregisters (its struct hmm freed),
 * drv2's registers after it (a new struct hmm once the first is going), the CPU zaps pages meanwhile.
 */
export function hmmMirror2019LifetimeScenario(): SetupFn {
  return (sim) => {
    const k = new Kernel(sim, { memoryPages: 64 });
    const p = k.createProcess('app');
    const ps = k.pageSize;
    let a = 0;
    let gpu: Awaited<ReturnType<Kernel['createDevice']>> | null = null;
    const setUp = new Completion(sim, 'set up');
    const first = new Completion(sim, 'first mirror registered');
    const cpuDone = new Completion(sim, 'cpu done');
    sim.spawn('app', async () => {
      a = await p.mmap({ length: 2 * ps, prot: RW, flags: ANON });
      await p.write(a, new Uint8Array(2 * ps).fill(1));
      gpu = await k.createDevice('hmm-mirror-2019', { name: 'gpu0' });
      setUp.completeAll();
      await cpuDone.wait();
    });
    sim.spawn('drv1', async () => {
      await setUp.wait();
      const m = await gpu!.attach(p);
      first.completeAll();
      await m.detach();
    });
    sim.spawn('drv2', async () => {
      await first.wait();
      const m = await gpu!.attach(p);
      await cpuDone.wait();
      await m.detach();
    });
    sim.spawn('cpu', async () => {
      await first.wait();
      await p.madvise(a, ps, MADV_DONTNEED);
      await p.madvise(a, 2 * ps, MADV_DONTNEED);
      cpuDone.completeAll();
    });
  };
}
