/**
 * Race diagrams: the CPU0/CPU1 drawing a kernel developer makes by hand, cut down to the
 * steps that explain one violation.
 *
 * A full trace of a failing schedule is mostly set-up (faulting pages in, registering
 * subscriptions) and steps on objects the race never touches. The slice keeps:
 *   - the violating step and the step it conflicts with (Violation.conflictStep);
 *   - every step and model event on an object the violation names (Violation.objects, or
 *     the addresses and object names its message mentions): its VA, its page, the device
 *     and its locks, the subscription and its sequence reads and writes;
 *   - the closing of each invalidation window (the invalidate_seq bump);
 * then keeps the latest of those that fit the row budget, and folds everything before
 * them into one line. A violation that names nothing (a user's `sim.check`) keeps the
 * latest steps of every thread. Sequence values travel as notes on the rows that read or write
 * them; rows that check or set a sequence show the locks their thread held.
 */
import type { TraceEntry } from '../sim/trace.js';
import type { Violation } from '../sim/violation.js';

/** Options of the race-diagram renderers. */
export interface RaceDiagramOptions {
  /** Most lines the text diagram may take, header and footers included. Default 25. */
  maxRows?: number;
  /** Widest column, in characters. Default 44. */
  maxColumnWidth?: number;
}

/** What a violation's slice keeps of a trace. */
export interface RaceSlice {
  /** The kept entries, in trace order. */
  rows: TraceEntry[];
  /** Threads shown, left to right (creation order, as drawn by hand): tid and name. */
  columns: { tid: number; name: string }[];
  /** Scheduling steps before the first kept row (folded into one line). */
  foldedSteps: number;
  /** Scheduling steps after the first kept row that the slice left out. */
  skippedSteps: number;
  /** The violating step. */
  markStep: number;
  /** The step it conflicts with, when known and present in the trace. */
  conflictStep: number | undefined;
  /** The row marked as the conflicting one (the last entry of that step). */
  conflictRow: TraceEntry | undefined;
  /** The row marked as the violating one. */
  markRow: TraceEntry | undefined;
  /** The detecting thread has no row at the violating step (it resumed and checked). */
  detectedElsewhere: boolean;
  /** The object keys the slice matched on (for `explain`). */
  keys: string[];
}

/**
 * Model events recorded for the web trace viewer's state panels (CPU page-table changes,
 * interval-tree updates, device unmaps): the viewer folds them, race diagrams leave them out.
 */
const VIEWER_STATE_EVENTS = new Set([
  'set_pte',
  'set_pmd',
  'itree_insert',
  'itree_remove',
  'interval_insert',
  'device_unmap',
]);
/** Labels of model events and points that read or write sequence numbers. */
const SEQUENCE_LABELS = new Set(['read_begin', 'read_retry', 'check_retry', 'set_seq']);
/** Tokens too common to tell one object from another. */
const GENERIC = new Set([
  'lock',
  'the',
  'a',
  'an',
  'of',
  'to',
  'at',
  'by',
  'in',
  'on',
  'and',
  'but',
  'now',
  'has',
  'maps',
  'while',
  'cpu',
  'CPU',
  'pte',
  'none',
  'step',
  'thread',
  'mm',
  'seq',
]);

function tokens(text: string): string[] {
  return text.split(/[^A-Za-z0-9_]+/).filter((t) => t.length > 0);
}

function isHex(t: string): boolean {
  return /^0x[0-9a-fA-F]+$/.test(t);
}

function significant(t: string): boolean {
  if (GENERIC.has(t)) return false;
  if (/^\d+$/.test(t)) return false; // plain numbers name nothing on their own
  return true;
}

/** The keys a violation is about: its named objects, or what its message names. */
export function violationKeys(trace: readonly TraceEntry[], v: Violation): string[] {
  const keys = new Set<string>();
  const objectTokens = new Set<string>();
  for (const e of trace) if (e.object !== undefined) for (const t of tokens(e.object)) objectTokens.add(t);
  const sources = v.objects ?? [v.message];
  for (const text of sources) {
    for (const t of tokens(text)) {
      if (!significant(t)) continue;
      // Explicit objects count as given; words of a message only when some step names them.
      if (v.objects !== undefined || isHex(t) || objectTokens.has(t))
        keys.add(isHex(t) ? t.toLowerCase() : t);
    }
  }
  return [...keys];
}

function touches(e: TraceEntry, keys: ReadonlySet<string>): boolean {
  if (e.object === undefined) return false;
  for (const t of tokens(e.object)) if (keys.has(isHex(t) ? t.toLowerCase() : t)) return true;
  return false;
}

