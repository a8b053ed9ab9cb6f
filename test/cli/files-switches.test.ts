/**
 * Scenario files that set run switches and detach devices: seed 004's struct hmm lifetime races
 * and odp2019's timeout path, each found by `mirrorlab explore <file>` (exit 1), reproduced by
 * `mirrorlab replay <file> <token>` (the token carries the file's switches), and gone with the
 * switch that fixes it (shown to have reached the race window by its coverage marks); and the same
 * switches set from the command line with `--switch`.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, ROOT as root } from './run-cli.js';

interface ExploreJson {
  violations: { kind: string; token: string; message: string }[];
  marks: Record<string, number>;
  schedules: number;
}

function exploreJson(file: string, ...flags: string[]): { code: number | null; out: ExploreJson } {
  const r = cli('explore', file, '--json', ...flags);
  expect(r.stderr).toBe('');
  return { code: r.code, out: JSON.parse(r.stdout) as ExploreJson };
}

/** A copy of scenarios/<name> whose `switches:` line is `switches` (in a temporary directory). */
function withSwitches(name: string, switches: string): string {
  const text = readFileSync(join(root, 'scenarios', name), 'utf8');
  expect(text).toMatch(/^switches: .*$/m);
  const path = join(mkdtempSync(join(tmpdir(), 'mirrorlab-switches-')), name);
  writeFileSync(path, text.replace(/^switches: .*$/m, `switches: ${switches}`));
  return path;
}

const CASES = [
  {
    file: 'hmm-mirror-2019-unregister-uaf.yaml',
    kind: 'use-after-free',
    token: '+hmm2019:containerOf',
    fixed: '{ hmm2019.containerOf: true, hmm2019.srcuFree: true }',
    // The free was deferred past a callback still running on the struct (call_srcu).
    window: 'call_srcu deferred past a reader',
  },
  {
    file: 'hmm-mirror-2019-notifier-twice.yaml',
    kind: 'notifier-called-twice',
    token: '+hmm2019:srcuFree',
    fixed: '{ hmm2019.srcuFree: true, hmm2019.containerOf: true }',
    // A second struct hmm was made while the first was going (mm->hmm changed under a walk).
    window: 'hmm_get_or_create replaced a dying struct hmm',
  },
  {
    file: 'odp2019-timeout-stale.yaml',
    kind: 'stale-mapping',
    token: '+odp2019:mapOnTimeout',
    // Off is the code as it was: the fault starts over after the timeout.
    fixed: '{}',
    window: 'odp2019 fault timed out on the notifier completion',
  },
] as const;

describe('scenario files with switches and device detach', () => {
  for (const c of CASES) {
    it(`${c.file}: explore finds ${c.kind} (exit 1) and the replay of its token reproduces it`, () => {
      const { code, out } = exploreJson(`scenarios/${c.file}`, '--stop-on-first');
      expect(code).toBe(1);
      expect(out.violations[0].kind).toBe(c.kind);
      // The run's switches are in its token, so the replay needs nothing else.
      expect(out.violations[0].token).toContain(c.token);
      const again = cli('replay', `scenarios/${c.file}`, out.violations[0].token);
      expect(again.code).toBe(1);
      expect(again.stdout).toContain(`${c.kind}: ${out.violations[0].message}`);
      if (c.file.startsWith('odp2019')) {
        // explain takes a file too, and its replay of the token is the same run.
        const why = cli('explain', `scenarios/${c.file}`, out.violations[0].token);
        expect(why.code).toBe(1);
        expect(why.stdout).toContain(`${c.kind}: ${out.violations[0].message}`);
        expect(why.stdout).toContain('Which checker fired: coherence');
      }
    });

    it(`${c.file}: with the fix switch the race is gone, though its window was reached`, () => {
      const { code, out } = exploreJson(withSwitches(c.file, c.fixed), '--schedules', '1000');
      expect(out.schedules).toBe(1000);
      expect(out.violations.filter((v) => v.kind === c.kind)).toEqual([]);
      expect(out.marks[c.window] ?? 0).toBeGreaterThan(0);
      // Wholly silent: the srcuFree fix frees struct hmm from a call_srcu callback, so a callback
      // dropping the last reference no longer waits for its own grace period (it deadlocked).
      expect(out.violations).toEqual([]);
      expect(code).toBe(0);
    });
  }
});

describe('--switch on the command line', () => {
  it('plants a bug in a clean built-in: explore finds it, the token carries it, replay reproduces it', () => {
    const clean = exploreJson('svm-remove-deferred-gc');
    expect(clean.code).toBe(0);
    expect(clean.out.violations).toEqual([]);
    // The clean run reached the window the planted removal breaks.
    expect(clean.out.marks['remove deferred'] ?? 0).toBeGreaterThan(0);
    const { code, out } = exploreJson('svm-remove-deferred-gc', '--switch', 'gpusvm.removeInCallback');
    expect(code).toBe(1);
    expect(out.violations[0].kind).toBe('lock-order');
    expect(out.violations[0].token).toContain('~s+gpusvm:removeInCallback');
    const again = cli('replay', 'svm-remove-deferred-gc', out.violations[0].token);
    expect(again.code).toBe(1);
    expect(again.stdout).toContain(`lock-order: ${out.violations[0].message}`);
  });

  it('turns off a switch the scenario sets, and sets the runtime debug check', () => {
    // hmm2019-lifetime is clean with its srcuFree fix on; the flag wins over the scenario.
    const { code, out } = exploreJson('hmm2019-lifetime', '--switch', 'hmm2019.srcuFree=off');
    expect(code).toBe(1);
    expect(out.violations.length).toBeGreaterThan(0);
    const run = cli('run', 'svm-remove-deferred-gc', '--switch', 'sim.awaitCheck=off', '--json');
    expect(run.code).toBe(0);
    expect((JSON.parse(run.stdout) as { token: string }).token).toContain('~s-sim:awaitCheck');
  });

  it('bad switch arguments exit 2 naming what is wrong', () => {
    const malformed = cli('explore', 'svm-remove-deferred-gc', '--switch', 'bogus');
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain('--switch takes a switch name, optionally =on or =off');
    expect(malformed.stderr).toContain("got 'bogus'");
    const value = cli('explore', 'svm-remove-deferred-gc', '--switch', 'sim.awaitCheck=maybe');
    expect(value.code).toBe(2);
    expect(value.stderr).toContain("got 'sim.awaitCheck=maybe'");
    const unknown = cli('explore', 'svm-remove-deferred-gc', '--switch', 'no.such');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown switch 'no.such' (known: sim.awaitCheck,");
  });
});
