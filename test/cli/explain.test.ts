import { describe, expect, it } from 'vitest';
import { explainRun, explanationOf, registerViolationExplanation } from '../../src/explore/explain.js';
import { explore, replay } from '../../src/explore/index.js';
import { getScenario } from '../../src/scenario/registry.js';
import '../../src/scenario/builtin/index.js';
import { cli } from './run-cli.js';

describe('explain', () => {
  it('says which checker fired, why, and shows the diagram and the full trace around the step', async () => {
    const s = getScenario('seq-retry-retry-outside-lock');
    const r = await explore({ strategy: 'pct', schedules: 500, stopOnFirst: true }, s.setup);
    const run = await replay(r.violations[0].token, s.setup);
    const text = explainRun(run);
    expect(text.startsWith('stale-mapping: devA maps 0x1000')).toBe(true);
    expect(text).toContain('Which checker fired: coherence');
    expect(text).toContain('read_retry before programming the device');
    expect(text).toContain('Race diagram');
    expect(text).toContain(`Full trace around step ${run.violations[0].step}`);
    // The bug is visible: the device's read_retry ran without its lock.
    expect(text).toMatch(/read_retry devA \[\d+ vs \d+: ok\] \{no lock\}/);
  });

  it('gives a generic explanation for a kind nobody registered, and takes registrations', () => {
    expect(explanationOf('no-such-kind').checker).toBe('no-such-kind');
    registerViolationExplanation('no-such-kind', { checker: 'mine', invariant: 'x', why: 'y' });
    expect(explanationOf('no-such-kind').checker).toBe('mine');
  });

  it('runs as a command: exit 1 with a violation, 2 for a token of another program', () => {
    const found = cli(
      'explore',
      'seq-retry-retry-outside-lock',
      '--schedules',
      '300',
      '--json',
      '--no-progress',
    );
    const token = (JSON.parse(found.stdout) as { violations: { token: string }[] }).violations[0].token;
    const ok = cli('explain', 'seq-retry-retry-outside-lock', token);
    expect(ok.code).toBe(1);
    expect(ok.stdout).toContain('Which checker fired: coherence');
    const wrong = cli('explain', 'seq-retry', token);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('does not match this program');
  });
});
