/**
 * One run = one token: behaviour switches are options of the run, recorded in its token and
 * its readable schedule; two simulations in one process never see each other's; a mutated
 * run replays from its token alone.
 */
import { describe, expect, it } from 'vitest';

import { explore, replay, simulate } from '../../src/explore/index.js';
import { DEFAULT_MAX_STEPS } from '../../src/sim/options.js';
import { parseSchedule } from '../../src/sim/schedule.js';
import { Simulation, type SetupFn } from '../../src/sim/simulation.js';
import { defineSwitch, knownSwitches } from '../../src/sim/switches.js';
import { decodeToken, encodeToken } from '../../src/sim/token.js';
import { INSERT_NOT_DEFERRED } from '../../src/notifier/index.js';
import { lifecycleScenario } from '../../src/scenario/toy/scenarios.js';

const PROBE = defineSwitch('test.probe', false, 'a switch the tests read');

/** Two threads that read the probe switch at every step and record what they saw. */
function probing(seen: boolean[]): SetupFn {
  return (sim) => {
    for (const name of ['a', 'b']) {
      sim.spawn(name, async () => {
        for (let i = 0; i < 50; i++) {
          seen.push(sim.switchOn(PROBE));
          await sim.yield();
        }
      });
    }
  };
}

describe('switches are options of the run', () => {
  it('two simulations interleaved in one process each see only their own switches', async () => {
    const on: boolean[] = [];
    const off: boolean[] = [];
    const order: string[] = [];
    const a = new Simulation({ seed: 1, switches: { 'test.probe': true } as never });
    const b = new Simulation({ seed: 2 });
    a.hooks.onEnd.push(() => order.push('a'));
    b.hooks.onEnd.push(() => order.push('b'));
    const both = Promise.all([a.run(probing(on)), b.run(probing(off))]);
    const [ra, rb] = await both;
    expect([ra.status, rb.status]).toEqual(['ok', 'ok']);
    expect(on).toHaveLength(100);
    expect(off).toHaveLength(100);
    expect(on.every((x) => x)).toBe(true);
    expect(off.every((x) => !x)).toBe(true);
    expect(order).toHaveLength(2);
  });

  it('a mutated exploration next to a clean one: each finds what its own switches plant', async () => {
    const setup = lifecycleScenario();
    const [mutated, clean] = await Promise.all([
      explore(
        {
          strategy: 'pct',
          depth: 3,
          schedules: 5000,
          seed: 1,
          stopOnFirst: true,
          switches: { 'notifier.insertNotDeferred': true },
        },
        setup,
      ),
      explore({ strategy: 'pct', depth: 3, schedules: 300, seed: 1 }, setup),
    ]);
    expect(clean.violations).toEqual([]);
    expect(mutated.violations[0]?.kind).toBe('notifier-invariant');
    expect(mutated.violations[0].message).toMatch(/interval tree (insert|changed)/);
    // The token and the readable schedule record the switch ...
    const v = mutated.violations[0];
    expect(decodeToken(v.token).switches).toEqual({ 'notifier.insertNotDeferred': true });
    expect(v.schedule).toMatch(/^seed=\d+ \+notifier\.insertNotDeferred \| /);
    // ... so either replays the mutated run with no other set-up.
    const again = await replay(v.token, setup);
    expect(again.violations[0]?.signature).toBe(v.signature);
    const readable = await replay(v.schedule, setup);
    expect(readable.violations[0]?.signature).toBe(v.signature);
    expect(readable.steps).toBe(again.steps);
    // Turning the switch off in the replay removes the bug (the schedule then may not fit).
    const fixed = await replay(v.token, setup, { switches: { 'notifier.insertNotDeferred': false } }).catch(
      (e: Error) => e,
    );
    if (fixed instanceof Error) expect(fixed.message).toMatch(/does not match this program/);
    else expect(fixed.violations.map((x) => x.signature)).not.toContain(v.signature);
  });

  it('reads the default when a run does not set a switch', async () => {
    const sim = new Simulation();
    expect(sim.switchOn(INSERT_NOT_DEFERRED)).toBe(false);
    expect(sim.changedSwitches()).toEqual({});
    const run = await simulate({ seed: 1 }, (s) => {
      s.spawn('t', async () => {
        await s.yield();
      });
    });
    expect(decodeToken(run.token).switches).toBeUndefined();
  });

  it('rejects unknown switch names, listing the known ones, and non-boolean values', () => {
    expect(() => new Simulation({ switches: { 'notifier.insertNotDefered': true } as never })).toThrow(
      /^switches: unknown switch 'notifier\.insertNotDefered' \(known: .*notifier\.insertNotDeferred.*\)$/,
    );
    expect(() => new Simulation({ switches: { 'notifier.panicOnWarn': 0 } as never })).toThrow(
      "switches: switch 'notifier.panicOnWarn' must be true or false, got 0",
    );
    expect(() => new Simulation({ switches: [] as never })).toThrow(/option 'switches' must be an object/);
    return expect(explore({ schedules: 1, switches: { nope: true } as never }, () => {})).rejects.toThrow(
      /unknown switch 'nope'/,
    );
  });

  it('switch names are layer.name and declared once', () => {
    expect(() => defineSwitch('bad', false, '')).toThrow(/must look like 'layer.name'/);
    expect(defineSwitch('test.probe', false, 'again')).toBe(PROBE);
    expect(() => defineSwitch('test.probe', true, '')).toThrow(/declared twice/);
    expect(knownSwitches().map((s) => s.name)).toContain('notifier.panicOnWarn');
  });

  it('tokens carry switches in both directions', () => {
    const t = encodeToken({
      seed: 3,
      steps: 9,
      choices: [1, 0],
      switches: { 'notifier.removeNoWait': true, 'notifier.panicOnWarn': false },
    });
    expect(t.split('.')[2]).toBe('9~s+notifier:removeNoWait-notifier:panicOnWarn');
    expect(decodeToken(t)).toEqual({
      seed: 3,
      steps: 9,
      choices: [1, 0],
      switches: { 'notifier.removeNoWait': true, 'notifier.panicOnWarn': false },
    });
    // A token naming a switch this build does not know fails with the known names.
    const foreign = encodeToken({ seed: 1, steps: 1, choices: [], switches: { 'other.thing': true } });
    return expect(replay(foreign, () => {})).rejects.toThrow(/unknown switch 'other\.thing' \(known: /);
  });
});

describe('one step limit', () => {
  it('Simulation, simulate and explore share DEFAULT_MAX_STEPS', async () => {
    expect(DEFAULT_MAX_STEPS).toBe(1_000_000);
    expect(new Simulation().maxSteps).toBe(DEFAULT_MAX_STEPS);
    const spin: SetupFn = (sim) => {
      sim.spawn('spin', async () => {
        for (;;) await sim.yield();
      });
    };
    const r = await explore({ strategy: 'random', schedules: 1 }, spin);
    expect(r.violations[0]?.kind).toBe('step-limit');
    expect(r.maxSteps).toBe(DEFAULT_MAX_STEPS + 1);
    expect(r.violations[0].token.split('.')[2]).not.toContain('~m');
  });
});

describe('readable schedules', () => {
  const ab: SetupFn = (sim) => {
    for (const name of ['cpu0', 'cpu1']) {
      sim.spawn(name, async () => {
        for (let i = 0; i < 5; i++) {
          await sim.yield();
          if (i === 2) sim.choose(3);
        }
      });
    }
  };

  it('run-length encodes the thread of each step, value choices shown as ?v', async () => {
    const run = await simulate({ seed: 4 }, ab);
    const parsed = parseSchedule(run.schedule);
    expect(parsed.steps).toBe(run.steps);
    // The thread of each step, expanded, equals the trace's.
    const expanded: string[] = [];
    for (const r of parsed.runs)
      if (r.thread !== undefined) for (let i = 0; i < r.count; i++) expanded.push(r.thread);
    expect(expanded).toEqual(run.trace!.map((e) => e.thread));
    expect(parsed.runs.filter((r) => r.value !== undefined)).toHaveLength(2);
    expect(run.schedule).toMatch(/^seed=4 \| cpu[01](\*\d+)? /);
    expect(run.schedule).toMatch(/ \?[012] /);
  });

  it('replay accepts the readable schedule and reproduces the run', async () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const run = await simulate({ seed }, ab);
      const again = await replay(run.schedule, ab);
      expect(again.trace!.map((e) => [e.thread, e.label])).toEqual(
        run.trace!.map((e) => [e.thread, e.label]),
      );
      expect(again.token).toBe(run.token);
    }
    // A hand-written schedule: cpu1 first, then cpu0 for the rest.
    const hand = await replay('seed=1 | cpu1*4 ?2 cpu1*2 cpu0*4 ?0 cpu0*2', ab);
    expect(hand.trace!.map((e) => e.thread).join(' ')).toBe(
      'cpu1 cpu1 cpu1 cpu1 cpu1 cpu1 cpu0 cpu0 cpu0 cpu0 cpu0 cpu0',
    );
    expect(hand.schedule).toBe('seed=1 | cpu1*4 ?2 cpu1*2 cpu0*4 ?0 cpu0*2');
  });

  it('names shared by two threads get #id; quoted names survive', async () => {
    const twins: SetupFn = (sim) => {
      for (const name of ['w', 'w', 'odd name*']) {
        sim.spawn(name, async () => {
          await sim.yield();
        });
      }
    };
    const run = await simulate({ seed: 2 }, twins);
    expect(run.schedule).toMatch(/w#[01]/);
    expect(run.schedule).toContain('"odd name*"');
    const again = await replay(run.schedule, twins);
    expect(again.token).toBe(run.token);
  });

  it('says what is wrong with a bad or foreign schedule', async () => {
    await expect(replay('seed=1 | cpu9*3', ab)).rejects.toThrow(
      /step 1 runs 'cpu9' but the runnable threads are cpu0, cpu1/,
    );
    await expect(replay('seed=x | cpu0', ab)).rejects.toThrow(/bad header word 'seed=x'/);
    await expect(replay('seed=1 | cpu0*2', ab)).rejects.toThrow(/ends after 2 steps/);
    await expect(replay('seed=1 | cpu0*0', ab)).rejects.toThrow(/count must be >= 1/);
  });
});
