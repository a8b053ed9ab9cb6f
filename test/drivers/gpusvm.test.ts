import { describe, expect, it } from 'vitest';
import { Simulation, type RunResult } from '../../src/sim/simulation.js';
import { EFAULT, ENOENT } from '../../src/sim/errno.js';
import { expectReachedAndClean, exploreTeardownRace } from './teardown-race.js';
import { Kernel } from '../../src/mm/kernel.js';
import {
  MADV_DONTNEED,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
} from '../../src/mm/constants.js';
import '../../src/drivers/gpusvm/index.js';
import type { GpuSvm, GpuSvmDevice, NouveauSvmm } from '../../src/drivers/gpusvm/index.js';

const PAGE = 4096;
const KiB = 1024;
const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;
const FIXED = ANON | MAP_FIXED;
const BASE = 0x1000_0000;

async function run(body: (k: Kernel, sim: Simulation) => Promise<void>): Promise<RunResult> {
  const sim = new Simulation({ seed: 1, maxSteps: 2_000_000 });
  return sim.run((s) => {
    const k = new Kernel(s, { memoryPages: 1024, swapPages: 64 });
    s.spawn('main', () => body(k, s));
  });
}

function ok(r: RunResult): void {
  const v = r.violations[0];
  if (r.status !== 'ok') throw new Error(v ? `${v.kind}: ${v.message}` : `run ended ${r.status}`);
}

describe('gpusvm driver (drm_gpusvm flavor)', () => {
  it('creates a notifier and a range on fault, sized to fit the VMA and present pages', async () => {
    const seen: Record<string, unknown> = {};
    const r = await run(async (k) => {
      const p = k.createProcess('app');
      const a = await p.mmap({ addr: BASE, length: 128 * KiB, prot: RW, flags: FIXED });
      await p.write(a, new Uint8Array(16 * KiB).fill(3)); // 16 KiB touched (scenario 8 of section 7)
      const gpu = (await k.createDevice('gpusvm', { notifierSize: 2 << 20 })) as GpuSvmDevice;
      const vm = (await gpu.attach(p)) as GpuSvm;
      seen.read = [...((await vm.access(a, 'read', 2)) as Uint8Array)];
      const n = [...vm.notifiers.values()];
      seen.notifiers = n.length;
      seen.ranges = [...n[0].ranges.values()].map((x) => (x.end - x.start) / KiB);
      seen.fallbacks = vm.seen.chunkFallbacks > 0;
      expect(await vm.access(a + 100 * KiB, 'write', new Uint8Array([4]))).toBe(0);
      seen.cpu = [...((await p.read(a + 100 * KiB, 1)) as Uint8Array)];
      await vm.detach();
      seen.after = { notifiers: vm.notifiers.size, entries: vm.entries.size };
    });
    ok(r);
    expect(seen).toEqual({
      read: [3, 3],
      notifiers: 1,
      ranges: [4],
      fallbacks: true,
      cpu: [4],
      after: { notifiers: 0, entries: 0 },
    });
  });

  it('UNMAP marks ranges unmapped; the garbage collector removes them and the empty notifier', async () => {
    const seen: Record<string, unknown> = {};
    const r = await run(async (k) => {
      const p = k.createProcess('app');
      const a = await p.mmap({ addr: BASE, length: 8 * PAGE, prot: RW, flags: FIXED });
      await p.write(a, new Uint8Array(8 * PAGE).fill(1));
      const gpu = (await k.createDevice('gpusvm', {
        notifierSize: 1 << 21,
        chunkSizes: [4 * PAGE, PAGE],
      })) as GpuSvmDevice;
      const vm = (await gpu.attach(p)) as GpuSvm;
      await vm.access(a, 'read', 1);
      await vm.access(a + 4 * PAGE, 'read', 1);
      const n = [...vm.notifiers.values()][0];
      seen.ranges = n.ranges.size;
      await p.madvise(a, PAGE, MADV_DONTNEED); // CLEAR: range stays, pages invalid
      seen.afterClear = { ranges: n.ranges.size, gc: vm.gcList.length, mapped: vm.lookup(a) !== undefined };
      const r2 = [...n.ranges.values()].find((x) => x.start === a + 4 * PAGE)!;
      await p.munmap(a + 4 * PAGE, 2 * PAGE); // partial UNMAP of the second range
      seen.unmapped = { unmapped: r2.unmapped, partial: r2.partialUnmap };
      for (let i = 0; i < 20 && vm.gcList.length > 0; i++) await k.sim.yield();
      seen.afterGc = { ranges: n.ranges.size, removed: vm.seen.rangesRemoved };
      seen.refault = [...((await vm.access(a + 6 * PAGE, 'read', 1)) as Uint8Array)];
      seen.hole = await vm.access(a + 4 * PAGE, 'read', 1);
      await p.munmap(a, 8 * PAGE);
      for (let i = 0; i < 50 && vm.seen.notifiersRemoved === 0; i++) await k.sim.yield();
      seen.end = { notifiers: vm.notifiers.size, removed: vm.seen.notifiersRemoved };
      await vm.detach();
    });
    ok(r);
    expect(seen).toEqual({
      ranges: 2,
      afterClear: { ranges: 2, gc: 0, mapped: false },
      unmapped: { unmapped: true, partial: true },
      afterGc: { ranges: 1, removed: 1 },
      refault: [1],
      hole: -ENOENT,
      end: { notifiers: 0, removed: 1 },
    });
  });

  it('rejects bad chunk sizes and notifier sizes with clear errors', async () => {
    const r = await run(async (k) => {
      await expect(k.createDevice('gpusvm', { chunkSizes: [4096, 65536] })).rejects.toThrow(
        /'chunkSizes' must be descending powers of two/,
      );
      await expect(k.createDevice('gpusvm', { chunkSizes: [65536] })).rejects.toThrow(
        /must end at the page size/,
      );
      await expect(k.createDevice('gpusvm', { notifierSize: 3 << 20 })).rejects.toThrow(/power of two/);
    });
    ok(r);
  });
});

