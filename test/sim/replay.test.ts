import { describe, expect, it } from 'vitest';
import {
  Atomic,
  Completion,
  decodeToken,
  encodeToken,
  Mutex,
  plainRunResult,
  RwSemaphore,
  SpinLock,
  WaitQueue,
  type RunResult,
  type SetupFn,
} from '../../src/sim/index.js';
import { explore, replay, simulate } from '../../src/explore/index.js';

/**
 * A program with most of what can make a run differ: several threads, a Mutex, an
 * RwSemaphore, a WaitQueue with and without timeout, a SpinLock, an atomic, sleeps,
 * `sim.choose` (explored) and `sim.random` (seeded), spawning from a thread, and an
 * assertion that fails in some schedules.
 */
const program: SetupFn = (sim) => {
  const mm = new RwSemaphore(sim, 'mmap_lock');
  const dev = new Mutex(sim, 'dev->lock');
  const pt = new SpinLock(sim, 'ptl');
  const wq = new WaitQueue(sim, 'fault_wq');
  const done = new Completion(sim, 'done');
  const seq = new Atomic(sim, 'seq');
  let faults = 0;
  let mapped = 0;
  for (let i = 0; i < 3; i++) {
    sim.spawn(`fault${i}`, async () => {
      const n = 1 + sim.choose(3);
      for (let k = 0; k < n; k++) {
        await mm.downRead();
        const s = await seq.read();
        await dev.lock();
        if (sim.random() < 0.5) await sim.yield('device');
        if ((await seq.read()) === s) mapped++;
        else sim.check(mapped >= 0, 'mapped went negative');
        dev.unlock();
        mm.upRead();
        faults++;
        wq.wakeUpAll();
      }
    });
  }
  sim.spawn('unmap', async () => {
    const rounds = 1 + sim.choose(2);
    for (let k = 0; k < rounds; k++) {
      await mm.downWrite();
      await seq.incReturn();
      await pt.lock();
      mapped = 0;
      pt.unlock();
      mm.upWrite();
      await sim.sleep(Math.floor(sim.random() * 50));
    }
    sim.spawn('reaper', async () => {
      await wq.waitEventTimeout(() => faults >= 3, 200);
      done.complete();
    });
  });
  sim.spawn('waiter', async () => {
    await wq.waitEvent(() => faults >= 2);
    await done.wait();
    if (sim.choose(4) === 3) await sim.yield('late');
    sim.check(faults < 8 || sim.random() < 0.9, `too many faults: ${faults}`);
  });
};

function shape(r: RunResult) {
  return (r.trace ?? []).map((e) => ({
    step: e.step,
    tid: e.tid,
    thread: e.thread,
    label: e.label,
    object: e.object,
    timeNs: e.timeNs,
  }));
}

