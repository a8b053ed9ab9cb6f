/**
 * The built-in scenarios: the collision-retry protocol of a mirroring driver's fault
 * (mmu_interval_read_begin / read_retry under the driver lock) done right and done wrong in
 * each of the ways drivers have got it wrong, subscriptions coming and going during
 * invalidations, the OOM reaper's non-blockable path, the classic notifier's SRCU fence,
 * and a GPU-style driver creating subscriptions on fault (as nouveau's proposed conversion
 * to mmu_interval_notifier_find/put did).
 */
import '../../notifier/index.js'; // declares the notifier.* switches the scenarios name
import { registerScenario } from '../registry.js';
import {
  classicScenario,
  faultScenario,
  gpuScenario,
  lifecycleScenario,
  reaperScenario,
} from '../toy/scenarios.js';
import { mmMirrorScenario } from '../toy/mm-mirror.js';
import { registerOdpScenarios } from '../../drivers/odp/scenarios.js';
import { registerGpuSvmScenarios } from '../../drivers/gpusvm/scenarios.js';
import { registerLegacyScenarios } from '../../drivers/legacy/scenarios.js';
import { registerDmirrorScenarios } from '../../drivers/dmirror/scenarios.js';
import { registerShowcaseScenarios } from '../showcase.js';
import { registerCheckScenarios } from '../../check/scenarios/index.js';

registerScenario({
  name: 'mm-mirror',
  summary: 'a device mirrors a real address space through fork, DONTNEED and munmap',
  description:
    'A toy device faults pages of a process (walking and faulting the CPU page table under\n' +
    'the mmap lock) while the process forks and writes (copy-on-write: CLEAR), zaps a page\n' +
    '(MADV_DONTNEED: CLEAR) and unmaps one (UNMAP). After every CPU page-table change, no device\n' +
    'entry may point at a page the CPU no longer maps there.',
  expect: 'clean',
  setup: mmMirrorScenario(),
  defaults: { strategy: 'pct', schedules: 3000, depth: 3 },
});

registerScenario({
  name: 'mm-mirror-no-set-seq',
  summary: 'the same device, its callback zapping but never calling set_seq',
  description:
    'A walk that raced the invalidation is programmed after the zap: the device maps a freed page.',
  expect: 'violation',
  setup: mmMirrorScenario({ noSetSeq: true }),
  defaults: { strategy: 'pct', schedules: 3000, depth: 3 },
});

registerScenario({
  name: 'mm-mirror-no-zap',
  summary: 'the same device, its callback never zapping',
  description:
    'The most common mirror bug of all: the invalidation is acknowledged but the device keeps its entry.',
  expect: 'violation',
  setup: mmMirrorScenario({ noZap: true }),
  defaults: { strategy: 'pct', schedules: 3000, depth: 3 },
});

registerScenario({
  name: 'seq-retry',
  summary: 'the collision-retry fault loop against overlapping invalidations',
  description:
    'A device faults two pages with read_begin / lock / read_retry / program / unlock while two\n' +
    'CPUs invalidate overlapping ranges; its callback takes the lock and calls set_seq. Every\n' +
    'schedule within two preemptions is tried: no device entry may ever be stale.',
  expect: 'clean',
  setup: faultScenario(),
  defaults: { strategy: 'dfs', schedules: 100_000, preemptionBound: 2 },
});

registerScenario({
  name: 'seq-retry-no-set-seq',
  summary: 'the invalidate callback forgets set_seq',
  description:
    'Without set_seq, read_retry cannot see the collision: the device maps a page the CPU changed.',
  expect: 'violation',
  setup: faultScenario({ noSetSeq: true }),
  defaults: { strategy: 'pct', schedules: 2000, depth: 3 },
});

registerScenario({
  name: 'seq-retry-set-seq-outside-lock',
  summary: 'set_seq called after the driver lock is dropped',
  description:
    'mmu_interval_set_seq must be called under the same lock as read_retry. Here the callback\n' +
    'zaps under the lock but bumps the sequence after unlocking; a fault slips in between.\n' +
    'The fault must run read_begin, the walk, the lock and read_retry inside that one gap: PCT\n' +
    'at depth 3 finds it in about 1 schedule in 1,000, uniform random in about 1 in 10.',
  expect: 'violation',
  setup: faultScenario({ setSeqOutsideLock: true }),
  defaults: { strategy: 'random', schedules: 2000 },
});

