import { IntLog } from './int-log.js';
import { DEFAULT_MAX_STEPS, DEFAULT_STEP_NS } from './options.js';
import type { Strategy } from './strategy.js';
import type { SimThread } from './thread.js';
import { SimUsageError } from './violation.js';

/**
 * Readable schedules: the thread that ran each step, run-length encoded, with the values
 * `sim.choose` returned shown where they were chosen, after a header of the run options
 * that shape the run:
 *
 *     seed=1 +notifier.insertNotDeferred | cpu0*12 cpu1*3 ?1 cpu0*40
 *
 * `cpu0*12`: the scheduler hands the CPU to cpu0 at the next 12 scheduling points (each
 * hand-off is followed by the step that thread runs, except the last hand-off of a run that
 * ended before the thread reached its next point); `?1`: a `sim.choose` returned 1. Thread
 * names that occur twice in a run are written `name#id`; names with spaces or the
 * characters `*?#|"` are quoted as JSON strings. `replay` accepts this form as well as the
 * opaque token (as fast-check prints its scheduler's order beside its seed).
 */

/**
 * The run-length log behind a readable schedule: (code, count) pairs, code a thread id
 * (>= 0) or `-1 - value` for a value choice. It grows by one pair per context switch, not
 * per step, in a growable typed array (see IntLog); the open run is kept in two fields.
 */
export class ScheduleLog {
  /** Finished (code, count) pairs. */
  private readonly pairs = new IntLog();
  /** The open run: its code and length (NaN: none yet). */
  private code = NaN;
  private count = 0;

  /** The scheduler hands the CPU to thread `tid` (it runs the next step). */
  step(tid: number): void {
    if (tid === this.code) this.count++;
    else this.open(tid);
  }

  /** A value choice returned `value`. */
  value(value: number): void {
    const code = -1 - value;
    if (code === this.code) this.count++;
    else this.open(code);
  }

  private open(code: number): void {
    if (this.count > 0) this.pairs.push2(this.code, this.count);
    this.code = code;
    this.count = 1;
  }

  /** The run ended: see IntLog.seal. */
  seal(): void {
    this.pairs.seal();
  }

  /** Nothing reads this schedule again: see IntLog.release. Reading it afterwards throws. */
  release(): void {
    this.pairs.release();
  }

  /** Every (code, count) pair, the open run included. */
  get runs(): number[] {
    if (this.pairs.released) {
      throw new SimUsageError("a run's readable schedule was read after Simulation.releaseLogs");
    }
    const p = this.pairs;
    const out = new Array<number>(p.length);
    for (let i = 0; i < p.length; i++) out[i] = p.at(i);
    if (this.count > 0) out.push(this.code, this.count);
    return out;
  }
}

/** The run options a readable schedule carries in its header. */
export interface ScheduleHeader {
  seed: number;
  maxSteps?: number;
  stepNs?: number;
  switches?: Record<string, boolean>;
}

