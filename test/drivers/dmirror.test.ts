/**
 * The DeviceMirror base and its checkers as a user's own driver sees them (package root and subpaths), the
 * HMM test device's command interface against bad input, its close/eviction, and the checker switches.
 */
import { describe, expect, it } from 'vitest';
import {
  DeviceMirror,
  EFAULT,
  EINVAL,
  Kernel,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
  type Process,
  type RunResult,
} from '../../src/index.js';
// Extension points a driver author may also use: the subpaths mirrorlab/sim and mirrorlab/mm.
import { Simulation } from '../../src/sim/index.js';
import { expectReachedAndClean, exploreTeardownRace } from './teardown-race.js';
import { PTE_KIND_DEVICE_PRIVATE, PTE_KIND_PRESENT } from '../../src/mm/index.js';

async function inThread(
  body: (k: Kernel, p: Process) => Promise<void>,
  kernel: Partial<ConstructorParameters<typeof Kernel>[1]> = {},
): Promise<RunResult> {
  const sim = new Simulation({ seed: 1 });
  return sim.run((s) => {
    const k = new Kernel(s, { memoryPages: 512, ...kernel });
    const p = k.createProcess('app');
    s.spawn('main', () => body(k, p));
  });
}

async function anon(p: Process, pages: number, fill = 5): Promise<number> {
  const ps = p.kernel.pageSize;
  const addr = await p.mmap({
    length: pages * ps,
    prot: PROT_READ | PROT_WRITE,
    flags: MAP_PRIVATE | MAP_ANONYMOUS,
  });
  await p.write(addr, new Uint8Array(pages * ps).fill(fill));
  return addr;
}

/** A user's driver that maps whatever the CPU maps now and never listens to invalidations. */
class CarelessDevice extends DeviceMirror {
  protected async fault(va: number, write: boolean): Promise<number> {
    await this.sim.yield();
    const pt = this.mm.pageTable;
    if (pt.kindAt(va) !== PTE_KIND_PRESENT) return -EFAULT;
    this.mapPage(va, pt.pfnAt(va), { write });
    return 0;
  }
}

/** CarelessDevice that can be torn down (retire) while a fault of another thread is in flight. */
class TornDownDevice extends CarelessDevice {
  teardown(): void {
    this.retire();
  }
}

describe('DeviceMirror: a user-written driver is checked without registering anything', () => {
  it('a fault that maps after the teardown is a use-after-free of the device page table', async () => {
    let at = 0;
    const run = await inThread(async (k, p) => {
      at = await anon(p, 1);
      const d = new TornDownDevice(k, 'mine', p);
      const t = k.sim.spawn('dev', async () => {
        await d.access(at, 'read', 1); // faults, yields, then maps
      });
      await k.sim.yield(); // the fault has begun
      d.teardown();
      await k.sim.join(t);
      expect(d.entries.size).toBe(0);
    });
    expect(run.violations.map((v) => [v.kind, v.message])).toEqual([
      [
        'use-after-free',
        `mine maps 0x${at.toString(16)} after its teardown: a device fault raced the detach`,
      ],
    ]);
  });

  it('reads, writes and atomics go through the device page table and fault as needed', async () => {
    let got: unknown[] = [];
    const run = await inThread(async (k, p) => {
      const addr = await anon(p, 2);
      const d = new CarelessDevice(k, 'mine', p);
      expect(d.lookup(addr)).toBeUndefined();
      got.push(await d.access(addr + 10, 'read', 4));
      got.push(await d.access(addr, 'write', new Uint8Array([1, 2])));
      got.push(await d.access(addr + 8, 'atomic', { add: 3 }));
      got.push(await d.access(addr + 8, 'atomic', { add: 1 }));
      got.push(d.lookup(addr + 100));
      got.push(await p.read(addr, 2));
      got.push(await d.access(addr, 'read', -1));
      got.push(await d.access(addr + 1, 'atomic', { add: 1 }));
    });
    expect(run.status).toBe('ok');
    const fives = 0x0505050505050505n;
    expect(got[0]).toEqual(new Uint8Array([5, 5, 5, 5]));
    expect(got[1]).toBe(0);
    expect(got[2]).toBe(fives);
    expect(got[3]).toBe(fives + 3n);
    expect(got[4]).toMatchObject({ write: true, atomic: false });
    expect(got[5]).toEqual(new Uint8Array([1, 2]));
    expect(got[6]).toBe(-EINVAL);
    expect(got[7]).toBe(-EINVAL);
    got = [];
  });

  it('a mapping kept across munmap is a stale-mapping naming the VA, the pfn, the device and both steps', async () => {
    const run = await inThread(async (k, p) => {
      const addr = await anon(p, 1);
      const d = new CarelessDevice(k, 'mine', p);
      await d.access(addr, 'read', 1);
      await p.munmap(addr, k.pageSize);
    });
    expect(run.status).toBe('violation');
    const v = run.violations[0];
    expect(v.kind).toBe('stale-mapping');
    expect(v.message).toMatch(
      /^mine maps 0x[0-9a-f]+ → pfn 0x[0-9a-f]+ \(read\), installed at step \d+ \(main\); step \d+ \(main\) changed the CPU translation: .*pte none: the CPU has no entry/,
    );
    expect(v.details).toMatchObject({ device: 'mine', permission: 'read', mappedBy: 'main' });
  });

  it('a write mapping of a page the CPU maps read-only is reported when it is mapped', async () => {
    const run = await inThread(async (k, p) => {
      const addr = await anon(p, 1);
      await p.mprotect(addr, k.pageSize, PROT_READ);
      const d = new CarelessDevice(k, 'mine', p);
      d.mapPage(addr, p.mm.pageTable.pfnAt(addr), { write: true });
    });
    expect(run.violations[0]?.message).toMatch(/the CPU entry is read-only \(when it was mapped\)/);
  });

  it('the checkers are switched off per run with the Kernel option checks', async () => {
    const run = await inThread(
      async (k, p) => {
        const addr = await anon(p, 1);
        const d = new CarelessDevice(k, 'mine', p);
        await d.access(addr, 'read', 1);
        await p.munmap(addr, k.pageSize);
      },
      { checks: { coherence: false, pageLifetime: false } },
    );
    expect(run.status).toBe('ok');
    const bad = await inThread(
      async (k, p) => {
        new CarelessDevice(k, 'mine', p);
      },
      { checks: { coherense: true } as never },
    );
    expect(bad.status).toBe('error');
    expect(JSON.stringify(bad.violations)).toMatch(/unknown checker 'coherense'/);
  });
});

