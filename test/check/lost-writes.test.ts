/**
 * The lost-writes checker (issue 11): what a device wrote is what the CPU later reads, and the
 * reverse, unless the program discarded it. A user-written driver (a DeviceMirror subclass written
 * against the public API) gets it without registering anything; it stays silent on every way a
 * program legitimately changes what memory holds (madvise, munmap and mmap, mremap, fork); it is
 * switched per run (Kernel option or run switch); and exploration finds the faithful test_hmm
 * driver's own-migration race through it, with a replay and a signature stable across seeds.
 */
import { describe, expect, it } from 'vitest';
import {
  DeviceMirror,
  EFAULT,
  EINVAL,
  Kernel,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_REMOVE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PROT_READ,
  PROT_WRITE,
  type Process,
  type RunResult,
} from '../../src/index.js';
import { Simulation, type SwitchSettings } from '../../src/sim/index.js';
import { PTE_KIND_PRESENT } from '../../src/mm/index.js';
import { explore, replay } from '../../src/explore/index.js';
import { explainRun } from '../../src/explore/explain.js';
import { getScenario } from '../../src/scenario/registry.js';
import '../../src/scenario/builtin/index.js';
import { registerDmirrorScenarios } from '../../src/drivers/dmirror/scenarios.js';

registerDmirrorScenarios();

/** A user's driver: maps whatever the CPU maps now, as asked, and never listens to invalidations. */
class CarelessDevice extends DeviceMirror {
  protected async fault(va: number, write: boolean): Promise<number> {
    await this.sim.yield();
    const pt = this.mm.pageTable;
    if (pt.kindAt(va) !== PTE_KIND_PRESENT) return -EFAULT;
    this.mapPage(va, pt.pfnAt(va), { write });
    return 0;
  }
}

async function inThread(
  body: (k: Kernel, p: Process) => Promise<void>,
  kernel: Partial<ConstructorParameters<typeof Kernel>[1]> = {},
  switches: SwitchSettings = {},
): Promise<RunResult> {
  const sim = new Simulation({ seed: 1, switches, trace: true });
  return sim.run((s) => {
    const k = new Kernel(s, { memoryPages: 512, ...kernel });
    const p = k.createProcess('app');
    s.spawn('main', () => body(k, p));
  });
}

async function anon(p: Process, pages: number, fill: number): Promise<number> {
  const ps = p.kernel.pageSize;
  const addr = await p.mmap({
    length: pages * ps,
    prot: PROT_READ | PROT_WRITE,
    flags: MAP_PRIVATE | MAP_ANONYMOUS,
  });
  expect(addr).toBeGreaterThan(0);
  await p.write(addr, new Uint8Array(pages * ps).fill(fill));
  return addr;
}

const ONLY_LOST_WRITES = { checks: { coherence: false, pageLifetime: false } };
const hex = (n: number): string => `0x${n.toString(16)}`;

/**
 * The device keeps a writable mapping across fork; the parent's next store COW-copies the page, so
 * the device's later store goes to the child's page and the parent never sees it.
 */
async function deviceWriteAfterCow(k: Kernel, p: Process): Promise<void> {
  const addr = await anon(p, 1, 5);
  const d = new CarelessDevice(k, 'mine', p);
  expect(await d.access(addr, 'write', new Uint8Array([9, 9, 9, 9]))).toBe(0);
  await p.fork();
  expect(await p.write(addr + 100, new Uint8Array([1]))).toBe(0); // COW: the parent gets a copy
  expect(await d.access(addr, 'write', new Uint8Array([7, 7, 7, 7]))).toBe(0); // the child's page
  await p.read(addr, 4);
}