describe('replay', () => {
  it('reproduces 1,000 random runs of a non-trivial program step for step', async () => {
    const statuses = new Map<string, number>();
    const lengths = new Set<number>();
    for (let seed = 1; seed <= 1000; seed++) {
      const run = await simulate({ seed }, program);
      const again = await replay(run.token, program);
      expect(again.status).toBe(run.status);
      expect(again.steps).toBe(run.steps);
      expect(again.timeNs).toBe(run.timeNs);
      expect(again.choices).toEqual(run.choices);
      expect(shape(again)).toEqual(shape(run));
      expect(again.violations.map((v) => v.message)).toEqual(run.violations.map((v) => v.message));
      statuses.set(run.status, (statuses.get(run.status) ?? 0) + 1);
      lengths.add(run.steps);
    }
    // The program is non-trivial: runs differ in length, and some fail.
    expect(lengths.size).toBeGreaterThan(20);
    expect(statuses.get('ok')).toBeGreaterThan(0);
    expect(statuses.get('violation')).toBeGreaterThan(0);
  });

  it('reproduces runs of new Simulation({ seed, trace: true }) and explore tokens alike', async () => {
    const { Simulation } = await import('../../src/sim/index.js');
    const run = await new Simulation({ seed: 42, trace: true }).run(program);
    const again = await replay(run.token, program);
    expect(shape(again)).toEqual(shape(run));
    const r = await explore({ strategy: 'pct', schedules: 300, seed: 4 }, program);
    expect(r.violations.length).toBeGreaterThan(0);
    for (const v of r.violations) {
      const rv = await replay(v.token, program);
      expect(rv.violations[0].signature).toBe(v.signature);
      expect(rv.diagram).toBe(v.diagram);
    }
  });

  it('a run result serialises to JSON with its token and decisions', async () => {
    const run = await simulate({ seed: 8 }, program);
    const json = JSON.parse(JSON.stringify(run));
    expect(json.token).toBe(run.token);
    expect(json.choices).toEqual(run.choices);
    expect(json.choiceThreads).toEqual(run.choiceThreads);
    expect(json.choiceDefaults).toEqual(run.choiceDefaults);
    expect(json.steps).toBe(run.steps);
    // One entry per step, plus the model events (unlocks, sequence reads) between them.
    expect(json.trace.filter((e: { event?: boolean }) => e.event !== true)).toHaveLength(run.steps);
    const again = await replay(run.token, program);
    expect(again.token).toBe(run.token);
    expect(again.diagram).toContain('fault0');
    const replayed = JSON.parse(JSON.stringify(again));
    expect(replayed.token).toBe(run.token);
    expect(replayed.diagram).toBe(again.diagram);
    expect({ ...plainRunResult(run) }.token).toBe(run.token);
  });

  it('a run without tracing gives the same schedule as one with', async () => {
    const a = await simulate({ seed: 17, trace: false }, program);
    const b = await simulate({ seed: 17, trace: true }, program);
    expect(a.trace).toBeUndefined();
    expect(a.token).toBe(b.token);
    expect(a.steps).toBe(b.steps);
  });

  it('tokens carry the run options that shape the schedule', async () => {
    const timed: SetupFn = (sim) => {
      const wq = new WaitQueue(sim, 'wq');
      let flag = false;
      sim.spawn('waiter', async () => {
        await wq.waitEventTimeout(() => flag, 35);
      });
      sim.spawn('setter', async () => {
        for (let i = 0; i < 6; i++) await sim.yield();
        flag = true;
        wq.wakeUpAll();
      });
    };
    for (const stepNs of [0, 7, 10, 25]) {
      const run = await simulate({ seed: 5, stepNs }, timed);
      const again = await replay(run.token, timed);
      expect(shape(again)).toEqual(shape(run));
    }
    // A livelock found under a small step limit replays as the same livelock.
    const spin: SetupFn = (sim) => {
      for (const n of ['a', 'b']) {
        sim.spawn(n, async () => {
          for (;;) await sim.yield();
        });
      }
    };
    const r = await explore({ strategy: 'random', schedules: 3, maxSteps: 300 }, spin);
    expect(r.violations.map((v) => v.kind)).toEqual(['step-limit']);
    const again = await replay(r.violations[0].token, spin);
    expect(again.status).toBe('step-limit');
    expect(again.steps).toBe(301);
    // A long run under the one default step limit replays too, its token carrying no limit.
    const long: SetupFn = (sim) => {
      for (const n of ['a', 'b']) {
        sim.spawn(n, async () => {
          for (let i = 0; i < 60_000; i++) await sim.yield();
        });
      }
    };
    const big = await simulate({ seed: 1, trace: false }, long);
    expect(big.steps).toBe(120_002);
    expect(big.token.split('.')[2]).not.toContain('~m');
    expect((await replay(big.token, long)).steps).toBe(120_002);
  });

  it('tokens round-trip through encode and decode', () => {
    const choices = [0, 0, 0, 1, 2, 2, 300, 0, 1, 1, 1, 1, 1, 70000];
    const token = encodeToken({ seed: 123456789, steps: 4242, choices });
    expect(decodeToken(token)).toEqual({ seed: 123456789, steps: 4242, choices });
    expect(decodeToken(encodeToken({ seed: 0, steps: 0, choices: [] }))).toEqual({
      seed: 0,
      steps: 0,
      choices: [],
    });
    // Run options are kept when they differ from the defaults, dropped when not.
    expect(decodeToken(encodeToken({ seed: 1, steps: 2, choices: [1], maxSteps: 500, stepNs: 0 }))).toEqual({
      seed: 1,
      steps: 2,
      choices: [1],
      maxSteps: 500,
      stepNs: 0,
    });
    expect(
      decodeToken(encodeToken({ seed: 1, steps: 2, choices: [1], maxSteps: 1_000_000, stepNs: 10 })),
    ).toEqual({ seed: 1, steps: 2, choices: [1] });
  });
});