registerScenario({
  name: 'seq-retry-retry-outside-lock',
  summary: 'read_retry checked before taking the driver lock',
  description: 'An invalidation can run between the unlocked read_retry and programming the device.',
  expect: 'violation',
  setup: faultScenario({ readRetryOutsideLock: true }),
  defaults: { strategy: 'pct', schedules: 2000, depth: 3 },
});

registerScenario({
  name: 'seq-retry-program-before-retry',
  summary: 'device entry programmed before read_retry',
  description: 'The entry is written from a speculative walk before the collision check.',
  expect: 'violation',
  setup: faultScenario({ programBeforeRetry: true }),
  defaults: { strategy: 'pct', schedules: 2000, depth: 3 },
});

registerScenario({
  name: 'seq-retry-walk-before-insert',
  summary: 'pages read before the subscription exists (hfi1 TID setup, fixed in 2023)',
  description:
    'Setup pins the pages, then inserts the interval notifier, then programs the device. An\n' +
    'invalidation between the two is seen by nobody: read_begin after the insert starts clean.\n' +
    'The fix subscribes first (hfi1 inserts a temporary covering notifier before pinning).',
  expect: 'violation',
  setup: faultScenario({ walkBeforeInsert: true }),
  defaults: { strategy: 'pct', schedules: 2000, depth: 3 },
});

registerScenario({
  name: 'seq-retry-lock-across-read-begin',
  summary: 'the driver lock held across read_begin',
  description:
    'The fault path takes its lock first and calls read_begin under it. read_begin may sleep for an\n' +
    'invalidation whose callback needs that lock: lockdep orders the lock before and after the\n' +
    'invalidate map and reports the cycle, whether or not this schedule deadlocked.',
  expect: 'violation',
  setup: faultScenario({ lockAcrossReadBegin: true }),
  defaults: { strategy: 'pct', schedules: 2000, depth: 3 },
});

registerScenario({
  name: 'two-pass',
  summary: 'two-pass callbacks (invalidate_start / invalidate_finish) against overlapping invalidations',
  description:
    'The multi-GPU form of the callback (xe): the first pass takes the lock, calls set_seq and\n' +
    'starts the device flush, handing back a finish token of its own; the finish pass waits for\n' +
    'the flush and zaps. Non-blockable ranges are refused up front. No entry may ever be stale.',
  expect: 'clean',
  setup: faultScenario({ twoPass: true }),
  defaults: { strategy: 'dfs', schedules: 100_000, preemptionBound: 2 },
});

registerScenario({
  name: 'two-pass-shared-finish-token',
  summary: 'two-pass driver returning one embedded finish token from every first pass',
  description:
    'Each in-flight invalidation needs its own token. Two overlapping invalidations queue the\n' +
    "same one: the kernel's lock-free list is corrupted, and the second overwrites the range the\n" +
    "first one's finish pass was to zap.",
  expect: 'violation',
  setup: faultScenario({ twoPass: true, sharedFinishToken: true }),
  defaults: { strategy: 'pct', schedules: 2000, depth: 3 },
});

registerScenario({
  name: 'two-pass-finish-on-nonblock',
  summary: 'two-pass driver accepting an OOM-reaper range and sleeping in its finish pass',
  description:
    'The finish pass cannot fail, so it cannot trylock: a driver whose finish takes its mutex\n' +
    'must refuse non-blockable ranges in the first pass. This one accepts them.',
  expect: 'violation',
  setup: reaperScenario({ twoPass: true, finishOnNonblock: true }),
  defaults: { strategy: 'pct', schedules: 2000, depth: 3 },
});

registerScenario({
  name: 'subscriptions-come-and-go',
  summary: 'inserts and removes during invalidations, then exit',
  description:
    'Two devices subscribe, fault and unsubscribe while the CPU invalidates covered and\n' +
    'uncovered pages and finally exits (RELEASE): deferred inserts and removals must be applied\n' +
    'at the last invalidate_range_end, and no callback may run after remove returns.',
  expect: 'clean',
  setup: lifecycleScenario(),
  defaults: { strategy: 'pct', schedules: 3000, depth: 3 },
});

