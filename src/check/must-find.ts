/**
 * Issue 11's must-find list: the races the seeds talk about, each with the built-in scenario that
 * plants it, the violation kind it must be reported as and words its message must carry. Read by
 * test/check/must-find.test.ts and bench/find.ts.
 */

/** One must-find race. */
export interface MustFind {
  /** Its number in issue 11. */
  n: number;
  /** A one-line description of the race (the test's title). */
  what: string;
  /** The built-in scenario that plants it. */
  scenario: string;
  /** The violation kind it must be reported as (Violation.kind). */
  kind: string;
  /** What the violation's message must match. */
  words: RegExp;
}

/** The twelve of issue 11, in its order: scenario, violation kind, words the message must carry. */
export const MUST_FIND: readonly MustFind[] = [
  {
    n: 1,
    what: 'set_seq missing in an invalidate callback',
    scenario: 'seq-retry-no-set-seq',
    kind: 'stale-mapping',
    words: /devA maps 0x[0-9a-f]+ to \d+ but the CPU has \d+/,
  },
  {
    n: 2,
    what: 'read_retry outside the driver lock',
    scenario: 'seq-retry-retry-outside-lock',
    kind: 'stale-mapping',
    words: /devA maps 0x[0-9a-f]+ to \d+ but the CPU has \d+/,
  },
  {
    n: 3,
    what: 'device programmed before read_retry',
    scenario: 'seq-retry-program-before-retry',
    kind: 'stale-mapping',
    words: /devA maps 0x[0-9a-f]+ to \d+ but the CPU has \d+/,
  },
  {
    n: 4,
    what: 'insert applied during an invalidation without deferral',
    scenario: 'core-insert-not-deferred',
    kind: 'notifier-invariant',
    words: /interval tree insert while invalidate_seq \d+ is odd/,
  },
  {
    n: 5,
    what: "odp2019: the counter/completion scheme's timeout path mapping a stale page",
    scenario: 'odp2019-counter-timeout-stale',
    kind: 'stale-mapping',
    words:
      /mlx0\.mr0 maps 0x[0-9a-f]+ → pfn 0x[0-9a-f]+ \(write\), installed at step \d+ \(mlx0\); .*the CPU has no entry/,
  },
  {
    n: 6,
    what: 'hmm-mirror-2019: device fault racing exit_mmap without mmget_not_zero',
    scenario: 'hmm2019-exit-no-mmget',
    kind: 'use-after-free',
    words:
      /use-after-free of vma 0x[0-9a-f]+ \((find_vma\(0x[0-9a-f]+\) in hmm_range_fault|handle_mm_fault on vma 0x[0-9a-f]+)\) by dev .* freed by exit/,
  },
  {
    n: 7,
    what: 'hmm-mirror-2019: struct hmm used after free, unregister is not a fence',
    scenario: 'hmm2019-unregister-uaf',
    kind: 'use-after-free',
    words:
      /use-after-free of struct hmm \(hmm_invalidate_range_(start|end)|kref_get_unless_zero|hmm_release\)/,
  },
  {
    n: 8,
    what: 'hmm-mirror-2019: the same notifier invoked twice through mm->hmm',
    scenario: 'hmm2019-mm-hmm-twice',
    kind: 'notifier-called-twice',
    words: /struct hmm#2 is invalidated .* through (hmm#2\.mn then )?hmm#1\.mn .*belongs to hmm#1.*mm->hmm/,
  },
  {
    n: 9,
    what: 'userptr-list: pinned pages with no sequence going stale after munmap',
    scenario: 'userptr-munmap-stale',
    kind: 'stale-mapping',
    words: /gpu0\.userptr0 maps 0x[0-9a-f]+ → pfn .*: the CPU has no entry/,
  },
  {
    n: 10,
    what: 'gpusvm: a subscription removed from inside its own callback',
    scenario: 'svm-remove-in-callback',
    kind: 'lock-order',
    words: /calls mmu_interval_notifier_remove from inside an mmu notifier invalidate callback/,
  },
  {
    n: 11,
    what: 'a non-blockable invalidation that sleeps (the OOM reaper path)',
    scenario: 'two-pass-finish-on-nonblock',
    kind: 'sleep-in-atomic',
    words: /mutex_lock\(devA\.lock\) may sleep but thread reaper is inside a non-blockable region/,
  },
  {
    n: 12,
    what: 'livelock: device and CPU faulting one page forever, no timeout, no fallback (seed 003)',
    scenario: 'odp-livelock-none',
    kind: 'livelock',
    words:
      /mlx0\.mr\d+: the device fault on 0x[0-9a-f]+\.\.0x[0-9a-f]+ neither finished nor failed within \d+ ms .*retry policy 'none'/,
  },
];
