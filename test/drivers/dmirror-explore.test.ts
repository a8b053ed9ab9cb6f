/**
 * Exploring the HMM test device against CPU threads: the correct driver stays silent and reaches its
 * race windows (counted by the driver: -EBUSY walks, read_retry collisions, migrations a CPU fault
 * defeated, device-private entries zapped); each planted mistake is found with its kind and message.
 * The big budgets (50,000 pct + 50,000 random schedules) run behind MIRRORLAB_LONG.
 */
import { describe, expect, it } from 'vitest';
import { explore, type ExploreOptions } from '../../src/explore/index.js';
import type { SetupFn } from '../../src/sim/simulation.js';
import {
  dmirrorCpuStorm,
  dmirrorFaultVsOwnMigration,
  dmirrorMigrateHolesVsWrite,
  dmirrorMigrateVsMprotect,
  dmirrorReadVsDontneed,
  dmirrorReadVsZap,
  type DmirrorRunStats,
  type DmirrorScenarioOptions,
} from '../../src/drivers/dmirror/scenarios.js';
import { getScenario } from '../../src/scenario/registry.js';

const LONG = process.env.MIRRORLAB_LONG !== undefined;

/** Runs `factory` under `options`, counting in how many runs each race counter was non-zero. */
async function run(
  factory: (o: DmirrorScenarioOptions) => SetupFn,
  options: ExploreOptions,
  o: DmirrorScenarioOptions = {},
) {
  const reached: Record<keyof DmirrorRunStats, number> = {
    busyRetries: 0,
    readRetries: 0,
    notMigrated: 0,
    skippedOwnMigrate: 0,
    zappedDevicePrivate: 0,
  };
  const observe = (s: DmirrorRunStats): void => {
    for (const k of Object.keys(reached) as (keyof DmirrorRunStats)[]) if (s[k] > 0) reached[k]++;
  };
  const r = await explore({ seed: 1, depth: 3, ...options }, factory({ ...o, observe }));
  return { r, reached };
}

describe('dmirror exploration: the correct driver', () => {
  it('dfs with preemption bound 2 exhausts the small case without a violation and reaches -EBUSY and read_retry', async () => {
    const { r, reached } = await run(dmirrorReadVsDontneed, {
      strategy: 'dfs',
      preemptionBound: 2,
      schedules: 100_000,
    });
    expect(r.exhausted).toBe(true);
    expect(r.violations).toEqual([]);
    expect(r.schedules).toBeGreaterThan(100);
    expect(reached.busyRetries).toBeGreaterThan(0);
    expect(reached.readRetries).toBeGreaterThan(0);
  }, 60_000);

  it(
    'the CPU storm (fork, mprotect, DONTNEED, reclaim, NUMA migration, munmap, exit) stays clean under pct and random',
    async () => {
      const n = LONG ? 50_000 : 150;
      for (const strategy of ['pct', 'random'] as const) {
        const { r, reached } = await run(dmirrorCpuStorm, { strategy, schedules: n });
        expect(r.violations.map((v) => v.message)).toEqual([]);
        expect(r.statuses).toEqual({ ok: n });
        expect(reached.busyRetries).toBeGreaterThan(0);
        expect(reached.skippedOwnMigrate).toBeGreaterThan(0);
      }
    },
    LONG ? 3_600_000 : 60_000,
  );

  it('a CPU fault that beats a hole migration is seen, and the device maps nothing for it', async () => {
    const { r, reached } = await run(dmirrorMigrateHolesVsWrite, { strategy: 'pct', schedules: 600 });
    expect(r.violations).toEqual([]);
    expect(reached.notMigrated).toBeGreaterThan(0);
  }, 60_000);

  it('the invalidate callback zaps device-private entries when the CPU protects or unmaps them', async () => {
    const { r, reached } = await run(dmirrorMigrateVsMprotect, { strategy: 'pct', schedules: 200 });
    expect(r.violations).toEqual([]);
    expect(reached.zappedDevicePrivate).toBeGreaterThan(0);
  }, 60_000);

  it('a read racing a zap retries on -EBUSY and on read_retry, never programming a collided walk', async () => {
    const { r, reached } = await run(dmirrorReadVsZap, { strategy: 'pct', schedules: 600 });
    expect(r.violations).toEqual([]);
    expect(reached.busyRetries).toBeGreaterThan(0);
    expect(reached.readRetries).toBeGreaterThan(0);
  }, 60_000);
});

describe('dmirror exploration: the planted mistakes are found', () => {
  it('skipDevicePrivateZap: a device-private page stays writable in the device after mprotect', async () => {
    const { r } = await run(
      dmirrorMigrateVsMprotect,
      { strategy: 'pct', schedules: 200 },
      { mistakes: { skipDevicePrivateZap: true } },
    );
    const v = r.violations.find((x) => x.kind === 'stale-mapping');
    expect(v).toBeDefined();
    expect(v!.message).toMatch(
      /dmirror0\.fd0 maps 0x[0-9a-f]+ → pfn 0x[0-9a-f]+ \((write|read)\), installed at step \d+ \(dev\); step \d+ \(cpu\) changed the CPU translation/,
    );
    expect(v!.token).not.toBe('');
  }, 60_000);

  it('mapBeforePages: the device maps the device page a hole never got', async () => {
    const { r } = await run(
      dmirrorMigrateHolesVsWrite,
      { strategy: 'pct', schedules: 1000 },
      { mistakes: { mapBeforePages: true } },
    );
    const v = r.violations.find((x) => x.kind === 'stale-mapping');
    expect(v).toBeDefined();
    expect(v!.message).toMatch(/the CPU maps another page/);
    expect(v!.threads).toEqual(expect.arrayContaining(['dev']));
  }, 60_000);

  it('ignoreEbusy: the driver programs a walk that collided with an invalidation', async () => {
    const { r } = await run(
      dmirrorReadVsZap,
      { strategy: 'pct', schedules: 1000 },
      { mistakes: { ignoreEbusy: true } },
    );
    const kinds = r.violations.map((v) => v.kind);
    expect(kinds.some((k) => k === 'stale-mapping' || k === 'device-use-after-free')).toBe(true);
    const v = r.violations[0];
    expect(v.message).toMatch(/dmirror0\.fd0 maps 0x[0-9a-f]+ → pfn/);
  }, 60_000);
});

describe('dmirror exploration: a race in the test driver as written', () => {
  it("a device write on one file races the same file's migration: the own-MIGRATE skip hides it from read_retry", async () => {
    const { r } = await run(dmirrorFaultVsOwnMigration, { strategy: 'pct', schedules: 3000 });
    const messages = r.violations.map((v) => `${v.kind}: ${v.message}`);
    expect(
      messages.some((m) => /^stale-mapping: .*the device writes a page that is being migrated/.test(m)),
    ).toBe(true);
    expect(messages.some((m) => /^device-use-after-free: .*the page was freed/.test(m))).toBe(true);
  }, 60_000);
});

describe('dmirror built-in scenarios', () => {
  it('are registered with what they expect', async () => {
    await import('../../src/drivers/dmirror/scenarios.js');
    expect(getScenario('dmirror-cpu-storm').expect).toBe('clean');
    expect(getScenario('dmirror-read-vs-dontneed').defaults?.strategy).toBe('dfs');
    for (const name of [
      'dmirror-skip-private-zap',
      'dmirror-map-before-pages',
      'dmirror-ignore-ebusy',
      'dmirror-fault-vs-own-migration',
    ])
      expect(getScenario(name).expect).toBe('violation');
  });
});
