/**
 * Scenarios of the checkers' must-find list (issue 11) that no driver folder holds: ODP's pre-2019
 * counter scheme, hmm_mirror of 2019 (seed 004), a GPU SVM driver removing a notifier from its own
 * callback, and the legacy userptr list against munmap. Each planted race comes with its fixed
 * twin, which must stay silent.
 */
import { registerScenario } from '../../scenario/registry.js';
import { hmmMirror2019ExitScenario, hmmMirror2019LifetimeScenario } from './hmm-mirror-2019.js';
import { odp2019Scenario } from './odp2019.js';
import { removeInCallbackScenario } from './remove-in-callback.js';
import { userptrMunmapScenario } from './userptr-munmap.js';
import { nouveauSvmBindScenario } from './nouveau-svm-bind.js';
import { xeTimesliceScenario } from './xe-timeslice.js';
import { storeThroughReadOnlyScenario } from './store-through-read-only.js';

export { hmmMirror2019ExitScenario, hmmMirror2019LifetimeScenario } from './hmm-mirror-2019.js';
export { odp2019Scenario } from './odp2019.js';
export { removeInCallbackScenario } from './remove-in-callback.js';
export { userptrMunmapScenario } from './userptr-munmap.js';
export { nouveauSvmBindScenario } from './nouveau-svm-bind.js';
export { xeTimesliceScenario, XE_PING_PONG_FAULTS } from './xe-timeslice.js';
export { storeThroughReadOnlyScenario } from './store-through-read-only.js';

let registered = false;

