/**
 * The viewer's state fold (web/src/state.ts): hand-written traces with known outcomes, and the
 * checkpointed index against a plain fold from the start.
 */
import { describe, expect, it } from 'vitest';
import type { TraceEntry } from '../../src/sim/trace.js';
import { Simulation } from '../../src/sim/simulation.js';
import { getScenario } from '../../src/scenario/registry.js';
import '../../src/scenario/builtin/index.js';
import { applyEntry, locksAfter, StateIndex, type ViewState } from '../../web/src/state.js';

let t = 0;
function step(
  step: number,
  thread: string,
  label: string,
  object?: string,
  note?: string,
  held?: string[],
): TraceEntry {
  const e: TraceEntry = { step, tid: thread === 'cpu0' ? 1 : 2, thread, label, object, timeNs: (t += 10) };
  if (note !== undefined) e.note = note;
  if (held !== undefined) e.held = held;
  return e;
}
function ev(
  s: number,
  thread: string,
  label: string,
  object?: string,
  note?: string,
  held?: string[],
): TraceEntry {
  return { ...step(s, thread, label, object, note, held), event: true };
}

const trace: TraceEntry[] = [
  step(1, 'cpu0', 'spin_lock', 'subscriptions->lock'),
  ev(1, 'cpu0', 'itree_insert', 'mirror', '[0x1000, 0x4fff] seq 1', ['subscriptions->lock']),
  ev(1, 'cpu0', 'interval_insert', 'mirror', '[0x1000, 0x4fff] seq 1; invalidate_seq 2; mm mm', [
    'subscriptions->lock',
  ]),
  ev(1, 'cpu0', 'spin_unlock', 'subscriptions->lock', undefined, ['subscriptions->lock']),
  step(2, 'cpu1', 'set_pte', 'mm@0x2000', undefined, ['page_table_lock']),
  ev(2, 'cpu1', 'set_pte', 'mm', '0x2000: pte present pfn=0x7 rw dirty', ['page_table_lock']),
  ev(2, 'cpu0', 'read_begin', 'mirror', 'seq 1'),
  step(3, 'cpu0', 'mutex_lock', 'mirror.lock'),
  ev(3, 'cpu0', 'device_map', '0x2000', 'dev → pfn 7', ['mirror.lock']),
  step(4, 'cpu1', 'mn_itree_invalidate', 'mirror', 'invalidate_seq 3'),
  ev(4, 'cpu1', 'set_seq', 'mirror', '1 → 3', ['mirror.lock']),
  ev(4, 'cpu1', 'device_unmap', '0x2000', 'dev', ['mirror.lock']),
  ev(4, 'cpu1', 'set_pte', 'mm', '0x2000: pte none', ['page_table_lock']),
  ev(4, 'cpu1', 'invalidate_seq', undefined, '→ 4: window closed'),
  step(5, 'cpu1', 'yield'),
  ev(5, 'cpu1', 'device_map', '0x3000', 'dev → pfn 8 rw'),
  ev(5, 'cpu1', 'device_map', '0x5000', 'dev → pfn 9'),
  ev(5, 'cpu1', 'device_unmap', '[0x0, 0x4000)', 'dev'),
  ev(5, 'cpu1', 'itree_remove', 'mirror', '[0x1000, 0x4fff] seq 3'),
];

function fold(upTo: number): ViewState {
  return new StateIndex(trace, 4).at(upTo);
}