describe('dmirror: commands, bad input and close', () => {
  it('k.createDmirror makes distinct devices with their own pagemap owner; bad options throw', async () => {
    await inThread(async (k) => {
      const a = k.createDmirror({ memory: 'private' });
      const b = k.createDmirror({ memory: 'coherent' });
      expect(a).not.toBe(b);
      expect(a.chunks[0].owner).toBe(a);
      expect(b.chunks[0].owner).toBe(b);
      expect(b.chunks[0].kind).toBe('coherent');
      expect(b.chunks[0].npages * k.pageSize).toBeGreaterThanOrEqual(256 << 20);
      expect(() => k.createDmirror({ memory: 'shared' as never })).toThrow(
        /memory must be 'private' or 'coherent'/,
      );
      expect(() => k.createDmirror({ colour: 1 } as never)).toThrow(/unknown option 'colour'/);
      expect(() => k.createDmirror({ mistakes: { nope: true } as never })).toThrow(/unknown mistake 'nope'/);
    });
  });

  it('bad commands give -EINVAL, leave the mirror untouched and change nothing', async () => {
    const seen: Record<string, number> = {};
    let state: unknown[] = [];
    const run = await inThread(async (k, p) => {
      const ps = k.pageSize;
      const addr = await anon(p, 2);
      const fd = await k.createDmirror({ chunkPages: 64 }).open(p);
      const mirror = new Uint8Array(2 * ps).fill(0xee);
      seen.unknown = (await fd.command('frobnicate' as never, { addr, npages: 1, mirror })).ret;
      seen.misaligned = (await fd.command('read', { addr: addr + 1, npages: 1, mirror })).ret;
      seen.zeroPages = (await fd.command('read', { addr, npages: 0, mirror })).ret;
      seen.wraps = (await fd.command('read', { addr, npages: 2 ** 52, mirror })).ret;
      seen.fractional = (await fd.command('read', { addr, npages: 1.5, mirror })).ret;
      seen.noMirror = (await fd.command('read', { addr, npages: 1 })).ret;
      const short = new Uint8Array(ps).fill(0xee);
      seen.shortMigrate = (await fd.command('migrate-to-dev', { addr, npages: 2, mirror: short })).ret;
      seen.shortSnapshot = (await fd.command('snapshot', { addr, npages: 2, mirror: new Uint8Array(1) })).ret;
      seen.unknownFlag = (await fd.command('flags', { addr, npages: 2 })).ret;
      seen.flagOk = (await fd.command('flags', { addr, npages: 1 })).ret;
      state = [
        mirror.every((b) => b === 0xee),
        short.every((b) => b === 0xee),
        fd.entries.size,
        p.mm.pageTable.kindAt(addr),
        p.mm.pageTable.kindAt(addr + ps),
      ];
      expect(await fd.close()).toBe(0);
      seen.afterClose = (await fd.command('read', { addr, npages: 1, mirror })).ret;
      seen.closeTwice = await fd.close();
    });
    expect(run.status).toBe('ok');
    expect(seen).toEqual({
      unknown: -EINVAL,
      misaligned: -EINVAL,
      zeroPages: -EINVAL,
      wraps: -EINVAL,
      fractional: -EINVAL,
      noMirror: -EINVAL,
      shortMigrate: -EINVAL,
      shortSnapshot: -EINVAL,
      unknownFlag: -EINVAL,
      flagOk: 0,
      afterClose: -EINVAL,
      closeTwice: -EINVAL,
    });
    expect(state).toEqual([true, true, 0, PTE_KIND_PRESENT, PTE_KIND_PRESENT]);
  });

  it('close removes the subscription and brings device memory back with its data', async () => {
    const out: unknown[] = [];
    const run = await inThread(async (k, p) => {
      const ps = k.pageSize;
      const addr = await anon(p, 2, 9);
      const dev = k.createDmirror({ chunkPages: 64 });
      const fd = await dev.open(p);
      const r = await fd.command('migrate-to-dev', { addr, npages: 2, mirror: new Uint8Array(2 * ps) });
      out.push(r, p.mm.pageTable.kindAt(addr), dev.inUse.size);
      expect(await fd.close()).toBe(0);
      out.push(p.mm.pageTable.kindAt(addr), dev.inUse.size, fd.entries.size, fd.notifier);
      out.push(await p.read(addr + ps - 1, 2));
    });
    expect(run.status).toBe('ok');
    expect(out).toEqual([
      { ret: 0, cpages: 2, faults: 0 },
      PTE_KIND_DEVICE_PRIVATE,
      2,
      PTE_KIND_PRESENT,
      0,
      0,
      null,
      new Uint8Array([9, 9]),
    ]);
  });

  it("is in the driver registry: createDevice('dmirror') attaches an open file", async () => {
    const out: unknown[] = [];
    const run = await inThread(async (k, p) => {
      const addr = await anon(p, 1, 4);
      const dev = await k.createDevice('dmirror', { memory: 'coherent', chunkPages: 16 });
      const m = await dev.attach(p);
      out.push(dev.driver, await m.access(addr, 'read', 2));
      await m.detach();
    });
    expect(run.status).toBe('ok');
    expect(out).toEqual(['dmirror', new Uint8Array([4, 4])]);
  });
});

