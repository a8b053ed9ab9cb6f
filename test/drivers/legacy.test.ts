import { describe, expect, it } from 'vitest';
import { explore, type ExploreOptions } from '../../src/explore/index.js';
import { userptrListScenario } from '../../src/drivers/legacy/scenarios.js';
import type { Userptr } from '../../src/drivers/legacy/userptr-list.js';
import type { DeviceMirror } from '../../src/drivers/mirror/device-mirror.js';
import { expectReachedAndClean, exploreTeardownRace } from './teardown-race.js';
import { Simulation } from '../../src/sim/simulation.js';
import { Kernel } from '../../src/mm/kernel.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../src/mm/constants.js';
import { listDrivers } from '../../src/drivers/registry.js';
import { loadScenarioFile } from '../../src/scenario/file/load.js';
import { getScenario } from '../../src/scenario/registry.js';
import '../../src/drivers/index.js';
import '../../src/scenario/builtin/index.js';

describe('legacy designs: their races found', () => {
  it('userptr-list: an invalidation between pin and map leaves a stale device mapping', async () => {
    const r = await explore({ strategy: 'random', schedules: 300, seed: 1 }, userptrListScenario());
    expect(r.violations[0]?.kind).toBe('stale-mapping');
    expect(r.violations[0]?.message).toMatch(/gpu0\.userptr0 maps .* the CPU has no entry/);
  });
});

describe('legacy designs: what is not their flaw stays right', () => {
  it('userptr-list: a fault that pinned its page while the userptr was detached unpins it and fails', async () => {
    const r = await exploreTeardownRace(
      async (k, p) => {
        const ps = k.pageSize;
        const a = await p.mmap({
          length: ps,
          prot: PROT_READ | PROT_WRITE,
          flags: MAP_PRIVATE | MAP_ANONYMOUS,
        });
        await p.write(a, new Uint8Array([1]));
        const dev = await k.createDevice('userptr-list', { name: 'gpu0' });
        const u = (await dev.attach(p, { start: a, length: ps })) as Userptr;
        return {
          access: () => u.access(a, 'read', 1),
          teardown: () => u.detach(),
          // Pages still listed, and pins left on the page.
          leftover: () => u.pinned.size + k.phys.pincountOf(p.mm.pageTable.pfnAt(a)),
        };
      },
      200,
      2,
    );
    // Nothing stays pinned once both are done, whoever won.
    expectReachedAndClean(r, 200);
  });
});

describe('userptr-list: the per-mm notifier lives exactly while the mm has a userptr', () => {
  it('attaches and detaches racing on one mm leave one notifier while any userptr is left, none after', async () => {
    const seen: { midRegistered: boolean; midListed: boolean; endRegistered: boolean; endListed: boolean }[] =
      [];
    // Registrations before the second round of detaches: 1 when an attach came first, 2 when the
    // detach emptied the mm first and an attach registered again. Both windows must be reached.
    const registrationsMid: number[] = [];
    const r = await explore({ strategy: 'random', schedules: 120, seed: 3, shrink: false }, (sim) => {
      const k = new Kernel(sim, { memoryPages: 128 });
      const p = k.createProcess('app');
      sim.spawn('main', async () => {
        const ps = k.pageSize;
        const a = await p.mmap({
          length: 4 * ps,
          prot: PROT_READ | PROT_WRITE,
          flags: MAP_PRIVATE | MAP_ANONYMOUS,
        });
        const dev = (await k.createDevice('userptr-list', { name: 'gpu0' })) as unknown as {
          attach: (p: unknown, o: object) => Promise<Userptr>;
          hasNotifier: (mm: object) => boolean;
          notifierRegistrations: number;
        };
        const first = await dev.attach(p, { start: a, length: ps });
        // Two more attach while the first detaches: the notifier must never be dropped under them.
        let second: Userptr | undefined;
        let third: Userptr | undefined;
        const t1 = sim.spawn('attach1', async () => {
          second = await dev.attach(p, { start: a + ps, length: ps });
        });
        const t2 = sim.spawn('attach2', async () => {
          third = await dev.attach(p, { start: a + 2 * ps, length: ps });
        });
        const t3 = sim.spawn('detach0', () => first.detach());
        await sim.join(t1);
        await sim.join(t2);
        await sim.join(t3);
        const listed = (): boolean => p.mm.notifierSubscriptions?.listHead != null;
        const midRegistered = dev.hasNotifier(p.mm);
        const midListed = listed();
        registrationsMid.push(dev.notifierRegistrations);
        const t4 = sim.spawn('detach1', () => second!.detach());
        const t5 = sim.spawn('detach2', () => third!.detach());
        await sim.join(t4);
        await sim.join(t5);
        seen.push({ midRegistered, midListed, endRegistered: dev.hasNotifier(p.mm), endListed: listed() });
      });
    });
    expect(r.violations).toEqual([]);
    expect(seen).toHaveLength(120);
    for (const s of seen)
      expect(s).toEqual({ midRegistered: true, midListed: true, endRegistered: false, endListed: false });
    expect(new Set(registrationsMid)).toEqual(new Set([1, 2]));
  });
});