describe('lost writes: a user-written driver is checked without registering anything', () => {
  it('a device store through a mapping kept across a COW break is lost to the CPU', async () => {
    const run = await inThread(deviceWriteAfterCow, ONLY_LOST_WRITES);
    expect(run.status).toBe('violation');
    const v = run.violations[0];
    expect(v.kind).toBe('lost-write');
    expect(v.message).toMatch(
      /^lost write at 0x[0-9a-f]+ in app\[\d+\]: CPU \(main\) reads 09090909 from pfn 0x[0-9a-f]+, but step \d+ \(main, mine\) wrote 07070707 there, to pfn 0x[0-9a-f]+; the program discarded nothing there since$/,
    );
    const d = v.details as Record<string, number | string>;
    expect(d.readPfn).not.toBe(d.writePfn);
    expect(v.conflictStep).toBe(d.writeStep);
    expect(v.conflictStep).toBeLessThan(v.step);
    expect(v.objects).toEqual([hex(d.page as number), `pfn ${d.readPfn}`, `pfn ${d.writePfn}`, 'mine']);
    expect(v.signature).toBe('lost-write: mine write not seen by CPU read');
    // `mirrorlab explain` names the checker and says why.
    const text = explainRun(run);
    expect(text).toMatch(/Which checker fired: lost writes/);
    expect(text).toMatch(/zaps its device mapping in the invalidate callback/);
  });

  it('the reverse: a CPU store the device does not see through its stale mapping', async () => {
    const run = await inThread(async (k, p) => {
      const addr = await anon(p, 1, 5);
      const d = new CarelessDevice(k, 'mine', p);
      expect(await d.access(addr, 'read', 4)).toEqual(new Uint8Array([5, 5, 5, 5]));
      await p.fork();
      expect(await p.write(addr, new Uint8Array([1, 2, 3, 4]))).toBe(0);
      await d.access(addr, 'read', 4);
    }, ONLY_LOST_WRITES);
    const v = run.violations[0];
    expect(v?.kind).toBe('lost-write');
    expect(v.message).toMatch(
      /mine \(main\) reads 05050505 from pfn .*, but step \d+ \(main, CPU\) wrote 01020304 there/,
    );
    expect(v.signature).toBe('lost-write: CPU write not seen by mine read');
  });

  it('device atomics are checked and recorded like loads and stores', async () => {
    const run = await inThread(async (k, p) => {
      const addr = await anon(p, 1, 0);
      const d = new CarelessDevice(k, 'mine', p);
      expect(await d.access(addr, 'atomic', { add: 5 })).toBe(0n);
      expect(await p.readU64(addr)).toBe(5n);
      await p.fork();
      expect(await p.writeU64(addr + 8, 1)).toBe(0); // COW
      expect(await d.access(addr, 'atomic', { add: 1 })).toBe(5n); // into the child's page
      await p.readU64(addr);
    }, ONLY_LOST_WRITES);
    expect(run.violations[0]?.message).toMatch(/CPU \(main\) reads 05 from .* \(main, mine\) wrote 06 there/);
  });

  it('with every checker on, coherence reports the stale mapping first (at the COW break)', async () => {
    const run = await inThread(deviceWriteAfterCow);
    expect(run.violations[0]?.kind).toBe('stale-mapping');
  });

  it('is switched off by the Kernel option or the run switch check.lostWrites', async () => {
    const off = await inThread(deviceWriteAfterCow, {
      checks: { coherence: false, pageLifetime: false, lostWrites: false },
    });
    expect(off.status).toBe('ok');
    const sw = await inThread(
      deviceWriteAfterCow,
      {},
      {
        'check.coherence': false,
        'check.pageLifetime': false,
        'check.lostWrites': false,
      },
    );
    expect(sw.status).toBe('ok');
    const on = await inThread(
      deviceWriteAfterCow,
      {},
      { 'check.coherence': false, 'check.pageLifetime': false },
    );
    expect(on.violations[0]?.kind).toBe('lost-write');
  });
});