describe('gpusvm driver: teardown against a fault in flight', () => {
  // xe's fault handler checks that the VM is not closed once it holds the vm lock, and nouveau's
  // programs the GPU under the svmm mutex that teardown clears svmm->vmm under. A check before the
  // lock alone lets a fault queued behind the teardown build notifiers and ranges, or map pages,
  // on a mirror nothing will clean up again.
  for (const [flavor, kind] of [
    ['drm_gpusvm', 'read'],
    ['nouveau2019', 'read'],
    ['nouveau2019', 'atomic'],
  ] as const) {
    it(`${flavor}, ${kind}: a GPU fault that waited for the driver lock while the mirror was torn down leaves nothing`, async () => {
      const r = await exploreTeardownRace(async (k, p) => {
        const a = await p.mmap({ addr: BASE, length: 64 * KiB, prot: RW, flags: FIXED });
        await p.write(a, new Uint8Array([3]));
        const gpu = (await k.createDevice('gpusvm', { flavor, notifierSize: 2 << 20 })) as GpuSvmDevice;
        const vm = (await gpu.attach(p)) as GpuSvm | NouveauSvmm;
        return {
          access: () => (kind === 'read' ? vm.access(a, 'read', 1) : vm.access(a, 'atomic', { add: 0 })),
          teardown: () => vm.detach(),
          leftover: () => vm.entries.size + ('notifiers' in vm ? vm.notifiers.size : 0),
        };
      });
      expectReachedAndClean(r, 150);
      // A fault that won read the byte (an atomic add of 0 returns the old 8 bytes: 3); one that
      // lost found the mirror gone.
      for (const o of r.outcomes)
        expect(o.access instanceof Uint8Array ? o.access[0] : o.access).toSatisfy(
          (x) => x === 3 || x === 3n || x === -EFAULT,
        );
    });
  }
});

describe("gpusvm driver (nouveau's 2019 flavor)", () => {
  it('inserts and removes a one-page notifier per fault; the whole-mm notifier clears GPU PTEs', async () => {
    const seen: Record<string, unknown> = {};
    const r = await run(async (k) => {
      const p = k.createProcess('app');
      const a = await p.mmap({ length: 4 * PAGE, prot: RW, flags: ANON });
      await p.write(a, new Uint8Array([2]));
      const gpu = (await k.createDevice('gpusvm', { flavor: 'nouveau2019' })) as GpuSvmDevice;
      const svmm = (await gpu.attach(p)) as NouveauSvmm;
      seen.read = [...((await svmm.access(a, 'read', 1)) as Uint8Array)];
      await svmm.access(a + PAGE, 'write', new Uint8Array([5]));
      seen.temp = svmm.seen.tempNotifiers;
      seen.tree = p.mm.notifierSubscriptions?.itree.size ?? 0;
      await p.madvise(a, PAGE, MADV_DONTNEED);
      seen.cleared = svmm.lookup(a) === undefined && svmm.lookup(a + PAGE) !== undefined;
      seen.cpu = [...((await p.read(a + PAGE, 1)) as Uint8Array)];
      await svmm.detach();
    });
    ok(r);
    expect(seen).toEqual({ read: [2], temp: 2, tree: 0, cleared: true, cpu: [5] });
  });
});