describe('legacy designs: deregistration against a fault in flight', () => {
  for (const driver of ['odp2019', 'hmm-mirror-2019'] as const)
    it(`${driver}: no fault in flight maps into the mirror once its deregistration began`, async () => {
      const r = await exploreTeardownRace(async (k, p) => {
        const ps = k.pageSize;
        const a = await p.mmap({
          length: 2 * ps,
          prot: PROT_READ | PROT_WRITE,
          flags: MAP_PRIVATE | MAP_ANONYMOUS,
        });
        await p.write(a, new Uint8Array([3]));
        const dev = await k.createDevice(driver, { name: 'dev0' });
        const mr = await dev.attach(p, driver === 'odp2019' ? { start: a, length: 2 * ps } : {});
        return {
          access: () => mr.access(a, 'read', 1),
          teardown: () => mr.detach(),
          leftover: () => (mr as unknown as DeviceMirror).entries.size,
        };
      }, 200);
      // odp2019 waits for the faults in its dev->mr_srcu read section (synchronize_srcu);
      // hmm-mirror-2019's fault checks under the driver lock that the mirror is still registered,
      // and holds its own struct hmm reference from hmm_range_register to hmm_range_unregister.
      // Before the fixes DeviceMirror reported each: '... maps 0x... after its teardown'.
      expectReachedAndClean(r, 200);
    });
});

describe('odp2019 and hmm-mirror-2019 are registered drivers', () => {
  it('both are listed as legacy drivers', () => {
    const legacy = listDrivers()
      .filter((d) => d.era === 'legacy')
      .map((d) => d.name);
    expect(legacy).toEqual(expect.arrayContaining(['odp2019', 'hmm-mirror-2019', 'userptr-list']));
  });

  for (const driver of ['odp2019', 'hmm-mirror-2019'] as const) {
    it(`${driver}: createDevice, attach, access and detach in one thread see what the CPU wrote`, async () => {
      const sim = new Simulation({ seed: 1 });
      const out: unknown[] = [];
      const r = await sim.run((s) => {
        s.spawn('main', async () => {
          const k = new Kernel(s, { memoryPages: 64 });
          const p = k.createProcess('app');
          const ps = k.pageSize;
          const a = await p.mmap({
            length: 2 * ps,
            prot: PROT_READ | PROT_WRITE,
            flags: MAP_PRIVATE | MAP_ANONYMOUS,
          });
          await p.write(a + ps, new Uint8Array([42]));
          const dev = await k.createDevice(driver, { name: 'dev0' });
          const m = await dev.attach(p, driver === 'odp2019' ? { start: a, length: 2 * ps } : {});
          out.push(await m.access(a + ps, 'read', 1));
          out.push(await m.access(a, 'write', new Uint8Array([7])));
          const back = await p.read(a, 1);
          out.push(typeof back === 'number' ? back : back[0]);
          await m.detach();
          out.push(await m.access(a, 'read', 1));
        });
      });
      expect(r.violations).toEqual([]);
      expect(r.status).toBe('ok');
      expect(out[0]).toEqual(new Uint8Array([42]));
      expect(out[1]).toBe(0);
      expect(out[2]).toBe(7);
      expect(typeof out[3] === 'number' && out[3] < 0).toBe(true);
    });
  }

  it('bad options are clear errors naming what exists', async () => {
    const sim = new Simulation({ seed: 1 });
    const k = new Kernel(sim, { memoryPages: 16 });
    await expect(k.createDevice('odp2019', { timeoutNs: 0 })).rejects.toThrow(
      /createDevice\('odp2019'\): option 'timeoutNs' must be an integer >= 1/,
    );
    await expect(k.createDevice('hmm-mirror-2019', { dead: true })).rejects.toThrow(
      /unknown option 'dead'; options: \(none\)/,
    );
  });
});

