/**
 * Built-in scenarios of the ODP driver: an MR mirrored while the CPU unmaps, protects, forks and
 * zaps; each real bug planted behind its switch (found) beside the same program on the upstream
 * fix (silent); and seed 003's livelock under the three retry policies.
 */
import { MADV_DONTNEED, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../mm/constants.js';
import { Kernel } from '../../mm/kernel.js';
import type { SetupFn } from '../../sim/simulation.js';
import { Completion } from '../../sim/sync/completion.js';
import { registerScenario } from '../../scenario/registry.js';
import { livelockScenario } from '../livelock.js';
import { mirrorWorkload } from '../mirror-workload.js';
import type { OdpBugs, OdpDevice } from './device.js';
import type { ImplicitOdpMr } from './implicit.js';
import type { OdpMr } from './mr.js';
import './device.js';

/** Counters a test reads across runs to prove the race windows were reached. */
export interface OdpWindows {
  /** Invalidations that found the MR revoked (private == NULL) and skipped the UMR. */
  revokedSkips: number;
  /** Invalidations that arrived before anything was mapped (npages == 0). */
  emptyInvalidations: number;
  /** Reclaims refused because the slot no longer held the child (the compare-and-exchange). */
  reclaimSkips: number;
}

export function newOdpWindows(): OdpWindows {
  return { revokedSkips: 0, emptyInvalidations: 0, reclaimSkips: 0 };
}

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;

/** An explicit MR over a process's four pages, under the shared mirror workload (mirror-workload.ts). */
export function odpMirrorScenario(bugs: Partial<OdpBugs> = {}): SetupFn {
  return mirrorWorkload('mlx0', async (k, p, addr, length) => {
    const nic = await k.createDevice('odp', { name: 'mlx0', ...bugs });
    return nic.attach(p, { start: addr, length });
  });
}

/**
 * CVE-2025-21732's program: the device has written a page of the MR; one thread deregisters the
 * MR while another zaps the page (an invalidation with something mapped).
 */
export function odpDeregRaceScenario(bugs: Partial<OdpBugs> = {}, windows?: OdpWindows): SetupFn {
  return (sim) => {
    const k = new Kernel(sim, { memoryPages: 128 });
    const p = k.createProcess('app');
    const ps = k.pageSize;
    let a = 0;
    let mr: OdpMr | null = null;
    const ready = new Completion(sim, 'mr ready');
    sim.spawn('app', async () => {
      a = await p.mmap({ length: 2 * ps, prot: RW, flags: ANON });
      await p.write(a, new Uint8Array([1]));
      const nic = (await k.createDevice('odp', { name: 'mlx0', ...bugs })) as OdpDevice;
      mr = (await nic.attach(p, { start: a, length: 2 * ps })) as OdpMr;
      ready.completeAll();
      await mr.detach();
      if (windows) windows.revokedSkips += mr.seen.revokedSkips;
    });
    sim.spawn('cpu1', async () => {
      await ready.wait();
      await p.madvise(a, ps, MADV_DONTNEED);
    });
  };
}

/**
 * The 2019 create race: the MR is registered over resident pages while another thread zaps one of
 * them, so an invalidation may arrive between the notifier insert and the MR's setup.
 */
export function odpInvalidateBeforeMrScenario(bugs: Partial<OdpBugs> = {}, windows?: OdpWindows): SetupFn {
  return (sim) => {
    const k = new Kernel(sim, { memoryPages: 128 });
    const p = k.createProcess('app');
    const ps = k.pageSize;
    let a = 0;
    const mapped = new Completion(sim, 'mapped');
    sim.spawn('app', async () => {
      a = await p.mmap({ length: 2 * ps, prot: RW, flags: ANON });
      await p.write(a, new Uint8Array(2 * ps).fill(3));
      mapped.completeAll();
      const nic = (await k.createDevice('odp', { name: 'mlx0', ...bugs })) as OdpDevice;
      const mr = (await nic.attach(p, { start: a, length: 2 * ps })) as OdpMr;
      await mr.detach();
      if (windows) windows.emptyInvalidations += mr.seen.emptyInvalidations;
    });
    sim.spawn('cpu1', async () => {
      await mapped.wait();
      await p.madvise(a, ps, MADV_DONTNEED);
    });
  };
}

/**
 * Implicit ODP child reclaim racing a parent fault that holds a child reference: the child is
 * emptied (reclaim queued), repopulated by the fault, and emptied again; then the parent is
 * deregistered. Upstream refuses the second reclaim (the slot no longer holds the child) and drops
 * the parent reference it took.
 */
export function odpImplicitReclaimScenario(bugs: Partial<OdpBugs> = {}, windows?: OdpWindows): SetupFn {
  return (sim) => {
    const k = new Kernel(sim, { memoryPages: 128 });
    const p = k.createProcess('app');
    const ps = k.pageSize;
    let a = 0;
    let imr: ImplicitOdpMr | null = null;
    const ready = new Completion(sim, 'child ready');
    const faulted = new Completion(sim, 'second fault done');
    sim.spawn('app', async () => {
      a = await p.mmap({ length: 2 * ps, prot: RW, flags: ANON });
      await p.write(a, new Uint8Array(2 * ps).fill(9));
      const nic = (await k.createDevice('odp', {
        name: 'mlx0',
        implicitChildBytes: 1 << 21,
        ...bugs,
      })) as OdpDevice;
      imr = (await nic.attach(p, { implicit: true })) as ImplicitOdpMr;
      sim.check((await imr.pagefaultImplicitMr(a, ps)) === 1, 'first fault mapped nothing');
      ready.completeAll();
      await faulted.wait();
      await p.madvise(a + ps, ps, MADV_DONTNEED);
      await imr.detach();
      if (windows) windows.reclaimSkips += imr.seen.reclaimSkips;
    });
    sim.spawn('cpu1', async () => {
      await ready.wait();
      await p.madvise(a, ps, MADV_DONTNEED);
    });
    sim.spawn('mlx0', async () => {
      await ready.wait();
      await imr!.pagefaultImplicitMr(a + ps, ps);
      faulted.completeAll();
    });
  };
}

const pct = { strategy: 'pct' as const, schedules: 300, depth: 3 };

let registered = false;

/** Adds this driver's built-in scenarios to the registry (once; src/scenario/builtin calls it). */
export function registerOdpScenarios(): void {
  if (registered) return;
  registered = true;
  registerScenario({
    name: 'odp-mirror',
    summary: 'an ODP MR mirrored through DONTNEED, mprotect, fork and munmap',
    description:
      'The device writes and reads an explicit ODP memory region while the CPU zaps, write-protects,\n' +
      'forks and unmaps parts of it; device and CPU each see what the other wrote, and no MTT entry\n' +
      'outlives its CPU mapping.',
    expect: 'clean',
    setup: odpMirrorScenario(),
    defaults: pct,
  });

  registerScenario({
    name: 'odp-skip-dma-unmap',
    summary: 'planted: the invalidation zaps the MTT but leaves the pages DMA-mapped',
    description:
      'The device can no longer translate (its MTT is empty), but the DMA list still names pages the\n' +
      'CPU unmaps and frees: the page-lifetime check of the DMA list reports the first one freed.',
    expect: 'violation',
    setup: odpMirrorScenario({ skipDmaUnmap: true }),
    defaults: pct,
  });

  registerScenario({
    name: 'odp-dereg-race',
    summary: 'CVE-2025-21732: dereg revokes the key while an invalidation posts a UMR on it',
    description:
      'Deregistration revokes the key without the umem mutex and leaves odp->private set: a concurrent\n' +
      'invalidation zaps through the revoked key and the UMR QP goes to error (fixed in 2025).',
    expect: 'violation',
    setup: odpDeregRaceScenario({ deregRevokeRace: true }),
    defaults: pct,
  });

  registerScenario({
    name: 'odp-dereg-fixed',
    summary: 'the same program on the 2025 fix: revoke under the umem mutex, private = NULL',
    description: 'The invalidation finds the MR revoked and skips the UMR.',
    expect: 'clean',
    setup: odpDeregRaceScenario(),
    defaults: pct,
  });

  registerScenario({
    name: 'odp-invalidate-before-mr',
    summary: '2019: an invalidation arrives between the notifier insert and the MR setup',
    description:
      'The interval notifier is live from ib_umem_odp_get; the 2019 callback dereferenced the MR\n' +
      'before it existed. The fix skips an umem with nothing mapped (npages == 0).',
    expect: 'violation',
    setup: odpInvalidateBeforeMrScenario({ invalidateBeforeMr: true }),
    defaults: pct,
  });

  registerScenario({
    name: 'odp-invalidate-before-mr-fixed',
    summary: 'the same registration race on the fix (npages == 0: nothing to do)',
    description: 'The early invalidation finds nothing mapped and returns.',
    expect: 'clean',
    setup: odpInvalidateBeforeMrScenario(),
    defaults: pct,
  });

  registerScenario({
    name: 'odp-implicit-double-reclaim',
    summary: 'CVE-2025-21714: an empty implicit child reclaimed twice (destroy work queued twice)',
    description:
      'A fault holding a child reference repopulates it after the first reclaim; the second\n' +
      'invalidation reclaims it again and the second destroy work runs on a freed child.',
    expect: 'violation',
    setup: odpImplicitReclaimScenario({ implicitDoubleReclaim: true }),
    defaults: pct,
  });

  registerScenario({
    name: 'odp-implicit-parent-hang',
    summary: '2025: the CVE-2025-21714 fix leaked a parent reference; parent dereg waits forever',
    description:
      'The compare-and-exchange refuses the second reclaim but keeps the parent reference it took, so\n' +
      "the parent's deregistration never sees its usecount reach zero.",
    expect: 'violation',
    setup: odpImplicitReclaimScenario({ implicitParentHang: true }),
    defaults: pct,
  });

  registerScenario({
    name: 'odp-implicit-reclaim',
    summary: 'implicit child reclaim racing a fault and parent dereg, on the 2025 fixes',
    description: 'The second reclaim is refused and its parent reference dropped; dereg completes.',
    expect: 'clean',
    setup: odpImplicitReclaimScenario(),
    defaults: pct,
  });

  for (const policy of ['none', 'timeout', 'mmap-write-fallback'] as const) {
    registerScenario({
      name: `odp-livelock-${policy}`,
      summary: `seed 003: a CPU keeps invalidating the faulted page; retry policy '${policy}'`,
      description:
        policy === 'none'
          ? 'Retrying forever: the device fault neither finishes nor fails (livelock).'
          : policy === 'timeout'
            ? 'HMM_RANGE_DEFAULT_TIMEOUT then -EBUSY: the access fails, the system goes on.'
            : 'After a few collisions the fault takes the mmap lock for write; CPU and device take turns.\n' +
              'The fallback bounds the fault, not the access: the mapping it installs can still be zapped\n' +
              'before the hardware replays the access. Under pct, whose fixed priorities let the CPU win\n' +
              'the released mmap lock every time, about 40% of schedules livelock the access that way\n' +
              '(test/drivers/odp-cleanbugs.test.ts); fair (random) schedules make progress.',
      expect: policy === 'none' ? 'violation' : 'clean',
      setup: livelockScenario({ driver: 'odp', policy }),
      defaults: { strategy: 'random', schedules: 20 },
    });
  }
}
