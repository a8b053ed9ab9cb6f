/**
 * The lock contracts of the memory model and the notifier core are asserted in code, as the
 * kernel's lockdep_assert_held / mmap_assert_locked / VM_BUG_ON_FOLIO(!folio_test_locked) do: one
 * test per kind of assertion calls a function without its lock and expects the `lock-misuse`
 * report naming the function, and calls it again with the lock held and expects a clean run.
 * Also pins the layout rule that src/mm has no value-import cycle.
 */
import { describe, expect, it } from 'vitest';

import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../src/mm/constants.js';
import type { Kernel } from '../../src/mm/kernel.js';
import { unmapSingleVma } from '../../src/mm/memory.js';
import type { Process } from '../../src/mm/process.js';
import { folioFreeSwap } from '../../src/mm/swap-state.js';
import { splitVma } from '../../src/mm/vma-modify.js';
import { mnSubscriptionsCheck } from '../../src/notifier/subscriptions.js';
import { mmuNotifierGetLocked } from '../../src/notifier/classic.js';
import type { RunResult } from '../../src/sim/simulation.js';
import { PAGE, expectOk, fill, recordNotifier, runKernel } from './helpers.js';
import { valueCycles } from './import-cycles.js';

const ADDR = 0x10_0000;

/** A process with two written anonymous pages at ADDR. */
async function twoPages(k: Kernel): Promise<Process> {
  const p = k.createProcess('app');
  const got = await p.mmap({
    addr: ADDR,
    length: 2 * PAGE,
    prot: PROT_READ | PROT_WRITE,
    flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
  });
  expect(got).toBe(ADDR);
  expect(await p.write(ADDR, fill(8, 1))).toBe(0);
  expect(await p.write(ADDR + PAGE, fill(8, 2))).toBe(0);
  return p;
}

/** The one violation of `run`, as `kind: message`. */
function only(run: RunResult): string {
  expect(run.violations).toHaveLength(1);
  const v = run.violations[0]!;
  return `${v.kind}: ${v.message}`;
}

