/**
 * Coverage marks (sim.mark): counted per run, fresh in every run, summed by explore over
 * the schedules it ran and only those (not the shrinker's or the diagram's replays).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { Simulation, type SetupFn } from '../../src/sim/index.js';
import { explore, simulate } from '../../src/explore/index.js';

/** Every .ts file under `dir`, recursively. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/**
 * Two threads race to a shared flag: each reads it, yields, then sets it. The one that finds
 * it already set marks 'lost the race'; both mark 'entered' once; 'read twice' is marked
 * when both read before either wrote (the window of a lost update), and the run then fails.
 */
function race(failInWindow: boolean): SetupFn {
  return (sim) => {
    let flag = 0;
    let reads = 0;
    for (const name of ['cpu0', 'cpu1']) {
      sim.spawn(name, async () => {
        sim.mark('entered');
        await sim.point('READ_ONCE', 'flag');
        const seen = flag;
        reads++;
        await sim.yield();
        if (seen !== 0) sim.mark('lost the race');
        if (seen === 0 && reads === 2 && flag === 0) {
          sim.mark('read twice');
          if (failInWindow) sim.check(false, 'both read the flag before either set it');
        }
        flag = 1;
      });
    }
  };
}

describe('coverage marks', () => {
  it('counts every call by name in the run result; an unreached mark is absent', async () => {
    const sim = new Simulation({ seed: 3 });
    const run = await sim.run((s) => {
      s.spawn('t', async () => {
        for (let i = 0; i < 5; i++) {
          s.mark('loop');
          await s.yield();
        }
        s.mark('done');
      });
    });
    expect(run.status).toBe('ok');
    expect(run.marks).toEqual({ loop: 5, done: 1 });
    expect(run.marks['never']).toBeUndefined();
    // A plain copy and JSON carry them too.
    expect(JSON.parse(JSON.stringify(run)).marks).toEqual({ loop: 5, done: 1 });
  });

  it('starts from zero in every run (a Simulation is one run)', async () => {
    const counts: number[] = [];
    for (let seed = 1; seed <= 3; seed++) {
      const run = await simulate({ seed, trace: false }, race(false));
      counts.push(run.marks['entered']);
    }
    expect(counts).toEqual([2, 2, 2]);
    const quiet = await simulate({ seed: 1 }, (sim) => {
      sim.spawn('t', async () => {
        await sim.yield();
      });
    });
    expect(quiet.marks).toEqual({});
  });

  it('explore sums the marks over the schedules it ran', async () => {
    const r = await explore({ strategy: 'random', schedules: 300, seed: 5 }, race(false));
    expect(r.schedules).toBe(300);
    expect(r.marks['entered']).toBe(600);
    // Whoever runs second after a write loses; some schedules read twice, some do not.
    expect(r.marks['lost the race']).toBeGreaterThan(0);
    expect(r.marks['read twice']).toBeGreaterThan(0);
    expect(r.marks['read twice']).toBeLessThan(300);
    expect(r.marks['lost the race'] + r.marks['read twice']).toBe(300);
  });

  it('counts one mark per window reached: as many as the schedules that failed in it', async () => {
    // Shrinking and the diagram replay the failing schedule many times: not counted.
    const r = await explore({ strategy: 'random', schedules: 200, seed: 9 }, race(true));
    expect(r.violations.map((v) => v.message)).toEqual(['both read the flag before either set it']);
    expect(r.marks['read twice']).toBe(r.statuses.violation);
    expect(r.marks['entered']).toBe(400);
  });

  it('dfs reaches each branch of a two-thread race exactly as often as it occurs', async () => {
    // Every schedule of two threads with one decision each: both orders of the reads and writes.
    const r = await explore({ strategy: 'dfs', schedules: 1000, preemptionBound: 2 }, race(false));
    expect(r.exhausted).toBe(true);
    expect(r.marks['entered']).toBe(2 * r.schedules);
    expect(r.marks['lost the race'] + r.marks['read twice']).toBe(r.schedules);
    expect(r.marks['read twice']).toBeGreaterThan(0);
    expect(r.marks['lost the race']).toBeGreaterThan(0);
  });

  it('every mark the model places is a literal that some test asserts', () => {
    const root = join(import.meta.dirname, '..', '..');
    const placed = new Set<string>();
    for (const f of sources(join(root, 'src'))) {
      const text = readFileSync(f, 'utf8');
      // A mark name built at run time could not be asserted (and would cost a string per call).
      expect(text.match(/\.mark\((?!')/g), `${f}: sim.mark with a non-literal name`).toBeNull();
      for (const m of text.matchAll(/\.mark\('([^']+)'\)/g)) placed.add(m[1]);
    }
    expect(placed.size).toBeGreaterThan(20);
    const self = join(root, 'test', 'sim', 'marks.test.ts');
    const tests = sources(join(root, 'test'))
      .filter((f) => f !== self)
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    const unasserted = [...placed].filter((name) => !tests.includes(`'${name}'`)).sort();
    expect(unasserted).toEqual([]);
  });
});
