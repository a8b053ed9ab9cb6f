import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

/**
 * The built package resolves its root and each subpath of package.json "exports" (at run time and for
 * TypeScript consumers) and refuses deep imports of internals. Builds into a temporary copy of the
 * package so that it never touches dist/.
 */
describe('built package', () => {
  let pkg = '';
  beforeAll(() => {
    pkg = mkdtempSync(join(tmpdir(), 'mirrorlab-pkg-'));
    cpSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
    // The package's own dependencies (tinypool, cli-progress, ...), as an install would give them.
    symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'), 'dir');
    execFileSync(
      process.execPath,
      [
        TSC,
        '-p',
        join(ROOT, 'tsconfig.build.json'),
        '--outDir',
        join(pkg, 'dist'),
        // typecheck runs on its own; the emit alone is what this test needs
        '--noCheck',
        '--sourceMap',
        'false',
      ],
      {
        stdio: 'pipe',
      },
    );
  }, 120_000);
  afterAll(() => {
    if (pkg !== '') rmSync(pkg, { recursive: true, force: true });
  });

  it('resolves each subpath by package self-reference and refuses deep imports', () => {
    const script = `
      const out = {};
      for (const s of ['mirrorlab', 'mirrorlab/sim', 'mirrorlab/mm', 'mirrorlab/notifier']) {
        const m = await import(s);
        out[s] = ['Kernel', 'Simulation', 'ptepSet', 'MmuNotifierSubscriptions', 'explore'].filter((n) => n in m);
      }
      try { await import('mirrorlab/mm/physical.js'); out.deep = 'resolved'; } catch (e) { out.deep = e.code; }
      console.log(JSON.stringify(out));`;
    const stdout = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: pkg,
      encoding: 'utf8',
    });
    expect(JSON.parse(stdout)).toEqual({
      mirrorlab: ['Kernel', 'explore'],
      'mirrorlab/sim': ['Simulation'],
      'mirrorlab/mm': ['Kernel', 'ptepSet'],
      'mirrorlab/notifier': ['MmuNotifierSubscriptions'],
      deep: 'ERR_PACKAGE_PATH_NOT_EXPORTED',
    });
  });

  it('gives TypeScript consumers the types of each subpath', () => {
    writeFileSync(
      join(pkg, 'consumer.ts'),
      [
        "import { Kernel, PROT_READ, type Process, type Violation } from 'mirrorlab';",
        "import { Simulation } from 'mirrorlab/sim';",
        "import { ptepSet } from 'mirrorlab/mm';",
        "import { MmuNotifierSubscriptions } from 'mirrorlab/notifier';",
        'export const used: unknown[] = [Kernel, PROT_READ, Simulation, ptepSet, MmuNotifierSubscriptions];',
        'export type T = [Process, Violation];',
        '// @ts-expect-error internals are not exported from the root',
        "import { ptepSet as notHere } from 'mirrorlab';",
        'export const also: unknown = notHere;',
      ].join('\n'),
    );
    const args = [TSC, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext'];
    args.push('--skipLibCheck', '--types', 'node', '--typeRoots', join(ROOT, 'node_modules', '@types'));
    const run = () =>
      execFileSync(process.execPath, [...args, 'consumer.ts'], { cwd: pkg, encoding: 'utf8' });
    expect(run).not.toThrow();
  }, 60_000);
});