/** Explores a scenario file with its own settings plus `switches`. */
async function exploreFile(path: string, switches: ExploreOptions['switches'] = {}, schedules?: number) {
  const s = await loadScenarioFile(path);
  const d = s.defaults ?? {};
  return explore(
    {
      strategy: d.strategy ?? 'pct',
      schedules: schedules ?? d.schedules ?? 2000,
      seed: d.seed ?? 1,
      stopOnFirst: true,
      switches,
    },
    s.setup,
  );
}

describe('the legacy scenario files: found with the 2019 default, silent with the fix', () => {
  it('odp2019-dying-mm: the fault without mmget_not_zero walks a VMA exit_mmap freed', async () => {
    const found = await exploreFile('scenarios/odp2019-dying-mm.yaml');
    expect(found.violations[0]?.kind).toBe('use-after-free');
    expect(found.violations[0]?.message).toMatch(
      /use-after-free of vma 0x[0-9a-f]+ .* by mlx0:0 .* freed by cpu0/,
    );
    const fixed = await exploreFile(
      'scenarios/odp2019-dying-mm.yaml',
      { 'odp2019.mmgetNotZero': true },
      1500,
    );
    expect(fixed.violations.map((v) => v.message)).toEqual([]);
    expect(fixed.marks['odp2019 fault found the mm exiting']).toBeGreaterThan(0);
  }, 60_000);

  it('hmm-mirror-2019-exit: found without mmget in hmm_range_fault, silent with both 2019 fault fixes', async () => {
    const found = await exploreFile('scenarios/hmm-mirror-2019-exit.yaml');
    expect(found.violations[0]?.kind).toBe('use-after-free');
    const fixed = await exploreFile(
      'scenarios/hmm-mirror-2019-exit.yaml',
      {
        'hmm2019.mmgetInFault': true,
        'hmm2019.seqRetry': true,
      },
      1500,
    );
    expect(fixed.violations.map((v) => v.message)).toEqual([]);
    expect(fixed.marks['hmm2019 fault found the mm exiting']).toBeGreaterThan(0);
  }, 60_000);
});

describe('hmm-mirror-2019: the range valid flag of 2019', () => {
  it('misses an invalidation that started and ended before the check; the sequence of the fix does not', async () => {
    const file = 'scenarios/hmm-mirror-2019-range-valid.yaml';
    const found = await exploreFile(file);
    expect(found.violations[0]?.kind).toBe('stale-mapping');
    expect(found.violations[0]?.message).toMatch(
      /mirror0\.mirror0 maps 0x[0-9a-f]+ → pfn 0x[0-9a-f]+ \(read\)/,
    );
    const fixed = await exploreFile(file, { 'hmm2019.seqRetry': true }, 1500);
    expect(fixed.violations.map((v) => v.message)).toEqual([]);
    expect(fixed.marks['hmm2019 fault retried after an invalidation']).toBeGreaterThan(0);
  }, 60_000);
});

describe('the page-lifetime check of DMA lists (watchDmaList)', () => {
  it('catches ODP leaving pages DMA-mapped after an invalidation (planted), which no mapping check sees', async () => {
    const s = getScenario('odp-skip-dma-unmap');
    const r = await explore(
      { strategy: 'pct', schedules: 300, depth: 3, seed: 1, stopOnFirst: true },
      s.setup,
    );
    expect(r.violations[0]?.kind).toBe('device-use-after-free');
    expect(r.violations[0]?.message).toMatch(/mlx0\.mr[0-9a-f]+\.dma_list still lists 0x[0-9a-f]+ → pfn/);
  }, 60_000);
});
