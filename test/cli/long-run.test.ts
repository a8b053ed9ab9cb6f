/**
 * Long runs from the command line: Ctrl-C stops between schedules and still prints and writes
 * what was found; --time-limit and --stop-on-first end early; no progress bar without a
 * terminal.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT as root } from './run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'mirrorlab-long-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(
  args: string[],
  interruptAfterMs?: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: root });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    p.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    if (interruptAfterMs !== undefined) setTimeout(() => p.kill('SIGINT'), interruptAfterMs);
    p.on('close', (code) => done({ code, stdout, stderr }));
  });
}

describe('long explorations', () => {
  it('Ctrl-C stops cleanly, prints the result and writes the shard file', async () => {
    const out = join(dir, 'int');
    const r = await cli(['explore', 'core-remove-race-2022', '--schedules', '10000000', '--out', out], 5000);
    expect(r.stderr).toContain('stopping after this schedule');
    expect(r.stdout).toContain('interrupted');
    expect(r.stdout).toMatch(/coverage: \d+ operations/);
    expect(r.stdout).toContain('mirrorlab replay core-remove-race-2022 m1.');
    expect(r.code).toBe(1);
    const file = join(out, 'core-remove-race-2022.shard-0-of-1.json');
    expect(existsSync(file)).toBe(true);
    const body = JSON.parse(readFileSync(file, 'utf8')) as { result: { stopped: string; schedules: number } };
    expect(body.result.stopped).toBe('aborted');
    expect(body.result.schedules).toBeLessThan(10_000_000);
  }, 60_000);

  it('--time-limit and --stop-on-first end early; no progress bar in a log', async () => {
    const t = await cli([
      'explore',
      'seq-retry',
      '--strategy',
      'random',
      '--schedules',
      '10000000',
      '--time-limit',
      '2s',
    ]);
    expect(t.code).toBe(0);
    expect(t.stdout).toContain('stopped at the time limit');
    expect(t.stderr).not.toContain('schedules/s');
    const f = await cli([
      'explore',
      'seq-retry-no-set-seq',
      '--schedules',
      '100000',
      '--stop-on-first',
      '--json',
    ]);
    expect(f.code).toBe(1);
    const res = JSON.parse(f.stdout) as { stopped: string; violations: unknown[] };
    expect(res.stopped).toBe('first-violation');
    expect(res.violations).toHaveLength(1);
    const bad = await cli(['explore', 'seq-retry', '--time-limit', 'soon']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--time-limit must be a duration');
  }, 60_000);
});
