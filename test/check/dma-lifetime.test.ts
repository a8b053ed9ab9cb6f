import { describe, expect, it } from 'vitest';
import { Simulation } from '../../src/sim/simulation.js';
import { Kernel } from '../../src/mm/kernel.js';
import { FOLL_WRITE, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../src/mm/constants.js';
import { pinUserPages, unpinUserPages } from '../../src/mm/gup.js';
import { watchDmaList } from '../../src/check/mirror-checker.js';
import type { CheckOptions } from '../../src/check/options.js';

/**
 * A driver's DMA list: it pins a page and lists it for DMA, then (`dropPinEarly`) drops the pin while
 * the page is still listed; the process unmaps the page.
 */
function run(dropPinEarly: boolean, checks?: CheckOptions) {
  return new Simulation({ seed: 1 }).run((sim) => {
    const k = new Kernel(sim, { memoryPages: 32, checks });
    const p = k.createProcess('app');
    sim.spawn('nic', async () => {
      const ps = k.pageSize;
      const a = await p.mmap({
        length: ps,
        prot: PROT_READ | PROT_WRITE,
        flags: MAP_PRIVATE | MAP_ANONYMOUS,
      });
      await p.write(a, new Uint8Array([5]));
      const pages: number[] = [];
      await p.mm.mmapLock.downRead();
      expect(await pinUserPages(p.mm, a, 1, FOLL_WRITE, pages)).toBe(1);
      p.mm.mmapLock.upRead();
      const list = new Map<number, number>([[a, pages[0]]]);
      watchDmaList(k, { name: 'mlx0.dma', mm: p.mm, pages: list });
      if (dropPinEarly) unpinUserPages(k, pages);
      await p.munmap(a, ps);
      if (!dropPinEarly) {
        list.delete(a);
        unpinUserPages(k, pages); // the last reference: the page is freed, no longer listed
      }
    });
  });
}

describe('page lifetime of DMA lists', () => {
  it('a listed page freed (pin dropped too early, then munmap) is a device use-after-free', async () => {
    const r = await run(true);
    expect(r.violations.map((v) => v.kind)).toEqual(['device-use-after-free']);
    expect(r.violations[0].message).toMatch(
      /^mlx0\.dma still lists 0x[0-9a-f]+ → pfn 0x[0-9a-f]+ for DMA, but the page is being freed \(step \d+ \(nic\) changed the CPU translation\)$/,
    );
    expect(r.violations[0].objects?.[2]).toBe('mlx0.dma');
  });

  it('the pin held until the entry leaves the list: silent', async () => {
    const r = await run(false);
    expect(r.violations).toEqual([]);
  });

  it('switched off with checks.pageLifetime', async () => {
    const r = await run(true, { pageLifetime: false });
    expect(r.violations).toEqual([]);
  });
});
