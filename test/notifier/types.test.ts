import { describe, expect, it } from 'vitest';

import { EINTR } from '../../src/sim/errno.js';
import { Simulation } from '../../src/sim/simulation.js';
import {
  MMU_NOTIFIER_RANGE_BLOCKABLE,
  MMU_NOTIFY_EXCLUSIVE,
  MMU_NOTIFY_MIGRATE,
  MMU_NOTIFY_RELEASE,
  MMU_NOTIFY_UNMAP,
  MmuNotifier,
  mmuNotifierEventName,
  mmuNotifierRangeInit,
  mmuNotifierRegister,
  mmuNotifierState,
  mmuNotifierSubscriptionsDestroy,
} from '../../src/notifier/index.js';
import { expectOk, expectViolation, newMm, runMain } from './helpers.js';

describe('events and ranges', () => {
  it('events keep the kernel values', () => {
    expect([MMU_NOTIFY_UNMAP, MMU_NOTIFY_RELEASE, MMU_NOTIFY_MIGRATE, MMU_NOTIFY_EXCLUSIVE]).toEqual([
      0, 5, 6, 7,
    ]);
    expect(mmuNotifierEventName(5)).toBe('MMU_NOTIFY_RELEASE');
    expect(mmuNotifierEventName(9)).toBe('event 9');
  });

  it('mmu_notifier_range_init(_owner): fields, blockable from flags, argument checks', () => {
    const sim = new Simulation();
    const mm = newMm(sim);
    const owner = {};
    const r = mmuNotifierRangeInit(
      MMU_NOTIFY_MIGRATE,
      MMU_NOTIFIER_RANGE_BLOCKABLE,
      mm,
      0x1000,
      0x3000,
      owner,
    );
    expect([r.start, r.end, r.event, r.blockable, r.owner === owner]).toEqual([
      0x1000,
      0x3000,
      6,
      true,
      true,
    ]);
    r.flags = 0;
    expect(r.blockable).toBe(false);
    expect(String(r)).toBe('[0x1000, 0x3000) MMU_NOTIFY_MIGRATE nonblock');
    expect(mmuNotifierRangeInit(MMU_NOTIFY_UNMAP, 0, mm, 0, 0).owner).toBe(null);
    expect(() => mmuNotifierRangeInit(MMU_NOTIFY_UNMAP, 0, mm, 0x2000, 0x1000)).toThrow(/start <= end/);
    expect(() => mmuNotifierRangeInit(8, 0, mm, 0, 1)).toThrow(/unknown event 8/);
  });
});

describe('the per-mm container', () => {
  it('is created by the first registration with G = 2; registration with a fatal signal gives -EINTR', async () => {
    expectOk(
      await runMain(async ({ sim, mm }) => {
        expect(mmuNotifierState(mm)).toBe(null);
        sim.kill(sim.current!);
        expect(await new MmuNotifier({}).register(mm)).toBe(-EINTR);
        expect(mm.notifierSubscriptions).toBe(null);
        expect(mm.count).toBe(1);
      }),
    );
    expectOk(
      await runMain(async ({ mm }) => {
        await mmuNotifierRegister(mm, {});
        expect(mmuNotifierState(mm)).toEqual({
          invalidateSeq: 2,
          activeInvalidateRanges: 0,
          hasItree: false,
          itreeSize: 0,
          deferred: 0,
          classic: 1,
        });
      }),
    );
  });

  it('destroying it with a classic notifier still listed is a kernel BUG', async () => {
    const run = await runMain(async ({ mm }) => {
      await mmuNotifierRegister(mm, {});
      mmuNotifierSubscriptionsDestroy(mm);
    });
    expectViolation(run, 'kernel-bug', /freed with classic mmu notifiers still registered/);
    expectOk(
      await runMain(async ({ sim, mm }) => {
        const mn = await mmuNotifierRegister(mm, {});
        await mn.unregister();
        const subs = mm.notifierSubscriptions!;
        mmuNotifierSubscriptionsDestroy(mm);
        expect(sim.lifetime.isFreed(subs)).toBe(true);
        expect(mm.notifierSubscriptions).toBe(null);
      }),
    );
  });
});
