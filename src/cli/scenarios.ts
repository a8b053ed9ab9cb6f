/**
 * Scenario lookup for the command line: a built-in name, a scenario file path, or the name of a
 * file scenario in the scenarios directory (`scenarios/` of the working directory, else the one
 * shipped with the package, or `--dir`).
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getScenario, listScenarios, type Scenario } from '../scenario/registry.js';
import { ScenarioFileError } from '../scenario/file/errors.js';
// Every driver of this build, so a scenario file may name any of them (dmirror included).
import '../drivers/index.js';
import {
  assertRunnable,
  loadScenarioFile,
  MODULE_EXTENSIONS,
  YAML_EXTENSIONS,
  type FileScenario,
} from '../scenario/file/load.js';

const EXTENSIONS: readonly string[] = [...YAML_EXTENSIONS, ...MODULE_EXTENSIONS];

/** True when `arg` names a file rather than a registered scenario. */
export function isScenarioPath(arg: string): boolean {
  return EXTENSIONS.includes(extname(arg)) || arg.includes('/') || arg.includes('\\');
}

/** The scenarios directory: `dir` if given, else ./scenarios, else the package's own. */
export function scenariosDir(dir?: string): string | null {
  if (dir !== undefined) return resolve(dir);
  const local = resolve('scenarios');
  if (existsSync(local)) return local;
  const shipped = resolve(dirname(fileURLToPath(import.meta.url)), '../../scenarios');
  return existsSync(shipped) ? shipped : null;
}

/** One entry of a scenarios directory: the scenario, or why its file does not load. */
export type DirEntry = { file: string; scenario: FileScenario } | { file: string; error: Error };

/** Loads every scenario file of `dir` (sorted by file name). */
export async function loadScenarioDir(dir: string): Promise<DirEntry[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw new ScenarioFileError([
      { file: dir, path: '', message: `cannot read directory: ${(err as Error).message}` },
    ]);
  }
  const out: DirEntry[] = [];
  for (const n of names
    .filter((f) => YAML_EXTENSIONS.some((e) => f.endsWith(e)) || /\.(m?ts|m?js)$/.test(f))
    .sort()) {
    if (n.endsWith('.d.ts')) continue;
    const file = join(dir, n);
    try {
      out.push({ file, scenario: await loadScenarioFile(file) });
    } catch (err) {
      out.push({ file, error: err as Error });
    }
  }
  return out;
}

/**
 * The scenario `arg` names: a file path, a built-in, or a file scenario of the scenarios
 * directory. Throws 'unknown scenario ...' (listing the known names), ScenarioFileError for a bad
 * file, DriverUnavailableError for a scenario whose driver this build lacks.
 */
export async function resolveScenario(arg: string, dir?: string): Promise<Scenario> {
  if (isScenarioPath(arg)) {
    const s = await loadScenarioFile(arg);
    assertRunnable(s);
    return s;
  }
  const builtin = listScenarios().find((s) => s.name === arg);
  if (builtin !== undefined) return builtin;
  const d = scenariosDir(dir);
  const entries = d !== null ? await loadScenarioDir(d) : [];
  for (const e of entries) {
    if ('scenario' in e && e.scenario.name === arg) {
      assertRunnable(e.scenario);
      return e.scenario;
    }
  }
  const fileNames = entries.flatMap((e) => ('scenario' in e ? [e.scenario.name] : []));
  try {
    return getScenario(arg);
  } catch (err) {
    const more = fileNames.length > 0 ? `; files: ${fileNames.join(', ')}` : '';
    throw new Error(`${(err as Error).message}${more}`);
  }
}

/** How to name `s` on a command line: its file when it came from one, else its name. */
export function scenarioRef(s: Scenario): string {
  const file = (s as Partial<FileScenario>).file;
  return typeof file === 'string' ? file : s.name;
}

/** Rows of `mirrorlab list`: built-in scenarios, then the directory's files. */
export interface ListRow {
  name: string;
  kind: 'builtin' | 'file';
  expect: string;
  summary: string;
  file?: string;
  /** Drivers needed; `available` is false when this build lacks them. */
  drivers?: string[];
  available?: boolean;
  error?: string;
}

/** Everything `mirrorlab list` shows; `invalid` counts files that did not load. */
export async function listRows(dir?: string): Promise<{ rows: ListRow[]; invalid: number }> {
  const rows: ListRow[] = listScenarios().map((s) => ({
    name: s.name,
    kind: 'builtin',
    expect: s.expect,
    summary: s.summary,
  }));
  const d = scenariosDir(dir);
  let invalid = 0;
  for (const e of d !== null ? await loadScenarioDir(d) : []) {
    if ('error' in e) {
      invalid++;
      rows.push({
        name: e.file,
        kind: 'file',
        expect: '-',
        summary: '',
        file: e.file,
        error: e.error.message,
      });
      continue;
    }
    const s = e.scenario;
    rows.push({
      name: s.name,
      kind: 'file',
      expect: s.expectKind === 'none' ? 'clean' : s.expectKind,
      summary: s.summary,
      file: e.file,
      drivers: s.drivers,
      available: s.runnable,
    });
  }
  return { rows, invalid };
}

/** Prints the rows as a table. */
export function printRows(rows: readonly ListRow[]): void {
  for (const r of rows) {
    if (r.error !== undefined) {
      console.log(`${r.name}: INVALID\n  ${r.error.replace(/\n/g, '\n  ')}`);
      continue;
    }
    const needs =
      r.drivers && r.drivers.length > 0
        ? ` [needs ${r.drivers.join(', ')}${r.available ? '' : ': not in this build'}]`
        : '';
    const tag = r.kind === 'file' ? 'file' : '';
    console.log(`${r.name.padEnd(32)} ${tag.padEnd(5)} ${r.expect.padEnd(16)} ${r.summary}${needs}`);
  }
}
