/**
 * Nouveau's SVM_BIND to VRAM (nouveau_svmm_bind → nouveau_dmem_migrate_vma) on the real 'gpusvm'
 * driver in its nouveau2019 flavor: the process asks for its four-page buffer to move to VRAM, which
 * the driver does in batches of two pages, while another CPU thread writes the first page (a CPU
 * fault that can pull a page of the half-migrated request back to system memory, clearing the GPU's
 * mapping, while the second batch is still moving). Afterwards every page the CPU did not touch must
 * be in VRAM, the GPU must read what the CPU wrote, and the CPU must read it back.
 *
 * With the switch `gpusvm.nouveauPartialMigrate` (the 2022 bug) each batch's end is computed from
 * the start of the request: the second batch is empty, migrate_vma_setup refuses it, SVM_BIND
 * returns success anyway, and half of the request stays in system memory.
 */
import type { SetupFn } from '../../sim/simulation.js';
import { Completion } from '../../sim/sync/completion.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../mm/constants.js';
import { Kernel } from '../../mm/kernel.js';
import { PTE_KIND_DEVICE_PRIVATE } from '../../mm/page-table.js';
import type { NouveauSvmm } from '../../drivers/gpusvm/nouveau.js';
import '../../drivers/gpusvm/device.js';
import '../../drivers/gpusvm/switches.js';

const hex = (n: number): string => `0x${n.toString(16)}`;

/**
 * SVM_BIND of four pages in batches of two racing a CPU write to the first page. Run with
 * `switches: { 'gpusvm.nouveauPartialMigrate': true }` for the pre-2022 loop.
 */
export function nouveauSvmBindScenario(): SetupFn {
  return (sim) => {
    const k = new Kernel(sim, { memoryPages: 64 });
    const p = k.createProcess('app');
    const ps = k.pageSize;
    const n = 4;
    let a = 0;
    let vm: NouveauSvmm | null = null;
    const ready = new Completion(sim, 'svmm ready');
    const bound = new Completion(sim, 'bound');
    const gpuRead = new Completion(sim, 'gpu read');
    const cpuWrote = new Completion(sim, 'cpu wrote');
    sim.spawn('app', async () => {
      a = await p.mmap({ length: n * ps, prot: PROT_READ | PROT_WRITE, flags: MAP_PRIVATE | MAP_ANONYMOUS });
      for (let i = 0; i < n; i++) await p.write(a + i * ps, new Uint8Array([i + 1]));
      const gpu = await k.createDevice('gpusvm', {
        name: 'gpu0',
        flavor: 'nouveau2019',
        vramPages: 2 * n,
        migrateBatchPages: 2,
      });
      vm = (await gpu.attach(p)) as NouveauSvmm;
      ready.completeAll();
      const ret = await vm.svmBind(a, n * ps);
      sim.check(ret === 0, `SVM_BIND gave ${ret}`);
      // Page 0 is the other thread's: it may have been pulled back. The rest must be in VRAM.
      for (let i = 1; i < n; i++) {
        const va = a + i * ps;
        const kind = p.mm.pageTable.kindAt(va);
        sim.check(
          kind === PTE_KIND_DEVICE_PRIVATE,
          `${vm.name}: SVM_BIND of [${hex(a)}, ${hex(a + n * ps)}) returned 0 but page ${hex(va)} is not ` +
            'in VRAM, and no CPU access touched it',
          { key: 'SVM_BIND left a requested page in system memory', objects: [hex(va)] },
        );
      }
      bound.completeAll();
      await gpuRead.wait();
      await cpuWrote.wait();
      const got = new Uint8Array(1);
      for (let i = 0; i < n; i++) {
        const r = await p.read(a + i * ps, 1);
        if (r instanceof Uint8Array) got[0] = r[0];
        const want = i === 0 ? 9 : i + 1;
        sim.check(
          r instanceof Uint8Array && got[0] === want,
          `the CPU reads ${String(r)} at page ${i}, not ${want}`,
        );
      }
      await vm.detach();
    });
    sim.spawn('cpu1', async () => {
      await ready.wait();
      sim.check((await p.write(a, new Uint8Array([9]))) === 0, 'the CPU write failed');
      cpuWrote.completeAll();
    });
    sim.spawn('gpu0', async () => {
      await bound.wait();
      for (let i = 0; i < n; i++) {
        const r = await vm!.access(a + i * ps, 'read', 1);
        const ok = r instanceof Uint8Array && (r[0] === i + 1 || (i === 0 && r[0] === 9));
        sim.check(ok, `the GPU reads ${String(r)} at page ${i}`);
      }
      gpuRead.completeAll();
    });
  };
}