describe('gpusvm driver: VRAM', () => {
  it('migrates a range to VRAM on fault, back on CPU touch, and evicts under VRAM pressure', async () => {
    const seen: Record<string, unknown> = {};
    const r = await run(async (k) => {
      const p = k.createProcess('app');
      const a = await p.mmap({ addr: BASE, length: 8 * PAGE, prot: RW, flags: FIXED });
      await p.write(a, new Uint8Array(8 * PAGE).fill(6));
      const gpu = (await k.createDevice('gpusvm', {
        notifierSize: 1 << 21,
        chunkSizes: [4 * PAGE, PAGE],
        vramPages: 4,
        migrateOnFault: true,
      })) as GpuSvmDevice;
      const vm = (await gpu.attach(p)) as GpuSvm;
      expect(await vm.access(a, 'write', new Uint8Array([9]))).toBe(0);
      const vram = gpu.vram!;
      seen.inVram = vram.pagemap.contains(vm.lookup(a)!.pfn);
      seen.cpuKind = p.mm.pageTable.kindAt(a) !== 1;
      seen.cpuRead = [...((await p.read(a, 2)) as Uint8Array)];
      seen.back = vram.seen.migratedToRam;
      expect(await vm.access(a + 4 * PAGE, 'read', 1)).toBeInstanceOf(Uint8Array);
      seen.evictions = vram.seen.evictions;
      seen.migrated = vram.seen.migratedToVram;
      seen.second = vram.pagemap.contains(vm.lookup(a + 4 * PAGE)!.pfn);
      seen.cpuRead2 = [...((await p.read(a + 4 * PAGE, 1)) as Uint8Array)];
      await vm.detach();
    });
    ok(r);
    expect(seen).toEqual({
      inVram: true,
      cpuKind: true,
      cpuRead: [9, 6],
      back: 1,
      evictions: 1,
      migrated: 2,
      second: true,
      cpuRead2: [6],
    });
  });
});

describe("nouveau's SVM_BIND and drm_pagemap's timeslice (single runs)", () => {
  it('SVM_BIND moves every batch of the request to VRAM; the 2022 loop only the first', async () => {
    const inVram = async (partial: boolean): Promise<number[]> => {
      const got: number[] = [];
      const sim = new Simulation({ seed: 1, switches: { 'gpusvm.nouveauPartialMigrate': partial } });
      const r = await sim.run((s) => {
        const k = new Kernel(s, { memoryPages: 256 });
        s.spawn('main', async () => {
          const p = k.createProcess('app');
          const a = await p.mmap({ addr: BASE, length: 5 * PAGE, prot: RW, flags: FIXED });
          for (let i = 0; i < 5; i++) await p.write(a + i * PAGE, new Uint8Array([i + 10]));
          const gpu = (await k.createDevice('gpusvm', {
            name: 'gpu0',
            flavor: 'nouveau2019',
            vramPages: 8,
            migrateBatchPages: 2,
          })) as GpuSvmDevice;
          const vm = (await gpu.attach(p)) as NouveauSvmm;
          expect(await vm.svmBind(a + 1, 5 * PAGE - 1)).toBe(0);
          for (let i = 0; i < 5; i++)
            if (gpu.vram!.pagemap.contains(p.mm.pageTable.pfnAt(a + i * PAGE))) got.push(i);
          // The GPU maps what moved at once (nouveau_pfns_map) and reads it from VRAM.
          expect(vm.entries.size).toBe(got.length);
          const back = await vm.access(a + PAGE, 'read', 1);
          expect(back).toEqual(new Uint8Array([11]));
          // A CPU touch pulls a page back and clears the GPU's mapping of it.
          expect(await p.read(a, 1)).toEqual(new Uint8Array([10]));
          expect(vm.lookup(a)).toBeUndefined();
          await vm.detach();
        });
      });
      ok(r);
      return got;
    };
    expect(await inVram(false)).toEqual([0, 1, 2, 3, 4]);
    expect(await inVram(true)).toEqual([0, 1]);
  });

  it('a CPU fault inside the timeslice leaves the page in VRAM until the timeslice ends', async () => {
    const r = await run(async (k, s) => {
      const p = k.createProcess('app');
      const a = await p.mmap({ addr: BASE, length: PAGE, prot: RW, flags: FIXED });
      await p.write(a, new Uint8Array(8));
      const gpu = (await k.createDevice('gpusvm', {
        name: 'gpu0',
        chunkSizes: [PAGE],
        vramPages: 2,
        timesliceUs: 50,
      })) as GpuSvmDevice;
      const vm = (await gpu.attach(p)) as GpuSvm;
      expect(await vm.access(a, 'atomic', { add: 5 })).toBe(0n);
      const t0 = s.now();
      expect(gpu.vram!.pagemap.contains(p.mm.pageTable.pfnAt(a))).toBe(true);
      expect(await p.read(a, 1)).toEqual(new Uint8Array([5]));
      // The CPU waited out the rest of the 50 µs timeslice, then migrated the page back.
      expect(s.now() - t0).toBeGreaterThan(0);
      expect(s.now()).toBeGreaterThanOrEqual(50_000);
      expect(gpu.vram!.seen.timesliceRefusals).toBe(1);
      expect(gpu.vram!.pagemap.contains(p.mm.pageTable.pfnAt(a))).toBe(false);
      await vm.detach();
    });
    ok(r);
  });
});
