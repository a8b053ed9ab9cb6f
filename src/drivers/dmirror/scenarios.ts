/**
 * Exploration scenarios for the HMM test device: dmirror's device reads, writes and migrations
 * against CPU threads that munmap, mprotect, fork, MADV_DONTNEED, reclaim, NUMA-migrate and exit,
 * with the coherence and page-lifetime checkers on. The correct driver must stay silent; each of the
 * three planted mistakes (device options, off by default) must be found.
 *
 * Every factory takes an optional `observe` callback that receives the driver's race counters at
 * the end of each run, so tests can prove the race windows were reached.
 */
import { registerScenario } from '../../scenario/registry.js';
import type { SetupFn, Simulation } from '../../sim/simulation.js';
import { Completion } from '../../sim/sync/completion.js';
import { Kernel } from '../../mm/kernel.js';
import type { Process } from '../../mm/process.js';
import { MADV_DONTNEED, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../mm/constants.js';
import { migrateRange } from '../../mm/migrate.js';
import { DmirrorDevice, type DmirrorMistakes } from './device.js';
import type { Dmirror } from './file.js';

/** The driver's race counters of one run (see Dmirror.stats), summed over its open files. */
export interface DmirrorRunStats {
  busyRetries: number;
  readRetries: number;
  notMigrated: number;
  skippedOwnMigrate: number;
  zappedDevicePrivate: number;
}

export interface DmirrorScenarioOptions {
  mistakes?: DmirrorMistakes;
  memory?: 'private' | 'coherent';
  /** Receives the counters when each run ends. */
  observe?: (stats: DmirrorRunStats) => void;
}

interface World {
  k: Kernel;
  p: Process;
  dev: DmirrorDevice;
  base: number;
  fd: Dmirror | null;
  ready: Completion;
}

/** A kernel, one process with `npages` anonymous RW pages filled with 7, a device and its fd. */
function world(sim: Simulation, npages: number, o: DmirrorScenarioOptions, nodes = 1): World {
  const k = new Kernel(sim, { memoryPages: 256, swapPages: 64, nodes });
  const p = k.createProcess('app');
  const dev = new DmirrorDevice(k, { memory: o.memory ?? 'private', chunkPages: 32, mistakes: o.mistakes });
  const w: World = { k, p, dev, base: 0, fd: null, ready: new Completion(sim, 'mapped') };
  sim.hooks.onEnd.push(() => {
    if (o.observe === undefined || w.fd === null) return;
    o.observe({ ...w.fd.stats });
  });
  return w;
}

async function mapAndOpen(w: World, npages: number, fill: boolean): Promise<void> {
  const ps = w.k.pageSize;
  const addr = await w.p.mmap({
    length: npages * ps,
    prot: PROT_READ | PROT_WRITE,
    flags: MAP_PRIVATE | MAP_ANONYMOUS,
  });
  w.k.sim.check(addr > 0, `mmap failed: ${addr}`);
  w.base = addr;
  if (fill) await w.p.write(addr, new Uint8Array(npages * ps).fill(7));
  w.fd = await w.dev.open(w.p);
  w.ready.completeAll();
}

/**
 * The small case (for dfs): one page read by the device while the CPU zaps it with MADV_DONTNEED and
 * writes it again.
 */
export function dmirrorReadVsDontneed(o: DmirrorScenarioOptions = {}): SetupFn {
  return (sim) => {
    const w = world(sim, 1, o);
    sim.spawn('dev', async () => {
      await mapAndOpen(w, 1, true);
      const mirror = new Uint8Array(w.k.pageSize);
      await w.fd!.command('read', { addr: w.base, npages: 1, mirror });
    });
    sim.spawn('cpu', async () => {
      await w.ready.wait();
      await w.p.madvise(w.base, w.k.pageSize, MADV_DONTNEED);
      await w.p.write(w.base, new Uint8Array([1]));
    });
  };
}

/**
 * The larger case: four pages; the device writes, migrates two pages to its memory, reads everything
 * and migrates back, while one CPU thread forks (the child exits), write-protects and re-enables a
 * page, and zaps one with MADV_DONTNEED, and another reclaims, NUMA-migrates the range to node 1,
 * unmaps the last page and finally exits the process.
 */
export function dmirrorCpuStorm(o: DmirrorScenarioOptions = {}): SetupFn {
  return (sim) => {
    const w = world(sim, 4, o, 2);
    const ps = w.k.pageSize;
    sim.spawn('dev', async () => {
      await mapAndOpen(w, 4, true);
      const fd = w.fd!;
      const buf = (n: number): Uint8Array => new Uint8Array(n * ps).fill(9);
      await fd.command('write', { addr: w.base, npages: 2, mirror: buf(2) });
      await fd.command('migrate-to-dev', { addr: w.base + 2 * ps, npages: 2, mirror: buf(2) });
      await fd.command('read', { addr: w.base, npages: 4, mirror: buf(4) });
      await fd.command('migrate-to-sys', { addr: w.base, npages: 4 });
      await fd.close();
    });
    sim.spawn('cpu0', async () => {
      await w.ready.wait();
      const child = await w.p.forkOrErrno();
      if (typeof child !== 'number') {
        await child.exit(0);
        await child.wait();
      }
      await w.p.mprotect(w.base, ps, PROT_READ);
      await w.p.mprotect(w.base, ps, PROT_READ | PROT_WRITE);
      await w.p.madvise(w.base + ps, ps, MADV_DONTNEED);
    });
    sim.spawn('cpu1', async () => {
      await w.ready.wait();
      await w.k.reclaim(2);
      await migrateRange(w.p, w.base, w.base + 4 * ps, 1);
      await w.p.munmap(w.base + 3 * ps, ps);
      await w.p.exit(0);
    });
  };
}

/**
 * Pages migrated to the device, then write-protected and unmapped by the CPU: with the
 * skipDevicePrivateZap mistake the device keeps its writable entry for a device-private page.
 */
export function dmirrorMigrateVsMprotect(o: DmirrorScenarioOptions = {}): SetupFn {
  return (sim) => {
    const w = world(sim, 2, o);
    const ps = w.k.pageSize;
    sim.spawn('dev', async () => {
      await mapAndOpen(w, 2, true);
      await w.fd!.command('migrate-to-dev', { addr: w.base, npages: 2, mirror: new Uint8Array(2 * ps) });
    });
    sim.spawn('cpu', async () => {
      await w.ready.wait();
      await w.p.mprotect(w.base, 2 * ps, PROT_READ);
      await w.p.munmap(w.base, ps);
    });
  };
}

/**
 * Two untouched pages migrated to the device (holes: nothing locks them) while the CPU writes them:
 * a CPU fault between migrate_vma_setup and migrate_vma_pages makes the hole's migration fail. With
 * the mapBeforePages mistake the device has already mapped the device page the CPU never got.
 */
export function dmirrorMigrateHolesVsWrite(o: DmirrorScenarioOptions = {}): SetupFn {
  return (sim) => {
    const w = world(sim, 2, o);
    const ps = w.k.pageSize;
    sim.spawn('dev', async () => {
      await mapAndOpen(w, 2, false);
      await w.fd!.command('migrate-to-dev', { addr: w.base, npages: 2, mirror: new Uint8Array(2 * ps) });
    });
    sim.spawn('cpu', async () => {
      await w.ready.wait();
      await w.p.write(w.base, new Uint8Array([1]));
      await w.p.write(w.base + ps, new Uint8Array([2]));
    });
  };
}

/**
 * A device read of two pages while the CPU zaps and rewrites them: an invalidation during the walk
 * makes hmm_range_fault return -EBUSY. With the ignoreEbusy mistake the driver programs that walk.
 */
export function dmirrorReadVsZap(o: DmirrorScenarioOptions = {}): SetupFn {
  return (sim) => {
    const w = world(sim, 2, o);
    const ps = w.k.pageSize;
    sim.spawn('dev', async () => {
      await mapAndOpen(w, 2, false);
      await w.fd!.command('read', { addr: w.base, npages: 2, mirror: new Uint8Array(2 * ps) });
    });
    sim.spawn('cpu', async () => {
      await w.ready.wait();
      await w.p.write(w.base, new Uint8Array(2 * ps).fill(3));
      await w.p.madvise(w.base, 2 * ps, MADV_DONTNEED);
      await w.p.write(w.base, new Uint8Array(2 * ps).fill(4));
    });
  };
}

/**
 * Not a planted mistake: the faithful driver. One open file writes a page through the device (a fault,
 * then the copy) while the same file migrates that page to device memory. test_hmm's invalidate
 * callback skips MIGRATE events carrying its own device as owner, without set_seq, so the fault
 * path's read_retry cannot see its own migration: the device keeps (or installs) a writable mapping
 * of the source page while it is copied and freed. A lost write, or a mapping of a freed page.
 */
export function dmirrorFaultVsOwnMigration(o: DmirrorScenarioOptions = {}): SetupFn {
  return (sim) => {
    const w = world(sim, 1, o);
    const ps = w.k.pageSize;
    sim.spawn('devA', async () => {
      await mapAndOpen(w, 1, true);
      await w.fd!.command('write', { addr: w.base, npages: 1, mirror: new Uint8Array(ps).fill(2) });
    });
    sim.spawn('devB', async () => {
      await w.ready.wait();
      await w.fd!.command('migrate-to-dev', { addr: w.base, npages: 1, mirror: new Uint8Array(ps) });
    });
  };
}

let registered = false;

/** Registers the dmirror scenarios as built-in scenarios (idempotent). */
export function registerDmirrorScenarios(): void {
  if (registered) return;
  registered = true;
  registerScenario({
    name: 'dmirror-read-vs-dontneed',
    summary: 'the HMM test device reads a page while the CPU zaps and rewrites it',
    description:
      "The kernel's test driver faults one page through hmm_range_fault and its collision-retry loop\n" +
      'while the CPU zaps it (MADV_DONTNEED: CLEAR) and writes it again. Small enough for dfs.',
    expect: 'clean',
    setup: dmirrorReadVsDontneed(),
    defaults: { strategy: 'dfs', schedules: 200_000, preemptionBound: 2 },
  });
  registerScenario({
    name: 'dmirror-cpu-storm',
    summary:
      'the HMM test device writes, migrates and reads while the CPU forks, protects, zaps, reclaims, migrates and exits',
    description:
      'Device writes, migration to device memory and back, and reads, against fork, mprotect,\n' +
      'MADV_DONTNEED, reclaim, NUMA migration, munmap and exit. No device mapping may outlive the\n' +
      'CPU translation it mirrors.',
    expect: 'clean',
    setup: dmirrorCpuStorm(),
    defaults: { strategy: 'pct', schedules: 2000, depth: 3 },
  });
  registerScenario({
    name: 'dmirror-skip-private-zap',
    summary: 'the test device, its invalidate callback skipping the zap of device-private pages',
    description:
      'Pages migrated to device-private memory stay mapped in the device after the CPU write-protects\n' +
      'or unmaps them.',
    expect: 'violation',
    setup: dmirrorMigrateVsMprotect({ mistakes: { skipDevicePrivateZap: true } }),
    defaults: { strategy: 'pct', schedules: 500, depth: 2 },
  });
  registerScenario({
    name: 'dmirror-map-before-pages',
    summary: 'the test device programming migrated pages before migrate_vma_pages decided',
    description:
      'A CPU fault fills a hole between migrate_vma_setup and migrate_vma_pages; the device already\n' +
      'mapped the device page the hole was meant to get.',
    expect: 'violation',
    setup: dmirrorMigrateHolesVsWrite({ mistakes: { mapBeforePages: true } }),
    defaults: { strategy: 'pct', schedules: 2000, depth: 3 },
  });
  registerScenario({
    name: 'dmirror-ignore-ebusy',
    summary: "the test device treating hmm_range_fault's -EBUSY as success",
    description:
      'An invalidation during the walk makes hmm_range_fault return -EBUSY; the driver programs the\n' +
      'collided walk anyway.',
    expect: 'violation',
    setup: dmirrorReadVsZap({ mistakes: { ignoreEbusy: true } }),
    defaults: { strategy: 'pct', schedules: 2000, depth: 3 },
  });
  registerScenario({
    name: 'dmirror-fault-vs-own-migration',
    summary: "the faithful test device: a device write racing the same file's migration of the page",
    description:
      'test_hmm skips invalidations of its own migrations (MIGRATE with its device as owner) without\n' +
      'set_seq, so a concurrent device fault on the same file cannot see them: the device writes the\n' +
      'source page while it is copied, or maps it after it was freed. A race in the driver as written.',
    expect: 'violation',
    setup: dmirrorFaultVsOwnMigration(),
    defaults: { strategy: 'pct', schedules: 3000, depth: 3 },
  });
}

registerDmirrorScenarios();
