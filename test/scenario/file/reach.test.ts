/**
 * The memory-model churn scenarios must reach the mechanism each one is about (a scenario whose
 * race window is never entered would pass while testing nothing): over a few seeds, the trace
 * must show the kernel path, and racing outcomes must occur on both sides.
 */
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileRunCounters, fileScenarioKernel } from '../../../src/scenario/file/build.js';
import { loadScenarioFile } from '../../../src/scenario/file/load.js';
import { Simulation } from '../../../src/sim/simulation.js';

const dir = resolve(import.meta.dirname, '../../../scenarios');

interface Seen {
  labels: Set<string>;
  hugePteChanges: number;
  /** Per run: the -errno results of its operations. */
  errors: Record<string, number>[];
}

async function observe(file: string, seeds = 10): Promise<Seen> {
  const s = await loadScenarioFile(resolve(dir, file));
  const seen: Seen = { labels: new Set(), hugePteChanges: 0, errors: [] };
  for (let seed = 1; seed <= seeds; seed++) {
    const sim = new Simulation({ seed, trace: true });
    const run = await sim.run((x) => {
      void s.setup(x);
      fileScenarioKernel(x)!.hooks.onPteChange.push((_mm, _va, huge) => {
        if (huge) seen.hugePteChanges++;
      });
    });
    expect(run.violations).toEqual([]);
    for (const e of run.trace ?? []) seen.labels.add(e.label);
    seen.errors.push(fileRunCounters(sim)!.errors);
  }
  return seen;
}

describe('churn scenarios reach their race windows', () => {
  it('thp-split maps a THP with a PMD and splits it', async () => {
    const s = await observe('thp-split.yaml');
    expect(s.hugePteChanges).toBeGreaterThan(0);
    expect(s.labels).toContain('split_huge_pmd');
  });

  it('reclaim-swap swaps pages out and back in', async () => {
    const s = await observe('reclaim-swap.yaml');
    expect(s.labels).toContain('swap_writepage');
    expect(s.labels).toContain('swap_read_folio');
  });

  it('numa-migrate unmaps pages for migration', async () => {
    const s = await observe('numa-migrate.yaml');
    expect(s.labels).toContain('ptep_clear_flush');
  });

  it('fork-cow-churn write-protects at fork and copies on write', async () => {
    const s = await observe('fork-cow-churn.yaml');
    expect(s.labels).toContain('modify_pte');
    expect(s.labels).toContain('kfree');
  });

  it('mprotect-race-write: some writes meet the read-only window, some do not', async () => {
    const s = await observe('mprotect-race-write.yaml');
    expect(s.errors.some((e) => (e['-14'] ?? 0) > 0)).toBe(true);
    expect(s.errors.some((e) => (e['-14'] ?? 0) === 0)).toBe(true);
  });

  it('oom-kill-churn: the victim is sometimes killed before, sometimes after it wrote', async () => {
    const s = await observe('oom-kill-churn.yaml');
    // cpu0 makes 8 calls (4 writes, 4 reads); the kill lands at different points of them.
    const esrch = new Set(s.errors.map((e) => e['-3'] ?? 0));
    expect(esrch.size).toBeGreaterThan(1);
    expect([...esrch].some((n) => n < 8)).toBe(true);
  });
});
