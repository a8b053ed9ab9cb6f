/**
 * Explaining a violation in words: which checker fired, what invariant it guards, and what
 * the kernel (or a correct driver) does so that it holds. Used by `mirrorlab explain` and
 * the reports. Layers above (drivers, checkers) add their own kinds with
 * `registerViolationExplanation`.
 */
import type { RunResult } from '../sim/simulation.js';
import { renderDiagram, type TraceEntry } from '../sim/trace.js';
import type { Violation } from '../sim/violation.js';
import { renderRaceDiagram, sliceTrace } from './diagram.js';

/** What a checker says about the violations it reports. */
export interface ViolationExplanation {
  /** The checker that reports this kind. */
  checker: string;
  /** The invariant that was broken, in one sentence. */
  invariant: string;
  /** Why it matters and what a correct design does. */
  why: string;
}

const explanations = new Map<string, ViolationExplanation>([
  [
    'stale-mapping',
    {
      checker: 'coherence',
      invariant:
        'A device may map a VA only to the page the CPU page table maps there, with no more permission, ' +
        'and never inside an open invalidation of that VA.',
      why:
        'A stale device mapping reads or writes a page the process no longer sees: the device corrupts or leaks ' +
        "memory. The collision-retry lock prevents it: read_begin before the walk, and under the driver's lock " +
        'read_retry before programming the device; the invalidate callback calls set_seq and zaps the device ' +
        'page table under the same lock.',
    },
  ],
  [
    'notifier-invariant',
    {
      checker: 'notifier core assertions',
      invariant:
        'The interval tree never changes while an invalidation iterates it; invalidate_seq is odd exactly while ' +
        'a subscription is being invalidated; remove returns only when no callback can run.',
      why:
        'These are the promises mmu_interval_notifier makes to drivers; when the core breaks one, every driver ' +
        'built on it can race (the 2022 mmu_interval_notifier_remove fix is such a case).',
    },
  ],
  [
    'kernel-warning',
    {
      checker: 'WARN_ON (panic_on_warn)',
      invariant: 'A condition the kernel warns about never happens.',
      why: 'The kernel prints a WARNING and goes on, usually with an error return; a correct caller never triggers it.',
    },
  ],
  [
    'kernel-bug',
    {
      checker: 'BUG_ON / list debugging',
      invariant: 'A kernel-internal structure stays consistent (lists, counters, tokens).',
      why: 'The kernel would crash or corrupt memory here.',
    },
  ],
  [
    'use-after-free',
    {
      checker: 'object lifetime (KASAN)',
      invariant: 'No object is used after kfree.',
      why:
        'Freeing must wait until no other CPU can still reach the object: an SRCU or RCU grace period, or a ' +
        'reference count taken with kref_get_unless_zero; unregistering a notifier is only a fence when it ' +
        'waits for the callbacks in flight.',
    },
  ],
  [
    'double-free',
    {
      checker: 'object lifetime (KASAN)',
      invariant: 'Each object is freed once.',
      why: 'Two paths both believed they owned the last reference.',
    },
  ],
  [
    'lock-order',
    {
      checker: 'lockdep',
      invariant: 'Every pair of locks is always taken in the same order.',
      why:
        'Two orders seen in any runs can deadlock in some run. Driver locks taken inside invalidate callbacks ' +
        'are ordered after the lockdep map mmu_notifier_invalidate_range_start: holding one across ' +
        'read_begin or remove inverts that order.',
    },
  ],
  [
    'deadlock',
    {
      checker: 'deadlock detector (wait-for graph)',
      invariant: 'Some thread can always make progress.',
      why: 'Every live thread waits on something only another waiting thread can give.',
    },
  ],
  [
    'sleep-in-atomic',
    {
      checker: 'might_sleep',
      invariant: 'Nothing sleeps while holding a spinlock or inside a non-blockable invalidation.',
      why:
        'The OOM reaper invalidates with blockable = false: a callback must then use trylocks and return ' +
        '-EAGAIN (false) rather than sleep.',
    },
  ],
  [
    'lock-misuse',
    {
      checker: 'lock contract assertions (lockdep_assert_held)',
      invariant:
        'A lock is released by its owner, and functions documented as "caller holds X" are called with X held.',
      why: 'A contract that is only written rots; the model asserts each one.',
    },
  ],
  [
    'lock-held-at-exit',
    {
      checker: 'lockdep',
      invariant: 'A thread releases every lock before it ends.',
      why: 'A lock leaked on an error path blocks everyone after it.',
    },
  ],
  [
    'livelock',
    {
      checker: 'liveness',
      invariant: 'Every device fault finishes or fails within its bound.',
      why:
        'A fault loop that retries on every collision can starve while the CPU keeps invalidating; a timeout ' +
        '(-EBUSY to the device) or taking the mmap lock for write after N collisions makes CPU and device take turns.',
    },
  ],
  [
    'step-limit',
    {
      checker: 'liveness (step limit)',
      invariant: 'A run ends within its step limit.',
      why: 'Usually a livelock or an unbounded loop; raise maxSteps only when the workload is really that long.',
    },
  ],
  [
    'assertion',
    {
      checker: 'sim.check in the scenario',
      invariant: "The scenario's own assertion holds.",
      why: 'The program under test computed something the scenario says it must not.',
    },
  ],
  [
    'foreign-await',
    {
      checker: 'runtime',
      invariant: 'Simulated threads await only what the runtime created.',
      why: 'Real timers, I/O or promises from outside make a run nondeterministic.',
    },
  ],
]);

