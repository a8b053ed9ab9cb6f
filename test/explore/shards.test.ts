/**
 * Many machines: shards run as separate `mirrorlab explore --shard i/n --out DIR` processes
 * (as a CI matrix or a Kubernetes Indexed Job runs them) merge, with `mirrorlab merge`, into
 * exactly the result of the same shards run one after another in one process.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { explore } from '../../src/explore/index.js';
import { mergeResults } from '../../src/explore/merge.js';
import type { ExploreResult } from '../../src/explore/options.js';
import { getScenario } from '../../src/scenario/registry.js';
import '../../src/scenario/builtin/index.js';

const root = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'mirrorlab-shards-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      cwd: root,
      env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code) => done({ code, stdout, stderr }));
  });
}

/** What must agree between two merged results (timings aside). */
function essence(r: ExploreResult) {
  return {
    schedules: r.schedules,
    totalSteps: r.totalSteps,
    maxSteps: r.maxSteps,
    statuses: r.statuses,
    coverage: r.coverage,
    firstFound: r.firstFound,
    violations: r.violations.map((v) => [v.signature, v.token, v.schedule, v.diagram]),
  };
}

describe('shards across processes', () => {
  it('N shard processes merge to the same result as the N shards run in one process', async () => {
    const name = 'core-remove-race-2022';
    const n = 3;
    const schedules = 240;
    // Shard 2 takes its index from a Kubernetes Indexed Job's environment.
    const runs = await Promise.all(
      [0, 1, 2].map((i) =>
        cli(
          [
            'explore',
            name,
            '--strategy',
            'swarm',
            '--schedules',
            String(schedules),
            '--shard',
            i === 2 ? `/${n}` : `${i}/${n}`,
            '--out',
            dir,
            '--json',
          ],
          i === 2 ? { JOB_COMPLETION_INDEX: '2' } : {},
        ),
      ),
    );
    for (const r of runs) expect([0, 1]).toContain(r.code);
    expect(readdirSync(dir).sort()).toEqual([0, 1, 2].map((i) => `${name}.shard-${i}-of-${n}.json`));
    const merged = await cli(['merge', dir, '--json']);
    const out = JSON.parse(merged.stdout) as ExploreResult;

    const s = getScenario(name);
    const shards: ExploreResult[] = [];
    for (let i = 0; i < n; i++) {
      shards.push(
        await explore(
          {
            strategy: 'swarm',
            schedules,
            seed: 1,
            depth: 3,
            preemptionBound: 2,
            switches: s.switches,
            shard: { index: i, count: n },
          },
          s.setup,
        ),
      );
    }
    const local = mergeResults(shards);
    expect(local.schedules).toBe(schedules);
    expect(local.violations.length).toBeGreaterThan(0);
    expect(essence(out)).toEqual(essence(JSON.parse(JSON.stringify(local)) as ExploreResult));
    expect(merged.code).toBe(1); // violations: explore's exit code
  }, 120_000);

  it('merge rejects what is not one exploration, with exit code 2', async () => {
    const none = await cli(['merge', join(dir, 'missing')]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no such file or directory');
  });

  it('mergeResults checks the shards belong together', () => {
    const base: Omit<ExploreResult, 'shard'> = {
      schedules: 1,
      exhausted: false,
      violations: [],
      statuses: {},
      maxSteps: 1,
      totalSteps: 1,
      marks: {},
      strategy: 'swarm',
      seed: 1,
      coverage: { operations: [], lockEdges: [] },
      stopped: 'budget',
      budget: 10,
      firstFound: {},
    };
    expect(() =>
      mergeResults([
        { ...base, shard: { index: 0, count: 2 } },
        { ...base, seed: 2, shard: { index: 1, count: 2 } },
      ]),
    ).toThrow(/has seed 2.*not shards of one exploration/);
    expect(() =>
      mergeResults([
        { ...base, shard: { index: 0, count: 2 } },
        { ...base, shard: { index: 0, count: 2 } },
      ]),
    ).toThrow(/given twice/);
    expect(mergeResults([{ ...base, shard: { index: 1, count: 3 } }]).missingShards).toEqual([0, 2]);
  });
});
