/**
 * A finished run must die young. Exploration builds a fresh world per schedule and drops it; if
 * anything long-lived still points at the world when the next scavenge comes (an old-space
 * closure, a WeakMap entry whose value reaches the run), the whole world is copied, promoted and
 * freed only by a later mark-compact: each scavenge then costs as much as the worlds it copies.
 *
 * Measured in a child process (the test runner's own heap is noise) with --expose-gc: per
 * schedule, the bytes of the young generation that survive a minor GC after a batch of finished
 * runs, against a control that keeps each finished Simulation reachable on purpose. Before the
 * fixes (function literals assigned to properties, which V8 pretenures into old space; module
 * WeakMaps keyed by model objects) the finished runs survived as much as the control (~40 KB per
 * schedule on the driver scenarios); now about a twentieth of it.
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const SCENARIOS = ['gpusvm-mirror', 'odp-mirror', 'dmirror-cpu-storm', 'seq-retry'];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

function measure(args: string[]): Promise<Record<string, number[]>> {
  return new Promise((done, fail) => {
    execFile(
      process.execPath,
      [
        '--expose-gc',
        // A young generation large enough that no scavenge runs inside a measured batch.
        '--min-semi-space-size=64',
        '--max-semi-space-size=64',
        '--import',
        'tsx',
        'test/sim/scavenge-survival.child.ts',
        ...args,
      ],
      { cwd: root },
      (err, stdout, stderr) => {
        if (err !== null) fail(new Error(`${err.message}\n${stderr}`));
        else done(JSON.parse(stdout) as Record<string, number[]>);
      },
    );
  });
}

describe('finished runs die young', () => {
  it('a minor GC after a batch of finished schedules keeps little of their worlds', async () => {
    const kb = await measure(SCENARIOS.flatMap((n) => [n, `keep:${n}`]));
    for (const name of SCENARIOS) {
      const survived = median(kb[name]);
      const world = median(kb[`keep:${name}`]);
      // The control proves the meter sees a retained world at all.
      expect(world, `${name}: a kept world measures`).toBeGreaterThan(2);
      expect(
        survived / world,
        `${name}: ${survived.toFixed(1)} KB of a ${world.toFixed(1)} KB world survive`,
      ).toBeLessThan(0.25);
    }
  });
});
