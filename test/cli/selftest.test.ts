import { describe, expect, it } from 'vitest';
import { cli } from './run-cli.js';

describe('mirrorlab selftest', () => {
  it('prints one line per case and variant and the pass count', () => {
    const r = cli('selftest', 'migrate_shared', 'mixedmap');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatch(/^ok {3}migrate_shared \(private\)/);
    expect(lines[3]).toMatch(/^ok {3}mixedmap \(coherent\)/);
    expect(lines[4]).toMatch(/^4\/4 passed, 0 failed, 0 skipped/);
  });

  it('gives JSON for machines, one variant when asked', () => {
    const r = cli('selftest', 'open_close', '--variant', 'coherent', '--json');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as {
      passed: number;
      failed: number;
      results: { name: string; variant: string }[];
    };
    expect(out).toMatchObject({ passed: 1, failed: 0 });
    expect(out.results).toEqual([
      expect.objectContaining({ name: 'open_close', variant: 'coherent', status: 'pass' }),
    ]);
  });

  it('exits 2 naming an unknown case or variant', () => {
    const r = cli('selftest', 'nope');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown selftest 'nope'");
    const v = cli('selftest', '--variant', 'shared');
    expect(v.code).not.toBe(0);
    expect(v.stderr).toMatch(/--variant/);
  });
});
