/**
 * A "the caller holds X" in a driver's doc comment comes with the assertion: called without X, the
 * run reports lock-misuse naming the function (as lockdep_assert_held would).
 */
import { describe, expect, it } from 'vitest';
import { Simulation, type RunResult } from '../../src/sim/simulation.js';
import { Kernel } from '../../src/mm/kernel.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../src/mm/constants.js';
import '../../src/drivers/index.js';
import type { Userptr } from '../../src/drivers/legacy/userptr-list.js';
import type { OdpDevice, OdpMr } from '../../src/drivers/odp/index.js';

async function inThread(body: (k: Kernel) => Promise<void>): Promise<RunResult> {
  const sim = new Simulation({ seed: 1 });
  return sim.run((s) => {
    const k = new Kernel(s, { memoryPages: 128 });
    s.spawn('main', () => body(k));
  });
}

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;

describe('driver contracts are asserted', () => {
  it('userptr-list: zap without the driver lock', async () => {
    const r = await inThread(async (k) => {
      const p = k.createProcess('app');
      const a = await p.mmap({ length: 4096, prot: RW, flags: ANON });
      const dev = await k.createDevice('userptr-list', { name: 'gpu0' });
      const u = (await dev.attach(p, { start: a, length: 4096 })) as Userptr;
      await u.device.lock.lock();
      u.zap(a, a + 4096); // held: silent
      u.device.lock.unlock();
      u.zap(a, a + 4096);
    });
    expect(r.violations.map((v) => [v.kind, v.message])).toEqual([
      ['lock-misuse', 'userptr zap requires gpu0.lock held, but thread main does not hold it'],
    ]);
  });

  it('odp: a DMA map of a umem entry without the umem mutex', async () => {
    const r = await inThread(async (k) => {
      const p = k.createProcess('app');
      const a = await p.mmap({ length: 4096, prot: RW, flags: ANON });
      const nic = (await k.createDevice('odp', { name: 'mlx0' })) as OdpDevice;
      const mr = (await nic.attach(p, { start: a, length: 4096 })) as OdpMr;
      mr.umem.dmaMap(0);
    });
    expect(r.violations[0]?.kind).toBe('lock-misuse');
    expect(r.violations[0]?.message).toMatch(/^ib_umem_odp_map_dma_single_page requires .*umem_mutex held/);
  });
});
