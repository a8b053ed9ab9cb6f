/**
 * hmmRangeFault racing a device migration and a munmap, explored: whenever the canonical driver loop
 * (readBegin, hmmRangeFault, user lock, readRetry) accepts a result, every VALID entry matches the CPU
 * translation at that moment. The exploration must reach both outcomes (a collision seen, a result
 * accepted), and a planted bug — programming without readRetry — must be caught.
 */
import { describe, expect, it } from 'vitest';

import { explore } from '../../src/explore/index.js';
import { Mutex } from '../../src/sim/sync/mutex.js';
import { EBUSY } from '../../src/sim/errno.js';
import type { Simulation } from '../../src/sim/simulation.js';
import { Kernel } from '../../src/mm/kernel.js';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE } from '../../src/mm/constants.js';
import { PTE_KIND_DEVICE_PRIVATE, PTE_KIND_PRESENT } from '../../src/mm/page-table.js';
import { mmuIntervalNotifierInsert } from '../../src/notifier/interval.js';
import { hmmRangeFault } from '../../src/hmm/range-fault.js';
import { HMM_PFN_REQ_FAULT, HMM_PFN_VALID, hmmPfnFlags, hmmPfnToPfn } from '../../src/hmm/pfn.js';
import { A, fill, PAGE, RW, testDevice } from './helpers.js';

const N = 2;

interface Outcomes {
  busy: number;
  retried: number;
  accepted: number;
}

function world(sim: Simulation, out: Outcomes, skipRetry: boolean): void {
  const k = new Kernel(sim, { memoryPages: 512 });
  sim.spawn('main', async () => {
    const p = k.createProcess('app');
    await p.mmap({ addr: A, length: N * PAGE, prot: RW, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED });
    await p.write(A, fill(N * PAGE, 1));
    const dev = testDevice(k, 'private', 8);
    const lock = new Mutex(sim, 'driver_lock');
    const sub = await mmuIntervalNotifierInsert(p.mm, A, N * PAGE, {
      async invalidate(s, range, cur) {
        if (range.event === 6 /* MIGRATE */ && range.owner === dev.pagemap.owner) return true;
        await lock.lock();
        s.setSeq(cur);
        lock.unlock();
        return true;
      },
    });
    sim.spawn('cpu-migrate', async () => {
      await p.mm.mmapLock.downRead();
      await dev.toDevice(p.mm, A, A + PAGE);
      p.mm.mmapLock.upRead();
      await p.munmap(A + PAGE, PAGE);
    });
    sim.spawn('device', async () => {
      const pfns = new Float64Array(N);
      for (let tries = 0; tries < 100; tries++) {
        pfns.fill(0);
        const seq = await sub.readBegin();
        await p.mm.mmapLock.downRead();
        const ret = await hmmRangeFault({
          notifier: sub,
          notifierSeq: seq,
          start: A,
          end: A + N * PAGE,
          hmmPfns: pfns,
          defaultFlags: 0,
          pfnFlagsMask: HMM_PFN_REQ_FAULT,
          devPrivateOwner: dev.pagemap.owner,
        });
        p.mm.mmapLock.upRead();
        if (ret === -EBUSY) {
          out.busy++;
          continue;
        }
        sim.check(ret === 0, `hmmRangeFault returned ${ret}`);
        await lock.lock();
        if (!skipRetry && sub.readRetry(seq)) {
          lock.unlock();
          out.retried++;
          continue;
        }
        // "Program the device": every VALID entry must match the CPU translation now.
        const pt = p.mm.pageTable;
        for (let i = 0; i < N; i++) {
          if (!(hmmPfnFlags(pfns[i]) & HMM_PFN_VALID)) continue;
          const va = A + i * PAGE;
          const kind = pt.kindAt(va);
          const live =
            (kind === PTE_KIND_PRESENT || kind === PTE_KIND_DEVICE_PRIVATE) &&
            pt.pfnAt(va) === hmmPfnToPfn(pfns[i]);
          sim.check(
            live,
            `device maps 0x${va.toString(16)} -> pfn ${hmmPfnToPfn(pfns[i])}, the CPU maps ${pt.describe(va)}`,
          );
        }
        lock.unlock();
        out.accepted++;
        return;
      }
    });
  });
}

describe('hmmRangeFault under concurrent migration and munmap', () => {
  it('the canonical loop never accepts a stale snapshot, and the exploration reaches the collision', async () => {
    const out: Outcomes = { busy: 0, retried: 0, accepted: 0 };
    const r = await explore(
      { strategy: 'pct', depth: 3, schedules: 300, seed: 7, maxSteps: 200_000 },
      (sim) => world(sim, out, false),
    );
    expect(r.violations).toEqual([]);
    expect(out.accepted).toBe(300);
    expect(r.schedules).toBe(300);
    expect(out.busy + out.retried).toBeGreaterThan(0);
  });

  it('a driver that skips readRetry programs a stale page: found', async () => {
    const out: Outcomes = { busy: 0, retried: 0, accepted: 0 };
    const r = await explore(
      { strategy: 'pct', depth: 3, schedules: 300, seed: 7, maxSteps: 200_000 },
      (sim) => world(sim, out, true),
    );
    expect(r.violations.length).toBeGreaterThan(0);
    expect(r.violations[0].message).toMatch(/device maps 0x/);
  });
});
