import { describe, expect, it } from 'vitest';
import { renderRaceDiagram, renderRaceDiagramSvg, sliceTrace } from '../../src/explore/diagram.js';
import { explore, simulate } from '../../src/explore/index.js';
import { Mutex } from '../../src/sim/sync/mutex.js';
import type { TraceEntry } from '../../src/sim/trace.js';
import type { Violation } from '../../src/sim/violation.js';
import { listScenarios } from '../../src/scenario/registry.js';
import '../../src/scenario/builtin/index.js';

function entry(
  step: number,
  thread: string,
  label: string,
  object?: string,
  extra: Partial<TraceEntry> = {},
): TraceEntry {
  const tid = thread === 'cpu0' ? 1 : thread === 'cpu1' ? 2 : 3;
  return { step, tid, thread, label, object, timeNs: step * 10, ...extra };
}

function violation(step: number, thread: string, message: string, extra: Partial<Violation> = {}): Violation {
  return {
    kind: 'stale-mapping',
    message,
    signature: 's',
    thread,
    threads: [thread],
    step,
    timeNs: 0,
    token: '',
    schedule: '',
    diagram: '',
    ...extra,
  };
}

describe('race diagram slicing', () => {
  // 60 set-up steps on other objects, then a short race on 0x1000.
  const trace: TraceEntry[] = [];
  for (let i = 1; i <= 60; i++)
    trace.push(entry(i, i % 2 ? 'cpu0' : 'cpu1', 'cpu_write', `0x${(0x9000 + i * 0x1000).toString(16)}`));
  trace.push(entry(61, 'cpu1', 'cpu_pte_write', '0x1000'));
  trace.push(entry(62, 'cpu0', 'spin_lock', 'subscriptions->lock'));
  trace.push(entry(62, 'cpu0', 'device_map', '0x1000', { event: true, note: 'devA → 2' }));

  it('keeps the steps on the violation objects and folds the rest into one line', () => {
    const v = violation(62, 'cpu0', 'devA maps 0x1000 to 2 but the CPU has 1000', { conflictStep: 61 });
    const slice = sliceTrace(trace, v);
    expect(slice.rows.map((e) => e.label)).toEqual(['cpu_pte_write', 'spin_lock', 'device_map']);
    expect(slice.foldedSteps).toBe(60);
    expect(slice.markRow?.label).toBe('device_map');
    expect(slice.conflictRow?.label).toBe('cpu_pte_write');
    const text = renderRaceDiagram(trace, v);
    expect(text).toContain('60 earlier steps');
    expect(text).toMatch(/\*>.*cpu_pte_write 0x1000.*conflicting step/);
    expect(text).toMatch(/>>device_map 0x1000 \[devA → 2\].*<-- stale-mapping/);
    expect(text.split('\n').length).toBeLessThanOrEqual(25);
  });

  it('keeps an old conflicting step when the window cannot reach it', () => {
    const long: TraceEntry[] = [entry(1, 'cpu1', 'cpu_pte_write', '0x1000')];
    for (let i = 2; i <= 80; i++) long.push(entry(i, 'cpu0', 'cpu_pte_read', '0x1000'));
    const v = violation(80, 'cpu0', 'devA maps 0x1000 to 2 but the CPU has 1000', { conflictStep: 1 });
    const slice = sliceTrace(long, v, { maxRows: 12 });
    expect(slice.rows[0].step).toBe(1);
    expect(slice.rows[slice.rows.length - 1].step).toBe(80);
    const text = renderRaceDiagram(long, v, { maxRows: 12 });
    expect(text.split('\n').length).toBeLessThanOrEqual(12);
    expect(text).toMatch(/\*>/);
    expect(text).toMatch(/steps\)/);
  });

  it('shows the locks held on sequence rows and says when none is held', () => {
    const t = [
      entry(1, 'cpu0', 'mutex_lock', 'devA.lock'),
      entry(1, 'cpu0', 'read_retry', 'devA', { event: true, note: '1 vs 1: ok', held: ['devA.lock'] }),
      entry(2, 'cpu1', 'set_seq', 'devA', { event: true, note: '1 → 3' }),
    ];
    const text = renderRaceDiagram(t, violation(2, 'cpu1', 'devA maps 0x1000'));
    expect(text).toContain('read_retry devA [1 vs 1: ok] {devA.lock}');
    expect(text).toContain('set_seq devA [1 → 3] {no lock}');
  });

  it('renders the same slice as a self-contained SVG with escaped text', () => {
    const v = violation(62, 'cpu0', 'devA maps 0x1000 <stale> & wrong', { conflictStep: 61 });
    const svg = renderRaceDiagramSvg(trace, v);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('&lt;stale&gt; &amp; wrong');
    expect(svg).not.toContain('<stale>');
    expect(svg).toContain('#fde2e2'); // the violating row
    expect(svg).toContain('#fff1cc'); // the conflicting row
    expect(svg).toContain('device_map 0x1000 [devA → 2]');
    expect(svg).not.toMatch(/https?:\/\/(?!www\.w3\.org)/); // nothing to fetch
  });
});

describe('trace events', () => {
  it('never change a schedule: the same seed gives the same steps and token with tracing on or off', async () => {
    const setup = (sim: import('../../src/sim/simulation.js').Simulation) => {
      const lock = new Mutex(sim, 'l');
      for (const name of ['a', 'b']) {
        sim.spawn(name, async () => {
          for (let i = 0; i < 5; i++) {
            await lock.lock();
            sim.traceEvent('event', name, `i ${i}`);
            lock.unlock();
            await sim.yield();
          }
        });
      }
    };
    const on = await simulate({ seed: 7, trace: true }, setup);
    const off = await simulate({ seed: 7, trace: false }, setup);
    expect(on.steps).toBe(off.steps);
    expect(on.token).toBe(off.token);
    expect(on.trace!.filter((e) => e.event).length).toBeGreaterThan(10); // the events and the unlocks
    expect(on.trace!.filter((e) => !e.event).length).toBe(on.steps);
  });
});

describe('every built-in violation', () => {
  const planted = listScenarios().filter((s) => s.expect === 'violation');
  it.each(planted.map((s) => [s.name, s] as const))(
    '%s draws a diagram of at most 25 lines with the violating step marked',
    async (_name, s) => {
      const r = await explore(
        {
          strategy: s.defaults?.strategy ?? 'pct',
          schedules: s.defaults?.schedules ?? 2000,
          depth: s.defaults?.depth ?? 3,
          preemptionBound: s.defaults?.preemptionBound ?? 2,
          stopOnFirst: true,
          switches: s.switches,
        },
        s.setup,
      );
      expect(r.violations.length).toBeGreaterThan(0);
      for (const v of r.violations) {
        const lines = v.diagram.split('\n');
        expect(lines.length).toBeLessThanOrEqual(25);
        expect(lines.filter((l) => l.includes('>>')).length).toBeGreaterThan(0);
        expect(v.diagram).toContain(`<-- ${v.kind}: ${v.message}`);
        if (v.conflictStep !== undefined) expect(v.diagram).toMatch(/\*>|conflicting step/);
      }
    },
  );
});
