/**
 * The trace document: what `mirrorlab run <scenario> --trace out.json` writes and what the web
 * trace viewer (`mirrorlab view out.json`) reads. One versioned JSON object:
 *
 *   { format: 'mirrorlab-trace', version: 1, scenario, status, steps, timeNs, seed, token,
 *     violations, trace, stats?, marks? }
 *
 * `trace` lists the run's scheduling steps and model events (src/sim/trace.ts) in the order they
 * happened. The viewer rebuilds the state at any step (interval tree, sequences, CPU and device
 * page tables, locks held) by folding the events up to that step. No Node imports: the browser
 * bundle uses this module too.
 */
import type { TraceEntry } from '../sim/trace.js';
import type { Violation } from '../sim/violation.js';

export const TRACE_FORMAT = 'mirrorlab-trace';
export const TRACE_VERSION = 1;

/** The violation fields a trace document keeps (the diagram is drawn elsewhere). */
export interface TraceViolation {
  kind: string;
  message: string;
  thread: string;
  threads: string[];
  step: number;
  timeNs: number;
  signature?: string;
  objects?: string[];
  conflictStep?: number;
}

/** Version 1 of the trace document. */
export interface TraceDocument {
  format: typeof TRACE_FORMAT;
  version: typeof TRACE_VERSION;
  scenario: string;
  status: string;
  steps: number;
  timeNs: number;
  seed: number;
  /** Replay token of the run. */
  token: string;
  violations: TraceViolation[];
  trace: TraceEntry[];
  /** Run statistics as `mirrorlab run` prints them (free-form, for the reader). */
  stats?: Record<string, unknown>;
  /** Coverage marks reached. */
  marks?: Record<string, number>;
}

/** What a run gives to make a document (a RunResult, spread with plainRunResult). */
export interface TraceRunInput {
  status: string;
  steps: number;
  timeNs: number;
  seed: number;
  token: string;
  violations: readonly Violation[];
  trace: readonly TraceEntry[] | undefined;
  marks?: Record<string, number>;
}

/** Builds the document of one traced run. Throws when the run was not traced. */
export function traceDocument(
  scenario: string,
  run: TraceRunInput,
  stats?: Record<string, unknown>,
): TraceDocument {
  if (run.trace === undefined)
    throw new Error('traceDocument: the run was not traced (Simulation trace: false)');
  const doc: TraceDocument = {
    format: TRACE_FORMAT,
    version: TRACE_VERSION,
    scenario,
    status: run.status,
    steps: run.steps,
    timeNs: run.timeNs,
    seed: run.seed,
    token: run.token,
    violations: run.violations.map((v) => {
      const out: TraceViolation = {
        kind: v.kind,
        message: v.message,
        thread: v.thread,
        threads: [...v.threads],
        step: v.step,
        timeNs: v.timeNs,
        signature: v.signature,
      };
      if (v.objects !== undefined) out.objects = [...v.objects];
      if (v.conflictStep !== undefined) out.conflictStep = v.conflictStep;
      return out;
    }),
    trace: [...run.trace],
  };
  if (stats !== undefined) doc.stats = stats;
  if (run.marks !== undefined) doc.marks = run.marks;
  return doc;
}

/** A trace document that failed validation: the message names the source and the path. */
export class TraceFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TraceFileError';
  }
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}

/**
 * Checks that `value` is a trace document of a version this build reads. Returns it typed, or
 * throws a TraceFileError naming `source`, the path inside the document and what was expected
 * (at most 10 problems listed).
 */