describe('lost writes: silent where the program changes what memory holds', () => {
  it('madvise, munmap + mmap, mremap, MADV_FREE and fork pass; a kernel scribble at the end is caught', async () => {
    const seen: unknown[] = [];
    const run = await inThread(async (k, p) => {
      const ps = k.pageSize;
      const base = await anon(p, 4, 0x11);
      const d = new CarelessDevice(k, 'mine', p);
      // Device ↔ CPU through one page, then the driver zaps as a correct one would before the CPU
      // changes the mappings below.
      seen.push(await d.access(base, 'read', 2));
      expect(await d.access(base + 8, 'write', new Uint8Array([0x22, 0x23]))).toBe(0);
      seen.push(await p.read(base + 7, 4));
      d.unmapRange(base, base + 4 * ps);
      // MADV_DONTNEED on private anonymous memory: zeros.
      expect(await p.madvise(base, ps, MADV_DONTNEED)).toBe(0);
      seen.push(await p.read(base + 8, 2));
      // munmap, then a new mapping at the same place: zeros.
      expect(await p.munmap(base + ps, ps)).toBe(0);
      const again = await p.mmap({
        addr: base + ps,
        length: ps,
        prot: PROT_READ | PROT_WRITE,
        flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
      });
      expect(again).toBe(base + ps);
      seen.push(await p.read(base + ps, 2));
      // MAP_FIXED over a written page: zeros.
      expect(await p.write(base + 2 * ps, new Uint8Array([0x33]))).toBe(0);
      await p.mmap({
        addr: base + 2 * ps,
        length: ps,
        prot: PROT_READ | PROT_WRITE,
        flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
      });
      seen.push(await p.read(base + 2 * ps, 1));
      // fork: the child keeps what was there; each side then sees only its own stores.
      expect(await p.write(base + 3 * ps, new Uint8Array([0x44]))).toBe(0);
      const child = await p.fork();
      expect(await p.write(base + 3 * ps, new Uint8Array([0x45]))).toBe(0);
      seen.push(await child.read(base + 3 * ps, 1), await p.read(base + 3 * ps, 1));
      // mremap moves the contents (4 pages to 8, onto another mapping, which it replaces).
      const dest = await anon(p, 8, 0x77);
      const moved = await p.mremap(base, 4 * ps, 8 * ps, MREMAP_MAYMOVE | MREMAP_FIXED, dest);
      expect(moved).toBe(dest);
      seen.push(moved !== base, await p.read(moved + 3 * ps, 1), await p.read(moved + 6 * ps, 1));
      // MADV_FREE, then a store: what was stored stays.
      expect(await p.madvise(moved + 3 * ps, ps, MADV_FREE)).toBe(0);
      expect(await p.write(moved + 3 * ps, new Uint8Array([0x55]))).toBe(0);
      seen.push(await p.read(moved + 3 * ps, 1));
      seen.push('clean so far');
      // A kernel that changes a page behind the program's back (a lost store) is caught.
      const pfn = p.mm.pageTable.pfnAt(moved + 3 * ps);
      k.phys.writeBytes(pfn, 0, new Uint8Array([0x66]));
      await p.read(moved + 3 * ps, 1);
    });
    expect(seen).toEqual([
      new Uint8Array([0x11, 0x11]),
      new Uint8Array([0x11, 0x22, 0x23, 0x11]),
      new Uint8Array([0, 0]),
      new Uint8Array([0, 0]),
      new Uint8Array([0]),
      new Uint8Array([0x44]),
      new Uint8Array([0x45]),
      true,
      new Uint8Array([0x45]),
      new Uint8Array([0]),
      new Uint8Array([0x55]),
      'clean so far',
    ]);
    expect(run.violations.map((v) => v.kind)).toEqual(['lost-write']);
    expect(run.violations[0].message).toMatch(
      /CPU \(main\) reads 66 .* but step \d+ \(main, CPU\) wrote 55 there/,
    );
  });
});

describe('lost writes: what a refused call does not change, the checker still knows', () => {
  it('a refused MADV_REMOVE forgets nothing: a kernel scribble afterwards is caught', async () => {
    let ret = 0;
    const run = await inThread(async (k, p) => {
      const base = await anon(p, 1, 0x11);
      new CarelessDevice(k, 'mine', p); // a mirror installs the checker
      expect(await p.write(base, new Uint8Array([0x21]))).toBe(0);
      ret = await p.madvise(base, k.pageSize, MADV_REMOVE);
      k.phys.writeBytes(p.mm.pageTable.pfnAt(base), 0, new Uint8Array([0x66]));
      await p.read(base, 1);
    });
    expect(ret).toBe(-EINVAL);
    expect(run.violations.map((v) => v.kind)).toEqual(['lost-write']);
    expect(run.violations[0].message).toMatch(/CPU \(main\) reads 66 .* wrote 21 there/);
  });
});

