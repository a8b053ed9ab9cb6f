/**
 * Statistics of one run, for `mirrorlab run`: what the runtime, the trace and the scenario
 * builder count exactly, plus what registered providers add (drivers: device faults; the memory
 * model: CPU faults, invalidations by event). A figure no provider supplies is `null`
 * ("not observable in this build"), never a guess.
 */
import type { RunResult, Simulation } from '../../sim/simulation.js';
import { fileRunCounters } from './build.js';

export interface RunStats {
  status: RunResult['status'];
  steps: number;
  virtualTimeNs: number;
  preemptions: number;
  threads: number;
  /** CPU accesses (cpu_read / cpu_write scheduling points). */
  cpuAccesses: number;
  /** CPU page-table entries set, cleared or changed. */
  pteChanges: number | null;
  /** Notifier callbacks run, by the core's point label (mn_itree_invalidate, ...). */
  notifierCallbacks: Record<string, number>;
  /** Scenario operations run, failed with -errno (by errno), and skipped. */
  ops: number | null;
  opErrors: Record<string, number> | null;
  opsSkipped: number | null;
  deviceAccesses: number | null;
  cpuFaults: number | null;
  deviceFaults: number | null;
  /** Invalidations by event name (UNMAP, CLEAR, ...). */
  invalidations: Record<string, number> | null;
  /**
   * Retries: mmu_interval_read_retry / check_retry calls that found the sequence moved (the
   * reader must start over). From the trace's read_retry / check_retry events.
   */
  retries: number | null;
  /**
   * Collisions: invalidations that hit a subscription's range and moved its sequence
   * (mmu_interval_set_seq calls). From the trace's set_seq events.
   */
  collisions: number | null;
}

/** Figures a provider may supply. */
export type ProvidedStats = Partial<Pick<RunStats, 'cpuFaults' | 'deviceFaults' | 'invalidations'>>;

/** Called when a run ends; returns the figures it can observe for `sim`. */
export type StatsProvider = (sim: Simulation) => ProvidedStats;

const providers: StatsProvider[] = [];

/** Adds a statistics provider (drivers and the memory model register theirs). */
export function registerStatsProvider(p: StatsProvider): void {
  providers.push(p);
}

function addInto(
  a: Record<string, number> | null,
  b: Record<string, number> | null | undefined,
): Record<string, number> | null {
  if (b === undefined || b === null) return a;
  const out = { ...(a ?? {}) };
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
  return out;
}

/** The statistics of a finished traced run of `sim`. */
export function runStats(sim: Simulation, run: RunResult): RunStats {
  const trace = run.trace ?? [];
  const tids = new Set<number>();
  let cpuAccesses = 0;
  const notifierCallbacks: Record<string, number> = {};
  let retries = 0;
  let collisions = 0;
  for (const e of trace) {
    tids.add(e.tid);
    if (e.event) {
      // Recorded for the reader within a step, not a scheduling point.
      if ((e.label === 'read_retry' || e.label === 'check_retry') && e.note?.endsWith(': retry') === true)
        retries++;
      else if (e.label === 'set_seq') collisions++;
      continue;
    }
    if (e.label === 'cpu_read' || e.label === 'cpu_write') cpuAccesses++;
    else if (e.label.startsWith('mn_')) notifierCallbacks[e.label] = (notifierCallbacks[e.label] ?? 0) + 1;
  }
  const c = fileRunCounters(sim);
  const s: RunStats = {
    status: run.status,
    steps: run.steps,
    virtualTimeNs: run.timeNs,
    preemptions: run.preemptions,
    threads: tids.size,
    cpuAccesses,
    pteChanges: c?.pteChanges ?? null,
    notifierCallbacks,
    ops: c?.ops ?? null,
    opErrors: c ? { ...c.errors } : null,
    opsSkipped: c?.skipped ?? null,
    deviceAccesses: c?.deviceAccesses ?? null,
    cpuFaults: null,
    deviceFaults: null,
    invalidations: null,
    retries: run.trace !== undefined ? retries : null,
    collisions: run.trace !== undefined ? collisions : null,
  };
  for (const p of providers) {
    const got = p(sim);
    for (const k of ['cpuFaults', 'deviceFaults'] as const) {
      const v = got[k];
      if (typeof v === 'number') s[k] = (s[k] ?? 0) + v;
    }
    s.invalidations = addInto(s.invalidations, got.invalidations);
  }
  return s;
}
