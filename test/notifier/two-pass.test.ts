/**
 * Two-pass interval callbacks (invalidate_start / invalidate_finish, the newest tree's series for
 * multi-GPU drivers): the first pass of every overlapping subscription, then the finish
 * pass of every queued token in the order returned, before the start returns; also on a
 * refused non-blockable start and at mm teardown.
 */
import { describe, expect, it } from 'vitest';

import { EAGAIN } from '../../src/sim/errno.js';
import {
  MMU_NOTIFIER_RANGE_BLOCKABLE,
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_RELEASE,
  MmuIntervalNotifier,
  mmuIntervalNotifierInsert,
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierInvalidateRangeStartNonblock,
  mmuNotifierRangeInit,
  mmuNotifierState,
  type MmuIntervalNotifierFinish,
  type MmuIntervalNotifierOps,
} from '../../src/notifier/index.js';
import type { MmStruct } from '../../src/mm/mm-struct.js';
import { explore } from '../../src/explore/index.js';
import type { SetupFn } from '../../src/sim/simulation.js';
import { expectOk, Flag, newMm, runMain } from './helpers.js';

const PAGE = 4096;

interface Token extends MmuIntervalNotifierFinish {
  label: string;
}

/** A two-pass subscription logging both passes; `start` decides what the first pass returns. */
function twoPass(
  log: string[],
  name: string,
  start: (range: { blockable: boolean }) => boolean | 'token' = () => 'token',
): MmuIntervalNotifierOps {
  return {
    invalidateStart(sub, range, curSeq) {
      sub.setSeq(curSeq);
      log.push(`${name}:start`);
      const r = start(range);
      return r === 'token' ? ({ label: name } as Token) : r;
    },
    invalidateFinish(finish) {
      const t = finish as Token;
      log.push(`${t.label}:finish(${t.notifier?.name})`);
    },
  };
}

function onePass(log: string[], name: string): MmuIntervalNotifierOps {
  return {
    invalidate(sub, _range, curSeq) {
      sub.setSeq(curSeq);
      log.push(`${name}:invalidate`);
      return true;
    },
  };
}

function range(mm: MmStruct, start: number, end: number) {
  return mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, start, end);
}