describe('viewer state fold', () => {
  it('a subscription appears with its range, S and G at its insert', () => {
    expect(fold(0).subs.size).toBe(0);
    const s = fold(2);
    expect(s.subs.get('mirror')).toMatchObject({
      start: 0x1000,
      last: 0x4fff,
      seq: 1,
      inTree: true,
      deferred: false,
    });
    expect(s.invalidateSeq).toBe(2);
    expect(s.subs.get('mirror')!.mm).toBe('mm');
  });

  it('follows S through read_begin and set_seq, and G through the window', () => {
    expect(fold(6).subs.get('mirror')).toMatchObject({ seq: 1, readSeq: 1 });
    expect(fold(9).invalidateSeq).toBe(3);
    expect(fold(10).subs.get('mirror')!.seq).toBe(3);
    expect(fold(13).invalidateSeq).toBe(4);
    expect(fold(18).subs.get('mirror')).toMatchObject({ inTree: false, seq: 3 });
  });

  it('CPU and device page tables: set, then cleared where it happened, then gone', () => {
    expect(fold(5).cpu.get('mm')!.get(0x2000)).toMatchObject({
      entry: 'pte present pfn=0x7 rw dirty',
      cleared: false,
    });
    expect(fold(8).device.get('dev')!.get(0x2000)).toMatchObject({ value: 'pfn 7', cleared: false });
    expect(fold(11).device.get('dev')!.get(0x2000)!.cleared).toBe(true);
    expect(fold(12).cpu.get('mm')!.get(0x2000)!.cleared).toBe(true);
    expect(fold(13).cpu.get('mm')!.has(0x2000)).toBe(false);
    expect(fold(13).device.get('dev')!.has(0x2000)).toBe(false);
    // A range unmap (DeviceMirror.unmapRange) clears every entry inside it, end exclusive.
    expect(fold(16).device.get('dev')!.get(0x3000)).toMatchObject({ value: 'pfn 8 rw', cleared: false });
    expect(fold(17).device.get('dev')!.get(0x3000)!.cleared).toBe(true);
    expect(fold(17).device.get('dev')!.get(0x5000)!.cleared).toBe(false);
    // Asked as a step shown from entry 9 to 13, the clears inside it stay visible.
    expect(new StateIndex(trace, 4).at(13, 9).cpu.get('mm')!.get(0x2000)!.cleared).toBe(true);
  });

  it('locks: a step holds what its thread has once it ran; an unlock event releases', () => {
    const after = locksAfter(trace);
    expect(after[0]).toEqual(['subscriptions->lock']); // spin_lock step: taken
    expect(after[1]).toBeUndefined(); // events use their own `held`
    expect(fold(0).locks.get('cpu0')).toEqual(['subscriptions->lock']);
    expect(fold(3).locks.get('cpu0')).toEqual([]); // after spin_unlock
    expect(fold(7).locks.get('cpu0')).toEqual(['mirror.lock']);
    expect(fold(4).locks.get('cpu1')).toEqual(['page_table_lock']);
  });

  it('the checkpointed index gives the same state as folding from the start', async () => {
    const s = getScenario('mm-mirror-no-set-seq');
    const run = await new Simulation({ seed: 6, maxSteps: 100_000, trace: true }).run(s.setup);
    const tr = run.trace!;
    const index = new StateIndex(tr, 16);
    const after = locksAfter(tr);
    const plain: ViewState = {
      index: -1,
      subs: new Map(),
      invalidateSeq: null,
      cpu: new Map(),
      device: new Map(),
      locks: new Map(),
      deviceMm: new Map(),
      doing: new Map(),
    };
    for (let i = 0; i < tr.length; i++) {
      applyEntry(plain, tr[i], i, after[i]);
      const got = index.at(i, 0);
      expect(got.subs, `entry ${i}`).toEqual(plain.subs);
      expect(got.invalidateSeq).toBe(plain.invalidateSeq);
      expect(got.cpu).toEqual(plain.cpu);
      expect(got.device).toEqual(plain.device);
      expect(got.locks).toEqual(plain.locks);
    }
    // At the violation the device maps a page whose CPU entry was cleared: the stale mapping.
    const last = index.at(tr.length - 1);
    expect(last.device.get('dev0')!.get(0x7effffffd000)!.value).toBe('pfn 1');
    expect(last.cpu.get('app[1]')!.has(0x7effffffd000)).toBe(false);
  });
});
