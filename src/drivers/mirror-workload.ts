/**
 * The workload every modern driver's mirror scenario runs (`odp-mirror`, `gpusvm-mirror`,
 * `gpusvm-vram`, `nouveau2019-mirror`): a process's four pages mirrored by one device. The
 * device writes page 2 and reads page 1 after the CPU wrote it; the CPU reads page 2 after the
 * device wrote it; meanwhile a third thread zaps page 0 (MADV_DONTNEED), write-protects page 3
 * (mprotect), forks (copy-on-write) and unmaps page 3. Each side must read what the other wrote.
 */
import { MADV_DONTNEED, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../mm/constants.js';
import { Kernel } from '../mm/kernel.js';
import type { Process } from '../mm/process.js';
import type { SetupFn } from '../sim/simulation.js';
import { Completion } from '../sim/sync/completion.js';
import type { AttachedMirror } from './registry.js';

/** How the workload attaches its device: a mirror of `length` bytes at `addr` of `p`. */
export type AttachDevice = (k: Kernel, p: Process, addr: number, length: number) => Promise<AttachedMirror>;

/**
 * The mirror workload (see the module comment) with the device thread named `device` and the
 * device attached by `attach`.
 */
export function mirrorWorkload(device: string, attach: AttachDevice): SetupFn {
  return (sim) => {
    const k = new Kernel(sim, { memoryPages: 256 });
    const p = k.createProcess('app');
    const ps = k.pageSize;
    let a = 0;
    let mirror: AttachedMirror | null = null;
    const ready = new Completion(sim, `${device} ready`);
    const cpuWrote = new Completion(sim, 'cpu wrote page 1');
    const devWrote = new Completion(sim, `${device} wrote page 2`);
    sim.spawn('app', async () => {
      a = await p.mmap({ length: 4 * ps, prot: PROT_READ | PROT_WRITE, flags: MAP_PRIVATE | MAP_ANONYMOUS });
      await p.write(a, new Uint8Array(4 * ps).fill(1));
      mirror = await attach(k, p, a, 4 * ps);
      ready.completeAll();
      await p.write(a + ps, new Uint8Array([77]));
      cpuWrote.completeAll();
      await devWrote.wait();
      const got = (await p.read(a + 2 * ps, 1)) as Uint8Array;
      sim.check(got[0] === 55, `the CPU reads ${got[0]} where ${device} wrote 55`);
    });
    sim.spawn('cpu1', async () => {
      await ready.wait();
      await p.madvise(a, ps, MADV_DONTNEED);
      await p.mprotect(a + 3 * ps, ps, PROT_READ);
      const child = await p.fork();
      await p.munmap(a + 3 * ps, ps);
      await child.exit(0);
    });
    sim.spawn(device, async () => {
      await ready.wait();
      const m = mirror!;
      sim.check((await m.access(a + 2 * ps, 'write', new Uint8Array([55]))) === 0, `${device} write failed`);
      devWrote.completeAll();
      await cpuWrote.wait();
      const got = await m.access(a + ps, 'read', 1);
      sim.check(
        got instanceof Uint8Array && got[0] === 77,
        `${device} reads ${String(got)} where the CPU wrote 77`,
      );
      await m.detach();
    });
  };
}