describe('two-pass interval callbacks', () => {
  it('finishes every queued token after all first passes, in the order they were returned', async () => {
    expectOk(
      await runMain(async ({ mm }) => {
        const log: string[] = [];
        await mmuIntervalNotifierInsert(mm, 0, PAGE, twoPass(log, 'a'), { name: 'A' });
        await mmuIntervalNotifierInsert(mm, PAGE, PAGE, onePass(log, 'b'), { name: 'B' });
        await mmuIntervalNotifierInsert(
          mm,
          2 * PAGE,
          PAGE,
          twoPass(log, 'c', () => true),
          { name: 'C' },
        );
        await mmuIntervalNotifierInsert(mm, 3 * PAGE, PAGE, twoPass(log, 'd'), { name: 'D' });
        const r = range(mm, 0, 4 * PAGE);
        await mmuNotifierInvalidateRangeStart(r);
        // C returned true: it did the whole job in its first pass and gets no finish.
        expect(log).toEqual(['a:start', 'b:invalidate', 'c:start', 'd:start', 'a:finish(A)', 'd:finish(D)']);
        await mmuNotifierInvalidateRangeEnd(r);
        expect(mmuNotifierState(mm)!.invalidateSeq).toBe(4);
      }),
    );
  });

  it('prefers invalidateStart when a subscription has both forms, as upstream', async () => {
    expectOk(
      await runMain(async ({ mm }) => {
        const log: string[] = [];
        await mmuIntervalNotifierInsert(mm, 0, PAGE, { ...onePass(log, 'x'), ...twoPass(log, 'x') });
        const r = range(mm, 0, PAGE);
        await mmuNotifierInvalidateRangeStart(r);
        await mmuNotifierInvalidateRangeEnd(r);
        expect(log).toEqual(['x:start', 'x:finish(mmu_interval_notifier)']);
      }),
    );
  });

  it('still finishes the queued tokens when a later subscription refuses a non-blockable range', async () => {
    expectOk(
      await runMain(async ({ mm }) => {
        const log: string[] = [];
        await mmuIntervalNotifierInsert(mm, 0, PAGE, twoPass(log, 'a'), { name: 'A' });
        await mmuIntervalNotifierInsert(
          mm,
          PAGE,
          PAGE,
          twoPass(log, 'b', (r) => r.blockable),
          { name: 'B' },
        );
        await mmuIntervalNotifierInsert(mm, 2 * PAGE, PAGE, twoPass(log, 'c'), { name: 'C' });
        const r = range(mm, 0, 3 * PAGE);
        expect(await mmuNotifierInvalidateRangeStartNonblock(r)).toBe(-EAGAIN);
        // The walk stops at B; A's finish runs anyway, then the end step (no caller end).
        expect(log).toEqual(['a:start', 'b:start', 'a:finish(A)']);
        expect(mmuNotifierState(mm)!.invalidateSeq).toBe(4);
        expect(mmuNotifierState(mm)!.activeInvalidateRanges).toBe(0);
      }),
    );
  });

  it('uses both passes for the RELEASE invalidation of mm teardown', async () => {
    expectOk(
      await runMain(async ({ mm }) => {
        const log: string[] = [];
        const events: number[] = [];
        await mmuIntervalNotifierInsert(mm, 0, PAGE, {
          ...twoPass(log, 'a'),
          invalidateStart(sub, r, curSeq) {
            sub.setSeq(curSeq);
            events.push(r.event);
            log.push('a:start');
            expect(r.flags & MMU_NOTIFIER_RANGE_BLOCKABLE).toBe(MMU_NOTIFIER_RANGE_BLOCKABLE);
            return { label: 'a' } as Token;
          },
        });
        await mm.mmput();
        expect(log).toEqual(['a:start', 'a:finish(mmu_interval_notifier)']);
        expect(events).toEqual([MMU_NOTIFY_RELEASE]);
      }),
    );
  });

  it('reports one finish token queued by two invalidations in flight as list corruption', async () => {
    /** A driver embedding one token, returned by every first pass (wrong), or one per call. */
    const setup =
      (perCall: boolean): SetupFn =>
      (sim) => {
        const mm = newMm(sim);
        const shared: Token = { label: 'shared' };
        const ready = new Flag(sim, 'subscribed');
        sim.spawn('driver', async () => {
          await mmuIntervalNotifierInsert(mm, 0, 2 * PAGE, {
            async invalidateStart(sub, _r, curSeq) {
              sub.setSeq(curSeq);
              return perCall ? { label: 'own' } : shared;
            },
            async invalidateFinish() {
              await sim.yield(); // waits for the device
            },
          });
          ready.set();
        });
        for (const [name, start] of [
          ['cpu0', 0],
          ['cpu1', PAGE],
        ] as const) {
          sim.spawn(name, async () => {
            await ready.wait();
            const r = range(mm, start, start + PAGE);
            await mmuNotifierInvalidateRangeStart(r);
            await mmuNotifierInvalidateRangeEnd(r);
          });
        }
      };
    const wrong = await explore(
      { strategy: 'random', schedules: 2000, seed: 1, stopOnFirst: true },
      setup(false),
    );
    expect(wrong.violations[0]?.kind).toBe('kernel-bug');
    expect(wrong.violations[0].message).toMatch(
      /list corruption: .* queued a finish token that another invalidation/,
    );
    const right = await explore({ strategy: 'random', schedules: 2000, seed: 1 }, setup(true));
    expect(right.violations).toEqual([]);
  });

  it('rejects ops without a usable callback form', () => {
    expect(() => new MmuIntervalNotifier({})).toThrow(/must have invalidate\(sub, range, curSeq\)/);
    expect(() => new MmuIntervalNotifier({ invalidateStart: () => true })).toThrow(
      /invalidateStart needs ops.invalidateFinish/,
    );
  });
});