/** Cuts `trace` down to the rows that explain `v` (see the module comment). */
export function sliceTrace(
  fullTrace: readonly TraceEntry[],
  v: Violation,
  options: RaceDiagramOptions = {},
): RaceSlice {
  const trace = fullTrace.filter((e) => !(e.event && VIEWER_STATE_EVENTS.has(e.label)));
  const maxRows = options.maxRows ?? 25;
  const keyList = violationKeys(trace, v);
  const keys = new Set(keyList);
  const mark = v.step;
  const conflict =
    v.conflictStep !== undefined && trace.some((e) => e.step === v.conflictStep) ? v.conflictStep : undefined;
  // The violating row: the detecting thread's last entry when it is at the violating step
  // (an event such as device_map counts: it is what the thread did); otherwise the
  // detecting thread resumed without a step of its own, and the row is the step `mark` of
  // whichever thread ran it, with a "detected" line for the detecting thread.
  let markIdx = -1;
  let detectedElsewhere = false;
  for (let i = trace.length - 1; i >= 0; i--) {
    if (trace[i].thread === v.thread) {
      if (trace[i].step === mark) markIdx = i;
      break;
    }
  }
  if (markIdx < 0) {
    for (let i = trace.length - 1; i >= 0; i--) {
      if (trace[i].step === mark && !trace[i].event) {
        markIdx = i;
        detectedElsewhere = trace[i].thread !== v.thread;
        break;
      }
    }
  }
  // The run stopped at the violation: model events after the marked step (the detecting
  // thread resumed and recorded what it did before the check fired) belong to it.
  const end = trace.length - 1;
  const relevant: number[] = [];
  // The conflicting row: the last entry of that step on the violation's address (the
  // device_map that installed a stale mapping, not the unlock after it), else the last entry
  // of that step (a kfree event after its thread's point).
  const primary = new Set(keyList.filter(isHex));
  let conflictIdx = -1;
  if (conflict !== undefined) {
    for (let i = end; i >= 0; i--) {
      if (trace[i].step === conflict) {
        if (conflictIdx < 0) conflictIdx = i;
        if (primary.size > 0 && touches(trace[i], primary)) {
          conflictIdx = i;
          break;
        }
      } else if (trace[i].step < conflict) break;
    }
  }
  // Where each involved thread last was: the detecting thread may have resumed inside a
  // callback whose step names no object of the violation.
  const lastOf = new Set<number>();
  for (const name of new Set([v.thread, ...v.threads])) {
    for (let i = end; i >= 0; i--) {
      if (trace[i].thread === name && !trace[i].event) {
        lastOf.add(i);
        break;
      }
    }
  }
  for (let i = 0; i <= end; i++) {
    const e = trace[i];
    const isConflict = i === conflictIdx;
    if (
      keys.size === 0 || // nothing named: every step may matter; the budget keeps the latest
      i === markIdx ||
      isConflict ||
      lastOf.has(i) ||
      touches(e, keys) ||
      (e.event && e.label === 'invalidate_seq' && relevant.length > 0)
    ) {
      relevant.push(i);
    }
  }
  // Lines other than rows: header (2), folded set-up (1), detection row (1), a gap line
  // when the conflict lies before the window (1).
  let budget = Math.max(3, maxRows - 4);
  let kept: number[];
  if (relevant.length <= budget) {
    kept = relevant;
  } else if (conflictIdx >= 0 && relevant.indexOf(conflictIdx) < relevant.length - (budget - 1)) {
    budget -= 1; // the gap line
    kept = [conflictIdx, ...relevant.slice(relevant.length - (budget - 1))];
  } else {
    kept = relevant.slice(relevant.length - budget);
  }
  // Over budget, rows on the violation's addresses go before rows that only share its device or
  // lock names (a device's lock traffic must not push out the steps on the page itself): when
  // the latest rows leave out some address row after the conflicting step, keep every address
  // row from the conflict on and fill the rest with the latest others.
  if (relevant.length > kept.length && primary.size > 0 && conflictIdx >= 0) {
    const from = relevant.indexOf(conflictIdx);
    const must = new Set<number>([conflictIdx]);
    for (let j = from; j < relevant.length; j++) {
      const i = relevant[j];
      if (i === markIdx || lastOf.has(i) || touches(trace[i], primary)) must.add(i);
    }
    const keptSet0 = new Set(kept);
    if ([...must].some((i) => !keptSet0.has(i)) && must.size <= budget) {
      const rest = relevant.slice(from).filter((i) => !must.has(i));
      const room = budget - must.size;
      const fill = room > 0 ? rest.slice(Math.max(0, rest.length - room)) : [];
      kept = [...must, ...fill].sort((x, y) => x - y);
    }
  }
  const rows = kept.map((i) => trace[i]);
  const first = kept.length > 0 ? kept[0] : end;
  let foldedSteps = 0;
  for (let i = 0; i < first; i++) if (!trace[i].event) foldedSteps++;
  let skippedSteps = 0;
  const keptSet = new Set(kept);
  for (let i = first; i <= end; i++) if (!trace[i].event && !keptSet.has(i)) skippedSteps++;
  const seen = new Map<number, string>();
  for (const e of rows) seen.set(e.tid, e.thread);
  if (detectedElsewhere) {
    const d = trace.find((e) => e.thread === v.thread);
    if (d !== undefined) seen.set(d.tid, d.thread);
  }
  const columns = [...seen].sort((a, b) => a[0] - b[0]).map(([tid, name]) => ({ tid, name }));
  return {
    rows,
    columns,
    foldedSteps,
    skippedSteps,
    markStep: mark,
    conflictStep: conflict,
    conflictRow: conflictIdx >= 0 && conflictIdx !== markIdx ? trace[conflictIdx] : undefined,
    markRow: markIdx >= 0 ? trace[markIdx] : undefined,
    detectedElsewhere,
    keys: keyList,
  };
}

