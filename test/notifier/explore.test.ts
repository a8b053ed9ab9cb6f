/**
 * Exploration of the notifier core with the model driver: the correct protocol shows no
 * violation across every dfs schedule within preemption bound 2 and 20,000 pct schedules;
 * each planted mistake (driver switches and core mutation switches) is found within
 * 20,000 pct schedules.
 */
import { afterAll, describe, expect, it } from 'vitest';

import { explore, replay, type ExploreResult } from '../../src/explore/index.js';
import type { SetupFn } from '../../src/sim/simulation.js';
import type { DriverMistakes } from '../../src/scenario/toy/toy-mirror.js';
import {
  classicScenario,
  faultScenario,
  gpuScenario,
  lifecycleScenario,
  reaperScenario,
} from '../../src/scenario/toy/scenarios.js';

const PCT = { strategy: 'pct', depth: 3, schedules: 20_000, seed: 1 } as const;
const DFS = { strategy: 'dfs', preemptionBound: 2, schedules: 100_000 } as const;

/** The race windows (coverage marks) each scenario is there to exercise. */
const FAULT_WINDOWS = ['read_begin slept', 'read_retry collided', 'insert raised full exclusion'];
const LIFECYCLE_WINDOWS = [
  'insert deferred',
  'remove deferred',
  'remove waited',
  'deferred tree update applied',
  'read_begin slept',
  'read_retry collided',
];
/** Windows that only the systematic search reaches (too narrow for 20,000 pct schedules). */
const DFS_ONLY_WINDOWS: Record<string, string[]> = {
  lifecycle: ['remove cancelled pending insert'],
  'lifecycle (two-pass driver)': ['remove cancelled pending insert'],
};
const REAPER_WINDOWS = ['nonblock invalidate refused', 'read_retry collided'];

const scenarios: [string, (m?: DriverMistakes) => SetupFn, string[]][] = [
  ['fault', faultScenario, FAULT_WINDOWS],
  ['lifecycle', lifecycleScenario, LIFECYCLE_WINDOWS],
  ['reaper', reaperScenario, REAPER_WINDOWS],
  [
    'classic',
    classicScenario,
    ['synchronize_srcu waited for a reader', 'remove waited', 'read_retry collided'],
  ],
  [
    'gpu',
    gpuScenario,
    [
      'insert deferred',
      'remove deferred',
      'deferred tree update applied',
      'read_begin slept',
      'read_retry collided',
    ],
  ],
  ['fault (two-pass driver)', (m) => faultScenario({ ...m, twoPass: true }), FAULT_WINDOWS],
  ['lifecycle (two-pass driver)', (m) => lifecycleScenario({ ...m, twoPass: true }), LIFECYCLE_WINDOWS],
  ['reaper (two-pass driver)', (m) => reaperScenario({ ...m, twoPass: true }), REAPER_WINDOWS],
];

const summary: string[] = [];

afterAll(() => {
  console.log(`notifier exploration summary:\n  ${summary.join('\n  ')}`);
});

function describeViolations(r: ExploreResult): string[] {
  return r.violations.map((v) => `${v.kind}: ${v.message}`);
}

/** The windows of `windows` that no schedule of `r` reached. */
function missed(r: ExploreResult, windows: string[]): string[] {
  return windows.filter((m) => !(r.marks[m] > 0));
}

describe('exploration: the correct protocol', () => {
  for (const [name, scenario, windows] of scenarios) {
    it(`${name}: dfs with preemption bound 2 is exhausted without a violation, every window reached`, async () => {
      const r = await explore(DFS, scenario());
      summary.push(`${name}: dfs PB2 ${r.schedules} schedules, exhausted=${r.exhausted}`);
      expect(describeViolations(r)).toEqual([]);
      expect(r.exhausted).toBe(true);
      expect(r.statuses.ok).toBe(r.schedules);
      expect(missed(r, [...windows, ...(DFS_ONLY_WINDOWS[name] ?? [])])).toEqual([]);
    });

    it(`${name}: 20,000 pct schedules without a violation, every window reached`, async () => {
      const r = await explore(PCT, scenario());
      expect(describeViolations(r)).toEqual([]);
      expect(r.schedules).toBe(20_000);
      expect(missed(r, windows)).toEqual([]);
    });
  }
});

