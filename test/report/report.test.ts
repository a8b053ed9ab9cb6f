import { describe, expect, it } from 'vitest';
import { buildReport } from '../../src/report/html.js';
import { reportScenario } from '../../src/report/from-explore.js';
import { timelineOf } from '../../src/report/timeline.js';
import { explore } from '../../src/explore/index.js';
import type { TraceEntry } from '../../src/sim/trace.js';
import { getScenario } from '../../src/scenario/registry.js';
import '../../src/scenario/builtin/index.js';

function e(
  step: number,
  thread: string,
  label: string,
  object?: string,
  extra: Partial<TraceEntry> = {},
): TraceEntry {
  return { step, tid: thread === 'a' ? 1 : 2, thread, label, object, timeNs: step * 10, ...extra };
}

describe('timeline', () => {
  it('spans a lock from its request to its release, and drops a failed trylock', () => {
    const trace = [
      e(1, 'a', 'mutex_lock', 'L'),
      e(2, 'b', 'mutex_trylock', 'L'),
      e(3, 'b', 'yield'), // b does not hold L: its trylock failed
      e(4, 'a', 'cpu_write', '0x0', { held: ['L'] }),
      e(4, 'a', 'mutex_unlock', 'L', { event: true, held: ['L'] }),
      e(5, 'b', 'mutex_lock', 'L'),
      e(6, 'b', 'mutex_wait', 'L'),
      e(7, 'b', 'cpu_read', '0x0', { held: ['L'] }),
    ];
    const t = timelineOf(trace);
    expect(t.threads).toEqual(['a', 'b']);
    const locks = t.spans.filter((s) => s.kind === 'lock').map((s) => [s.thread, s.startStep, s.endStep]);
    // a: 1..4 (released); b: the failed trylock makes no span; its lock from 5, still held at the end (7).
    expect(locks).toEqual([
      ['a', 1, 4],
      ['b', 5, 7],
    ]);
  });

  it('spans an invalidation from its callback to the close of the window, with sequence points', () => {
    const trace = [
      e(1, 'a', 'read_begin', 'devA', { event: true, note: 'seq 1' }),
      e(2, 'b', 'mn_itree_invalidate', 'devA', { note: 'invalidate_seq 3' }),
      e(2, 'b', 'set_seq', 'devA', { event: true, note: '1 → 3' }),
      e(5, 'b', 'invalidate_seq', undefined, { event: true, note: '→ 4: window closed' }),
    ];
    const t = timelineOf(trace, { step: 5, thread: 'a', text: 'stale-mapping: x' });
    expect(t.spans).toEqual([
      { thread: 'b', kind: 'invalidation', what: 'devA', startNs: 20, endNs: 50, startStep: 2, endStep: 5 },
    ]);
    expect(t.points.map((p) => p.label)).toEqual(['read_begin', 'set_seq', 'invalidate_seq', 'violation']);
  });
});

describe('HTML report', () => {
  it('is one self-contained page: summary, race diagrams as SVG, timelines, nothing fetched', async () => {
    const sections = [];
    for (const name of ['seq-retry', 'seq-retry-no-set-seq']) {
      const s = getScenario(name);
      const r = await explore({ strategy: 'pct', schedules: 300, stopOnFirst: true }, s.setup);
      sections.push(await reportScenario(s, r, 0.5));
    }
    const html = buildReport({ title: 'test report', command: 'mirrorlab report', scenarios: sections });
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('<table id="summary-table">');
    expect(html).toContain('2 of 2 scenarios as expected');
    expect(html).toContain('<a href="#s-seq-retry-no-set-seq">');
    expect(html).toContain('<svg xmlns="http://www.w3.org/2000/svg"');
    expect(html).toMatch(/<h3 class="violation">stale-mapping: devA/);
    expect(html).toContain('mirrorlab replay seq-retry-no-set-seq m1.');
    // Plot and d3 are inlined; no script, image or stylesheet comes from the network.
    expect(html).toContain('Plot.plot(');
    expect(html).not.toMatch(/<(script|img|link)[^>]+(src|href)="https?:/);
    const data = JSON.parse(
      /<script id="report-data" type="application\/json">([\s\S]*?)<\/script>/.exec(html)![1],
    );
    expect(data.filter((c: { kind: string }) => c.kind === 'timeline').length).toBe(
      sections[1].violations.length,
    );
    expect(sections[0].ok && sections[1].ok).toBe(true);
    expect(sections[1].violations[0].timeline.spans.some((s) => s.kind === 'invalidation')).toBe(true);
  });
});
