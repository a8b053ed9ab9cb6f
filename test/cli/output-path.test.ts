import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  OutputPathError,
  prepareOutputDir,
  prepareOutputFile,
  writeOutputFile,
} from '../../src/cli/output-path.js';
import { cli } from './run-cli.js';

const thrown = (f: () => unknown): OutputPathError => {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(OutputPathError);
    return err as OutputPathError;
  }
  return expect.fail('no error');
};

describe('output paths', () => {
  it('creates a missing directory and its parents, and accepts an existing one', () => {
    const base = mkdtempSync(join(tmpdir(), 'mirrorlab-out-'));
    const dir = join(base, 'a', 'b', 'c');
    expect(prepareOutputDir(dir, '--out')).toBe(dir);
    expect(statSync(dir).isDirectory()).toBe(true);
    expect(prepareOutputDir(dir, '--out')).toBe(dir);
    const file = join(base, 'x', 'report.html');
    expect(prepareOutputFile(file, '--report')).toBe(file);
    expect(statSync(join(base, 'x')).isDirectory()).toBe(true);
    expect(existsSync(file)).toBe(false); // checked, not created
    writeOutputFile(file, 'hello', '--report');
    expect(readFileSync(file, 'utf8')).toBe('hello');
  });

  it('names the option, the path and the reason when a path cannot serve', () => {
    const base = mkdtempSync(join(tmpdir(), 'mirrorlab-out-'));
    const file = join(base, 'plain');
    writeFileSync(file, '');
    expect(thrown(() => prepareOutputDir(join(file, 'sub'), '--out')).message).toBe(
      `--out: '${file}' is a file, not a directory`,
    );
    expect(thrown(() => prepareOutputFile(base, '--report')).message).toBe(
      `--report: '${base}' is a directory`,
    );
    expect(thrown(() => writeOutputFile(base, 'x', '--trace')).message).toMatch(
      new RegExp(`^--trace: cannot write '${base}': .*\\(EISDIR\\)$`),
    );
  });

  it.runIf(existsSync('/proc/self'))(
    'fails at once under /proc, where a recursive mkdir never returns',
    () => {
      expect(thrown(() => prepareOutputDir('/proc/mirrorlab-nonexistent/shards', '--out')).message).toMatch(
        /^--out: cannot create directory '\/proc\/mirrorlab-nonexistent': .*\(ENOENT\)$/,
      );
    },
    5_000,
  );
});

describe('the CLI checks where it writes before it explores', () => {
  it('explore --out naming a file: exit 2, one line, nothing explored', () => {
    const base = mkdtempSync(join(tmpdir(), 'mirrorlab-out-'));
    const file = join(base, 'plain');
    writeFileSync(file, '');
    const r = cli('explore', 'seq-retry-no-set-seq', '--schedules', '50', '--out', join(file, 'shards'));
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`mirrorlab: --out: '${file}' is a file, not a directory`);
    expect(r.stdout).toBe('');
  });

  it('explore --report naming a directory: exit 2 with the reason; run --trace creates its directory', () => {
    const base = mkdtempSync(join(tmpdir(), 'mirrorlab-out-'));
    const report = cli('explore', 'seq-retry', '--schedules', '5', '--report', base);
    expect(report.code).toBe(2);
    expect(report.stderr.trim()).toBe(`mirrorlab: --report: '${base}' is a directory`);
    const trace = cli('run', 'seq-retry', '--trace', join(base, 't', 'trace.json'));
    expect(trace.code).toBe(0);
    expect(JSON.parse(readFileSync(join(base, 't', 'trace.json'), 'utf8'))).toHaveProperty(
      'scenario',
      'seq-retry',
    );
  });

  it('a violation still exits 1 when the shard file is written', () => {
    const base = mkdtempSync(join(tmpdir(), 'mirrorlab-out-'));
    const r = cli('explore', 'seq-retry-no-set-seq', '--schedules', '300', '--out', join(base, 'new', 'dir'));
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('stale-mapping');
    expect(existsSync(join(base, 'new', 'dir', 'seq-retry-no-set-seq.shard-0-of-1.json'))).toBe(true);
  });
});
