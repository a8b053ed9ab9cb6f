/** Kinds of violation the runtime itself reports; checkers add their own kinds. */
export type CoreViolationKind =
  | 'assertion'
  | 'deadlock'
  | 'step-limit'
  | 'error'
  | 'foreign-await'
  | 'lock-order'
  | 'lock-misuse'
  | 'lock-held-at-exit'
  | 'sleep-in-atomic'
  | 'use-after-free'
  | 'double-free'
  | 'kernel-bug';

/**
 * A violation is data: what went wrong, where, and how to get back there.
 * `signature` groups violations that are the same bug seen through different schedules.
 */
export interface Violation {
  /** What broke: `assertion`, `deadlock`, `lockdep`, `use-after-free`, `stale-mapping`, ... */
  kind: string;
  /** What went wrong, in words, naming the objects involved. */
  message: string;
  /** Stable key for de-duplication: kind plus the reporter's key (numbers and addresses folded). */
  signature: string;
  /** Name of the thread that was running when it was detected (or '-' outside threads). */
  thread: string;
  /** Threads involved (both sides of an inversion, every thread of a deadlock cycle). */
  threads: string[];
  /** The scheduling step at which it was detected. */
  step: number;
  /** Virtual time in nanoseconds at detection. */
  timeNs: number;
  /** Replay token of the run (filled when the run ends). */
  token: string;
  /** The run's readable schedule (`seed=1 | cpu0*12 cpu1*3`), which `replay` accepts too. */
  schedule: string;
  /** CPU0/CPU1 diagram of the run (filled by explore and replay, which record traces). */
  diagram: string;
  /** Extra structured facts (wait-for graph, lock chains, allocation sites...). */
  details?: Record<string, unknown>;
  /**
   * The objects the violation is about (a VA as `0x…`, a pfn as `pfn N`, a device, a
   * subscription, a lock): the race diagram keeps the steps that touch them.
   */
  objects?: string[];
  /** The earlier step the violating one conflicts with (the CPU change a stale mapping missed). */
  conflictStep?: number;
}

/** Options for `sim.report`. */
export interface ReportOptions {
  /** Key for the signature (numbers and addresses folded, so steps, pfns and VAs never split a bug); defaults to the message. */
  key?: string;
  /** Violation.threads: the threads involved; defaults to the running thread. */
  threads?: string[];
  /** Violation.details: extra structured facts. */
  details?: Record<string, unknown>;
  /** See Violation.objects. */
  objects?: string[];
  /** See Violation.conflictStep. */
  conflictStep?: number;
}

/** Folds numbers and hex addresses so that the same bug at other addresses shares a signature. */
export function foldNumbers(text: string): string {
  return text.replace(/0x[0-9a-fA-F]+/g, '0x#').replace(/\d+/g, '#');
}

/**
 * Thrown inside a simulated thread to unwind it once its run has ended (violation,
 * deadlock, step limit). The runtime catches it; model code must not swallow it.
 */
export class SimAbort extends Error {
  constructor() {
    super('simulation run ended');
    this.name = 'SimAbort';
  }
}

/** Misuse of the runtime's API (bad options, bad token, calls outside a thread). */
export class SimUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimUsageError';
  }
}
