/**
 * Issue 11's must-find list: every race the seeds talk about, found by exploring its built-in
 * scenario with the scenario's default settings (stopping at the first violation), named in words a
 * kernel developer recognises, marked in its race diagram, and reproduced by its replay token. The
 * correct drivers stay silent on their standard workloads (a short budget here; the 100,000-schedule
 * run behind MIRRORLAB_LONG).
 */
import { describe, expect, it } from 'vitest';
import { explore, replay, type ExploreOptions } from '../../src/explore/index.js';
import { getScenario } from '../../src/scenario/registry.js';
import type { Scenario } from '../../src/scenario/registry.js';
import { MUST_FIND } from '../../src/check/must-find.js';
import '../../src/scenario/builtin/index.js';
import { registerDmirrorScenarios } from '../../src/drivers/dmirror/scenarios.js';

registerDmirrorScenarios();

/** The scenario's own exploration defaults (what `mirrorlab explore <name>` uses). */
export function defaultsOf(s: Scenario, seed = 1): ExploreOptions {
  const d = s.defaults ?? {};
  return {
    strategy: d.strategy ?? 'pct',
    schedules: d.schedules ?? 2000,
    depth: d.depth ?? 3,
    preemptionBound: d.preemptionBound ?? 2,
    seed,
    switches: s.switches,
  };
}

describe('must find (issue 11): each race found, explained and replayed', () => {
  for (const m of MUST_FIND) {
    it(`${m.n}. ${m.what}`, async () => {
      const s = getScenario(m.scenario);
      expect(s.expect).toBe('violation');
      const t0 = performance.now();
      const r = await explore({ ...defaultsOf(s), stopOnFirst: true }, s.setup);
      expect(performance.now() - t0).toBeLessThan(60_000);
      expect(r.violations.length).toBe(1);
      const v = r.violations[0];
      expect(v.kind).toBe(m.kind);
      expect(v.message).toMatch(m.words);
      expect(v.signature).not.toMatch(/0x[0-9a-f]*[1-9a-f]|\d/);
      // The diagram marks the violating step.
      expect(v.diagram).toMatch(new RegExp(`^ *${v.step} >>`, 'm'));
      const again = await replay(v.token, s.setup);
      expect(again.violations[0]?.signature).toBe(v.signature);
      expect(again.violations[0]?.step).toBe(v.step);
    }, 90_000);
  }

  it('12. the livelock scenario passes with either mitigation on', async () => {
    for (const name of ['odp-livelock-timeout', 'odp-livelock-mmap-write-fallback']) {
      const s = getScenario(name);
      expect(s.expect).toBe('clean');
      const r = await explore(defaultsOf(s), s.setup);
      expect(r.violations.map((v) => `${name}: ${v.message}`)).toEqual([]);
      expect(r.statuses.ok).toBe(r.schedules);
    }
  }, 60_000);

  it("the fixed twins of the checkers' own scenarios stay silent", async () => {
    for (const name of ['odp2019-counter', 'hmm2019-lifetime', 'hmm2019-exit', 'svm-remove-deferred-gc']) {
      const s = getScenario(name);
      for (const strategy of ['pct', 'random'] as const) {
        const r = await explore({ ...defaultsOf(s), strategy, schedules: 150 }, s.setup);
        expect(r.violations.map((v) => `${name}: ${v.message}`)).toEqual([]);
      }
    }
  }, 60_000);
});

describe('signatures: one bug, one signature across strategies and seeds', () => {
  for (const name of ['seq-retry-no-set-seq', 'odp2019-counter-timeout-stale', 'hmm2019-unregister-uaf']) {
    it(`${name} under random and pct at seeds 1-3`, async () => {
      const s = getScenario(name);
      const signatures = new Set<string>();
      for (const strategy of ['random', 'pct'] as const)
        for (const seed of [1, 2, 3]) {
          const r = await explore(
            { ...defaultsOf(s, seed), strategy, schedules: 3000, stopOnFirst: true },
            s.setup,
          );
          expect(r.violations.length).toBe(1);
          signatures.add(r.violations[0].signature);
        }
      expect([...signatures]).toHaveLength(1);
    }, 60_000);
  }
});

const LONG = process.env.MIRRORLAB_LONG !== undefined;
/** Standard workloads of the correct drivers. */
const CLEAN = ['dmirror-cpu-storm', 'odp-mirror', 'gpusvm-mirror'];
/** The race windows each long run must reach (coverage marks summed over its schedules). */
const LONG_WINDOWS: Record<string, string[]> = {
  'dmirror-cpu-storm': ['invalidate hit a subscription', 'read_retry collided', 'swap-in', 'cow break'],
  'odp-mirror': [
    'invalidate hit a subscription',
    'device fault retried',
    'swap-in',
    'mirror workload: reclaim during a device access',
    'mirror workload: NUMA migration during a device access',
  ],
  'gpusvm-mirror': [
    'invalidate hit a subscription',
    'device fault retried',
    'swap-in',
    'mirror workload: reclaim during a device access',
    'mirror workload: NUMA migration during a device access',
    'mirror workload: exit during a device access',
  ],
};

describe('the correct drivers stay silent', () => {
  for (const name of CLEAN) {
    it(`${name}: short pct and random runs`, async () => {
      const s = getScenario(name);
      expect(s.expect).toBe('clean');
      for (const strategy of ['pct', 'random'] as const) {
        const r = await explore({ ...defaultsOf(s, 7), strategy, schedules: 60 }, s.setup);
        expect(r.violations.map((v) => v.message)).toEqual([]);
        expect(r.statuses.ok).toBe(r.schedules);
      }
    }, 60_000);
  }

  if (!LONG) {
    it.skip('100,000 schedules each (pct and random, half each): set MIRRORLAB_LONG=1', () => {});
  } else {
    for (const name of CLEAN) {
      it(
        `${name}: 50,000 pct + 50,000 random schedules, every checker on, the race windows reached`,
        async () => {
          const s = getScenario(name);
          for (const strategy of ['pct', 'random'] as const) {
            const t0 = performance.now();
            const r = await explore({ ...defaultsOf(s, 11), strategy, schedules: 50_000 }, s.setup);
            const secs = (performance.now() - t0) / 1000;
            console.log(
              `long run ${name} ${strategy}: ${r.schedules} schedules, ${secs.toFixed(0)} s, ` +
                `${(r.schedules / secs).toFixed(0)} schedules/s, ${r.violations.length} violations; ` +
                `marks ${JSON.stringify(r.marks)}`,
            );
            expect(r.violations.map((v) => `${v.message} ${v.token}`)).toEqual([]);
            expect(r.schedules).toBe(50_000);
            expect(r.statuses.ok).toBe(r.schedules);
            for (const mark of LONG_WINDOWS[name])
              expect(r.marks[mark] ?? 0, `${name} ${strategy}: ${mark}`).toBeGreaterThan(0);
          }
        },
        24 * 3600_000,
      );
    }
  }
});
