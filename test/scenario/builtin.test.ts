import { describe, expect, it } from 'vitest';
import { explore, replay } from '../../src/explore/index.js';
import { getScenario, listScenarios } from '../../src/scenario/registry.js';
import '../../src/scenario/builtin/index.js';

/** Every built-in scenario meets its expectation under its own exploration defaults. */
describe('built-in scenarios', () => {
  it('has unique names and rejects unknown ones', () => {
    const names = listScenarios().map((s) => s.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names.length).toBeGreaterThanOrEqual(10);
    expect(() => getScenario('no-such-scenario')).toThrow(
      /unknown scenario 'no-such-scenario'; known: mm-mirror/,
    );
  });

  for (const s of listScenarios()) {
    it(`${s.name} ${s.expect === 'clean' ? 'stays silent' : 'is caught and replays'}`, async () => {
      const d = s.defaults ?? {};
      const r = await explore(
        {
          strategy: d.strategy ?? 'pct',
          schedules: d.schedules ?? 2000,
          depth: d.depth ?? 3,
          preemptionBound: d.preemptionBound ?? 2,
          seed: 1,
          switches: s.switches,
        },
        s.setup,
      );
      if (s.expect === 'clean') {
        expect(r.violations.map((v) => v.message)).toEqual([]);
        expect(r.statuses.ok).toBe(r.schedules);
      } else {
        expect(r.violations.length).toBeGreaterThan(0);
        const v = r.violations[0];
        // The token alone carries the run's switches: no other set-up.
        const again = await replay(v.token, s.setup);
        expect(again.violations[0]?.signature).toBe(v.signature);
        const readable = await replay(v.schedule, s.setup);
        expect(readable.violations[0]?.signature).toBe(v.signature);
        expect(v.diagram).toContain('>>');
      }
    });
  }
});
