/**
 * One race diagram per planted bug, pinned. The diagrams are what a user reads first: a
 * change to the model, the shrinker or the rendering that alters one shows here as a diff.
 * Regenerate after an intended change with `npx vitest run test/scenario/diagrams.test.ts -u`
 * and read the diff.
 */
import { describe, expect, it } from 'vitest';
import { explore } from '../../src/explore/index.js';
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
      switches: s.switches,
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
      "stale-mapping: dev0 maps 0x7effffffd000 → pfn 0x1 (read), installed at step 59 (dev0); step 65 (app) changed the CPU translation: 0x7effffffd000: pte none: the CPU has no entry (after a CPU page-table change)
             app                             | dev0
             --------------------------------+---------------------------------------------
         …   (45 earlier steps: set-up, and steps on other objects)
         ·   mutex_unlock dev0.lock          |
        47   clear_pte app[1]@0x7effffffd000 |
        49                                   | device_access dev0 0x7effffffc000
         ·                                   | read_begin dev0 [seq 1]
         ·                                   | check_retry dev0 [1 vs 1: ok] {mmap_lock}
        53                                   | mutex_lock dev0.lock
         ·                                   | read_retry dev0 [1 vs 1: ok] {dev0.lock}
         ·                                   | mutex_unlock dev0.lock
        54                                   | device_access dev0 0x7effffffc000
        55                                   | device_access dev0 0x7effffffd000
         ·                                   | read_begin dev0 [seq 1]
        58                                   | device_walk 0x7effffffd000
         ·                                   | check_retry dev0 [1 vs 1: ok] {mmap_lock}
        59                                   | mutex_lock dev0.lock
         ·                                   | read_retry dev0 [1 vs 1: ok] {dev0.lock}
        59 *>                                | device_map 0x7effffffd000 [dev0 → pfn 1; mm…   <-- conflicting step
         ·                                   | mutex_unlock dev0.lock
        60                                   | device_access dev0 0x7effffffd000
        61                                   | device_access dev0 0x7effffffe000
         ·                                   | read_begin dev0 [seq 1]
        65 >>                                | spin_wait page_table_lock
           >>!! detected                     |   <-- stale-mapping: dev0 maps 0x7effffffd000 → pfn 0x1 (read), installed at step 59 (dev0); step 65 (app) changed the CPU translation: 0x7effffffd000: pte none: the CPU has no entry (after a CPU page-table change)"
    `);
  });

  it('mm-mirror-no-zap', async () => {
    expect(await diagramOf('mm-mirror-no-zap')).toMatchInlineSnapshot(`
      "stale-mapping: dev0 maps 0x7effffffd000 → pfn 0x1 (read), installed at step 57 (dev0); step 81 (app) changed the CPU translation: 0x7effffffd000: pte none: the CPU has no entry (after a CPU page-table change)
             app                                         | dev0
             --------------------------------------------+---------------------------------------------
         …   (57 earlier steps: set-up, and steps on other objects)
        57 *>                                            | device_map 0x7effffffd000 [dev0 → pfn 1; mm…   <-- conflicting step
        58                                               | device_access dev0 0x7effffffd000
        64                                               | mn_itree_invalidate dev0 [invalidate_seq 7]
        65                                               | mutex_lock dev0.lock
         ·                                               | set_seq dev0 [5 → 7] {mmap_lock, dev0.lock}
         ·                                               | mutex_unlock dev0.lock
         ·                                               | invalidate_seq [→ 8: window closed]
         ·                                               | check_retry dev0 [5 vs 7: retry] {mmap_lock}
         ·                                               | read_begin dev0 [seq 7]
         ·                                               | check_retry dev0 [7 vs 7: ok] {mmap_lock}
        73                                               | mutex_lock dev0.lock
         ·                                               | read_retry dev0 [7 vs 7: ok] {dev0.lock}
         ·                                               | mutex_unlock dev0.lock
        74                                               | device_access dev0 0x7effffffe000
        75                                               | mutex_lock dev0.lock
        78   mn_itree_invalidate dev0 [invalidate_seq 9] |
        79   mutex_lock dev0.lock                        |
         ·   set_seq dev0 [7 → 9] {mmap_lock, dev0.lock} |
         ·   mutex_unlock dev0.lock                      |
        81 >>clear_pte app[1]@0x7effffffd000             |   <-- stale-mapping: dev0 maps 0x7effffffd000 → pfn 0x1 (read), installed at step 57 (dev0); step 81 (app) changed the CPU translation: 0x7effffffd000: pte none: the CPU has no entry (after a CPU page-table change)"
    `);
  });

  it('seq-retry-no-set-seq', async () => {
    expect(await diagramOf('seq-retry-no-set-seq')).toMatchInlineSnapshot(`
      "stale-mapping: devA maps 0x1000 to 1000 but the CPU has 1003
             dev                                      | cpu0                                        | cpu1
             -----------------------------------------+---------------------------------------------+---------------------
         1                                            |                                             | cpu_pte_write 0x1000
         ·   read_begin devA [seq 1]                  |                                             |
         8   mutex_lock devA.lock                     |                                             |
         ·   read_retry devA [1 vs 1: ok] {devA.lock} |                                             |
         ·   mutex_unlock devA.lock                   |                                             |
         ·   read_begin devA [seq 1]                  |                                             |
        11   cpu_pte_read 0x1000                      |                                             |
        12   mutex_lock devA.lock                     |                                             |
        14                                            | mn_itree_invalidate devA [invalidate_seq 3] |
        15                                            | mutex_lock devA.lock                        |
         ·                                            | mutex_unlock devA.lock                      |
         ·                                            | invalidate_seq [→ 4: window closed]         |
        19                                            | mn_itree_invalidate devA [invalidate_seq 5] |
        20                                            | mutex_lock devA.lock                        |
         ·                                            | mutex_unlock devA.lock                      |
        22 *>                                         | cpu_pte_write 0x1000                        |   <-- conflicting step
         ·                                            | invalidate_seq [→ 6: window closed]         |
         ·   read_retry devA [1 vs 1: ok] {devA.lock} |                                             |
        25   device_pte_write 0x1000                  |                                             |
        25 >>device_map 0x1000 [devA → 1000]          |                                             |   <-- stale-mapping: devA maps 0x1000 to 1000 but the CPU has 1003"
    `);
  });

  it('seq-retry-set-seq-outside-lock', async () => {
    expect(await diagramOf('seq-retry-set-seq-outside-lock')).toMatchInlineSnapshot(`
      "stale-mapping: devA maps 0x0 to 1000 but the CPU has 1001
             dev                                      | cpu0
             -----------------------------------------+--------------------------------------------
         …   (1 earlier step: set-up, and steps on other objects)
         2                                            | cpu_pte_write 0x0
         ·   read_begin devA [seq 1]                  |
        10   cpu_pte_read 0x0                         |
        11                                            | mn_itree_invalidate devA [invalidate_seq 3]
        12                                            | mutex_lock devA.lock
        13   mutex_lock devA.lock                     |
         ·                                            | mutex_unlock devA.lock
        14                                            | set_seq devA {no lock}
         ·   read_retry devA [1 vs 1: ok] {devA.lock} |
        15   device_pte_write 0x0                     |
         ·                                            | set_seq devA [1 → 3] {no lock}
        16 *>                                         | cpu_pte_write 0x0   <-- conflicting step
         …   (1 step)
         ·                                            | invalidate_seq [→ 4: window closed]
        19 >>device_map 0x0 [devA → 1000]             |   <-- stale-mapping: devA maps 0x0 to 1000 but the CPU has 1001"
    `);
  });

  it('seq-retry-retry-outside-lock', async () => {
    expect(await diagramOf('seq-retry-retry-outside-lock')).toMatchInlineSnapshot(`
      "stale-mapping: devA maps 0x1000 to 1000 but the CPU has 1003
             dev                                    | cpu0
             ---------------------------------------+--------------------------------------------
         …   (6 earlier steps: set-up, and steps on other objects)
         ·   read_begin devA [seq 1]                |
         ·   read_retry devA [1 vs 1: ok] {no lock} |
         8   mutex_lock devA.lock                   |
         ·   mutex_unlock devA.lock                 |
         ·   read_begin devA [seq 1]                |
        11   cpu_pte_read 0x1000                    |
         ·   read_retry devA [1 vs 1: ok] {no lock} |
        12   mutex_lock devA.lock                   |
        14                                          | mn_itree_invalidate devA [invalidate_seq 3]
        15                                          | mutex_lock devA.lock
         ·                                          | set_seq devA [1 → 3] {devA.lock}
         ·                                          | mutex_unlock devA.lock
         ·                                          | invalidate_seq [→ 4: window closed]
        19                                          | mn_itree_invalidate devA [invalidate_seq 5]
        20                                          | mutex_lock devA.lock
         ·                                          | set_seq devA [3 → 5] {devA.lock}
         ·                                          | mutex_unlock devA.lock
        22 *>                                       | cpu_pte_write 0x1000   <-- conflicting step
         ·                                          | invalidate_seq [→ 6: window closed]
        25   device_pte_write 0x1000                |
        25 >>device_map 0x1000 [devA → 1000]        |   <-- stale-mapping: devA maps 0x1000 to 1000 but the CPU has 1003"
    `);
  });

  it('seq-retry-program-before-retry', async () => {
    expect(await diagramOf('seq-retry-program-before-retry')).toMatchInlineSnapshot(`
      "stale-mapping: devA maps 0x1000 to 1000 but the CPU has 1003
             dev                                      | cpu0                                        | cpu1
             -----------------------------------------+---------------------------------------------+---------------------
         1                                            |                                             | cpu_pte_write 0x1000
         ·   read_begin devA [seq 1]                  |                                             |
         8   mutex_lock devA.lock                     |                                             |
         ·   read_retry devA [1 vs 1: ok] {devA.lock} |                                             |
         ·   mutex_unlock devA.lock                   |                                             |
         ·   read_begin devA [seq 1]                  |                                             |
        11   cpu_pte_read 0x1000                      |                                             |
        12   mutex_lock devA.lock                     |                                             |
        14                                            | mn_itree_invalidate devA [invalidate_seq 3] |
        15                                            | mutex_lock devA.lock                        |
         ·                                            | set_seq devA [1 → 3] {devA.lock}            |
         ·                                            | mutex_unlock devA.lock                      |
         ·                                            | invalidate_seq [→ 4: window closed]         |
        19                                            | mn_itree_invalidate devA [invalidate_seq 5] |
        20                                            | mutex_lock devA.lock                        |
         ·                                            | set_seq devA [3 → 5] {devA.lock}            |
         ·                                            | mutex_unlock devA.lock                      |
        22 *>                                         | cpu_pte_write 0x1000                        |   <-- conflicting step
         ·                                            | invalidate_seq [→ 6: window closed]         |
        25   device_pte_write 0x1000                  |                                             |
        25 >>device_map 0x1000 [devA → 1000]          |                                             |   <-- stale-mapping: devA maps 0x1000 to 1000 but the CPU has 1003"
    `);
  });

  it('seq-retry-walk-before-insert', async () => {
    expect(await diagramOf('seq-retry-walk-before-insert')).toMatchInlineSnapshot(`
      "stale-mapping: devA maps 0x1000 to 2 but the CPU has 1000
             dev                                      | cpu1
             -----------------------------------------+---------------------
         …   (1 earlier step: set-up, and steps on other objects)
         2   cpu_pte_read 0x1000                      |
         4 *>                                         | cpu_pte_write 0x1000   <-- conflicting step
         …   (3 steps)
         ·   read_begin devA [seq 1]                  |
         9   mutex_lock devA.lock                     |
         ·   read_retry devA [1 vs 1: ok] {devA.lock} |
        11   device_pte_write 0x1000                  |
        11 >>device_map 0x1000 [devA → 2]             |   <-- stale-mapping: devA maps 0x1000 to 2 but the CPU has 1000"
    `);
  });

  it('seq-retry-lock-across-read-begin', async () => {
    expect(await diagramOf('seq-retry-lock-across-read-begin')).toMatchInlineSnapshot(`
      "lock-order: possible circular locking: cpu0 takes devA.lock while holding mmu_notifier_invalidate_range_start, but earlier dev took mmu_notifier_invalidate_range_start while holding devA.lock (step 5)
             dev                                      | cpu0
             -----------------------------------------+--------------------------------------------
         …   (3 earlier steps: set-up, and steps on other objects)
         4   mutex_lock devA.lock                     |
         ·   read_begin devA [seq 1]                  |
         ·   read_retry devA [1 vs 1: ok] {devA.lock} |
         ·   mutex_unlock devA.lock                   |
         7   mutex_lock devA.lock                     |
         ·   read_begin devA [seq 1]                  |
         ·   read_retry devA [1 vs 1: ok] {devA.lock} |
         ·   mutex_unlock devA.lock                   |
        10   exit                                     |
        12                                            | mn_itree_invalidate devA [invalidate_seq 3]
        13 >>                                         | mutex_lock devA.lock   <-- lock-order: possible circular locking: cpu0 takes devA.lock while holding mmu_notifier_invalidate_range_start, but earlier dev took mmu_notifier_invalidate_range_start while holding devA.lock (step 5)"
    `);
  });

  it('two-pass-shared-finish-token', async () => {
    expect(await diagramOf('two-pass-shared-finish-token')).toMatchInlineSnapshot(`
      "kernel-bug: list corruption: devA queued a finish token that another invalidation has queued and not yet finished (each in-flight invalidation needs its own struct mmu_interval_notifier_finish)
             dev                                      | cpu0                                        | cpu1
             -----------------------------------------+---------------------------------------------+--------------------------------------------
         …   (9 earlier steps: set-up, and steps on other objects)
        10   mutex_lock devA.lock                     |                                             |
         ·   read_retry devA [1 vs 1: ok] {devA.lock} |                                             |
         ·   mutex_unlock devA.lock                   |                                             |
        14                                            | mn_itree_invalidate devA [invalidate_seq 3] |
        15                                            | mutex_lock devA.lock                        |
         ·                                            | set_seq devA [1 → 3] {devA.lock}            |
         ·                                            | mutex_unlock devA.lock                      |
        16                                            | mn_itree_finish_pass devA                   |
        17                                            | device_tlb_flush_wait devA                  |
        18                                            | mutex_lock devA.lock                        |
         ·                                            | mutex_unlock devA.lock                      |
         ·                                            | invalidate_seq [→ 4: window closed]         |
        22                                            | mn_itree_invalidate devA [invalidate_seq 5] |
        23                                            | mutex_lock devA.lock                        |
         ·                                            | set_seq devA [3 → 5] {devA.lock}            |
         ·                                            | mutex_unlock devA.lock                      |
        24                                            | mn_itree_finish_pass devA                   |
        26                                            |                                             | mn_itree_invalidate devA [invalidate_seq 5]
        27                                            |                                             | mutex_lock devA.lock
         ·                                            |                                             | set_seq devA [5 → 5] {devA.lock}
        27 >>                                         |                                             | mutex_unlock devA.lock   <-- kernel-bug: list corruption: devA queued a finish token that another invalidation has queued and not yet finished (each in-flight invalidation needs its own struct mmu_interval_notifier_finish)"
    `);
  });

  it('two-pass-finish-on-nonblock', async () => {
    expect(await diagramOf('two-pass-finish-on-nonblock')).toMatchInlineSnapshot(`
      "sleep-in-atomic: mutex_lock(devA.lock) may sleep but thread reaper is inside a non-blockable region
             dev                                      | reaper
             -----------------------------------------+--------------------------------------------
         …   (4 earlier steps: set-up, and steps on other objects)
         ·   read_begin devA [seq 1]                  |
         6   mutex_lock devA.lock                     |
         ·   read_retry devA [1 vs 1: ok] {devA.lock} |
         ·   mutex_unlock devA.lock                   |
         ·   read_begin devA [seq 1]                  |
        10   mutex_lock devA.lock                     |
         ·   read_retry devA [1 vs 1: ok] {devA.lock} |
         ·   mutex_unlock devA.lock                   |
        15                                            | mn_itree_invalidate devA [invalidate_seq 3]
        16                                            | mutex_trylock devA.lock
         ·                                            | set_seq devA [1 → 3] {mmap_lock, devA.lock}
         ·                                            | mutex_unlock devA.lock
        17                                            | mn_itree_finish_pass devA
        18 >>                                         | device_tlb_flush_wait devA   <-- sleep-in-atomic: mutex_lock(devA.lock) may sleep but thread reaper is inside a non-blockable region"
    `);
  });

  it('core-insert-not-deferred', async () => {
    expect(await diagramOf('core-insert-not-deferred')).toMatchInlineSnapshot(`
      "notifier-invariant: interval tree insert while invalidate_seq 3 is odd (the tree may be under iteration)
             devA                                         | devB                          | cpu1
             ---------------------------------------------+-------------------------------+--------------------------------------------
         …   (3 earlier steps: set-up, and steps on other objects)
         4   spin_lock subscriptions->lock                |                               |
         ·   spin_unlock subscriptions->lock              |                               |
         ·   read_begin devA [seq 1]                      |                               |
         5   cpu_pte_read 0x1000                          |                               |
         6   mutex_lock devA.lock                         |                               |
         ·   read_retry devA [1 vs 1: ok] {devA.lock}     |                               |
         7   device_pte_write 0x1000                      |                               |
         8                                                |                               | spin_lock subscriptions->lock
         ·                                                |                               | spin_unlock subscriptions->lock
         9                                                |                               | mn_itree_invalidate devA [invalidate_seq 3]
        10                                                |                               | mutex_lock devA.lock
        11                                                |                               | mutex_wait devA.lock
         ·   device_map 0x1000 [devA → 2]                 |                               |
         ·   mutex_unlock devA.lock                       |                               |
        12   mutex_lock devA.lock                         |                               |
         ·   mutex_unlock devA.lock                       |                               |
        13   spin_lock subscriptions->lock                |                               |
         ·   spin_unlock subscriptions->lock              |                               |
        14   mmu_interval_notifier_remove subscriptions-… |                               |
        15   mmu_interval_notifier_remove_sleep subscrip… |                               |
        16 >>                                             | spin_lock subscriptions->lock |   <-- notifier-invariant: interval tree insert while invalidate_seq 3 is odd (the tree may be under iteration)"
    `);
  });

  it('core-remove-no-wait', async () => {
    expect(await diagramOf('core-remove-no-wait')).toMatchInlineSnapshot(`
      "notifier-invariant: mmu_interval_notifier_remove of devB returns while it is still on the deferred list (invalidation open in cpu1)
             devB                                        | cpu1
             --------------------------------------------+------------------
         …   (27 earlier steps: set-up, and steps on other objects)
        28                                               | cpu_pte_write 0x0
        30   mn_itree_invalidate devB [invalidate_seq 3] |
        31   mutex_lock devB.lock                        |
         ·   set_seq devB [3 → 3] {devB.lock}            |
         ·   mutex_unlock devB.lock                      |
        33   mutex_lock devB.lock                        |
         ·   mutex_unlock devB.lock                      |
        34   spin_lock subscriptions->lock               |
        34 >>spin_unlock subscriptions->lock             |   <-- notifier-invariant: mmu_interval_notifier_remove of devB returns while it is still on the deferred list (invalidation open in cpu1)"
    `);
  });

  it('core-remove-race-2022', async () => {
    expect(await diagramOf('core-remove-race-2022')).toMatchInlineSnapshot(`
      "notifier-invariant: mmu_interval_notifier_remove of devB returns while it is still on the deferred list (invalidation open in cpu)
             devB                                         | cpu
             ---------------------------------------------+---------------------------------------------
         …   (17 earlier steps: set-up, and steps on other objects)
        18                                                | mn_itree_invalidate devB [invalidate_seq 3]
         ·   read_begin devB [seq 1]                      |
        21   mutex_lock devB.lock                         |
         ·   read_retry devB [1 vs 1: ok] {devB.lock}     |
        23                                                | mutex_lock devB.lock
        24                                                | mutex_wait devB.lock
         ·   mutex_unlock devB.lock                       |
        25   mutex_lock devB.lock                         |
         ·   mutex_unlock devB.lock                       |
         ·                                                | set_seq devB [1 → 3] {devB.lock}
         ·                                                | mutex_unlock devB.lock
        30   mmu_interval_notifier_remove subscriptions-… |
         ·                                                | invalidate_seq [→ 4: window closed]
        32 >>                                             | mn_itree_inv_end invalidate_seq (bumped; de…
           >>!! detected                                  |   <-- notifier-invariant: mmu_interval_notifier_remove of devB returns while it is still on the deferred list (invalidation open in cpu)"
    `);
  });

  it('classic-unregister-no-release-uaf', async () => {
    expect(await diagramOf('classic-unregister-no-release-uaf')).toMatchInlineSnapshot(`
      "use-after-free: use-after-free of Object legacy owner (legacy start) by cpu at step 11: allocated by setup at step 0, freed by legacy at step 10
             legacy                    | cpu
             --------------------------+---------------------------------------------
         …   (7 earlier steps: set-up, and steps on other objects)
         8                             | mn_hlist_invalidate_range_start mmu_notifier
        10 *>kfree Object legacy owner |   <-- conflicting step
        11 >>exit                      |
           >>                          | !! detected   <-- use-after-free: use-after-free of Object legacy owner (legacy start) by cpu at step 11: allocated by setup at step 0, freed by legacy at step 10"
    `);
  });
  it('odp2019-counter-timeout-stale', async () => {
    const d = await diagramOf('odp2019-counter-timeout-stale');
    expect(d.split('\n').length).toBeLessThanOrEqual(27);
    expect(d).toMatchInlineSnapshot(`
      "stale-mapping: mlx0.mr0 maps 0x7efffffff000 → pfn 0x0 (write), installed at step 24 (mlx0); step 29 (app) changed the CPU translation: 0x7efffffff000: pte none: the CPU has no entry (after a CPU page-table change)
             app                                         | mlx0
             --------------------------------------------+---------------------------------------------
         …   (1 earlier step: set-up, and steps on other objects)
         2   cpu_write app[1]@0x7efffffff000             |
         5   set_pte app[1]@0x7efffffff000               |
        13   mn_hlist_invalidate_range_start mlx0.mr0.mn |
        14   mutex_lock mlx0.mr0.umem_mutex              |
         ·   mutex_unlock mlx0.mr0.umem_mutex            |
        18                                               | device_access mlx0.mr0 0x7efffffff000
        20                                               | find_vma 0x7efffffff000
        21                                               | mutex_lock mlx0.mr0.umem_mutex
         ·                                               | mutex_unlock mlx0.mr0.umem_mutex
        22                                               | wait_for_completion_timeout mlx0.mr0.notifi…
        23                                               | completion_sleep mlx0.mr0.notifier_completi…
        24                                               | mutex_lock mlx0.mr0.umem_mutex
        24 *>                                            | device_map 0x7efffffff000 [mlx0.mr0 → pfn 0…   <-- conflicting step
         ·                                               | mutex_unlock mlx0.mr0.umem_mutex
        25                                               | device_access mlx0.mr0 0x7efffffff000
        26                                               | device_access mlx0.mr0 0x7efffffff000
        27                                               | exit
        29 >>clear_pte app[1]@0x7efffffff000             |   <-- stale-mapping: mlx0.mr0 maps 0x7efffffff000 → pfn 0x0 (write), installed at step 24 (mlx0); step 29 (app) changed the CPU translation: 0x7efffffff000: pte none: the CPU has no entry (after a CPU page-table change)"
    `);
  });

  it('hmm2019-exit-no-mmget', async () => {
    const d = await diagramOf('hmm2019-exit-no-mmget');
    expect(d.split('\n').length).toBeLessThanOrEqual(27);
    expect(d).toMatchInlineSnapshot(`
      "use-after-free: use-after-free of vma 0x7effffffe000 (find_vma(0x7effffffe000) in hmm_range_fault) by dev at step 37: allocated by dev at step 21, freed by exit at step 31
             app                             | exit                            | dev
             --------------------------------+---------------------------------+------------------------------------------
         …   (5 earlier steps: set-up, and steps on other objects)
         6   cpu_write app[1]@0x7effffffe000 |                                 |
         9   set_pte app[1]@0x7effffffe000   |                                 |
        19                                   |                                 | device_access gpu0.mirror0 0x7effffffe000
        22                                   |                                 | find_vma 0x7effffffe000
        31                                   | remove_vma 0x7effffffe000       |
        31 *>                                | kfree vma 0x7effffffe000        |   <-- conflicting step
         …   (2 steps)
        34                                   | clear_pte app[1]@0x7effffffe000 |
        37 >>                                | down_write_wait mmap_lock       |
           >>                                |                                 | !! detected   <-- use-after-free: use-after-free of vma 0x7effffffe000 (find_vma(0x7effffffe000) in hmm_range_fault) by dev at step 37: allocated by dev at step 21, freed by exit at step 31"
    `);
  });

  it('hmm2019-unregister-uaf', async () => {
    const d = await diagramOf('hmm2019-unregister-uaf');
    expect(d.split('\n').length).toBeLessThanOrEqual(27);
    expect(d).toMatchInlineSnapshot(`
      "use-after-free: use-after-free of struct hmm (hmm_invalidate_range_end) by cpu at step 44: allocated by drv1 at step 13, freed by drv1 at step 40
             drv1             | drv2                      | cpu
             -----------------+---------------------------+-----------------------------------------
         …   (21 earlier steps: set-up, and steps on other objects)
        22                    |                           | mn_hlist_invalidate_range_start hmm#1.mn
        23                    |                           | kref_get_unless_zero hmm#1
        24                    |                           | mutex_lock hmm#1.lock
         ·                    |                           | mutex_unlock hmm#1.lock
        25                    |                           | down_read hmm#1.mirrors_sem
         ·                    |                           | up_read hmm#1.mirrors_sem
        28                    |                           | mn_hlist_invalidate_end hmm#1.mn
        29                    |                           | kref_get_unless_zero hmm#1
        30                    |                           | mutex_lock hmm#1.lock
         ·                    |                           | mutex_unlock hmm#1.lock
        32                    |                           | mn_hlist_invalidate_range_start hmm#1.mn
        33                    |                           | kref_get_unless_zero hmm#1
        34                    |                           | mutex_lock hmm#1.lock
         ·                    |                           | mutex_unlock hmm#1.lock
        35                    |                           | down_read hmm#1.mirrors_sem
         ·                    |                           | up_read hmm#1.mirrors_sem
        38                    |                           | mn_hlist_invalidate_end hmm#1.mn
        39                    |                           | kref_get_unless_zero hmm#1
        40 *>kfree struct hmm |                           |   <-- conflicting step
        41   exit             |                           |
        44 >>                 | down_write_wait mmap_lock |
           >>                 |                           | !! detected   <-- use-after-free: use-after-free of struct hmm (hmm_invalidate_range_end) by cpu at step 44: allocated by drv1 at step 13, freed by drv1 at step 40"
    `);
  });

  it('hmm2019-mm-hmm-twice', async () => {
    const d = await diagramOf('hmm2019-mm-hmm-twice');
    expect(d.split('\n').length).toBeLessThanOrEqual(27);
    expect(d).toMatchInlineSnapshot(`
      "notifier-called-twice: struct hmm#2 is invalidated for [0x7effffffe000, 0x7efffffff000) through hmm#2.mn then hmm#1.mn (invalidate_range_start), but hmm#1.mn belongs to hmm#1: the callbacks find their struct hmm through mm->hmm, so one invalidation reaches the newest struct hmm through the old notifier as well as its own
             app                             | drv1                         | drv2                         | cpu
             --------------------------------+------------------------------+------------------------------+-----------------------------------------
         …   (3 earlier steps: set-up, and steps on other objects)
         4   cpu_write app[1]@0x7effffffe000 |                              |                              |
         7   set_pte app[1]@0x7effffffe000   |                              |                              |
        17                                   | down_write hmm#1.mirrors_sem |                              |
         ·                                   | up_write hmm#1.mirrors_sem   |                              |
        18                                   | down_write hmm#1.mirrors_sem |                              |
         ·                                   | up_write hmm#1.mirrors_sem   |                              |
        25                                   |                              | down_write hmm#2.mirrors_sem |
         ·                                   |                              | up_write hmm#2.mirrors_sem   |
        30                                   |                              |                              | mn_hlist_invalidate_range_start hmm#2.mn
        31                                   |                              |                              | mm_get_hmm mm->hmm
        32                                   |                              |                              | kref_get_unless_zero hmm#2
        33                                   |                              |                              | mutex_lock hmm#2.lock
         ·                                   |                              |                              | mutex_unlock hmm#2.lock
        34                                   |                              |                              | down_read hmm#2.mirrors_sem
         ·                                   |                              |                              | up_read hmm#2.mirrors_sem
        36                                   |                              |                              | mn_hlist_invalidate_range_start hmm#1.mn
        37                                   |                              |                              | mm_get_hmm mm->hmm
        38 >>                                |                              |                              | kref_get_unless_zero hmm#2   <-- notifier-called-twice: struct hmm#2 is invalidated for [0x7effffffe000, 0x7efffffff000) through hmm#2.mn then hmm#1.mn (invalidate_range_start), but hmm#1.mn belongs to hmm#1: the callbacks find their struct hmm through mm->hmm, so one invalidation reaches the newest struct hmm through the old notifier as well as its own"
    `);
  });
});