describe('asserted lock contracts', () => {
  it('mmap lock (mmap_assert_locked): unmap_single_vma without it is reported, with it read-held is not', async () => {
    const bad = await runKernel(async (k) => {
      const p = await twoPages(k);
      const vma = p.mm.vmas.lookup(ADDR)!;
      await unmapSingleVma(p.mm, vma, ADDR, ADDR + PAGE);
    });
    expect(only(bad)).toMatch(
      /^lock-misuse: unmap_single_vma on app\[\d+\] without mmap_lock held \(thread main\)$/,
    );

    const good = await runKernel(async (k) => {
      const p = await twoPages(k);
      await p.mm.mmapLock.downRead();
      await unmapSingleVma(p.mm, p.mm.vmas.lookup(ADDR)!, ADDR, ADDR + PAGE);
      p.mm.mmapLock.upRead();
      expect(p.mm.rssPages).toBe(1);
      await p.exit(0);
    });
    expectOk(good);
  });

  it('mmap lock for write (mmap_assert_write_locked): split_vma under the read lock is reported, under the write lock is not', async () => {
    const bad = await runKernel(async (k) => {
      const p = await twoPages(k);
      await p.mm.mmapLock.downRead();
      await splitVma(p.mm, p.mm.vmas.lookup(ADDR)!, ADDR + PAGE, true);
      p.mm.mmapLock.upRead();
    });
    expect(only(bad)).toMatch(/^lock-misuse: split_vma on app\[\d+\] without mmap_lock held for write/);

    const good = await runKernel(async (k) => {
      const p = await twoPages(k);
      await p.mm.mmapLock.downWrite();
      const r = await splitVma(p.mm, p.mm.vmas.lookup(ADDR)!, ADDR + PAGE, true);
      p.mm.mmapLock.upWrite();
      expect(typeof r).not.toBe('number');
      expect(p.mm.mapCount).toBe(2);
      await p.exit(0);
    });
    expectOk(good);
  });

  it('the same check in the notifier core: mmu_notifier_get_locked without the write lock', async () => {
    const ops = { invalidateRangeStart: () => 0 };
    const bad = await runKernel(async (k) => {
      const p = await twoPages(k);
      await mmuNotifierGetLocked(ops, p.mm);
    });
    const v = bad.violations[0]!;
    expect(`${v.kind}: ${v.message}`).toMatch(
      /^lock-misuse: mmu_notifier_get_locked on app\[\d+\] without mmap_lock held for write/,
    );

    const good = await runKernel(async (k) => {
      const p = await twoPages(k);
      await p.mm.mmapLock.downWrite();
      const sub = await mmuNotifierGetLocked(ops, p.mm);
      p.mm.mmapLock.upWrite();
      expect(typeof sub).not.toBe('number');
    });
    expectOk(good);
  });

  it('page-table lock (lockdep_assert_held(ptl)): zap release of an entry without mm.ptl is reported', async () => {
    const { zapReleaseEntry } = await import('../../src/mm/memory.js');
    const { PTE_KIND_NONE } = await import('../../src/mm/page-table.js');
    const bad = await runKernel(async (k) => {
      const p = await twoPages(k);
      zapReleaseEntry(p.mm, ADDR, PTE_KIND_NONE, 0, 0);
    });
    expect(only(bad)).toMatch(
      /^lock-misuse: zap_pte_range requires page_table_lock held, but thread main does not hold it$/,
    );

    const good = await runKernel(async (k) => {
      const p = await twoPages(k);
      await p.mm.ptl.lock();
      zapReleaseEntry(p.mm, ADDR, PTE_KIND_NONE, 0, 0);
      p.mm.ptl.unlock();
    });
    expectOk(good);
  });

  it('subscriptions lock (lockdep_assert_held(&subscriptions->lock)): the container check without subs.lock', async () => {
    const bad = await runKernel(async (k) => {
      const p = await twoPages(k);
      await recordNotifier(p.mm);
      mnSubscriptionsCheck(p.mm.notifierSubscriptions!, 'test');
    });
    expect(only(bad)).toMatch(
      /^lock-misuse: mn_subscriptions_check requires \S+ held, but thread main does not hold it$/,
    );

    const good = await runKernel(async (k) => {
      const p = await twoPages(k);
      await recordNotifier(p.mm);
      const subs = p.mm.notifierSubscriptions!;
      await subs.lock.lock();
      mnSubscriptionsCheck(subs, 'test');
      subs.lock.unlock();
    });
    expectOk(good);
  });

  it('folio lock (VM_BUG_ON_FOLIO(!folio_test_locked)): folio_free_swap of an unlocked folio', async () => {
    const bad = await runKernel(async (k) => {
      const pfn = k.phys.allocPage();
      expect(folioFreeSwap(k, pfn)).toBe(false);
      k.phys.putPage(pfn);
    });
    expect(only(bad)).toMatch(
      /^lock-misuse: folio_free_swap requires the folio lock of pfn \d+, which is not locked$/,
    );

    const good = await runKernel(async (k) => {
      const pfn = k.phys.allocPage();
      await k.folioLock(pfn);
      expect(folioFreeSwap(k, pfn)).toBe(false);
      k.folioUnlock(pfn);
      k.phys.putPage(pfn);
    });
    expectOk(good);
  });
});

describe('layout', () => {
  it('src/mm, src/notifier and src/lib have no value-import cycle', () => {
    expect(valueCycles('src/mm')).toEqual([]);
    expect(valueCycles('src/notifier')).toEqual([]);
    expect(valueCycles('src/lib')).toEqual([]);
  });

  it('the cycle finder finds a cycle when there is one (the pre-#8 mm.ts -> exit.ts -> munmap.ts -> mm.ts shape)', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'cycles-'));
    writeFileSync(join(dir, 'mm.ts'), "import { exitMmap } from './exit.js';\nexport const a = exitMmap;\n");
    writeFileSync(
      join(dir, 'exit.ts'),
      "import { unmap } from './munmap.js';\nexport const exitMmap = unmap;\n",
    );
    writeFileSync(
      join(dir, 'munmap.ts'),
      "import { a } from './mm.js';\nimport type { T } from './types.js';\nexport const unmap = a;\n",
    );
    writeFileSync(join(dir, 'types.ts'), "import type { a } from './mm.js';\nexport type T = typeof a;\n");
    writeFileSync(join(dir, 'leaf.ts'), "import { type a } from './mm.js';\nexport type L = typeof a;\n");
    expect(valueCycles(dir, dir)).toEqual([['exit.ts', 'mm.ts', 'munmap.ts']]);
  });
});
