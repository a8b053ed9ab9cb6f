import { describe, expect, it } from 'vitest';
import { cli } from './run-cli.js';

describe('mirrorlab command', () => {
  it('lists scenarios as JSON', () => {
    const r = cli('list', '--json');
    expect(r.code).toBe(0);
    const items = JSON.parse(r.stdout) as { name: string; expect: string }[];
    expect(items.some((s) => s.name === 'seq-retry' && s.expect === 'clean')).toBe(true);
  });

  it('explores a buggy scenario, exits 1, and its token replays the violation', () => {
    const r = cli('explore', 'seq-retry-no-set-seq', '--schedules', '500', '--json');
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { violations: { kind: string; token: string }[] };
    expect(out.violations[0].kind).toBe('stale-mapping');
    const again = cli('replay', 'seq-retry-no-set-seq', out.violations[0].token);
    expect(again.code).toBe(1);
    expect(again.stdout).toContain('stale-mapping');
  });

  it('names what is wrong with bad input', () => {
    const neg = cli('explore', 'seq-retry', '--schedules', '-3');
    expect(neg.code).not.toBe(0);
    expect(neg.stderr).toContain('--schedules must be an integer >= 1');
    const unknown = cli('explore', 'nope');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown scenario 'nope'");
    const shard = cli('explore', 'seq-retry', '--shard', '4/4');
    expect(shard.stderr).toContain('--shard i/n needs 0 <= i < n');
    const token = cli('replay', 'seq-retry', 'm1.garbage');
    expect(token.code).toBe(2);
    expect(token.stderr).toContain('malformed replay token');
    const strategy = cli('explore', 'seq-retry', '--strategy', 'bfs');
    expect(strategy.stderr).toMatch(/Allowed choices are swarm, random, pct, dfs, dpor/);
  });
});
