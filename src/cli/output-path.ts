/**
 * Where the CLI writes files (`explore --out DIR`, `--report FILE`, `run --trace FILE`,
 * `report --out FILE`, the showcase's report): checked before the work starts, so a long
 * exploration never ends in an unwritable path, and any failure is a one-line bad-input error
 * (exit code 2) naming the option, the path and the reason, not a stack trace.
 */
import { accessSync, constants, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** An output path that cannot be created or written: bad input, exit code 2. */
export class OutputPathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutputPathError';
  }
}

/** The reason of a failed file-system call, as a person reads it: "permission denied (EACCES)". */
function reason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (typeof e?.code !== 'string') return String(err);
  const text = /^\w+: ([^,]+)/.exec(e.message)?.[1] ?? e.message;
  return `${text} (${e.code})`;
}

/** The path's kind, or null when nothing is there. */
function kindOf(path: string): 'directory' | 'file' | null {
  try {
    return statSync(path).isDirectory() ? 'directory' : 'file';
  } catch {
    return null;
  }
}

/**
 * Makes `dir` and its missing parents, one level at a time from the nearest existing ancestor:
 * Node's `mkdirSync(..., { recursive: true })` never returns for a path under /proc (it retries
 * the ENOENT forever), and a level-by-level create fails there at once with the real reason.
 */
function makeDirectory(dir: string, option: string): void {
  const missing: string[] = [];
  let at = dir;
  while (kindOf(at) === null) {
    missing.push(at);
    const up = dirname(at);
    if (up === at) break;
    at = up;
  }
  if (kindOf(at) === 'file') throw new OutputPathError(`${option}: '${at}' is a file, not a directory`);
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d);
    } catch (err) {
      throw new OutputPathError(`${option}: cannot create directory '${d}': ${reason(err)}`);
    }
  }
}

/** Throws unless the current user may create files in `dir`. */
function checkWritable(dir: string, option: string): void {
  try {
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw new OutputPathError(`${option}: cannot write into '${dir}': ${reason(err)}`);
  }
}

/**
 * Makes sure `dir` is a directory the run can write its files into (creating it and its parents
 * when missing); returns its absolute path. Throws {@link OutputPathError}.
 */
export function prepareOutputDir(dir: string, option: string): string {
  const abs = resolve(dir);
  makeDirectory(abs, option);
  checkWritable(abs, option);
  return abs;
}

/**
 * Makes sure `file` can be written later: not a directory, its directory existing (created when
 * missing) and writable. Returns its absolute path. Throws {@link OutputPathError}.
 */
export function prepareOutputFile(file: string, option: string): string {
  const abs = resolve(file);
  if (kindOf(abs) === 'directory') throw new OutputPathError(`${option}: '${abs}' is a directory`);
  prepareOutputDir(dirname(abs), option);
  return abs;
}

/** Writes `text` to `file`; a failure is an {@link OutputPathError} naming `option`. */
export function writeOutputFile(file: string, text: string, option: string): void {
  try {
    writeFileSync(file, text);
  } catch (err) {
    throw new OutputPathError(`${option}: cannot write '${file}': ${reason(err)}`);
  }
}