registerScenario({
  name: 'core-insert-not-deferred',
  summary: 'planted core bug: insert applied at once during an invalidation',
  description: 'The core mutates the interval tree while an invalidation iterates it.',
  expect: 'violation',
  setup: lifecycleScenario(),
  switches: { 'notifier.insertNotDeferred': true },
  defaults: { strategy: 'pct', schedules: 5000, depth: 3 },
});

registerScenario({
  name: 'core-remove-no-wait',
  summary: 'planted core bug: remove returns before the running callback finished',
  description: 'The driver frees itself after remove returns, while its callback still runs.',
  expect: 'violation',
  setup: lifecycleScenario(),
  switches: { 'notifier.removeNoWait': true },
  defaults: { strategy: 'pct', schedules: 5000, depth: 3 },
});

registerScenario({
  name: 'core-remove-race-2022',
  summary: 'a real upstream bug: remove read invalidate_seq without the lock (fixed in 2022)',
  description:
    'Before mmu_interval_seq_released(), remove waited on a lockless read of invalidate_seq. The\n' +
    'final invalidate end bumps it and then, still under the lock, applies the deferred list: a\n' +
    'remover on another CPU could see the bump first and return while its subscription was still\n' +
    'queued for removal, and its owner free it under the end that is about to unlink it.',
  expect: 'violation',
  setup: lifecycleScenario(),
  switches: { 'notifier.removeSeqReadUnlocked': true },
  defaults: { strategy: 'random', schedules: 2000 },
});

registerScenario({
  name: 'oom-reaper-nonblock',
  summary: "the OOM reaper's non-blockable invalidation against a faulting device",
  description:
    'The reaper trylocks the mmap lock and starts a non-blockable range; the callback trylocks\n' +
    'the driver lock and refuses with -EAGAIN when it would sleep. A refused range is skipped.',
  expect: 'clean',
  setup: reaperScenario(),
  defaults: { strategy: 'dfs', schedules: 100_000, preemptionBound: 2 },
});

registerScenario({
  name: 'classic-unregister-fence',
  summary: 'a classic notifier freed right after unregister returns',
  description: 'unregister waits for an SRCU grace period, so freeing the owner afterwards is safe.',
  expect: 'clean',
  setup: classicScenario(),
  defaults: { strategy: 'dfs', schedules: 100_000, preemptionBound: 2 },
});

registerScenario({
  name: 'classic-unregister-no-release-uaf',
  summary: 'a real 2019 bug: freed right after mmu_notifier_unregister_no_release',
  description:
    'unregister_no_release unhashes the notifier but waits for no grace period: an invalidate or\n' +
    'release walk that already picked it up still calls it. hmm freed its struct hmm at once\n' +
    '("mm/hmm: fix use after free with struct hmm in the mmu notifiers"); the fix deferred the\n' +
    'free past an SRCU grace period. (PCT at depth 3 finds it in 1 to 4 of 2,000 schedules,\n' +
    'uniform random in about 1 in 10.)',
  expect: 'violation',
  setup: classicScenario({}, 'no-release'),
  defaults: { strategy: 'random', schedules: 2000 },
});

registerScenario({
  name: 'gpu-subscribe-on-fault',
  summary: 'subscriptions created on GPU fault, dropped on UNMAP',
  description:
    'A GPU driver finds or inserts a subscription per fault, drops it from its own UNMAP\n' +
    'callback with remove_deferred, and on unload waits with synchronize before freeing.',
  expect: 'clean',
  setup: gpuScenario(),
  defaults: { strategy: 'dfs', schedules: 100_000, preemptionBound: 2 },
});

// The drivers' own scenarios (ODP, GPU SVM), after the notifier core's.
registerOdpScenarios();
registerGpuSvmScenarios();
registerLegacyScenarios();
registerDmirrorScenarios();
registerShowcaseScenarios();
registerCheckScenarios();