export function validateTraceDocument(value: unknown, source = 'trace'): TraceDocument {
  const problems: string[] = [];
  const bad = (path: string, expected: string, got: unknown): void => {
    problems.push(`${path}: expected ${expected}, got ${kindOf(got)}`);
  };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TraceFileError(
      `${source}: not a mirrorlab trace document (expected a JSON object, got ${kindOf(value)})`,
    );
  }
  const d = value as Record<string, unknown>;
  if (d.format !== TRACE_FORMAT) {
    const hint = Array.isArray(d.trace)
      ? ' (an older `mirrorlab run --trace` file? write it again with this version)'
      : '';
    throw new TraceFileError(
      `${source}: not a mirrorlab trace document: format is ${d.format === undefined ? 'missing' : kindOf(d.format)}, expected "${TRACE_FORMAT}"${hint}`,
    );
  }
  if (d.version !== TRACE_VERSION) {
    throw new TraceFileError(
      `${source}: trace document version ${kindOf(d.version)} is not supported (this build reads version ${TRACE_VERSION})`,
    );
  }
  const str = (k: string): void => {
    if (typeof d[k] !== 'string') bad(k, 'a string', d[k]);
  };
  const int = (obj: Record<string, unknown>, k: string, path: string): void => {
    const v = obj[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) bad(path, 'a non-negative integer', v);
  };
  str('scenario');
  str('status');
  str('token');
  int(d, 'steps', 'steps');
  int(d, 'timeNs', 'timeNs');
  int(d, 'seed', 'seed');
  if (!Array.isArray(d.violations)) bad('violations', 'an array', d.violations);
  else {
    d.violations.forEach((v: unknown, i) => {
      const p = `violations[${i}]`;
      if (v === null || typeof v !== 'object') return bad(p, 'an object', v);
      const o = v as Record<string, unknown>;
      for (const k of ['kind', 'message', 'thread'])
        if (typeof o[k] !== 'string') bad(`${p}.${k}`, 'a string', o[k]);
      int(o, 'step', `${p}.step`);
      if (!Array.isArray(o.threads)) bad(`${p}.threads`, 'an array of thread names', o.threads);
      if (o.conflictStep !== undefined) int(o, 'conflictStep', `${p}.conflictStep`);
    });
  }
  if (!Array.isArray(d.trace)) bad('trace', 'an array of trace entries', d.trace);
  else {
    let prev = 0;
    for (let i = 0; i < d.trace.length && problems.length < 10; i++) {
      const e: unknown = d.trace[i];
      const p = `trace[${i}]`;
      if (e === null || typeof e !== 'object' || Array.isArray(e)) {
        bad(p, 'an object', e);
        continue;
      }
      const o = e as Record<string, unknown>;
      int(o, 'step', `${p}.step`);
      int(o, 'tid', `${p}.tid`);
      int(o, 'timeNs', `${p}.timeNs`);
      if (typeof o.thread !== 'string') bad(`${p}.thread`, 'a string', o.thread);
      if (typeof o.label !== 'string') bad(`${p}.label`, 'a string', o.label);
      for (const k of ['object', 'note']) {
        if (o[k] !== undefined && typeof o[k] !== 'string') bad(`${p}.${k}`, 'a string when present', o[k]);
      }
      if (o.held !== undefined && !(Array.isArray(o.held) && o.held.every((h) => typeof h === 'string'))) {
        bad(`${p}.held`, 'an array of lock names when present', o.held);
      }
      if (o.event !== undefined && o.event !== true) bad(`${p}.event`, 'true when present', o.event);
      if (typeof o.step === 'number') {
        if (o.step < prev)
          problems.push(`${p}.step: ${o.step} goes back (the previous entry is step ${prev})`);
        prev = o.step;
      }
    }
  }
  if (d.stats !== undefined && (d.stats === null || typeof d.stats !== 'object'))
    bad('stats', 'an object', d.stats);
  if (problems.length > 0) {
    const shown = problems.slice(0, 10);
    const more = problems.length > shown.length ? `\n  … and ${problems.length - shown.length} more` : '';
    throw new TraceFileError(`${source}: invalid trace document:\n  ${shown.join('\n  ')}${more}`);
  }
  return d as unknown as TraceDocument;
}

/** Parses and validates the text of a trace file. */
export function parseTraceDocument(text: string, source = 'trace'): TraceDocument {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new TraceFileError(`${source}: not JSON (${(err as Error).message})`);
  }
  return validateTraceDocument(value, source);
}
