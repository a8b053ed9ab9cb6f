/**
 * The programs the exploration tests run: small worlds of CPU threads invalidating,
 * model drivers faulting, inserting and removing, an OOM reaper, and process exit.
 */
import type { SetupFn } from '../../sim/simulation.js';
import { EAGAIN } from '../../sim/errno.js';
import {
  MMU_NOTIFY_UNMAP,
  mmuNotifierRegister,
  mmuNotifierSynchronize,
  type MmuNotifier,
} from '../../notifier/index.js';
import { MmStruct } from '../../mm/mm-struct.js';
import { mmuNotifierRelease } from '../../notifier/index.js';
import type { Simulation } from '../../sim/simulation.js';

/** An mm whose exit_mmap runs mmu_notifier_release first, as the memory model does. */
function newMm(sim: Simulation, name = 'app'): MmStruct {
  const mm = new MmStruct(sim, name);
  mm.exitMmap = mmuNotifierRelease; // exit_mmap of a toy mm: the notifier release only
  return mm;
}
import { CpuWorld, GpuDriver, ModelDriver, type DriverOptions } from './toy-mirror.js';

/**
 * One driver over pages 0-1 faulting both pages while two CPU threads invalidate
 * overlapping ranges (so windows overlap: partial and full exclusion).
 */
export function faultScenario(m: DriverOptions = {}, assertLocks = false): SetupFn {
  return (sim) => {
    const world = new CpuWorld(sim, newMm(sim), 2);
    const a = new ModelDriver(world, 'devA', 0, 2, m, assertLocks);
    sim.spawn('dev', async () => {
      await a.init();
      await a.fault(0);
      await a.fault(1);
    });
    sim.spawn('cpu0', async () => {
      await world.invalidate(0, 1);
      await world.invalidate(0, 2);
    });
    sim.spawn('cpu1', async () => {
      await world.invalidate(1, 1);
    });
  };
}

/**
 * Subscriptions come and go while the CPU invalidates: driver A (pages 0-1) and driver B
 * (pages 1-2) insert, fault and tear down (remove, then kfree) while the CPU invalidates
 * an uncovered page (partial exclusion), then pages 1-2, then exits (RELEASE); a second
 * CPU thread invalidates page 0.
 */
export function lifecycleScenario(m: DriverOptions = {}): SetupFn {
  return (sim) => {
    const world = new CpuWorld(sim, newMm(sim), 4);
    const a = new ModelDriver(world, 'devA', 0, 2, m);
    const b = new ModelDriver(world, 'devB', 1, 2, m);
    sim.spawn('devA', async () => {
      await a.init();
      await a.fault(1);
      await a.teardown();
    });
    sim.spawn('devB', async () => {
      await b.init();
      await b.fault(2);
      await b.teardown();
    });
    sim.spawn('cpu', async () => {
      await world.invalidate(3, 1);
      await world.invalidate(1, 2);
      await world.mm.mmput();
    });
    sim.spawn('cpu1', async () => {
      await world.invalidate(0, 1);
    });
  };
}

/**
 * The OOM reaper's non-blockable invalidation (retried when refused) against a faulting
 * driver and a CPU thread.
 */
export function reaperScenario(m: DriverOptions = {}): SetupFn {
  return (sim) => {
    const world = new CpuWorld(sim, newMm(sim), 2);
    const a = new ModelDriver(world, 'devA', 0, 2, m);
    sim.spawn('dev', async () => {
      await a.init();
      await a.fault(0);
      await a.fault(1);
    });
    sim.spawn('reaper', async () => {
      for (let tries = 0; tries < 3; tries++) {
        const ret = await world.invalidateNonblock(0, 2);
        if (ret === 0) return;
        sim.check(ret === -EAGAIN, `nonblock start returned ${ret}`);
        await sim.yield();
      }
    });
    sim.spawn('cpu', async () => {
      await world.invalidate(1, 1);
    });
  };
}

/**
 * How the legacy classic notifier of {@link classicScenario} goes away: the fenced
 * `unregister`, the since-removed `unregisterNoRelease` followed by a free at once (the
 * 2019 hmm use-after-free), or followed by a grace period first (the fix).
 */
export type LegacyUnregister = 'unregister' | 'no-release' | 'no-release-then-synchronize';

/**
 * A classic notifier comes and goes (registered inside an mmget_not_zero reference,
 * unregistered, and its owner freed right after unregister returns, which the SRCU fence
 * makes safe) while the CPU invalidates and an interval driver faults.
 */
export function classicScenario(m: DriverOptions = {}, legacy: LegacyUnregister = 'unregister'): SetupFn {
  return (sim) => {
    const world = new CpuWorld(sim, newMm(sim), 2);
    const a = new ModelDriver(world, 'devA', 0, 2, m);
    const owner = sim.kalloc({ name: 'legacy owner' });
    world.mm.mmgrab(); // the legacy driver's pin, dropped when it is done
    sim.spawn('legacy', async () => {
      const mm = world.mm;
      if (mm.mmgetNotZero()) {
        const mn: MmuNotifier = await mmuNotifierRegister(mm, {
          invalidateRangeStart: () => (sim.use(owner, 'legacy start'), 0),
          invalidateRangeEnd: () => void sim.use(owner, 'legacy end'),
          release: () => void sim.use(owner, 'legacy release'),
        });
        await mm.mmput();
        if (legacy === 'unregister') {
          await mn.unregister();
        } else {
          await mn.unregisterNoRelease();
          if (legacy === 'no-release-then-synchronize') await mmuNotifierSynchronize(sim);
        }
      }
      sim.kfree(owner);
      mm.mmdrop();
    });
    sim.spawn('dev', async () => {
      await a.init();
      await a.fault(0);
      await a.teardown();
    });
    sim.spawn('cpu', async () => {
      await world.invalidate(0, 1);
      await world.invalidate(0, 2);
      await world.mm.mmput();
    });
  };
}

/**
 * The GPU-style driver (subscriptions created on fault, dropped from their own UNMAP
 * callback with removeDeferred, synchronize on unload) against an UNMAP and a CLEAR.
 */
export function gpuScenario(): SetupFn {
  return (sim) => {
    const world = new CpuWorld(sim, newMm(sim), 2);
    const gpu = new GpuDriver(world, 'gpu');
    sim.spawn('gpu', async () => {
      await gpu.fault(0);
      await gpu.fault(1);
      await gpu.fault(0);
      await gpu.unload();
    });
    sim.spawn('cpu0', async () => {
      await world.invalidate(0, 2, MMU_NOTIFY_UNMAP);
    });
    sim.spawn('cpu1', async () => {
      await world.invalidate(0, 1);
    });
  };
}