describe('dmirror: close against a command in flight', () => {
  // An ioctl holds a reference on its file, so the release runs only after it: a command that
  // started before the close finishes, and the release then cleans up what it did. Without the
  // reference a read left device entries in the closed file, and a migration left the pages in
  // the device's memory after the release had evicted it.
  for (const cmd of ['read', 'write', 'migrate-to-dev'] as const) {
    it(`${cmd}: the release waits for it and leaves nothing behind`, async () => {
      const r = await exploreTeardownRace(async (k, p) => {
        const ps = k.pageSize;
        const a = await anon(p, 2, 3);
        const dev = k.createDmirror({ chunkPages: 64 });
        const fd = await dev.open(p);
        return {
          access: async () =>
            (await fd.command(cmd, { addr: a, npages: 1, mirror: new Uint8Array(ps).fill(3) })).ret,
          teardown: async () => {
            await fd.close();
          },
          // Entries or files left, the page not back in system memory, or its byte changed.
          leftover: async () =>
            fd.entries.size +
            dev.files.size +
            (p.mm.pageTable.kindAt(a) !== PTE_KIND_PRESENT ? 1 : 0) +
            (((await p.read(a, 1)) as Uint8Array)[0] !== 3 ? 1 : 0),
        };
      });
      expectReachedAndClean(r, 150);
      // A command either ran whole or was refused as on a closed fd.
      for (const o of r.outcomes) expect([0, -EINVAL]).toContain(o.access);
    });
  }
});
