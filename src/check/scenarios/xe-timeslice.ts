/**
 * xe's atomic ping-pong (2025, fixed by drm_gpusvm/drm_pagemap "timeslicing"), on the real 'gpusvm'
 * driver with VRAM: the GPU adds atomically to a counter, which on this GPU needs the page in VRAM
 * (devmem_only), while a CPU thread spins reading the counter until it sees the GPU's add. The GPU
 * fault migrates the one-page range to VRAM and binds it; the GPU replays the access a little later
 * (the fault reply and replay); in between, the spinning CPU touches the page and migrate_to_ram
 * pulls it back to system memory, zapping the GPU's mapping, so the GPU faults again, forever.
 *
 * The fix (default): migrate_to_ram inside the range's timeslice leaves the page in VRAM and the CPU
 * re-faults until the timeslice ends, so the GPU's replayed atomic lands first. With the switch
 * `gpusvm.xeNoTimeslice` the pre-fix driver ignores the timeslice: the GPU's access is reported as
 * a livelock once it has faulted `maxDeviceFaults` times.
 */
import type { SetupFn } from '../../sim/simulation.js';
import { Completion } from '../../sim/sync/completion.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../mm/constants.js';
import { Kernel } from '../../mm/kernel.js';
import type { AttachedMirror } from '../../drivers/registry.js';
import '../../drivers/gpusvm/device.js';
import '../../drivers/gpusvm/switches.js';

/** Faults the GPU's atomic may take before it is reported as a livelock. */
export const XE_PING_PONG_FAULTS = 32;

/**
 * A GPU atomic add on a counter in VRAM-only mode against a CPU spinning on the counter. Run with
 * `switches: { 'gpusvm.xeNoTimeslice': true }` for the pre-2025 driver.
 */
export function xeTimesliceScenario(): SetupFn {
  return (sim) => {
    const k = new Kernel(sim, { memoryPages: 64, checks: { maxDeviceFaults: XE_PING_PONG_FAULTS } });
    const p = k.createProcess('app');
    const ps = k.pageSize;
    let a = 0;
    let vm: AttachedMirror | null = null;
    const ready = new Completion(sim, 'gpu ready');
    const added = new Completion(sim, 'gpu added');
    sim.spawn('app', async () => {
      a = await p.mmap({ length: ps, prot: PROT_READ | PROT_WRITE, flags: MAP_PRIVATE | MAP_ANONYMOUS });
      await p.write(a, new Uint8Array(8));
      const gpu = await k.createDevice('gpusvm', {
        name: 'gpu0',
        notifierSize: 1 << 21,
        chunkSizes: [ps],
        vramPages: 2,
        timesliceUs: 20,
        replayLatencyNs: 2000,
      });
      vm = await gpu.attach(p);
      ready.completeAll();
      // The CPU side of the handshake: spin (0.5 µs a round) until the GPU's add shows.
      let seen = 0;
      for (let spins = 0; spins < 100_000 && seen === 0; spins++) {
        const got = await p.read(a, 1);
        sim.check(got instanceof Uint8Array, `the CPU read failed: ${String(got)}`);
        seen = (got as Uint8Array)[0];
        if (seen === 0) await sim.sleep(500, 'spin');
      }
      sim.check(seen === 1, `the CPU reads ${seen} after the GPU added 1 to 0`);
      await added.wait();
      await vm.detach();
    });
    sim.spawn('gpu0', async () => {
      await ready.wait();
      const old = await vm!.access(a, 'atomic', { add: 1 });
      sim.check(old === 0n, `the GPU atomic saw ${String(old)} (0 expected)`);
      added.completeAll();
    });
  };
}