/** Lockdep maps are held around every callback; naming them on each row says nothing. */
function shownLocks(held: readonly string[] | undefined): string[] {
  return (held ?? []).filter((name) => name !== 'mmu_notifier_invalidate_range_start');
}

/**
 * The text of one row's cell: operation, object, notes, and — on rows that check or set a
 * sequence — the locks the thread held (`{no lock}` when none).
 */
export function cellText(e: TraceEntry, note: string | undefined = e.note): string {
  let s = e.object !== undefined ? `${e.label} ${e.object}` : e.label;
  if (note !== undefined) s += ` [${note}]`;
  if (SEQUENCE_LABELS.has(e.label) && e.label !== 'read_begin') {
    const locks = shownLocks(e.held);
    s += locks.length > 0 ? ` {${locks.join(', ')}}` : ' {no lock}';
  }
  return s;
}

function fit(s: string, width: number): string {
  if (s.length > width) return s.slice(0, width - 1) + '…';
  return s.padEnd(width);
}

interface Line {
  step: string;
  marker: '>>' | '*>' | '  ';
  col: number; // -1: a full-width note line
  text: string;
  event: boolean;
  trailer?: string;
}

function layout(slice: RaceSlice, v: Violation): Line[] {
  const colOf = new Map<number, number>();
  slice.columns.forEach((c, i) => colOf.set(c.tid, i));
  const lines: Line[] = [];
  if (slice.foldedSteps > 0) {
    lines.push({
      step: '…',
      marker: '  ',
      col: -1,
      text: `${slice.foldedSteps} earlier step${slice.foldedSteps === 1 ? '' : 's'}: set-up, and steps on other objects`,
      event: false,
    });
  }
  let prevStep = -1;
  const markText = `${v.kind}: ${v.message}`;
  let last: { e: TraceEntry; line: Line } | null = null;
  for (const e of slice.rows) {
    // A model event right after its own scheduling point (same thread, operation and
    // object) adds its values to that row instead of taking one of its own.
    if (
      e.event &&
      last !== null &&
      !last.e.event &&
      last.e.tid === e.tid &&
      last.e.label === e.label &&
      last.e.object === e.object &&
      e !== slice.conflictRow
    ) {
      const note = [last.e.note, e.note].filter((n) => n !== undefined).join('; ');
      last.line.text = cellText({ ...last.e, held: e.held }, note.length > 0 ? note : undefined);
      continue;
    }
    if (
      prevStep >= 0 &&
      slice.conflictStep !== undefined &&
      prevStep === slice.conflictStep &&
      e.step > prevStep + 1
    ) {
      const hidden = e.step - prevStep - 1;
      if (hidden > 0)
        lines.push({
          step: '…',
          marker: '  ',
          col: -1,
          text: `${hidden} step${hidden === 1 ? '' : 's'}`,
          event: false,
        });
    }
    const isMark = e === slice.markRow;
    const isConflict = e === slice.conflictRow;
    const line: Line = {
      // Model events carry their thread's step; the marked rows show it, the rest a dot.
      step: e.event && !isMark && !isConflict ? '·' : String(e.step),
      marker: isMark ? '>>' : isConflict ? '*>' : '  ',
      col: colOf.get(e.tid)!,
      text: cellText(e),
      event: e.event === true,
    };
    const detectorShown = slice.columns.some((c) => c.name === v.thread);
    if (isMark && (!slice.detectedElsewhere || !detectorShown)) line.trailer = markText;
    if (isConflict) line.trailer = 'conflicting step';
    lines.push(line);
    last = { e, line };
    prevStep = e.step;
  }
  // The detecting thread resumed after the marked step: its check fired after every row.
  if (slice.detectedElsewhere) {
    const col = slice.columns.findIndex((c) => c.name === v.thread);
    if (col >= 0)
      lines.push({ step: '', marker: '>>', col, text: '!! detected', event: false, trailer: markText });
  }
  return lines;
}