describe('lost writes: exploration', () => {
  it('finds a device store through a read-only mapping (mirror.ignoreReadOnly), which coherence cannot see', async () => {
    const s = getScenario('mirror-store-through-read-only');
    const options = { strategy: 'pct', schedules: 300, depth: 3, seed: 1, stopOnFirst: true } as const;
    const r = await explore({ ...options, switches: s.switches }, s.setup);
    const v = r.violations[0];
    expect(v?.kind).toBe('lost-write');
    expect(v.message).toMatch(
      /pfn 0x[0-9a-f]+ was last stored to at step \d+ \(gpu0, gpu0\.vm0\) through app\[1\]/,
    );
    expect(v.signature).toBe(
      'lost-write: CPU read sees a gpu#.vm# store made through another mapping of the page',
    );
    expect(v.diagram).toMatch(new RegExp(`^ *${v.conflictStep} \\*> .*device_store`, 'm'));
    // Without the lost-writes checker no checker objects: only the program's own check does.
    const off = await explore(
      { ...options, switches: { ...s.switches, 'check.lostWrites': false } },
      s.setup,
    );
    expect(off.violations.map((x) => x.kind)).toEqual(['assertion']);
    // The correct device (no planted switch) stays silent after breaking COW on its stores.
    const fixed = getScenario('mirror-cow-store');
    const ok = await explore({ ...options, stopOnFirst: false }, fixed.setup);
    expect(ok.violations).toEqual([]);
    expect(ok.marks['cow break']).toBeGreaterThan(0);
    console.log(`lost-write in mirror-store-through-read-only: found after ${r.schedules} schedule(s)`);
  }, 60_000);

  it("finds the faithful test_hmm driver's write racing its own migration, with coherence and lifetime off", async () => {
    const s = getScenario('dmirror-fault-vs-own-migration');
    const signatures = new Set<string>();
    const schedules: number[] = [];
    let diagram = '';
    for (const seed of [1, 2, 3]) {
      const r = await explore(
        {
          strategy: 'pct',
          schedules: 3000,
          depth: 3,
          seed,
          stopOnFirst: true,
          switches: { 'check.coherence': false, 'check.pageLifetime': false },
        },
        s.setup,
      );
      const v = r.violations[0];
      expect(v?.kind, `seed ${seed}`).toBe('lost-write');
      expect(v.message).toMatch(
        /dmirror0\.fd0 \(dev[AB]\) reads .* but step \d+ \(dev[AB], dmirror0\.fd0\) wrote/,
      );
      expect(v.diagram).toMatch(new RegExp(`^ *${v.step} >>`, 'm'));
      signatures.add(v.signature);
      // The race as drawn at seed 1: the stale store (the conflicting step) and the load.
      if (seed === 1) diagram = `${v.kind}: ${v.message}\n${v.diagram}`;
      schedules.push(r.schedules);
      const again = await replay(v.token, s.setup);
      expect(again.violations[0]?.signature).toBe(v.signature);
      expect(again.violations[0]?.step).toBe(v.step);
    }
    expect(diagram).toMatchInlineSnapshot(`
      "lost-write: lost write at 0x7efffffff000 in app[1]: dmirror0.fd0 (devB) reads 0707070707070707 from pfn 0x1, but step 25 (devA, dmirror0.fd0) wrote 0202020202020202 there, to pfn 0x0; the program discarded nothing there since
             devA                                         | devB
             ---------------------------------------------+---------------------------------------------
         …   (11 earlier steps: set-up, and steps on other objects)
         ·   read_begin dmirror0.fd0 notifier [seq 1]     |
         ·   check_retry dmirror0.fd0 notifier [1 vs 1: … |
        13   mutex_lock dmirror0.fd0.mutex                |
         ·   read_retry dmirror0.fd0 notifier [1 vs 1: o… |
         ·   device_map 0x7efffffff000 [dmirror0.fd0 → p… |
         ·   mutex_unlock dmirror0.fd0.mutex              |
        14   mutex_lock dmirror0.fd0.mutex                |
        15   device_write dmirror0.fd0 0x7efffffff000     |
        19                                                | mn_itree_invalidate dmirror0.fd0 notifier […
        21                                                | clear_pte app[1]@0x7efffffff000
        22                                                | set_pte app[1]@0x7efffffff000
         ·                                                | invalidate_seq [→ 4: window closed]
        24                                                | mutex_lock dmirror0.fd0.mutex
        25                                                | mutex_wait dmirror0.fd0.mutex
        25 *>device_store 0x7efffffff000 [dmirror0.fd0 →… |   <-- conflicting step
         ·   mutex_unlock dmirror0.fd0.mutex              |
        26   exit                                         |
         ·                                                | device_map 0x7efffffff000 [dmirror0.fd0 → p…
         ·                                                | mutex_unlock dmirror0.fd0.mutex
        28                                                | set_pte app[1]@0x7efffffff000
        29 >>                                             | mutex_lock dmirror0.fd0.mutex   <-- lost-write: lost write at 0x7efffffff000 in app[1]: dmirror0.fd0 (devB) reads 0707070707070707 from pfn 0x1, but step 25 (devA, dmirror0.fd0) wrote 0202020202020202 there, to pfn 0x0; the program discarded nothing there since"
    `);
    expect([...signatures]).toEqual(['lost-write: dmirror#.fd# write not seen by dmirror#.fd# read']);
    console.log(
      `lost-write in dmirror-fault-vs-own-migration: schedules to detection ${schedules.join(', ')}`,
    );
  }, 120_000);
});