/** Adds the checkers' scenarios to the registry (once). */
export function registerCheckScenarios(): void {
  if (registered) return;
  registered = true;
  registerScenario({
    name: 'mirror-cow-store',
    summary: 'a GPU loads then stores a page its process shares copy-on-write with a child',
    description:
      "The GPU's load maps the COW-shared page read-only; its store faults and breaks COW first, so\n" +
      'the child keeps reading what it inherited.',
    expect: 'clean',
    setup: storeThroughReadOnlyScenario(),
    defaults: { strategy: 'pct', schedules: 300, depth: 3 },
  });
  registerScenario({
    name: 'mirror-store-through-read-only',
    summary: "the device's MMU ignores read-only entries: a GPU store lands in the zero page",
    description:
      "The GPU's store goes through its read-only mapping of the shared zero page instead of faulting:\n" +
      "an untouched page the CPU loads then reads the GPU's byte, a lost write only the data shows.",
    expect: 'violation',
    setup: storeThroughReadOnlyScenario(),
    switches: { 'mirror.ignoreReadOnly': true },
    defaults: { strategy: 'pct', schedules: 300, depth: 3 },
  });
  registerScenario({
    name: 'odp2019-counter',
    summary: "ODP's pre-2019 counter/sequence/completion scheme, its timeout path faulting again",
    description:
      'A NIC faults a page of its MR while the CPU zaps it and a GPU notifier keeps each invalidation\n' +
      'open past the fault timeout: after the timeout the fault starts over, and no stale page is mapped.',
    expect: 'clean',
    setup: odp2019Scenario(),
    defaults: { strategy: 'pct', schedules: 300, depth: 3 },
  });
  registerScenario({
    name: 'odp2019-counter-timeout-stale',
    summary: "odp2019: the completion's timeout path programs the page its stale walk pinned",
    description:
      'The fault waited for the running invalidation, timed out, warned, and mapped what GUP found\n' +
      'before the invalidation: the NIC keeps a page the CPU no longer maps.',
    expect: 'violation',
    setup: odp2019Scenario(),
    switches: { 'odp2019.mapOnTimeout': true },
    defaults: { strategy: 'pct', schedules: 300, depth: 3 },
  });
  registerScenario({
    name: 'hmm2019-lifetime',
    summary: 'hmm_mirror of 2019 with its fixes: struct hmm freed after SRCU, found by container_of',
    description:
      'Two mirrors come and go on one mm while the CPU invalidates: each struct hmm hears of each\n' +
      'invalidation once, through its own notifier, and is never used after it is freed.',
    expect: 'clean',
    setup: hmmMirror2019LifetimeScenario(),
    switches: { 'hmm2019.srcuFree': true, 'hmm2019.containerOf': true },
    defaults: { strategy: 'pct', schedules: 500, depth: 3 },
  });
  registerScenario({
    name: 'hmm2019-exit',
    summary: 'hmm_mirror of 2019: the device fault holds mmget_not_zero against exit_mmap',
    description: 'The fault takes a user reference, so exit_mmap cannot free the VMAs it walks.',
    expect: 'clean',
    setup: hmmMirror2019ExitScenario(),
    switches: { 'hmm2019.mmgetInFault': true },
    defaults: { strategy: 'pct', schedules: 300, depth: 3 },
  });
  registerScenario({
    name: 'hmm2019-exit-no-mmget',
    summary: 'seed 004: the device fault racing exit_mmap without mmget_not_zero',
    description:
      'The fault holds the mmap lock and read hmm->dead before exit_mmap set it; exit_mmap does not\n' +
      'take the mmap lock and frees the VMAs that find_vma is walking: a use-after-free.',
    expect: 'violation',
    setup: hmmMirror2019ExitScenario(),
    defaults: { strategy: 'pct', schedules: 300, depth: 3 },
  });
  registerScenario({
    name: 'hmm2019-unregister-uaf',
    summary: 'seed 004: struct hmm freed right after mmu_notifier_unregister_no_release',
    description:
      'unregister_no_release is not a fence: an invalidation walk that picked the notifier up still\n' +
      'calls it, and the callback uses the freed struct hmm.',
    expect: 'violation',
    setup: hmmMirror2019LifetimeScenario(),
    switches: { 'hmm2019.containerOf': true },
    defaults: { strategy: 'pct', schedules: 300, depth: 3 },
  });
  registerScenario({
    name: 'hmm2019-mm-hmm-twice',
    summary: 'seed 004: callbacks find their struct hmm through mm->hmm and reach the new one twice',
    description:
      'An old notifier still in an invalidation walk delivers it to the newest struct hmm (mm->hmm),\n' +
      'whose own notifier delivers it again: the same struct hmm is invalidated through two notifiers.',
    expect: 'violation',
    setup: hmmMirror2019LifetimeScenario(),
    switches: { 'hmm2019.srcuFree': true },
    defaults: { strategy: 'pct', schedules: 300, depth: 3 },
  });
  registerScenario({
    name: 'svm-remove-deferred-gc',
    summary: "drm_gpusvm leaving the removal of an unmapped range's notifier to its garbage collector",
    description:
      'The UNMAP callback zaps, marks the range unmapped and queues it; the garbage collector worker\n' +
      'removes the range and the emptied notifier outside any callback.',
    expect: 'clean',
    setup: removeInCallbackScenario(),
    defaults: { strategy: 'pct', schedules: 300, depth: 3 },
  });
  registerScenario({
    name: 'svm-remove-in-callback',
    summary: 'gpusvm (switch removeInCallback): a subscription removed from inside its own callback',
    description:
      'remove waits for the invalidation in progress, which is the one calling it: lockdep reports the\n' +
      'recursive invalidate-start map (drm_gpusvm defers the removal to its garbage collector).',
    expect: 'violation',
    setup: removeInCallbackScenario(),
    switches: { 'gpusvm.removeInCallback': true },
    defaults: { strategy: 'pct', schedules: 300, depth: 3 },
  });
  registerScenario({
    name: 'nouveau-svm-bind',
    summary: "nouveau's SVM_BIND moving a buffer to VRAM batch by batch while a CPU thread writes it",
    description:
      'Every batch of the request migrates; a CPU write may pull its page back from the half-migrated\n' +
      'request (nouveau clears the GPU mapping itself); the GPU and the CPU read what was written.',
    expect: 'clean',
    setup: nouveauSvmBindScenario(),
    defaults: { strategy: 'pct', schedules: 300, depth: 3 },
  });
  registerScenario({
    name: 'nouveau-partial-migrate',
    summary: "2022 (switch nouveauPartialMigrate): nouveau's SVM_BIND migrates only its first batch",
    description:
      "Each batch's end came from the request's start: the second batch is empty, setup refuses it,\n" +
      'SVM_BIND returns 0 and half of the buffer stays in system memory (fixed in 2022).',
    expect: 'violation',
    setup: nouveauSvmBindScenario(),
    switches: { 'gpusvm.nouveauPartialMigrate': true },
    defaults: { strategy: 'pct', schedules: 300, depth: 3 },
  });
  registerScenario({
    name: 'xe-atomic-timeslice',
    summary: "xe's VRAM timeslice: a GPU atomic in VRAM lands while the CPU spins on the counter",
    description:
      'The atomic migrates its range to VRAM; a CPU fault inside the timeslice leaves it there and\n' +
      're-faults until the timeslice ends, so the replayed GPU atomic lands first.',
    expect: 'clean',
    setup: xeTimesliceScenario(),
    defaults: { strategy: 'pct', schedules: 100, depth: 3 },
  });
  registerScenario({
    name: 'xe-atomic-ping-pong',
    summary: '2025 (switch xeNoTimeslice): a GPU atomic and a CPU ping-pong a page between VRAM and RAM',
    description:
      'Without the timeslice every CPU touch between the migration and the replayed GPU atomic pulls\n' +
      'the page back to system memory: the GPU faults again and again (fixed by the VRAM timeslice).',
    expect: 'violation',
    setup: xeTimesliceScenario(),
    switches: { 'gpusvm.xeNoTimeslice': true },
    // Every schedule livelocks; each costs about 1,200 steps of ping-pong before the bound.
    defaults: { strategy: 'pct', schedules: 20, depth: 3 },
  });
  registerScenario({
    name: 'userptr-munmap-stale',
    summary: 'legacy userptr list: a pinned page mapped after munmap, with no sequence to notice',
    description:
      'The invalidation of the munmap walks the list before the device maps the page it pinned; the\n' +
      'pin keeps the page alive and the device keeps memory the process no longer has.',
    expect: 'violation',
    setup: userptrMunmapScenario(),
    defaults: { strategy: 'random', schedules: 300 },
  });
}
