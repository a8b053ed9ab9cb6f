import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from './run-cli.js';

describe('mirrorlab with scenario files', () => {
  it('list shows built-in and file scenarios, marking those whose driver is missing', () => {
    const r = cli('list', '--json');
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.stdout) as {
      name: string;
      kind: string;
      available?: boolean;
      drivers?: string[];
    }[];
    expect(rows.some((s) => s.name === 'seq-retry' && s.kind === 'builtin')).toBe(true);
    expect(rows.find((s) => s.name === 'fork-cow-churn')).toMatchObject({ kind: 'file', drivers: [] });
    expect(rows.find((s) => s.name === 'gpusvm-vram-eviction')).toMatchObject({
      drivers: ['gpusvm'],
      available: true,
    });
    // The 2019 designs are registered drivers (src/drivers/legacy).
    expect(rows.find((s) => s.name === 'odp2019-dying-mm')).toMatchObject({
      drivers: ['odp2019'],
      available: true,
    });
  });

  it('explore of a file finds its race, exits 1, and replay of the file reproduces it', () => {
    const file = 'scenarios/racy-writers-demo.yaml';
    const r = cli('explore', file, '--json');
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { violations: { kind: string; token: string }[] };
    expect(out.violations[0].kind).toBe('unexpected-read');
    const again = cli('replay', file, out.violations[0].token);
    expect(again.code).toBe(1);
    expect(again.stdout).toContain('unexpected-read');
  });

  it('explore of a file on 2 and 3 workers: each worker loads the file, the results agree', () => {
    const file = 'scenarios/racy-writers-demo.yaml';
    const essence = (stdout: string): unknown => {
      const r = JSON.parse(stdout) as {
        schedules: number;
        totalSteps: number;
        violations: { signature: string; token: string }[];
      };
      return [r.schedules, r.totalSteps, r.violations.map((v) => [v.signature, v.token])];
    };
    const two = cli('explore', file, '--schedules', '600', '--workers', '2', '--json');
    const three = cli('explore', file, '--schedules', '600', '--workers', '3', '--json');
    expect(two.code).toBe(1);
    expect(three.code).toBe(1);
    expect(essence(two.stdout)).toEqual(essence(three.stdout));
    expect((JSON.parse(two.stdout) as { schedules: number }).schedules).toBe(600);
  });

  it('run prints statistics and writes the trace as JSON', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mirrorlab-run-'));
    const trace = join(dir, 'out.json');
    const r = cli('run', 'fork-cow-churn', '--seed', '2', '--trace', trace);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/steps\s+\d+/);
    expect(r.stdout).toMatch(/virtual time\s+\d+ ns/);
    const doc = JSON.parse(readFileSync(trace, 'utf8')) as {
      status: string;
      steps: number;
      trace: { label: string; step: number; event?: boolean }[];
      stats: { steps: number; cpuAccesses: number; ops: number };
    };
    expect(doc.status).toBe('ok');
    // One entry per step, plus events recorded within a step (marked event: true).
    const steps = doc.trace.filter((e) => e.event !== true);
    expect(steps.map((e) => e.step)).toEqual(Array.from({ length: doc.steps }, (_, i) => i + 1));
    expect(doc.stats.steps).toBe(doc.steps);
    expect(doc.stats.cpuAccesses).toBe(steps.filter((e) => /^cpu_(read|write)$/.test(e.label)).length);
    expect(doc.stats.ops).toBe(11); // cpu0's 7 operations and cpu1's 4
  });

  it('bad files, missing drivers and option errors exit 2 with a located message', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mirrorlab-bad-'));
    const bad = join(dir, 'bad.yaml');
    writeFileSync(
      bad,
      'description: x\nprocesses:\n  - name: app\n    threads: [{ name: t, ops: [forx] }]\n',
    );
    const r = cli('explore', bad);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${bad}:4:`);
    expect(r.stderr).toContain('allowed values: fork, exit, reclaim, oom-kill, yield');
    const opt = cli('run', 'fork-cow-churn', '--seed', 'x');
    expect(opt.code).toBe(2);
  });

  it('a directory of malformed files: list reports every one and exits 2', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mirrorlab-fuzz-'));
    const samples = [
      'description: x\n',
      'processes: []\n',
      'description: x\nprocesses: [{ name: app, bogus: 1 }]\n',
      'description: x\nprocesses: [{ name: app, mappings: [{ name: b, pages: -4, prot: [read], flags: [private, anonymous] }] }]\n',
      'description: x\nprocesses: [{ name: app, threads: [{ name: t, ops: [{ write: { at: nowhere, byte: 1 } }] }] }]\n',
      'description: x\nkernel: { memoryPages: 1e99 }\nprocesses: [{ name: app }]\n',
      '{{{{',
      'description: [\n',
      '- just\n- a\n- list\n',
      'description: x\nprocesses: [{ name: app }]\nexplore: { strategy: bfs }\n',
      'description: x\nprocesses: [{ name: app }]\ndevices: [{ name: d, driver: nvidia, attach: app }]\n',
      'description: x\nprocesses: [{ name: app, threads: [{ name: t, ops: [{ madvise: { at: b, advice: sometimes } }] }] }]\n',
    ];
    samples.forEach((s, i) => writeFileSync(join(dir, `bad${i}.yaml`), s));
    const r = cli('list', '--dir', dir, '--json');
    expect(r.code).toBe(2);
    const rows = JSON.parse(r.stdout) as { kind: string; error?: string }[];
    const files = rows.filter((x) => x.kind === 'file');
    expect(files).toHaveLength(samples.length);
    for (const f of files) expect(f.error).toMatch(/bad\d+\.yaml(:\d+:\d+)?: /);
  });
});
