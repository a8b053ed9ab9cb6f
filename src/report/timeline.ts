/**
 * The timeline of a traced run, as data for the report's charts: per thread, the spans
 * during which it held each lock, the invalidation windows it ran (from the callback to the
 * close of the window), and the sequence values read and written, along virtual time.
 */
import type { TraceEntry } from '../sim/trace.js';

/** A span on a thread's lane: a lock held or an invalidation window open. */
export interface TimelineSpan {
  thread: string;
  kind: 'lock' | 'invalidation';
  /** The lock's name, or the subscription invalidated. */
  what: string;
  startNs: number;
  endNs: number;
  startStep: number;
  endStep: number;
}

/** A point on a thread's lane: a sequence read or write, a device map, a violation. */
export interface TimelinePoint {
  thread: string;
  label: string;
  text: string;
  timeNs: number;
  step: number;
}

/** What the report draws of one run. */
export interface Timeline {
  threads: string[];
  spans: TimelineSpan[];
  points: TimelinePoint[];
  endNs: number;
}

/** Trace labels that take a lock, and the labels that release what they took. */
const ACQUIRE = new Set([
  'mutex_lock',
  'mutex_lock_killable',
  'mutex_trylock',
  'spin_lock',
  'spin_trylock',
  'down_read',
  'down_read_killable',
  'down_read_trylock',
  'down_write',
  'down_write_killable',
  'down_write_trylock',
]);
const RELEASE = new Set(['mutex_unlock', 'spin_unlock', 'up_read', 'up_write']);
const POINT_LABELS = new Set(['read_begin', 'read_retry', 'check_retry', 'set_seq', 'device_map', 'kfree']);

/**
 * Builds the timeline of `trace`. A lock span runs from the step that asked for the lock to
 * its release event; a request the thread's next entry does not hold (a failed trylock)
 * makes no span; spans still open at the end of the run close there. `violation`, when
 * given, adds a point for it.
 */
export function timelineOf(
  trace: readonly TraceEntry[],
  violation?: { step: number; thread: string; text: string },
): Timeline {
  const threads: string[] = [];
  const seen = new Set<string>();
  const spans: TimelineSpan[] = [];
  const points: TimelinePoint[] = [];
  const open = new Map<
    string,
    { start: TraceEntry; what: string; kind: TimelineSpan['kind']; confirmed: boolean }[]
  >();
  const openInvalidations: { start: TraceEntry; what: string }[] = [];
  const last = trace.length > 0 ? trace[trace.length - 1] : undefined;
  const endNs = last?.timeNs ?? 0;
  const close = (thread: string, what: string, kind: TimelineSpan['kind'], at: TraceEntry): boolean => {
    const list = open.get(thread);
    if (list === undefined) return false;
    for (let i = list.length - 1; i >= 0; i--) {
      if (list[i].what === what && list[i].kind === kind) {
        const s = list[i].start;
        spans.push({
          thread,
          kind,
          what,
          startNs: s.timeNs,
          endNs: at.timeNs,
          startStep: s.step,
          endStep: at.step,
        });
        list.splice(i, 1);
        return true;
      }
    }
    return false;
  };
  for (const e of trace) {
    if (!seen.has(e.thread)) {
      seen.add(e.thread);
      threads.push(e.thread);
    }
    // A lock asked for at the thread's previous entry is held from its next one on; when
    // it is not (a failed trylock), the span is dropped.
    const pending = open.get(e.thread);
    if (pending !== undefined) {
      for (let i = pending.length - 1; i >= 0; i--) {
        const o = pending[i];
        if (o.confirmed || o.start === e) continue;
        if (e.label.endsWith('_wait') && e.object === o.what) continue; // still waiting for it
        if ((e.held ?? []).includes(o.what)) o.confirmed = true;
        else pending.splice(i, 1);
      }
    }
    if (ACQUIRE.has(e.label) && e.object !== undefined) {
      let list = open.get(e.thread);
      if (list === undefined) open.set(e.thread, (list = []));
      list.push({ start: e, what: e.object, kind: 'lock', confirmed: false });
    } else if (RELEASE.has(e.label) && e.object !== undefined) {
      close(e.thread, e.object, 'lock', e);
    } else if (e.label === 'mn_itree_invalidate' && e.object !== undefined) {
      openInvalidations.push({ start: e, what: e.object });
    } else if (e.label === 'invalidate_seq') {
      // The window closes for every subscription invalidated in it.
      for (const w of openInvalidations.splice(0)) {
        spans.push({
          thread: w.start.thread,
          kind: 'invalidation',
          what: w.what,
          startNs: w.start.timeNs,
          endNs: e.timeNs,
          startStep: w.start.step,
          endStep: e.step,
        });
      }
    }
    if (POINT_LABELS.has(e.label) || e.label === 'invalidate_seq') {
      const text = `${e.label}${e.object !== undefined ? ` ${e.object}` : ''}${e.note !== undefined ? ` [${e.note}]` : ''}`;
      points.push({ thread: e.thread, label: e.label, text, timeNs: e.timeNs, step: e.step });
    }
  }
  if (last !== undefined) {
    for (const [thread, list] of open) {
      for (const o of list) {
        spans.push({
          thread,
          kind: o.kind,
          what: o.what,
          startNs: o.start.timeNs,
          endNs,
          startStep: o.start.step,
          endStep: last.step,
        });
      }
    }
    for (const w of openInvalidations) {
      spans.push({
        thread: w.start.thread,
        kind: 'invalidation',
        what: w.what,
        startNs: w.start.timeNs,
        endNs,
        startStep: w.start.step,
        endStep: last.step,
      });
    }
  }
  if (violation !== undefined) {
    const at = trace.find((e) => e.step === violation.step);
    points.push({
      thread: violation.thread,
      label: 'violation',
      text: violation.text,
      timeNs: at?.timeNs ?? endNs,
      step: violation.step,
    });
  }
  return { threads, spans, points, endNs };
}
