/**
 * Errors of scenario files: each names the file, the line and column (YAML documents; a module has no
 * positions), the path inside the document and what was expected.
 */

/** One thing wrong with a scenario file. */
export interface ScenarioIssue {
  file: string;
  /** 1-based; absent for modules and for problems of the file as a whole. */
  line?: number;
  column?: number;
  /** Path inside the document, e.g. `processes[0].threads[1].ops[2].write.page` ('' for the root). */
  path: string;
  message: string;
}

/** Renders one issue as `file:line:col: path: message`. */
export function formatIssue(i: ScenarioIssue): string {
  const where = i.line !== undefined ? `${i.file}:${i.line}:${i.column ?? 1}` : i.file;
  const path = i.path === '' ? '(document)' : i.path;
  return `${where}: ${path}: ${i.message}`;
}

/** Issues shown in an error's message (all of them stay in `issues`). */
const MAX_SHOWN = 20;

/** A scenario file that cannot be loaded: every issue found, in document order. */
export class ScenarioFileError extends Error {
  constructor(readonly issues: readonly ScenarioIssue[]) {
    super(
      issues.length === 1
        ? `invalid scenario file: ${formatIssue(issues[0])}`
        : `invalid scenario file (${issues.length} problems):\n` +
            issues
              .slice(0, MAX_SHOWN)
              .map((i) => `  ${formatIssue(i)}`)
              .join('\n') +
            (issues.length > MAX_SHOWN ? `\n  ... and ${issues.length - MAX_SHOWN} more` : ''),
    );
    this.name = 'ScenarioFileError';
  }
}

/** A device driver the scenario names is not part of this build. */
export class DriverUnavailableError extends Error {
  constructor(
    readonly driver: string,
    readonly file: string,
  ) {
    super(
      `${file}: driver '${driver}' is not available in this build (the device driver registry, ` +
        `k.createDevice, is not present); this scenario needs it`,
    );
    this.name = 'DriverUnavailableError';
  }
}

/** Formats a document path (`['processes', 0, 'name']` → `processes[0].name`). */
export function formatPath(path: readonly (string | number)[]): string {
  let s = '';
  for (const p of path) {
    if (typeof p === 'number') s += `[${p}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(p)) s += s === '' ? p : `.${p}`;
    else s += `[${JSON.stringify(p)}]`;
  }
  return s;
}