/** Adds or replaces the explanation of a violation kind (for checkers and drivers above). */
export function registerViolationExplanation(kind: string, e: ViolationExplanation): void {
  explanations.set(kind, e);
}

/** The explanation of `kind`, or a generic one naming the kind. */
export function explanationOf(kind: string): ViolationExplanation {
  return (
    explanations.get(kind) ?? {
      checker: kind,
      invariant: `No '${kind}' condition arises.`,
      why: 'This kind has no explanation registered; its message says what was seen.',
    }
  );
}

function window(trace: readonly TraceEntry[], v: Violation, around: number): TraceEntry[] {
  let idx = trace.length - 1;
  for (let i = trace.length - 1; i >= 0; i--) {
    if (trace[i].step <= v.step) {
      idx = i;
      break;
    }
  }
  return trace.slice(Math.max(0, idx - around), Math.min(trace.length, idx + around + 1));
}

/**
 * The full explanation of the first violation of a traced run: the race diagram, the
 * complete trace around the violating step (every thread, every step and event), and which
 * checker fired and why, in words. `around` is how many trace entries to show on each side.
 */
export function explainRun(run: RunResult, options: { around?: number } = {}): string {
  const v = run.violations[0];
  if (v === undefined) return `no violation: status ${run.status}, ${run.steps} steps`;
  const trace = run.trace ?? [];
  const e = explanationOf(v.kind);
  const slice = sliceTrace(trace, v);
  const out: string[] = [];
  out.push(`${v.kind}: ${v.message}`);
  out.push(`detected by ${v.thread} at step ${v.step} (${(v.timeNs / 1000).toFixed(2)} µs of virtual time)`);
  if (v.conflictStep !== undefined) out.push(`conflicts with step ${v.conflictStep}`);
  out.push('');
  out.push('Race diagram (the steps on the objects of the violation):');
  out.push(renderRaceDiagram(trace, v));
  out.push('');
  const around = options.around ?? 12;
  out.push(`Full trace around step ${v.step} (${around} entries either side, every thread):`);
  out.push(
    renderDiagram(window(trace, v, around), { markStep: v.step, markThread: v.thread, maxColumnWidth: 48 }),
  );
  out.push('');
  out.push(`Which checker fired: ${e.checker}`);
  out.push(`  Invariant: ${e.invariant}`);
  out.push(`  Why it matters: ${e.why}`);
  if (slice.keys.length > 0) out.push(`  Objects involved: ${slice.keys.join(', ')}`);
  if (v.details !== undefined) out.push(`  Details: ${JSON.stringify(v.details)}`);
  out.push(`  Threads: ${v.threads.join(', ')}`);
  out.push(`  Signature (for de-duplication): ${v.signature}`);
  return out.join('\n');
}
