import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');

/** The README's example is a test: it must run as written and find the lost update. */
describe('README example', () => {
  it('explores the two-thread program, finds the lost update and replays it', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Exploring a two-thread program'));
    const block = /```ts\n([\s\S]*?)```/.exec(section);
    expect(block).not.toBeNull();
    const indexUrl = pathToFileURL(join(root, 'src/index.ts')).href;
    const code = block![1].replace(/from 'mirrorlab'/g, `from '${indexUrl}'`);
    const dir = mkdtempSync(join(tmpdir(), 'mirrorlab-readme-'));
    try {
      const file = join(dir, 'example.mts');
      writeFileSync(file, code);
      const out = execFileSync(process.execPath, ['--import', 'tsx', file], {
        cwd: root,
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(out).toContain('assertion lost update: counter is 1');
      expect(out).toMatch(/cpu0\s+\|\s+cpu1/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
