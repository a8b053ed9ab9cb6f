/**
 * The machine state at one point of a trace, rebuilt by folding the model events recorded up
 * to it: interval subscriptions (range, sequence S, in the tree or deferred), the notifier's
 * invalidate_seq G, the CPU page tables per mm, the device page tables per device, and the
 * locks each thread held. Pure functions over the trace entries; no DOM.
 *
 * Events read (see the model's `sim.traceEvent` calls): interval_insert, itree_insert,
 * itree_remove, set_seq, read_begin, read_retry, check_retry, invalidate_seq (and the
 * `invalidate_seq N` note of mn_itree_invalidate steps), set_pte / set_pmd, device_map,
 * device_unmap. Everything else is shown in the timeline only.
 */
import type { TraceEntry } from '../../src/sim/trace.js';

export interface SubState {
  name: string;
  start: number;
  last: number;
  /** S, when known. */
  seq: number | null;
  /** The sequence the latest read_begin returned. */
  readSeq: number | null;
  inTree: boolean;
  /** Waiting on the deferred list (inserted while the tree was being iterated). */
  deferred: boolean;
  /** Index of the entry that last changed it. */
  changedAt: number;
  /** The mm it subscribes to, when the trace says. */
  mm: string | null;
}

export interface PteState {
  va: number;
  /** The entry as the model describes it (`pte present pfn=0x2a rw dirty`). */
  entry: string;
  /** Index of the entry that last changed it. */
  changedAt: number;
  /** Cleared by this entry (kept so the change can be shown at its own step). */
  cleared: boolean;
}

export interface DevicePteState {
  va: number;
  /** What the device maps there (`pfn 3`, a value). */
  value: string;
  changedAt: number;
  cleared: boolean;
}

export interface ViewState {
  /** The entry the state is taken after (-1: before the first). */
  index: number;
  subs: Map<string, SubState>;
  /** G, when known. */
  invalidateSeq: number | null;
  /** mm name → va → entry. */
  cpu: Map<string, Map<number, PteState>>;
  /** device name → va → entry. */
  device: Map<string, Map<number, DevicePteState>>;
  /** thread name → locks held at its latest entry. */
  locks: Map<string, string[]>;
  /** device name → the mm it mirrors, when the trace says (DeviceMirror notes, or a subscription of that name). */
  deviceMm: Map<string, string>;
  /** thread name → its latest entry's label (what it is doing). */
  doing: Map<string, string>;
}

/** How far back a checkpoint keeps cleared page-table entries (longer than any step's events). */
const KEEP_CLEARED = 128;
/** Model events that release a lock (the entry's `held` still lists it). */
const UNLOCKS = new Set(['mutex_unlock', 'spin_unlock', 'up_read', 'up_write']);
const RANGE = /\[0x([0-9a-f]+), 0x([0-9a-f]+)\]/;
const SEQ = /\bseq (\d+)/;

function emptyState(): ViewState {
  return {
    index: -1,
    subs: new Map(),
    invalidateSeq: null,
    cpu: new Map(),
    device: new Map(),
    locks: new Map(),
    deviceMm: new Map(),
    doing: new Map(),
  };
}

function sub(s: ViewState, name: string, i: number): SubState {
  let x = s.subs.get(name);
  if (x === undefined) {
    x = {
      name,
      start: 0,
      last: 0,
      seq: null,
      readSeq: null,
      inTree: false,
      deferred: false,
      changedAt: i,
      mm: null,
    };
    s.subs.set(name, x);
  }
  x.changedAt = i;
  return x;
}

function setRange(x: SubState, note: string | undefined): void {
  const m = note === undefined ? null : RANGE.exec(note);
  if (m !== null) {
    x.start = parseInt(m[1], 16);
    x.last = parseInt(m[2], 16);
  }
}

function num(re: RegExp, text: string | undefined): number | null {
  const m = text === undefined ? null : re.exec(text);
  return m === null ? null : Number(m[1]);
}