/**
 * The race diagram of `v` as text for the terminal: one column per thread, the kept steps
 * in the order they interleaved, `>>` on the violating step, `*>` on the step it
 * conflicts with, `·` on model events (sequence reads and writes) that are not
 * scheduling points. At most `maxRows` lines (default 25).
 */
export function renderRaceDiagram(
  trace: readonly TraceEntry[],
  v: Violation,
  options: RaceDiagramOptions = {},
): string {
  if (trace.length === 0) return '(no steps)';
  const slice = sliceTrace(trace, v, options);
  const maxWidth = options.maxColumnWidth ?? 44;
  const lines = layout(slice, v);
  const widths = slice.columns.map((c) => Math.min(maxWidth, Math.max(4, c.name.length)));
  for (const l of lines)
    if (l.col >= 0) widths[l.col] = Math.min(maxWidth, Math.max(widths[l.col], l.text.length));
  const stepWidth = Math.max(4, ...lines.map((l) => l.step.length));
  const out: string[] = [];
  const pad = ' '.repeat(stepWidth + 3);
  out.push((pad + slice.columns.map((c, i) => fit(c.name, widths[i])).join(' | ')).trimEnd());
  out.push(pad + widths.map((w) => '-'.repeat(w)).join('-+-'));
  for (const l of lines) {
    if (l.col < 0) {
      out.push(`${l.step.padStart(stepWidth)}   (${l.text})`);
      continue;
    }
    const cells = widths.map((w, i) => (i === l.col ? fit(l.text, w) : ' '.repeat(w)));
    let row = `${l.step.padStart(stepWidth)} ${l.marker}${cells.join(' | ')}`.trimEnd();
    if (l.trailer !== undefined) row += `   <-- ${l.trailer}`;
    out.push(row);
  }
  return out.join('\n');
}

function xml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * The same race diagram as a self-contained SVG (for reports): thread columns, the kept
 * rows, the violating row in red, the conflicting row in amber, model events in grey.
 */
export function renderRaceDiagramSvg(
  trace: readonly TraceEntry[],
  v: Violation,
  options: RaceDiagramOptions = {},
): string {
  const slice = sliceTrace(trace, v, options);
  const lines = trace.length === 0 ? [] : layout(slice, v);
  const charPx = 7.2;
  const rowPx = 20;
  const stepPx = 56;
  const maxWidth = options.maxColumnWidth ?? 44;
  const widths = slice.columns.map((c) => Math.min(maxWidth, Math.max(6, c.name.length)));
  for (const l of lines)
    if (l.col >= 0) widths[l.col] = Math.min(maxWidth, Math.max(widths[l.col], l.text.length));
  const colX: number[] = [];
  let x = stepPx;
  for (const w of widths) {
    colX.push(x);
    x += w * charPx + 16;
  }
  const width = Math.max(x, 480);
  const height = (lines.length + 3) * rowPx;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${Math.ceil(width)}" height="${height}" ` +
      `viewBox="0 0 ${Math.ceil(width)} ${height}" font-family="ui-monospace, Menlo, Consolas, monospace" font-size="12">`,
  );
  parts.push(`<title>${xml(`${v.kind}: ${v.message}`)}</title>`);
  parts.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
  slice.columns.forEach((c, i) => {
    parts.push(`<text x="${colX[i]}" y="${rowPx - 5}" font-weight="bold">${xml(c.name)}</text>`);
    parts.push(
      `<line x1="${colX[i] - 8}" y1="4" x2="${colX[i] - 8}" y2="${height - rowPx}" stroke="#d0d0d0"/>`,
    );
  });
  lines.forEach((l, n) => {
    const y = (n + 1) * rowPx;
    if (l.marker === '>>')
      parts.push(`<rect x="0" y="${y + 2}" width="${width}" height="${rowPx}" fill="#fde2e2"/>`);
    if (l.marker === '*>')
      parts.push(`<rect x="0" y="${y + 2}" width="${width}" height="${rowPx}" fill="#fff1cc"/>`);
    const ty = y + rowPx - 5;
    parts.push(`<text x="4" y="${ty}" fill="#888">${xml(l.step)}</text>`);
    if (l.col < 0) {
      parts.push(`<text x="${stepPx}" y="${ty}" fill="#888" font-style="italic">${xml(l.text)}</text>`);
      return;
    }
    const fill = l.event ? '#666' : '#111';
    const style = l.event ? ' font-style="italic"' : '';
    parts.push(`<text x="${colX[l.col]}" y="${ty}" fill="${fill}"${style}>${xml(l.text)}</text>`);
  });
  const foot = (lines.length + 2) * rowPx - 5;
  parts.push(`<text x="4" y="${foot}" fill="#b00020">${xml(`${v.kind}: ${v.message}`)}</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}
