/**
 * One race diagram per planted bug, pinned. The diagrams are what a user reads first: a
 * change to the model, the shrinker or the rendering that alters one shows here as a diff.
 * Regenerate after an intended change with `npx vitest run test/scenario/diagrams.test.ts -u`
 * and read the diff.
 */
import { describe, expect, it } from 'vitest';
import { explore } from '../../src/sim/explore.js';
import { getScenario } from '../../src/scenario/registry.js';
import '../../src/scenario/builtin/index.js';

/** The first violation of a planted scenario at seed 1 under its defaults, shrunk, as drawn. */
async function diagramOf(name: string): Promise<string> {
  const s = getScenario(name);
  const d = s.defaults ?? {};
  const r = await explore(
    {
      strategy: d.strategy ?? 'pct',
      schedules: d.schedules ?? 2000,
      depth: d.depth ?? 3,
      seed: 1,
      stopOnFirst: true,
    },
    s.setup,
  );
  const v = r.violations[0];
  expect(v, `${name}: no violation found`).toBeDefined();
  return `${v.kind}: ${v.message}\n${v.diagram ?? ''}`;
}

describe('race diagrams of the planted bugs', () => {
  it('mm-mirror-no-set-seq', async () => {
    expect(await diagramOf('mm-mirror-no-set-seq')).toMatchInlineSnapshot(`
      "stale-mapping: dev0 maps 0x7effffffd000 → pfn 1 but the CPU now has 0x7effffffd000: pte none
             app                                   | dev0
             --------------------------------------+---------------------------------
         1   down_write_killable mmap_lock         |
         2   cpu_write app[1]@0x7effffffc000       |
         3   down_read mmap_lock                   |
         4   spin_lock page_table_lock             |
         5   set_pte app[1]@0x7effffffc000         |
         6   cpu_write app[1]@0x7effffffd000       |
         7   down_read mmap_lock                   |
         8   spin_lock page_table_lock             |
         9   set_pte app[1]@0x7effffffd000         |
        10   cpu_write app[1]@0x7effffffe000       |
        11   down_read mmap_lock                   |
        12   spin_lock page_table_lock             |
        13   set_pte app[1]@0x7effffffe000         |
        14   cpu_write app[1]@0x7efffffff000       |
        15   down_read mmap_lock                   |
        16   spin_lock page_table_lock             |
        17   set_pte app[1]@0x7efffffff000         |
        18   down_write mmap_lock                  |
        19   mm_take_all_locks mm_all_locks app[1] |
        20   spin_lock subscriptions->lock         |
        21   down_write_killable mmap_lock         |
        22   down_write mmap_lock                  |
        23   spin_lock subscriptions->lock         |
        24   mn_itree_invalidate dev0              |
        25   mutex_lock dev0.lock                  |
        26   spin_lock page_table_lock             |
        27   spin_lock page_table_lock             |
        28   modify_pte app[1]@0x7effffffc000      |
        29   modify_pte app[1]@0x7effffffd000      |
        30   modify_pte app[1]@0x7effffffe000      |
        31   modify_pte app[1]@0x7efffffff000      |
        32   spin_lock subscriptions->lock         |
        33   cpu_write app[1]@0x7effffffc000       |
        34   down_read mmap_lock                   |
        35   spin_lock page_table_lock             |
        36   spin_lock subscriptions->lock         |
        37   mn_itree_invalidate dev0              |
        38   mutex_lock dev0.lock                  |
        39   spin_lock page_table_lock             |
        40   set_pte app[1]@0x7effffffc000         |
        41   spin_lock subscriptions->lock         |
        42   down_read mmap_lock                   |
        43   spin_lock subscriptions->lock         |
        44   mn_itree_invalidate dev0              |
        45   mutex_lock dev0.lock                  |
        46   spin_lock page_table_lock             |
        47   clear_pte app[1]@0x7effffffd000       |
        48                                         | wait_for_completion mirror ready
        49                                         | spin_lock subscriptions->lock
        50                                         | down_read mmap_lock
        51                                         | device_walk 0x7effffffc000
        52                                         | mutex_lock dev0.lock
        53                                         | spin_lock subscriptions->lock
        54                                         | down_read mmap_lock
        55                                         | device_walk 0x7effffffd000
        56                                         | mutex_lock dev0.lock
        57                                         | spin_lock subscriptions->lock
        58                                         | down_read mmap_lock
        59                                         | spin_lock page_table_lock
        60 >>                                      | spin_wait page_table_lock
           >>!! detected                           |   <-- stale-mapping: dev0 maps 0x7effffffd000 → pfn 1 but the CPU now has 0x7effffffd000: pte none"
    `);
  });

  it('mm-mirror-no-zap', async () => {
    expect(await diagramOf('mm-mirror-no-zap')).toMatchInlineSnapshot(`
      "stale-mapping: dev0 maps 0x7effffffd000 → pfn 1 but the CPU now has 0x7effffffd000: pte none
             app                                   | dev0
             --------------------------------------+---------------------------------------
         1   down_write_killable mmap_lock         |
         2   cpu_write app[1]@0x7effffffc000       |
         3   down_read mmap_lock                   |
         4   spin_lock page_table_lock             |
         5   set_pte app[1]@0x7effffffc000         |
         6   cpu_write app[1]@0x7effffffd000       |
         7   down_read mmap_lock                   |
         8   spin_lock page_table_lock             |
         9   set_pte app[1]@0x7effffffd000         |
        10   cpu_write app[1]@0x7effffffe000       |
        11   down_read mmap_lock                   |
        12   spin_lock page_table_lock             |
        13   set_pte app[1]@0x7effffffe000         |
        14   cpu_write app[1]@0x7efffffff000       |
        15   down_read mmap_lock                   |
        16   spin_lock page_table_lock             |
        17   set_pte app[1]@0x7efffffff000         |
        18   down_write mmap_lock                  |
        19   mm_take_all_locks mm_all_locks app[1] |
        20   spin_lock subscriptions->lock         |
        21   down_write_killable mmap_lock         |
        22   down_write mmap_lock                  |
        23   spin_lock subscriptions->lock         |
        24   mn_itree_invalidate dev0              |
        25   mutex_lock dev0.lock                  |
        26   spin_lock page_table_lock             |
        27   spin_lock page_table_lock             |
        28   modify_pte app[1]@0x7effffffc000      |
        29   modify_pte app[1]@0x7effffffd000      |
        30   modify_pte app[1]@0x7effffffe000      |
        31   modify_pte app[1]@0x7efffffff000      |
        32   spin_lock subscriptions->lock         |
        33   cpu_write app[1]@0x7effffffc000       |
        34   down_read mmap_lock                   |
        35   spin_lock page_table_lock             |
        36   spin_lock subscriptions->lock         |
        37   mn_itree_invalidate dev0              |
        38   mutex_lock dev0.lock                  |
        39   spin_lock page_table_lock             |
        40   set_pte app[1]@0x7effffffc000         |
        41                                         | wait_for_completion mirror ready
        42                                         | spin_lock subscriptions->lock
        43                                         | mmu_interval_read_begin subscriptions…
        44                                         | mmu_interval_read_begin_sleep subscri…
        45   spin_lock subscriptions->lock         |
        46   down_read mmap_lock                   |
        47                                         | down_read mmap_lock
        48                                         | device_walk 0x7effffffc000
        49                                         | mutex_lock dev0.lock
        50                                         | spin_lock subscriptions->lock
        51                                         | down_read mmap_lock
        52                                         | device_walk 0x7effffffd000
        53                                         | mutex_lock dev0.lock
        54                                         | spin_lock subscriptions->lock
        55                                         | down_read mmap_lock
        56   spin_lock subscriptions->lock         |
        57   mn_itree_invalidate dev0              |
        58   mutex_lock dev0.lock                  |
        59   spin_lock page_table_lock             |
        60 >>clear_pte app[1]@0x7effffffd000       |   <-- stale-mapping: dev0 maps 0x7effffffd000 → pfn 1 but the CPU now has 0x7effffffd000: pte none"
    `);
  });

  it('seq-retry-no-set-seq', async () => {
    expect(await diagramOf('seq-retry-no-set-seq')).toMatchInlineSnapshot(`
      "stale-mapping: devA maps 0x1000 to 1000 but the CPU has 1003
             dev                                | cpu0                          | cpu1
             -----------------------------------+-------------------------------+---------------------
         1                                      |                               | cpu_pte_write 0x1000
         2                                      |                               | exit
         3   down_write mmap_lock               |                               |
         4   mm_take_all_locks mm_all_locks app |                               |
         5   spin_lock subscriptions->lock      |                               |
         6   spin_lock subscriptions->lock      |                               |
         7   cpu_pte_read 0x0                   |                               |
         8   mutex_lock devA.lock               |                               |
         9   device_pte_write 0x0               |                               |
        10   spin_lock subscriptions->lock      |                               |
        11   cpu_pte_read 0x1000                |                               |
        12   mutex_lock devA.lock               |                               |
        13                                      | spin_lock subscriptions->lock |
        14                                      | mn_itree_invalidate devA      |
        15                                      | mutex_lock devA.lock          |
        16                                      | cpu_pte_write 0x0             |
        17                                      | spin_lock subscriptions->lock |
        18                                      | spin_lock subscriptions->lock |
        19                                      | mn_itree_invalidate devA      |
        20                                      | mutex_lock devA.lock          |
        21                                      | cpu_pte_write 0x0             |
        22                                      | cpu_pte_write 0x1000          |
        23                                      | spin_lock subscriptions->lock |
        24                                      | exit                          |
        25 >>device_pte_write 0x1000            |                               |   <-- stale-mapping: devA maps 0x1000 to 1000 but the CPU has 1003"
    `);
  });

  it('seq-retry-set-seq-outside-lock', async () => {
    expect(await diagramOf('seq-retry-set-seq-outside-lock')).toMatchInlineSnapshot(`
      "stale-mapping: devA maps 0x0 inside an open invalidation
             dev                                    | cpu0
             ---------------------------------------+---------------------------------------
         1   down_write mmap_lock                   |
         2                                          | cpu_pte_write 0x0
         3   mm_take_all_locks mm_all_locks app     |
         4   mm_take_all_locks_sleep mm_all_locks … |
         5                                          | mm_all_locks_wait mm_all_locks app
         6                                          | mm_all_locks_wait_sleep mm_all_locks …
         7   spin_lock subscriptions->lock          |
         8   spin_lock subscriptions->lock          |
         9                                          | spin_lock subscriptions->lock
        10   cpu_pte_read 0x0                       |
        11                                          | mn_itree_invalidate devA
        12                                          | mutex_lock devA.lock
        13   mutex_lock devA.lock                   |
        14                                          | set_seq devA
        15   device_pte_write 0x0                   |
        16                                          | cpu_pte_write 0x0
        17 >>                                       | cpu_pte_write 0x1000
           >>!! detected                            |   <-- stale-mapping: devA maps 0x0 inside an open invalidation"
    `);
  });

  it('seq-retry-retry-outside-lock', async () => {
    expect(await diagramOf('seq-retry-retry-outside-lock')).toMatchInlineSnapshot(`
      "stale-mapping: devA maps 0x1000 to 1000 but the CPU has 1003
             dev                                | cpu0                          | cpu1
             -----------------------------------+-------------------------------+---------------------
         1                                      |                               | cpu_pte_write 0x1000
         2                                      |                               | exit
         3   down_write mmap_lock               |                               |
         4   mm_take_all_locks mm_all_locks app |                               |
         5   spin_lock subscriptions->lock      |                               |
         6   spin_lock subscriptions->lock      |                               |
         7   cpu_pte_read 0x0                   |                               |
         8   mutex_lock devA.lock               |                               |
         9   device_pte_write 0x0               |                               |
        10   spin_lock subscriptions->lock      |                               |
        11   cpu_pte_read 0x1000                |                               |
        12   mutex_lock devA.lock               |                               |
        13                                      | spin_lock subscriptions->lock |
        14                                      | mn_itree_invalidate devA      |
        15                                      | mutex_lock devA.lock          |
        16                                      | cpu_pte_write 0x0             |
        17                                      | spin_lock subscriptions->lock |
        18                                      | spin_lock subscriptions->lock |
        19                                      | mn_itree_invalidate devA      |
        20                                      | mutex_lock devA.lock          |
        21                                      | cpu_pte_write 0x0             |
        22                                      | cpu_pte_write 0x1000          |
        23                                      | spin_lock subscriptions->lock |
        24                                      | exit                          |
        25 >>device_pte_write 0x1000            |                               |   <-- stale-mapping: devA maps 0x1000 to 1000 but the CPU has 1003"
    `);
  });

  it('seq-retry-program-before-retry', async () => {
    expect(await diagramOf('seq-retry-program-before-retry')).toMatchInlineSnapshot(`
      "stale-mapping: devA maps 0x1000 to 1000 but the CPU has 1003
             dev                                | cpu0                          | cpu1
             -----------------------------------+-------------------------------+---------------------
         1                                      |                               | cpu_pte_write 0x1000
         2                                      |                               | exit
         3   down_write mmap_lock               |                               |
         4   mm_take_all_locks mm_all_locks app |                               |
         5   spin_lock subscriptions->lock      |                               |
         6   spin_lock subscriptions->lock      |                               |
         7   cpu_pte_read 0x0                   |                               |
         8   mutex_lock devA.lock               |                               |
         9   device_pte_write 0x0               |                               |
        10   spin_lock subscriptions->lock      |                               |
        11   cpu_pte_read 0x1000                |                               |
        12   mutex_lock devA.lock               |                               |
        13                                      | spin_lock subscriptions->lock |
        14                                      | mn_itree_invalidate devA      |
        15                                      | mutex_lock devA.lock          |
        16                                      | cpu_pte_write 0x0             |
        17                                      | spin_lock subscriptions->lock |
        18                                      | spin_lock subscriptions->lock |
        19                                      | mn_itree_invalidate devA      |
        20                                      | mutex_lock devA.lock          |
        21                                      | cpu_pte_write 0x0             |
        22                                      | cpu_pte_write 0x1000          |
        23                                      | spin_lock subscriptions->lock |
        24                                      | exit                          |
        25 >>device_pte_write 0x1000            |                               |   <-- stale-mapping: devA maps 0x1000 to 1000 but the CPU has 1003"
    `);
  });

  it('seq-retry-walk-before-insert', async () => {
    expect(await diagramOf('seq-retry-walk-before-insert')).toMatchInlineSnapshot(`
      "stale-mapping: devA maps 0x1000 to 2 but the CPU has 1000
             dev                                | cpu1
             -----------------------------------+---------------------
         1   cpu_pte_read 0x0                   |
         2   cpu_pte_read 0x1000                |
         3   down_write mmap_lock               |
         4                                      | cpu_pte_write 0x1000
         5                                      | exit
         6   mm_take_all_locks mm_all_locks app |
         7   spin_lock subscriptions->lock      |
         8   spin_lock subscriptions->lock      |
         9   mutex_lock devA.lock               |
        10   device_pte_write 0x0               |
        11 >>device_pte_write 0x1000            |   <-- stale-mapping: devA maps 0x1000 to 2 but the CPU has 1000"
    `);
  });

  it('seq-retry-lock-across-read-begin', async () => {
    expect(await diagramOf('seq-retry-lock-across-read-begin')).toMatchInlineSnapshot(`
      "lock-order: possible circular locking: cpu0 takes devA.lock while holding mmu_notifier_invalidate_range_start, but earlier dev took mmu_notifier_invalidate_range_start while holding devA.lock (step 5)
             dev                                | cpu0
             -----------------------------------+------------------------------
         1   down_write mmap_lock               |
         2   mm_take_all_locks mm_all_locks app |
         3   spin_lock subscriptions->lock      |
         4   mutex_lock devA.lock               |
         5   spin_lock subscriptions->lock      |
         6   device_pte_write 0x0               |
         7   mutex_lock devA.lock               |
         8   spin_lock subscriptions->lock      |
         9   device_pte_write 0x1000            |
        10   exit                               |
        11                                      | spin_lock subscriptions->lock
        12                                      | mn_itree_invalidate devA
        13 >>                                   | mutex_lock devA.lock   <-- lock-order: possible circular locking: cpu0 takes devA.lock while holding mmu_notifier_invalidate_range_start, but earlier dev took mmu_notifier_invalidate_range_start while holding devA.lock (step 5)"
    `);
  });

  it('two-pass-shared-finish-token', async () => {
    expect(await diagramOf('two-pass-shared-finish-token')).toMatchInlineSnapshot(`
      "kernel-bug: list corruption: devA queued a finish token that another invalidation has queued and not yet finished (each in-flight invalidation needs its own struct mmu_interval_notifier_finish)
             dev                                | cpu0                          | cpu1
             -----------------------------------+-------------------------------+------------------------------
         1   down_write mmap_lock               |                               |
         2   mm_take_all_locks mm_all_locks app |                               |
         3   spin_lock subscriptions->lock      |                               |
         4   spin_lock subscriptions->lock      |                               |
         5   cpu_pte_read 0x0                   |                               |
         6   mutex_lock devA.lock               |                               |
         7   device_pte_write 0x0               |                               |
         8   spin_lock subscriptions->lock      |                               |
         9   cpu_pte_read 0x1000                |                               |
        10   mutex_lock devA.lock               |                               |
        11   device_pte_write 0x1000            |                               |
        12   exit                               |                               |
        13                                      | spin_lock subscriptions->lock |
        14                                      | mn_itree_invalidate devA      |
        15                                      | mutex_lock devA.lock          |
        16                                      | mn_itree_finish_pass devA     |
        17                                      | device_tlb_flush_wait devA    |
        18                                      | mutex_lock devA.lock          |
        19                                      | cpu_pte_write 0x0             |
        20                                      | spin_lock subscriptions->lock |
        21                                      | spin_lock subscriptions->lock |
        22                                      | mn_itree_invalidate devA      |
        23                                      | mutex_lock devA.lock          |
        24                                      | mn_itree_finish_pass devA     |
        25                                      |                               | spin_lock subscriptions->lock
        26                                      |                               | mn_itree_invalidate devA
        27 >>                                   |                               | mutex_lock devA.lock   <-- kernel-bug: list corruption: devA queued a finish token that another invalidation has queued and not yet finished (each in-flight invalidation needs its own struct mmu_interval_notifier_finish)"
    `);
  });

  it('two-pass-finish-on-nonblock', async () => {
    expect(await diagramOf('two-pass-finish-on-nonblock')).toMatchInlineSnapshot(`
      "sleep-in-atomic: mutex_lock(devA.lock) may sleep but thread reaper is inside a non-blockable region
             dev                                | reaper
             -----------------------------------+------------------------------
         1   down_write mmap_lock               |
         2   mm_take_all_locks mm_all_locks app |
         3   spin_lock subscriptions->lock      |
         4   spin_lock subscriptions->lock      |
         5   cpu_pte_read 0x0                   |
         6   mutex_lock devA.lock               |
         7   device_pte_write 0x0               |
         8   spin_lock subscriptions->lock      |
         9   cpu_pte_read 0x1000                |
        10   mutex_lock devA.lock               |
        11   device_pte_write 0x1000            |
        12   exit                               |
        13                                      | down_read_trylock mmap_lock
        14                                      | spin_lock subscriptions->lock
        15                                      | mn_itree_invalidate devA
        16                                      | mutex_trylock devA.lock
        17                                      | mn_itree_finish_pass devA
        18 >>                                   | device_tlb_flush_wait devA   <-- sleep-in-atomic: mutex_lock(devA.lock) may sleep but thread reaper is inside a non-blockable region"
    `);
  });

  it('core-insert-not-deferred', async () => {
    expect(await diagramOf('core-insert-not-deferred')).toMatchInlineSnapshot(`
      "notifier-invariant: interval tree insert while invalidate_seq 3 is odd (the tree may be under iteration)
             devA                                   | devB                          | cpu1
             ---------------------------------------+-------------------------------+------------------------------
         1   down_write mmap_lock                   |                               |
         2   mm_take_all_locks mm_all_locks app     |                               |
         3   spin_lock subscriptions->lock          |                               |
         4   spin_lock subscriptions->lock          |                               |
         5   cpu_pte_read 0x1000                    |                               |
         6   mutex_lock devA.lock                   |                               |
         7   device_pte_write 0x1000                |                               |
         8                                          |                               | spin_lock subscriptions->lock
         9                                          |                               | mn_itree_invalidate devA
        10                                          |                               | mutex_lock devA.lock
        11                                          |                               | mutex_wait devA.lock
        12   mutex_lock devA.lock                   |                               |
        13   spin_lock subscriptions->lock          |                               |
        14   mmu_interval_notifier_remove subscrip… |                               |
        15   mmu_interval_notifier_remove_sleep su… |                               |
        16 >>                                       | spin_lock subscriptions->lock |   <-- notifier-invariant: interval tree insert while invalidate_seq 3 is odd (the tree may be under iteration)"
    `);
  });

  it('core-remove-no-wait', async () => {
    expect(await diagramOf('core-remove-no-wait')).toMatchInlineSnapshot(`
      "notifier-invariant: mmu_interval_notifier_remove of devA returns while it is still on the deferred list
             devA                               | cpu                           | cpu1
             -----------------------------------+-------------------------------+------------------------------
         1   down_write mmap_lock               |                               |
         2   mm_take_all_locks mm_all_locks app |                               |
         3   spin_lock subscriptions->lock      |                               |
         4   spin_lock subscriptions->lock      |                               |
         5   cpu_pte_read 0x1000                |                               |
         6   mutex_lock devA.lock               |                               |
         7   device_pte_write 0x1000            |                               |
         8   mutex_lock devA.lock               |                               |
         9   spin_lock subscriptions->lock      |                               |
        10                                      | spin_lock subscriptions->lock |
        11                                      | cpu_pte_write 0x3000          |
        12                                      | spin_lock subscriptions->lock |
        13                                      | spin_lock subscriptions->lock |
        14                                      | mn_itree_invalidate devA      |
        15                                      | mutex_lock devA.lock          |
        16                                      | cpu_pte_write 0x1000          |
        17                                      | cpu_pte_write 0x2000          |
        18                                      | spin_lock subscriptions->lock |
        19                                      | spin_lock subscriptions->lock |
        20                                      | mn_itree_invalidate devA      |
        21                                      | mutex_lock devA.lock          |
        22                                      | spin_lock subscriptions->lock |
        23                                      | exit                          |
        24                                      |                               | spin_lock subscriptions->lock
        25                                      |                               | mn_itree_invalidate devA
        26                                      |                               | mutex_lock devA.lock
        27 >>                                   |                               | cpu_pte_write 0x0
           >>!! detected                        |                               |   <-- notifier-invariant: mmu_interval_notifier_remove of devA returns while it is still on the deferred list"
    `);
  });

  it('core-remove-race-2022', async () => {
    expect(await diagramOf('core-remove-race-2022')).toMatchInlineSnapshot(`
      "notifier-invariant: mmu_interval_notifier_remove of devB returns while it is still on the deferred list
             devA                                   | devB                                   | cpu                                    | cpu1
             ---------------------------------------+----------------------------------------+----------------------------------------+------------------------------
         1                                          | down_write mmap_lock                   |                                        |
         2                                          | mm_take_all_locks mm_all_locks app     |                                        |
         3                                          |                                        | mm_all_locks_wait mm_all_locks app     |
         4                                          |                                        | mm_all_locks_wait_sleep mm_all_locks … |
         5   down_write mmap_lock                   |                                        |                                        |
         6   down_write_wait mmap_lock              |                                        |                                        |
         7                                          | spin_lock subscriptions->lock          |                                        |
         8                                          |                                        | spin_lock subscriptions->lock          |
         9                                          | spin_lock subscriptions->lock          |                                        |
        10                                          |                                        | cpu_pte_write 0x3000                   |
        11                                          |                                        |                                        | spin_lock subscriptions->lock
        12                                          |                                        | spin_lock subscriptions->lock          |
        13                                          |                                        |                                        | cpu_pte_write 0x0
        14                                          |                                        |                                        | spin_lock subscriptions->lock
        15                                          |                                        |                                        | exit
        16                                          |                                        | spin_lock subscriptions->lock          |
        17   mm_take_all_locks mm_all_locks app     |                                        |                                        |
        18                                          |                                        | mn_itree_invalidate devB               |
        19   mm_take_all_locks_sleep mm_all_locks … |                                        |                                        |
        20                                          | cpu_pte_read 0x2000                    |                                        |
        21                                          | mutex_lock devB.lock                   |                                        |
        22                                          | device_pte_write 0x2000                |                                        |
        23                                          |                                        | mutex_lock devB.lock                   |
        24                                          |                                        | mutex_wait devB.lock                   |
        25                                          | mutex_lock devB.lock                   |                                        |
        26                                          | spin_lock subscriptions->lock          |                                        |
        27                                          | mmu_interval_notifier_remove reads in… |                                        |
        28                                          |                                        | cpu_pte_write 0x1000                   |
        29                                          |                                        | cpu_pte_write 0x2000                   |
        30                                          | mmu_interval_notifier_remove subscrip… |                                        |
        31                                          |                                        | spin_lock subscriptions->lock          |
        32 >>                                       |                                        | mn_itree_inv_end invalidate_seq bumpe… |
           >>                                       | !! detected                            |                                        |   <-- notifier-invariant: mmu_interval_notifier_remove of devB returns while it is still on the deferred list"
    `);
  });

  it('classic-unregister-no-release-uaf', async () => {
    expect(await diagramOf('classic-unregister-no-release-uaf')).toMatchInlineSnapshot(`
      "use-after-free: use-after-free of Object legacy owner (legacy end) by cpu at step 13: allocated by setup at step 0, freed by legacy at step 12
             legacy                             | dev                                    | cpu
             -----------------------------------+----------------------------------------+---------------------------------------
         1   down_write mmap_lock               |                                        |
         2   mm_take_all_locks mm_all_locks app |                                        |
         3                                      |                                        | mm_all_locks_wait mm_all_locks app
         4                                      | down_write mmap_lock                   |
         5                                      | down_write_wait mmap_lock              |
         6   spin_lock subscriptions->lock      |                                        |
         7   spin_lock subscriptions->lock      |                                        |
         8                                      |                                        | mn_hlist_invalidate_range_start mmu_n…
         9                                      | mm_take_all_locks mm_all_locks app     |
        10                                      |                                        | cpu_pte_write 0x0
        11                                      |                                        | mn_hlist_invalidate_end mmu_notifier
        12                                      | mm_take_all_locks_sleep mm_all_locks … |
        13 >>exit                               |                                        |
           >>                                   |                                        | !! detected   <-- use-after-free: use-after-free of Object legacy owner (legacy end) by cpu at step 13: allocated by setup at step 0, freed by legacy at step 12"
    `);
  });
});
