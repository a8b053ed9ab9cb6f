/** The CLI as users run it, for the tests of test/cli: `mirrorlab ARGS...` from the sources. */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

/** The repository's root: where the CLI runs (scenarios/, bench/results resolve from it). */
export const ROOT = resolve(import.meta.dirname, '../..');

/** What a CLI run gave: its exit code (null when killed) and its output. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `mirrorlab ...args` (src/cli/main.ts through tsx) to its end, at most 60 s. */
export function cli(...args: string[]): CliResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