/**
 * Applies entry `i` to `s` (mutates it). `heldAfter`: what the thread holds once the step has
 * run (the `held` of its next entry; see {@link locksAfter}); default: the entry's own.
 */
export function applyEntry(s: ViewState, e: TraceEntry, i: number, heldAfter?: readonly string[]): void {
  s.index = i;
  // `held` is what the thread held on reaching the entry; an unlock event has released one more.
  const held = e.held ?? [];
  const k = e.event && UNLOCKS.has(e.label) && e.object !== undefined ? held.lastIndexOf(e.object) : -1;
  s.locks.set(
    e.thread,
    heldAfter !== undefined ? [...heldAfter] : k < 0 ? held : [...held.slice(0, k), ...held.slice(k + 1)],
  );
  s.doing.set(e.thread, e.object !== undefined ? `${e.label} ${e.object}` : e.label);
  const note = e.note;
  if (!e.event) {
    // mn_itree_invalidate carries the odd G its callback receives.
    const g = num(/invalidate_seq (\d+)/, note);
    if (g !== null) s.invalidateSeq = g;
    return;
  }
  switch (e.label) {
    case 'interval_insert': {
      const x = sub(s, e.object ?? '?', i);
      setRange(x, note);
      x.seq = num(SEQ, note) ?? x.seq;
      x.deferred = note !== undefined && / deferred/.test(note);
      const mm = note === undefined ? null : /; mm (.+)$/.exec(note);
      if (mm !== null) x.mm = mm[1];
      const g = num(/invalidate_seq (\d+)/, note);
      if (g !== null) s.invalidateSeq = g;
      break;
    }
    case 'itree_insert': {
      const x = sub(s, e.object ?? '?', i);
      setRange(x, note);
      x.inTree = true;
      x.deferred = false;
      break;
    }
    case 'itree_remove': {
      const x = sub(s, e.object ?? '?', i);
      x.inTree = false;
      x.deferred = false;
      break;
    }
    case 'set_seq': {
      const v = num(/→ (\d+)/, note);
      if (v !== null) sub(s, e.object ?? '?', i).seq = v;
      break;
    }
    case 'read_begin': {
      const v = num(/seq (\d+)/, note);
      if (v !== null) {
        const x = sub(s, e.object ?? '?', i);
        x.readSeq = v;
        x.seq = v;
      }
      break;
    }
    case 'read_retry':
    case 'check_retry': {
      const v = num(/vs (\d+)/, note);
      if (v !== null) sub(s, e.object ?? '?', i).seq = v;
      break;
    }
    case 'invalidate_seq': {
      const v = num(/→ (\d+)/, note);
      if (v !== null) s.invalidateSeq = v;
      break;
    }
    case 'set_pte':
    case 'set_pmd': {
      // note: `0x7f0000001000: pte present pfn=0x2a rw dirty`
      const m = note === undefined ? null : /^0x([0-9a-f]+): (.*)$/.exec(note);
      if (m === null) break;
      const va = parseInt(m[1], 16);
      const mm = e.object ?? 'mm';
      let t = s.cpu.get(mm);
      if (t === undefined) s.cpu.set(mm, (t = new Map()));
      const cleared = / none$/.test(m[2]);
      if (cleared && !t.has(va)) break;
      t.set(va, { va, entry: m[2], changedAt: i, cleared });
      break;
    }
    case 'device_map': {
      // object: `0xva`; note: `dev0 → pfn 3`, or `dev0 → pfn 3 rw; mm app[1]` (DeviceMirror)
      const va = e.object === undefined ? NaN : parseInt(e.object, 16);
      const m = note === undefined ? null : /^(.*?) → (.*?)(?:; mm (.+))?$/.exec(note);
      if (Number.isNaN(va) || m === null) break;
      if (m[3] !== undefined) s.deviceMm.set(m[1], m[3]);
      let t = s.device.get(m[1]);
      if (t === undefined) s.device.set(m[1], (t = new Map()));
      t.set(va, { va, value: m[2], changedAt: i, cleared: false });
      break;
    }
    case 'device_unmap': {
      // object: one page `0xva`, or a range `[0xstart, 0xend)`; note: the device.
      const t = s.device.get(note ?? '');
      const m = e.object === undefined ? null : /^\[0x([0-9a-f]+), 0x([0-9a-f]+)\)$/.exec(e.object);
      const start = m !== null ? parseInt(m[1], 16) : e.object === undefined ? NaN : parseInt(e.object, 16);
      const end = m !== null ? parseInt(m[2], 16) : start + 1;
      if (t === undefined || Number.isNaN(start)) break;
      for (const [va, old] of t) {
        if (va >= start && va < end && !old.cleared) t.set(va, { ...old, changedAt: i, cleared: true });
      }
      break;
    }
  }
}

