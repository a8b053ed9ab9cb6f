/**
 * A GPU (drm_gpusvm) mirroring a written anonymous page of a process that then forks: parent and
 * child share the page copy-on-write, read-only for the CPU and for the device. The GPU loads the
 * page and then stores to it while the child loads it. The GPU's store must fault and break COW
 * (the parent gets its own copy) before it lands. With the planted `mirror.ignoreReadOnly` switch
 * the device's MMU lets the store through its read-only entry into the shared page, and the child
 * reads the parent's GPU's byte: a lost write of the child's memory (its last store there was
 * the one it inherited). The device entry itself is coherent, so only the lost-writes checker sees
 * it.
 */
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../mm/constants.js';
import { Kernel } from '../../mm/kernel.js';
import type { SetupFn } from '../../sim/simulation.js';
import { Completion } from '../../sim/sync/completion.js';
import type { AttachedMirror } from '../../drivers/registry.js';

/** The program (see the module comment); the planted mistake is a run switch of the scenario. */
export function storeThroughReadOnlyScenario(): SetupFn {
  return (sim) => {
    const k = new Kernel(sim, { memoryPages: 256 });
    const p = k.createProcess('app');
    const ps = k.pageSize;
    let a = 0;
    let gpu: AttachedMirror | null = null;
    const ready = new Completion(sim, 'gpu0 ready');
    sim.spawn('app', async () => {
      a = await p.mmap({ length: ps, prot: PROT_READ | PROT_WRITE, flags: MAP_PRIVATE | MAP_ANONYMOUS });
      sim.check((await p.write(a, new Uint8Array(8).fill(0x11))) === 0, 'the CPU store failed');
      const dev = await k.createDevice('gpusvm', { name: 'gpu0', notifierSize: 1 << 21, chunkSizes: [ps] });
      gpu = await dev.attach(p);
      const child = await p.fork();
      ready.completeAll();
      const got = (await child.read(a, 1)) as Uint8Array;
      sim.check(got[0] === 0x11, `the child reads ${got[0]} where it inherited 0x11`);
      await child.exit(0);
    });
    sim.spawn('gpu0', async () => {
      await ready.wait();
      const g = gpu!;
      const got = await g.access(a, 'read', 1);
      sim.check(
        got instanceof Uint8Array && got[0] === 0x11,
        `gpu0 loads ${String(got)} where the CPU wrote 0x11`,
      );
      sim.check((await g.access(a, 'write', new Uint8Array([0x55]))) === 0, 'gpu0 store failed');
      const again = await g.access(a, 'read', 1);
      sim.check(
        again instanceof Uint8Array && again[0] === 0x55,
        `gpu0 reads back ${String(again)}, not its 0x55`,
      );
      await g.detach();
    });
  };
}
