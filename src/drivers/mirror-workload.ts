/**
 * The workload every modern driver's mirror scenario runs (`odp-mirror`, `gpusvm-mirror`,
 * `gpusvm-vram`, `nouveau2019-mirror`): a process's four pages mirrored by one device, on a
 * two-node machine with swap. The device writes page 2 and reads page 1 after the CPU wrote it;
 * the CPU reads page 2 after the device wrote it. Meanwhile:
 * - `cpu1` zaps page 0 (MADV_DONTNEED), write-protects page 3 (mprotect), forks (copy-on-write;
 *   the child exits) and unmaps page 3;
 * - `kswapd` reclaims (swapping the pages out: each one's CLEAR invalidation through the rmap,
 *   without the mmap lock) and then NUMA-migrates pages 0-2 to node 1 (move_pages: migration
 *   entries, a copy, the mappings restored onto it);
 * - with `exit`, once both sides have checked what the other wrote, the process exits while the
 *   device makes one more access (exit_mmap's release and teardown under a device fault).
 * Each side must read what the other wrote, through swap-out and swap-in and through migration;
 * the device's access racing the exit must give the right bytes or fail with -errno, never
 * other bytes; detach after the exit must be clean. The checkers (coherence, page lifetime,
 * liveness) watch every device mapping on top.
 *
 * Coverage marks (sim.mark) name the windows these additions exist for: a reclaim or a NUMA
 * migration that moved pages while a device access was in flight, an exit overlapping a device
 * access, a device access failing because the address space was gone.
 */
