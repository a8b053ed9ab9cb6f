/**
 * The showcase's story: one process whose buffer a GPU (drm_gpusvm) and an RDMA NIC (an
 * explicit ODP memory region) both mirror, while the CPU forks, write-protects, reclaims,
 * migrates between NUMA nodes and unmaps it. Every device access goes through the drivers'
 * collision-retry fault paths; the checkers (coherence, page lifetime) watch every device
 * mapping; the scenario itself checks that each side reads what the other wrote.
 */
import { Kernel } from '../mm/kernel.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../mm/constants.js';
import { migrateRange } from '../mm/migrate.js';
import type { AttachedMirror } from '../drivers/registry.js';
import '../drivers/gpusvm/index.js';
import '../drivers/odp/index.js';
import type { SetupFn } from '../sim/simulation.js';
import { Completion } from '../sim/sync/completion.js';
import { registerScenario } from './registry.js';

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;

/**
 * The story's program (see the module comment). Pages: 0 written by the GPU, 1 read-only for a
 * while, 2 the NIC's counter, 3 unmapped while the GPU may be reading it.
 */
export function gpuAndNicChurn(): SetupFn {
  return (sim) => {
    const k = new Kernel(sim, { memoryPages: 512, swapPages: 64, nodes: 2 });
    const p = k.createProcess('app');
    const ps = k.pageSize;
    let a = 0;
    let gpu: AttachedMirror | null = null;
    let mr: AttachedMirror | null = null;
    const ready = new Completion(sim, 'devices ready');
    const gpuDone = new Completion(sim, 'gpu done');
    const nicDone = new Completion(sim, 'nic done');
    sim.spawn('cpu', async () => {
      a = await p.mmap({ length: 4 * ps, prot: RW, flags: ANON });
      for (let i = 0; i < 4; i++) await p.write(a + i * ps, new Uint8Array([1]));
      gpu = await (await k.createDevice('gpusvm', { name: 'gpu0', notifierSize: 1 << 21 })).attach(p);
      mr = await (await k.createDevice('odp', { name: 'mlx0' })).attach(p, { start: a, length: 4 * ps });
      ready.completeAll();
      const child = await p.fork();
      await p.mprotect(a + ps, ps, PROT_READ);
      await k.reclaim(2);
      await p.mprotect(a + ps, ps, RW);
      await migrateRange(p, a, a + 3 * ps, 1);
      await p.munmap(a + 3 * ps, ps);
      await gpuDone.wait();
      await nicDone.wait();
      const page0 = (await p.read(a, 1)) as Uint8Array;
      sim.check(page0[0] === 7, `the CPU reads ${page0[0]} at page 0 where the GPU wrote 7`);
      const page2 = (await p.read(a + 2 * ps + 8, 1)) as Uint8Array;
      sim.check(page2[0] === 3, `the CPU reads ${page2[0]} at page 2 + 8 after the NIC added 3`);
      await child.exit(0);
      await gpu.detach();
      await mr.detach();
    });
    sim.spawn('gpu0', async () => {
      await ready.wait();
      sim.check((await gpu!.access(a, 'write', new Uint8Array([7]))) === 0, 'GPU write failed');
      const got = await gpu!.access(a + ps, 'read', 1);
      sim.check(
        got instanceof Uint8Array && got[0] === 1,
        `the GPU reads ${String(got)} at page 1 where the CPU wrote 1`,
      );
      const gone = await gpu!.access(a + 3 * ps, 'read', 1);
      sim.check(
        typeof gone === 'number' ? gone < 0 : gone instanceof Uint8Array && gone[0] === 1,
        `the GPU reads ${String(gone)} at page 3, which the CPU wrote 1 and then unmapped`,
      );
      gpuDone.completeAll();
    });
    sim.spawn('mlx0', async () => {
      await ready.wait();
      const old = await mr!.access(a + 2 * ps + 8, 'atomic', { add: 3 });
      sim.check(old === 0n, `the NIC's atomic saw ${String(old)} at page 2 + 8, which nobody wrote`);
      // A writable MR faults with write access: the NIC stays off page 1, which the CPU makes
      // read-only for a while (the fault would fail and move the QP to error, as it should).
      const back = await mr!.access(a + 2 * ps + 8, 'read', 1);
      sim.check(
        back instanceof Uint8Array && back[0] === 3,
        `the NIC reads ${String(back)} at page 2 + 8 after adding 3`,
      );
      nicDone.completeAll();
    });
  };
}

let registered = false;

/** Registers the story scenario (idempotent). */
export function registerShowcaseScenarios(): void {
  if (registered) return;
  registered = true;
  registerScenario({
    name: 'gpu-and-nic-churn',
    summary:
      'a GPU (gpusvm) and an RDMA NIC (odp) share a buffer while the CPU forks, protects, reclaims, migrates and unmaps',
    description:
      'One process, one buffer, two devices mirroring it through their collision-retry fault paths, and a CPU\n' +
      'that forks, write-protects, reclaims, migrates between NUMA nodes and unmaps it underneath them.\n' +
      'Every device mapping is checked against the CPU page table at every change; each side must read what\n' +
      'the other wrote.',
    expect: 'clean',
    setup: gpuAndNicChurn(),
    defaults: { strategy: 'random', schedules: 300 },
  });
}