/** Drops page-table entries cleared before entry `before` (cleared ones are shown only where they happened). */
function prune(s: ViewState, before: number): void {
  for (const t of [...s.cpu.values(), ...s.device.values()]) {
    for (const [va, p] of t) if (p.cleared && p.changedAt < before) t.delete(va);
  }
}

/**
 * Folds a trace into states, with checkpoints every `stride` entries so that any index is
 * reached by replaying at most `stride` entries from a copy.
 */
export class StateIndex {
  private readonly checkpoints: ViewState[] = [];

  private readonly after: (readonly string[] | undefined)[];

  constructor(
    readonly trace: readonly TraceEntry[],
    private readonly stride = 256,
  ) {
    this.after = locksAfter(trace);
    const s = emptyState();
    this.checkpoints.push(clone(s));
    for (let i = 0; i < trace.length; i++) {
      applyEntry(s, trace[i], i, this.after[i]);
      if ((i + 1) % stride === 0) {
        // Keep recent clears: a state asked for later may show a step whose events began here.
        prune(s, i - KEEP_CLEARED);
        this.checkpoints.push(clone(s));
      }
    }
  }

  /**
   * The state after entry `index` (-1: before the first entry). Page-table entries cleared at or
   * after `shownFrom` (default: `index`) are kept, marked cleared; older clears are gone.
   */
  at(index: number, shownFrom = index): ViewState {
    const i = Math.max(-1, Math.min(index, this.trace.length - 1));
    const cp = Math.floor((i + 1) / this.stride);
    const s = clone(this.checkpoints[cp]);
    for (let j = cp * this.stride; j <= i; j++) applyEntry(s, this.trace[j], j, this.after[j]);
    prune(s, Math.max(0, Math.min(shownFrom, i)));
    return s;
  }
}

function clone(s: ViewState): ViewState {
  const mapOfMaps = <T extends object>(m: Map<string, Map<number, T>>): Map<string, Map<number, T>> =>
    new Map([...m].map(([k, v]) => [k, new Map([...v].map(([va, p]) => [va, { ...p }]))]));
  return {
    index: s.index,
    subs: new Map([...s.subs].map(([k, v]) => [k, { ...v }])),
    invalidateSeq: s.invalidateSeq,
    cpu: mapOfMaps(s.cpu),
    device: mapOfMaps(s.device),
    locks: new Map(s.locks),
    deviceMm: new Map(s.deviceMm),
    doing: new Map(s.doing),
  };
}

/**
 * For each scheduling step, the locks its thread holds once the step has run: a step is where
 * the thread is about to act (its `held` is from before: a spin_lock step has not taken the lock
 * yet), so the answer is the `held` of the thread's next entry. Undefined for model events and
 * for a thread's last entry.
 */
export function locksAfter(trace: readonly TraceEntry[]): (readonly string[] | undefined)[] {
  const out: (readonly string[] | undefined)[] = new Array(trace.length).fill(undefined);
  const next = new Map<number, readonly string[]>();
  for (let i = trace.length - 1; i >= 0; i--) {
    const e = trace[i];
    if (!e.event) out[i] = next.get(e.tid);
    next.set(e.tid, e.held ?? []);
  }
  return out;
}