import { MADV_DONTNEED, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../mm/constants.js';
import { Kernel } from '../mm/kernel.js';
import { migrateRange } from '../mm/migrate.js';
import type { Process } from '../mm/process.js';
import type { SetupFn, Simulation } from '../sim/simulation.js';
import { Completion } from '../sim/sync/completion.js';
import { DeviceMirror } from './mirror/device-mirror.js';
import type { AttachedMirror, DeviceAccessKind, DeviceAtomicOp } from './registry.js';

/** How the workload attaches its device: a mirror of `length` bytes at `addr` of `p`. */
export type AttachDevice = (k: Kernel, p: Process, addr: number, length: number) => Promise<AttachedMirror>;

/**
 * Which device accesses are in flight, so that a CPU operation can tell whether it overlapped
 * one (the window it is there to reach). Its counters are shared by the device and CPU threads
 * without a lock: each use touches them (dpor's object 'access-window'), since the coverage
 * marks they decide are part of what a schedule does.
 */
const WINDOW = 'access-window';

class AccessWindow {
  /** Device accesses in flight. */
  private inFlight = 0;
  /** Device accesses started so far. */
  private started = 0;

  constructor(
    private readonly sim: Simulation,
    private readonly m: () => AttachedMirror,
  ) {}

  /** A device access, counted while in flight. May sleep. */
  async access(
    va: number,
    kind: DeviceAccessKind,
    arg?: number | Uint8Array | DeviceAtomicOp,
  ): Promise<unknown> {
    this.sim.touch(WINDOW);
    this.started++;
    this.inFlight++;
    try {
      return await this.m().access(va, kind, arg);
    } finally {
      this.sim.touch(WINDOW);
      this.inFlight--;
    }
  }

  /**
   * Runs the CPU operation `op`; `overlapped` tells whether a device access was in flight when it
   * started or ended, or started while it ran. May sleep.
   */
  async around(op: () => Promise<number>): Promise<{ ret: number; overlapped: boolean }> {
    this.sim.touch(WINDOW, true);
    const started = this.started;
    const busy = this.inFlight > 0;
    const ret = await op();
    this.sim.touch(WINDOW, true);
    return { ret, overlapped: busy || this.inFlight > 0 || this.started !== started };
  }
}

/** Whether `got` is one byte equal to `want`. */
function isByte(got: unknown, want: number): boolean {
  return got instanceof Uint8Array && got.length === 1 && got[0] === want;
}

/** Which of the workload's CPU operations run (all by default). */
export interface MirrorWorkloadOptions {
  /** `kswapd` reclaims the pages (swap-out through the rmap) while the device accesses them. */
  reclaim?: boolean;
  /** `kswapd` NUMA-migrates pages 0-2 to node 1 while the device accesses them. */
  numa?: boolean;
  /**
   * The process exits while the device makes its last access (default on). Turning it on found
   * two gpusvm bugs, since fixed: drm_gpusvm held no mm_count reference (mmgrab), and nouveau's
   * whole-mm notifier had no release callback.
   */
  exit?: boolean;
}

/**
 * The mirror workload (see the module comment) with the device thread named `device` and the
 * device attached by `attach`.
 */
export function mirrorWorkload(
  device: string,
  attach: AttachDevice,
  options: MirrorWorkloadOptions = {},
): SetupFn {
  const { reclaim = true, numa = true, exit = true } = options;
  return (sim: Simulation) => {
    const k = new Kernel(sim, { memoryPages: 256, swapPages: 16, nodes: 2 });
    const p = k.createProcess('app');
    const ps = k.pageSize;
    let a = 0;
    let mirror: AttachedMirror | null = null;
    const win = new AccessWindow(sim, () => mirror!);
    const ready = new Completion(sim, `${device} ready`);
    const cpuWrote = new Completion(sim, 'cpu wrote page 1');
    const devWrote = new Completion(sim, `${device} wrote page 2`);
    const devRead = new Completion(sim, `${device} read page 1`);
    sim.spawn('app', async () => {
      a = await p.mmap({ length: 4 * ps, prot: PROT_READ | PROT_WRITE, flags: MAP_PRIVATE | MAP_ANONYMOUS });
      await p.write(a, new Uint8Array(4 * ps).fill(1));
      mirror = await attach(k, p, a, 4 * ps);
      ready.completeAll();
      await p.write(a + ps, new Uint8Array([77]));
      cpuWrote.completeAll();
      await devWrote.wait();
      const got = await p.read(a + 2 * ps, 1);
      sim.check(isByte(got, 55), `the CPU reads ${String(got)} at page 2 where ${device} wrote 55`);
      await devRead.wait();
      if (!exit) return;
      const ended = await win.around(() => p.exit(0));
      sim.check(ended.ret === 0, `exit gave ${ended.ret}`);
      if (ended.overlapped) sim.mark('mirror workload: exit during a device access');
    });
    sim.spawn('cpu1', async () => {
      await ready.wait();
      await p.madvise(a, ps, MADV_DONTNEED);
      await p.mprotect(a + 3 * ps, ps, PROT_READ);
      const child = await p.forkOrErrno();
      await p.munmap(a + 3 * ps, ps);
      if (typeof child !== 'number') await child.exit(0);
    });
    sim.spawn('kswapd', async () => {
      await ready.wait();
      if (reclaim) {
        const swapped = await win.around(() => k.reclaim(4));
        if (swapped.ret > 0 && swapped.overlapped)
          sim.mark('mirror workload: reclaim during a device access');
      }
      if (numa) {
        const moved = await win.around(() => migrateRange(p, a, a + 3 * ps, 1));
        if (moved.ret > 0 && moved.overlapped)
          sim.mark('mirror workload: NUMA migration during a device access');
      }
    });
    sim.spawn(device, async () => {
      await ready.wait();
      const m = mirror!;
      const wrote = await win.access(a + 2 * ps, 'write', new Uint8Array([55]));
      sim.check(wrote === 0, `${device} write of page 2 gave ${String(wrote)}`);
      devWrote.completeAll();
      await cpuWrote.wait();
      const got = await win.access(a + ps, 'read', 1);
      sim.check(isByte(got, 77), `${device} reads ${String(got)} at page 1 where the CPU wrote 77`);
      devRead.completeAll();
      // Races the exit: the bytes the device wrote, or a device error once the mm is gone.
      const last = await win.access(a + 2 * ps, 'read', 1);
      if (typeof last === 'number' && last < 0) sim.mark('mirror workload: device access failed after exit');
      else
        sim.check(
          isByte(last, 55),
          `${device} reads ${String(last)} at page 2 (which it wrote 55) while the process exits`,
        );
      await m.detach();
    });
  };
}

/** Whether `m` is a DeviceMirror whose page table maps `va`. Atomic. */
function maps(m: AttachedMirror | null, va: number): boolean {
  return m instanceof DeviceMirror && m.lookup(va) !== undefined;
}

/** The small two-driver case's shape (see twoDeviceWorkload). */
export interface TwoDeviceOptions {
  /**
   * `one`: one thread drives both devices one access after the other (two threads in all: small
   * enough for dfs to exhaust); `per-device`: a thread per device, so the two fault paths race
   * each other as well as the CPU.
   */
  threads?: 'one' | 'per-device';
  /** The CPU's invalidation: `reclaim` (swap-out through the rmap) or `fork` (write-protect for COW). */
  cpu?: 'reclaim' | 'fork';
}

/**
 * Two drivers on one process, the small case (for dfs): one page that a GPU (drm_gpusvm) and an
 * RDMA NIC (an explicit ODP MR) both mirror. The GPU writes 7 at byte 0, the NIC adds 3 atomically
 * at byte 8; each then reads what the other wrote, while a CPU thread reclaims the page (swap-out:
 * one CLEAR invalidation reaching both subscriptions; the next device fault swaps it back in) or
 * forks (write-protecting it: the next device write breaks copy-on-write). The CPU reads both
 * values at the end. The larger case is the showcase's `gpu-and-nic-churn`. Marks the window where
 * both devices mapped the page when the CPU's invalidation began.
 */
export function twoDeviceWorkload(options: TwoDeviceOptions = {}): SetupFn {
  const { threads = 'one', cpu = 'reclaim' } = options;
  return (sim: Simulation) => {
    const k = new Kernel(sim, { memoryPages: 64, swapPages: 4 });
    const p = k.createProcess('app');
    const ps = k.pageSize;
    let a = 0;
    let gpu: AttachedMirror | null = null;
    let nic: AttachedMirror | null = null;
    const ready = new Completion(sim, 'devices ready');
    const gpuWrote = new Completion(sim, 'gpu0 wrote');
    const nicAdded = new Completion(sim, 'mlx0 added');
    const done = new Completion(sim, 'devices done');
    let running = threads === 'one' ? 1 : 2;
    const finished = (): void => {
      if (--running === 0) done.completeAll();
    };
    sim.spawn('app', async () => {
      a = await p.mmap({ length: ps, prot: PROT_READ | PROT_WRITE, flags: MAP_PRIVATE | MAP_ANONYMOUS });
      await p.write(a, new Uint8Array(16));
      gpu = await (await k.createDevice('gpusvm', { name: 'gpu0', notifierSize: 1 << 21 })).attach(p);
      nic = await (await k.createDevice('odp', { name: 'mlx0' })).attach(p, { start: a, length: ps });
      ready.completeAll();
      await done.wait();
      const got = await p.read(a, 16);
      sim.check(
        got instanceof Uint8Array && got[0] === 7 && got[8] === 3,
        `the CPU reads ${got instanceof Uint8Array ? `${got[0]} and ${got[8]}` : String(got)} where the GPU wrote 7 and the NIC added 3`,
      );
      await gpu.detach();
      await nic.detach();
    });
    sim.spawn('cpu1', async () => {
      await ready.wait();
      const both = maps(gpu, a) && maps(nic, a);
      if (cpu === 'reclaim') await k.reclaim(1);
      else {
        const child = await p.forkOrErrno();
        if (typeof child !== 'number') await child.exit(0);
      }
      if (both) sim.mark('two devices: both mapped the page the CPU invalidated');
    });
    const gpuWrite = async (): Promise<void> => {
      sim.check((await gpu!.access(a, 'write', new Uint8Array([7]))) === 0, 'the GPU write failed');
    };
    const nicAdd = async (): Promise<void> => {
      const old = await nic!.access(a + 8, 'atomic', { add: 3 });
      sim.check(old === 0n, `the NIC's atomic saw ${String(old)} at byte 8, which nobody wrote`);
    };
    const gpuReads = async (): Promise<void> => {
      const got = await gpu!.access(a + 8, 'read', 1);
      sim.check(isByte(got, 3), `the GPU reads ${String(got)} at byte 8 where the NIC added 3`);
    };
    const nicReads = async (): Promise<void> => {
      const got = await nic!.access(a, 'read', 1);
      sim.check(isByte(got, 7), `the NIC reads ${String(got)} at byte 0 where the GPU wrote 7`);
    };
    if (threads === 'one')
      sim.spawn('devices', async () => {
        await ready.wait();
        await gpuWrite();
        await nicAdd();
        await nicReads();
        await gpuReads();
        finished();
      });
    else {
      sim.spawn('gpu0', async () => {
        await ready.wait();
        await gpuWrite();
        gpuWrote.completeAll();
        await nicAdded.wait();
        await gpuReads();
        finished();
      });
      sim.spawn('mlx0', async () => {
        await ready.wait();
        await nicAdd();
        nicAdded.completeAll();
        await gpuWrote.wait();
        await nicReads();
        finished();
      });
    }
  };
}
