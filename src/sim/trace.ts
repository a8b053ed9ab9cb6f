/** One scheduling step of a run, as recorded when tracing is on. */
export interface TraceEntry {
  /** The scheduling step's number, from 1 (Simulation.steps after it). */
  step: number;
  /** Thread id and name. */
  tid: number;
  /** The thread's name. */
  thread: string;
  /** What the thread does next (the operation at this scheduling point). */
  label: string;
  /** The object it acts on, when the point names one. */
  object?: string;
  /** Virtual time after the step, in nanoseconds. */
  timeNs: number;
  /** Values the model attached (sequence numbers, pfns...). */
  note?: string;
  /** Names of the locks the thread held when it reached this point (tracing only). */
  held?: string[];
  /**
   * A model event recorded for the reader (`sim.traceEvent`), not a scheduling point: it
   * shares the step number of the thread's latest step and never changes the schedule.
   */
  event?: true;
}

/** Options of the diagram renderer. */
export interface DiagramOptions {
  /** Step to mark as the violating one. */
  markStep?: number;
  /** Text shown after the mark. */
  markText?: string;
  /**
   * The thread that detected the violation. When it is not the one that ran the marked
   * step (it detected it after resuming), a final row in its column shows where.
   */
  markThread?: string;
  /** Widest column, in characters. */
  maxColumnWidth?: number;
  /** Show at most this many steps before the marked step (older ones are elided). */
  maxSteps?: number;
}

function cell(e: TraceEntry): string {
  let s = e.object !== undefined ? `${e.label} ${e.object}` : e.label;
  if (e.event) s = `· ${s}`;
  if (e.note !== undefined) s += ` [${e.note}]`;
  return s;
}

function fit(s: string, width: number): string {
  if (s.length > width) return s.slice(0, width - 1) + '…';
  return s.padEnd(width);
}

/**
 * Renders a trace as a race diagram: one column per thread, one row per step, in the
 * order the steps interleaved — the CPU0/CPU1 form kernel developers draw by hand.
 * The violating step is marked with `>>`.
 */
export function renderDiagram(trace: readonly TraceEntry[], options: DiagramOptions = {}): string {
  if (trace.length === 0) return '(no steps)';
  const maxWidth = options.maxColumnWidth ?? 38;
  const columns: { tid: number; name: string; width: number }[] = [];
  const colOf = new Map<number, number>();
  let first = 0;
  const mark = options.markStep;
  if (options.maxSteps !== undefined && mark !== undefined) {
    const markIdx = trace.findIndex((e) => e.step === mark);
    if (markIdx >= 0) first = Math.max(0, markIdx + 1 - options.maxSteps);
  } else if (options.maxSteps !== undefined) {
    first = Math.max(0, trace.length - options.maxSteps);
  }
  const rows = trace.slice(first);
  // One column per thread, in thread-creation order (cpu0 left of cpu1, as drawn by hand).
  const seen = new Map<number, string>();
  for (const e of trace) if (!seen.has(e.tid)) seen.set(e.tid, e.thread);
  for (const [tid, name] of [...seen].sort((a, b) => a[0] - b[0])) {
    colOf.set(tid, columns.length);
    columns.push({ tid, name, width: Math.min(maxWidth, Math.max(4, name.length)) });
  }
  for (const e of rows) {
    const c = columns[colOf.get(e.tid)!];
    c.width = Math.min(maxWidth, Math.max(c.width, cell(e).length));
  }
  const stepWidth = Math.max(4, String(trace[trace.length - 1].step).length);
  const lines: string[] = [];
  const header = ' '.repeat(stepWidth + 3) + columns.map((c) => fit(c.name, c.width)).join(' | ');
  lines.push(header.trimEnd());
  lines.push(' '.repeat(stepWidth + 3) + columns.map((c) => '-'.repeat(c.width)).join('-+-'));
  if (first > 0) lines.push(`${'…'.padStart(stepWidth)}   (${first} earlier steps)`);
  for (const e of rows) {
    const col = colOf.get(e.tid)!;
    const marker = e.step === mark ? '>>' : '  ';
    const cells = columns.map((c, i) => (i === col ? fit(cell(e), c.width) : ' '.repeat(c.width)));
    let line = `${String(e.step).padStart(stepWidth)} ${marker}${cells.join(' | ')}`.trimEnd();
    const detectedHere = options.markThread === undefined || options.markThread === e.thread;
    if (e.step === mark && options.markText && detectedHere) line += `   <-- ${options.markText}`;
    lines.push(line);
    if (e.step === mark && !detectedHere) {
      const col = columns.findIndex((c) => c.name === options.markThread);
      if (col >= 0) {
        const cells = columns.map((c, i) => (i === col ? fit('!! detected', c.width) : ' '.repeat(c.width)));
        let row = `${' '.repeat(stepWidth)} >>${cells.join(' | ')}`.trimEnd();
        if (options.markText) row += `   <-- ${options.markText}`;
        lines.push(row);
      }
    }
  }
  return lines.join('\n');
}
