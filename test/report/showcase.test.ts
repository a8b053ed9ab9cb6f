/**
 * The showcase (`mirrorlab` with no arguments) end to end: the four parts of its story in at
 * most 60 lines, exit code 0 when every result is the expected one, and the report it writes
 * with the summary, the race diagrams and the benchmark curves of the results it was given.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BENCH_FORMAT } from '../../src/report/bench-file.js';

const root = resolve(import.meta.dirname, '../..');

describe('the showcase', () => {
  it('tells its story in at most 60 lines and writes the report with the benchmark curves', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mirrorlab-showcase-'));
    const bench = join(dir, 'bench');
    const machine = { node: 'v20', platform: 'linux-x64', cpus: 2, cpuModel: 'test' };
    const result = [{ subscriptions: 100, intervalNs: 4000, listNs: 3000 }];
    mkdirSync(bench, { recursive: true });
    writeFileSync(
      join(bench, 'notifier.json'),
      JSON.stringify({
        format: BENCH_FORMAT,
        bench: 'notifier',
        measuredAt: '2026-01-01T00:00:00Z',
        machine,
        result,
      }),
    );
    const report = join(dir, 'showcase.html');
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--report', report], {
      cwd: root,
      encoding: 'utf8',
      timeout: 170_000,
      env: { ...process.env, MIRRORLAB_BENCH_RESULTS: bench },
    });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.length).toBeLessThanOrEqual(60);
    const heads = lines.filter((l) => /^\d\. /.test(l)).map((l) => l.slice(0, 3));
    expect(heads).toEqual(['1. ', '2. ', '3. ', '4. ']);
    expect(r.stdout).toContain(`4. Report: ${report}`);
    expect(r.stdout).toContain(`1 benchmark chart from ${bench}.`);
    const m = /(\d+) of (\d+) results as expected/.exec(r.stdout);
    expect(m).not.toBeNull();
    expect(m![1]).toBe(m![2]);
    const html = readFileSync(report, 'utf8');
    expect(html).toContain('<table id="summary-table">');
    expect(html).toContain(`${m![2]} of ${m![2]} scenarios as expected`);
    expect(html).toContain('<svg xmlns="http://www.w3.org/2000/svg"');
    expect(html).toContain('One invalidation against the number of subscriptions');
  }, 180_000);
});