const BARE = /^[^\s*?#|"]+$/;

function quoteName(name: string): string {
  return BARE.test(name) ? name : JSON.stringify(name);
}

/** Formats a run's schedule log; `names[id]` is thread id's name. */
export function formatSchedule(log: ScheduleLog, names: readonly string[], header: ScheduleHeader): string {
  const count = new Map<string, number>();
  for (const n of names) count.set(n, (count.get(n) ?? 0) + 1);
  const words: string[] = [`seed=${header.seed}`];
  if (header.maxSteps !== undefined && header.maxSteps !== DEFAULT_MAX_STEPS) {
    words.push(`maxSteps=${header.maxSteps}`);
  }
  if (header.stepNs !== undefined && header.stepNs !== DEFAULT_STEP_NS) words.push(`stepNs=${header.stepNs}`);
  for (const [name, on] of Object.entries(header.switches ?? {})) words.push(`${on ? '+' : '-'}${name}`);
  words.push('|');
  const r = log.runs;
  for (let i = 0; i < r.length; i += 2) {
    const code = r[i];
    const n = r[i + 1];
    let w: string;
    if (code >= 0) {
      const name = names[code] ?? `?thread${code}`;
      w = quoteName(name) + ((count.get(name) ?? 0) > 1 ? `#${code}` : '');
    } else {
      w = `?${-1 - code}`;
    }
    words.push(n > 1 ? `${w}*${n}` : w);
  }
  return words.join(' ');
}

/** One run of a parsed schedule: a thread (by name, and id when written) or a value. */
export interface ScheduleRun {
  thread?: string;
  id?: number;
  value?: number;
  count: number;
}

/** A parsed readable schedule. */
export interface ParsedSchedule extends ScheduleHeader {
  runs: ScheduleRun[];
  /** Hand-offs (thread picks) the schedule describes: the run's steps, or one more. */
  steps: number;
}

/** Whether `text` looks like a readable schedule rather than an opaque token. */
export function isReadableSchedule(text: string): boolean {
  return text.includes('|');
}

const WORD = /\s*("(?:[^"\\]|\\.)*"|\?\d+|[^\s*#|"]+)(#\d+)?(\*\d+)?/y;

/** Parses a readable schedule; throws a SimUsageError naming the word that is wrong. */
export function parseSchedule(text: string): ParsedSchedule {
  const bar = text.indexOf('|');
  if (bar < 0)
    throw new SimUsageError(`readable schedule '${text}' has no '|' between its header and its steps`);
  const header: ScheduleHeader = { seed: 1 };
  for (const w of text
    .slice(0, bar)
    .trim()
    .split(/\s+/)
    .filter((x) => x.length > 0)) {
    const kv = /^(seed|maxSteps|stepNs)=(\d+)$/.exec(w);
    if (kv) {
      header[kv[1] as 'seed' | 'maxSteps' | 'stepNs'] = Number(kv[2]);
    } else if (/^[+-][a-z][a-zA-Z0-9.]*$/.test(w)) {
      (header.switches ??= {})[w.slice(1)] = w[0] === '+';
    } else {
      throw new SimUsageError(
        `readable schedule: bad header word '${w}' (expected seed=N, maxSteps=N, stepNs=N, +switch or -switch)`,
      );
    }
  }
  const body = text.slice(bar + 1);
  const runs: ScheduleRun[] = [];
  let steps = 0;
  let pos = 0;
  while (pos < body.length) {
    if (/^\s*$/.test(body.slice(pos))) break;
    WORD.lastIndex = pos;
    const m = WORD.exec(body);
    if (m === null || (m.index + m[0].length < body.length && !/\s/.test(body[m.index + m[0].length]))) {
      const rest = body.slice(pos).trim().split(/\s+/)[0];
      throw new SimUsageError(
        `readable schedule: cannot read '${rest}' (expected name, name*N, name#id*N or ?V)`,
      );
    }
    pos = WORD.lastIndex;
    const count = m[3] !== undefined ? Number(m[3].slice(1)) : 1;
    if (count < 1) throw new SimUsageError(`readable schedule: count must be >= 1 in '${m[0].trim()}'`);
    if (m[1].startsWith('?')) {
      if (m[2] !== undefined)
        throw new SimUsageError(`readable schedule: a value choice has no id: '${m[0].trim()}'`);
      runs.push({ value: Number(m[1].slice(1)), count });
      continue;
    }
    let name: string;
    try {
      name = m[1].startsWith('"') ? (JSON.parse(m[1]) as string) : m[1];
    } catch {
      throw new SimUsageError(`readable schedule: bad quoted name ${m[1]}`);
    }
    runs.push(
      m[2] !== undefined ? { thread: name, id: Number(m[2].slice(1)), count } : { thread: name, count },
    );
    steps += count;
  }
  return { ...header, runs, steps };
}

/**
 * Replays a readable schedule: at each decision, the thread the schedule says runs the
 * next step (step `steps + 1`), and value choices in order. Any disagreement with the
 * program is a usage error naming the step.
 */
export class ScheduleReplayStrategy implements Strategy {
  readonly name = 'replay';
  private threadRun = 0;
  /** Steps covered by thread runs before `threadRun`. */
  private stepsBefore = 0;
  private valueRun = 0;
  private valueUsed = 0;

  constructor(private readonly schedule: ParsedSchedule) {}

  onSpawn(): void {}

  pickThread(runnable: readonly SimThread[], _current: SimThread | null, steps: number): number {
    const runs = this.schedule.runs;
    const step = steps + 1;
    for (;;) {
      const r = runs[this.threadRun] as ScheduleRun | undefined;
      if (r === undefined) {
        throw new SimUsageError(
          `readable schedule does not match this program: it ends after ${this.schedule.steps} steps but the run goes on`,
        );
      }
      if (r.thread !== undefined && step <= this.stepsBefore + r.count) break;
      if (r.thread !== undefined) this.stepsBefore += r.count;
      this.threadRun++;
    }
    const r = runs[this.threadRun];
    for (let i = 0; i < runnable.length; i++) {
      const t = runnable[i];
      if (r.id !== undefined ? t.id === r.id && t.name === r.thread : t.name === r.thread) return i;
    }
    const want = r.id !== undefined ? `${r.thread}#${r.id}` : r.thread;
    throw new SimUsageError(
      `readable schedule does not match this program: step ${step} runs '${want}' but the runnable threads are ` +
        runnable.map((t) => t.name).join(', '),
    );
  }

  chooseValue(n: number): number {
    const runs = this.schedule.runs;
    for (;;) {
      const r = runs[this.valueRun] as ScheduleRun | undefined;
      if (r === undefined) {
        throw new SimUsageError(
          'readable schedule does not match this program: the run makes more value choices',
        );
      }
      if (r.value !== undefined && this.valueUsed < r.count) {
        this.valueUsed++;
        if (r.value >= n) {
          throw new SimUsageError(
            `readable schedule does not match this program: a choice among ${n} values cannot be ?${r.value}`,
          );
        }
        return r.value;
      }
      this.valueRun++;
      this.valueUsed = 0;
    }
  }
}