describe('exploration: planted mistakes are found within 20,000 schedules', () => {
  // What the checker says: the device took a value the CPU has since changed, or holds an
  // entry the CPU is changing, or programs one inside an open invalidation.
  const stale =
    /^devA (maps 0x(0|1000) to \d+ but the CPU has \d+|still maps 0x(0|1000) while the CPU changes it|maps 0x(0|1000) inside an open invalidation)$/;
  const driverMistakes: [keyof DriverMistakes, RegExp][] = [
    ['noSetSeq', stale],
    ['setSeqOutsideLock', stale],
    ['readRetryOutsideLock', stale],
    ['programBeforeRetry', stale],
    // The early walk's value, programmed after an invalidation the subscription never saw.
    ['walkBeforeInsert', /^devA maps 0x(0|1000) to [12] but the CPU has 10\d\d$/],
  ];
  for (const [mistake, words] of driverMistakes) {
    it(`driver: ${mistake} → stale mapping`, async () => {
      const setup = faultScenario({ [mistake]: true });
      const r = await explore({ ...PCT, stopOnFirst: true }, setup);
      summary.push(`${mistake}: found after ${r.schedules} pct schedules: ${describeViolations(r)[0]}`);
      expect(r.violations.length).toBeGreaterThan(0);
      expect(r.violations[0].kind).toBe('stale-mapping');
      expect(r.violations[0].message).toMatch(words);
      // The shrunk schedule replays to the same violation, with its race diagram.
      const again = await replay(r.violations[0].token, setup);
      expect(again.violations[0]?.signature).toBe(r.violations[0].signature);
      expect(again.diagram).toContain('stale-mapping');
    });
  }

  it('driver: lockAcrossReadBegin → lockdep reports the cycle through the invalidate map', async () => {
    const r = await explore({ ...PCT, stopOnFirst: true }, faultScenario({ lockAcrossReadBegin: true }));
    summary.push(
      `lockAcrossReadBegin: found after ${r.schedules} pct schedules: ${describeViolations(r)[0]}`,
    );
    expect(r.violations[0]?.kind).toBe('lock-order');
    expect(r.violations[0].message).toMatch(/mmu_notifier_invalidate_range_start while holding dev.\.lock/);
    // Lockdep does not need the deadlock, which here takes a second invalidation of the same
    // subscription inside the same window while the fault sleeps in read_begin: over the same
    // schedules, lockdep reports the cycle in most, and with lockdep off they show (next to)
    // nothing.
    const setup = faultScenario({ lockAcrossReadBegin: true });
    const withLockdep = await explore({ ...PCT, schedules: 500 }, setup);
    const without = await explore({ ...PCT, schedules: 500 }, (sim) => {
      sim.lockdep.enabled = false;
      return setup(sim);
    });
    summary.push(
      `lockAcrossReadBegin over 500 pct schedules: lockdep on ${JSON.stringify(withLockdep.statuses)}, ` +
        `off ${JSON.stringify(without.statuses)}`,
    );
    expect(withLockdep.statuses.violation ?? 0).toBeGreaterThan(250);
    expect(withLockdep.statuses.violation ?? 0).toBeGreaterThan(10 * (without.statuses.deadlock ?? 0));
  });

  it('driver: sharedFinishToken → the core reports the token queued twice', async () => {
    const setup = faultScenario({ twoPass: true, sharedFinishToken: true });
    const r = await explore({ ...PCT, stopOnFirst: true }, setup);
    summary.push(`sharedFinishToken: found after ${r.schedules} pct schedules: ${describeViolations(r)[0]}`);
    expect(r.violations[0]?.kind).toBe('kernel-bug');
    expect(r.violations[0].message).toMatch(/list corruption: devA queued a finish token/);
  });

  it('driver: finishOnNonblock → the finish pass sleeps in the OOM reaper', async () => {
    const r = await explore(
      { ...PCT, stopOnFirst: true },
      reaperScenario({ twoPass: true, finishOnNonblock: true }),
    );
    summary.push(`finishOnNonblock: found after ${r.schedules} pct schedules: ${describeViolations(r)[0]}`);
    expect(r.violations[0]?.kind).toBe('sleep-in-atomic');
    expect(r.violations[0].message).toMatch(/mutex_lock\(devA.lock\) may sleep but thread reaper/);
  });

  it('legacy: unregister_no_release then free at once → use-after-free (the 2019 hmm bug)', async () => {
    const r = await explore({ ...PCT, stopOnFirst: true }, classicScenario({}, 'no-release'));
    summary.push(
      `unregister_no_release + free: found after ${r.schedules} pct schedules: ${describeViolations(r)[0]}`,
    );
    expect(r.violations[0]?.kind).toBe('use-after-free');
    expect(r.violations[0].message).toMatch(/legacy (start|end|release)/);
    // The fix, a grace period before the free, is clean over every schedule within the bound.
    const fixed = await explore(DFS, classicScenario({}, 'no-release-then-synchronize'));
    summary.push(`unregister_no_release + synchronize: dfs PB2 ${fixed.schedules} schedules`);
    expect(describeViolations(fixed)).toEqual([]);
    expect(fixed.exhausted).toBe(true);
  });

  it('driver: readRetry/setSeq outside the lock are caught at once when the core knows the lock', async () => {
    for (const [mistake, words] of [
      [
        'setSeqOutsideLock',
        /^mmu_interval_set_seq requires devA\.lock held, but thread cpu\d does not hold it$/,
      ],
      [
        'readRetryOutsideLock',
        /^mmu_interval_read_retry requires devA\.lock held, but thread dev does not hold it$/,
      ],
    ] as const) {
      const r = await explore({ ...PCT, stopOnFirst: true }, faultScenario({ [mistake]: true }, true));
      summary.push(
        `${mistake} (lock known to the core): found after ${r.schedules}: ${describeViolations(r)[0]}`,
      );
      expect(r.violations[0]?.kind).toBe('lock-misuse');
      expect(r.violations[0].message).toMatch(words);
    }
  });

  it('core: insertNotDeferred → the tree changes under an invalidation', async () => {
    const switches = { 'notifier.insertNotDeferred': true };
    const r = await explore({ ...PCT, stopOnFirst: true, switches }, lifecycleScenario());
    summary.push(`insertNotDeferred: found after ${r.schedules} pct schedules: ${describeViolations(r)[0]}`);
    expect(r.violations[0]?.kind).toBe('notifier-invariant');
    expect(r.violations[0].message).toMatch(/interval tree (insert|changed)/);
  });

  it('core: removeNoWait → remove returns before the running callback finished', async () => {
    const switches = { 'notifier.removeNoWait': true };
    for (const [name, scenario] of [
      ['lifecycle', lifecycleScenario],
      ['classic', classicScenario],
    ] as const) {
      const r = await explore({ ...PCT, stopOnFirst: true, switches }, scenario());
      summary.push(
        `removeNoWait (${name}): found after ${r.schedules} pct schedules: ${describeViolations(r)[0]}`,
      );
      expect(r.violations[0]?.kind).toBe('notifier-invariant');
      expect(r.violations[0].message).toMatch(/remove of dev. returns while/);
    }
    // Without the core's own postcondition the harm shows too: collect every distinct
    // violation of the run and look for the callback running past remove.
    const all = await explore({ ...PCT, schedules: 3000, switches }, classicScenario());
    expect(all.violations.some((v) => /invalidate callback is running/.test(v.message))).toBe(true);
  });

  it('core: removeSeqReadUnlocked (the race fixed in 2022) → remove returns while still on the deferred list', async () => {
    const switches = { 'notifier.removeSeqReadUnlocked': true };
    // PCT with depth 3 misses this one (it needs the remover and the final end each preempted
    // at one exact point); uniform random scheduling finds it in a handful of schedules.
    for (const [name, scenario] of [
      ['lifecycle', lifecycleScenario],
      ['classic', classicScenario],
    ] as const) {
      const r = await explore(
        { strategy: 'random', schedules: 20_000, seed: 1, stopOnFirst: true, switches },
        scenario(),
      );
      summary.push(
        `removeSeqReadUnlocked (${name}): found after ${r.schedules} random schedules: ${describeViolations(r)[0]}`,
      );
      expect(r.violations[0]?.kind).toBe('notifier-invariant');
      const v = r.violations[0];
      expect(v.message).toMatch(/remove of dev. returns while it is still on the deferred list/);
      // It names the thread whose invalidation end holds the window open (the final end, between
      // its bump of G and the deferred update), and the race diagram has a column for it.
      const holders = /\(invalidation open in ([\w, ]+)\)/.exec(v.message)?.[1].split(', ') ?? [];
      expect(holders.length).toBeGreaterThan(0);
      const header = v.diagram.split('\n')[0];
      for (const h of holders) {
        expect(h).not.toBe(v.thread);
        expect(v.threads).toContain(h);
        expect(header).toMatch(new RegExp(`\\b${h}\\b`));
      }
    }
  });
});
