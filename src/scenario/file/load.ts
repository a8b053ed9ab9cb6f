/**
 * Loads scenario files: YAML documents (parsed with positions, so every error names the line and
 * column) and TypeScript/JavaScript modules whose default export has the same shape. Both are
 * validated by the same schema and cross-reference checks and become the same `Scenario` object
 * the built-in registry holds, so explore, replay and run work on them unchanged.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isMap, isNode, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import type { Scenario } from '../registry.js';
import type { SwitchSettings } from '../../sim/switches.js';
import { buildSetup } from './build.js';
import { deviceFactory, driverAvailable } from './devices.js';
import { DriverUnavailableError, ScenarioFileError, type ScenarioIssue } from './errors.js';
import { runSwitches } from './switches.js';
import { referenceIssues, schemaIssues, type Locator } from './validate.js';
import type { DriverName, ScenarioFile } from './types.js';

/** A scenario loaded from a file. */
export interface FileScenario extends Scenario {
  /** The file it came from (as given). */
  file: string;
  /** The validated document. */
  document: ScenarioFile;
  /** The violation kind a correct exploration must find ('none' when it must stay clean). */
  expectKind: string;
  /** Drivers the scenario needs. */
  drivers: DriverName[];
  /** False when a needed driver is not in this build (see {@link assertRunnable}). */
  runnable: boolean;
}

/** Extensions loaded as YAML and as modules. */
export const YAML_EXTENSIONS = ['.yaml', '.yml'] as const;
export const MODULE_EXTENSIONS = ['.ts', '.mts', '.js', '.mjs'] as const;

/** Files larger than this are refused before parsing. */
export const MAX_FILE_BYTES = 1 << 20;

function yamlLocator(doc: ReturnType<typeof parseDocument>, lc: LineCounter): Locator {
  const pos = (offset: number) => {
    const p = lc.linePos(offset);
    return { line: p.line, column: p.col };
  };
  return (path, key) => {
    // The deepest node that exists along the path.
    let node: unknown = doc.contents;
    for (const step of path) {
      if (isMap(node)) {
        const pair = node.items.find((it) => isScalar(it.key) && String(it.key.value) === String(step));
        if (pair === undefined || !isNode(pair.value)) break;
        node = pair.value;
      } else if (isSeq(node) && typeof step === 'number' && isNode(node.items[step])) {
        node = node.items[step];
      } else break;
    }
    if (key !== undefined && isMap(node)) {
      const pair = node.items.find((it) => isPair(it) && isScalar(it.key) && String(it.key.value) === key);
      if (pair !== undefined && isNode(pair.key) && pair.key.range) return pos(pair.key.range[0]);
    }
    const range = isNode(node) ? (node as Node).range : undefined;
    return range ? pos(range[0]) : undefined;
  };
}

/** The summary line of a description: its first sentence or line, at most 100 characters. */
function summaryOf(description: string): string {
  const first = description.trim().split(/\n|(?<=\.)\s/)[0] ?? '';
  return first.length > 100 ? first.slice(0, 99) + '…' : first;
}

/** Validates a document (already parsed) and builds its scenario. Throws ScenarioFileError. */
export function scenarioFromDocument(
  data: unknown,
  file: string,
  locate: Locator = () => undefined,
): FileScenario {
  const issues = schemaIssues(data, file, locate);
  if (issues.length > 0) throw new ScenarioFileError(issues);
  const doc = data as ScenarioFile;
  const refs = referenceIssues(doc, file, locate);
  if (refs.length > 0) throw new ScenarioFileError(refs);
  const ext = extname(file);
  const name = doc.name ?? basename(file, ext);
  const expectKind = doc.expect ?? 'none';
  const drivers = [...new Set((doc.devices ?? []).map((d) => d.driver))];
  const e = doc.explore ?? {};
  const switches = runSwitches(doc);
  return {
    name,
    summary: doc.summary ?? summaryOf(doc.description),
    description: doc.description.trim(),
    expect: expectKind === 'none' ? 'clean' : 'violation',
    setup: buildSetup(doc),
    // Every run of the file (explore, run, replay's token) carries its switches.
    ...(Object.keys(switches).length > 0 ? { switches: switches as SwitchSettings } : {}),
    defaults: {
      ...(e.strategy !== undefined ? { strategy: e.strategy } : {}),
      ...(e.schedules !== undefined ? { schedules: e.schedules } : {}),
      ...(e.depth !== undefined ? { depth: e.depth } : {}),
      ...(e.preemptionBound !== undefined ? { preemptionBound: e.preemptionBound } : {}),
      ...(e.seed !== undefined ? { seed: e.seed } : {}),
      ...(e.maxSteps !== undefined ? { maxSteps: e.maxSteps } : {}),
    },
    file,
    document: doc,
    expectKind,
    drivers,
    runnable: drivers.length === 0 || (deviceFactory() !== null && drivers.every(driverAvailable)),
  };
}

/** Parses and validates YAML text; `file` names it in errors. Throws ScenarioFileError. */
export function loadScenarioText(text: string, file: string): FileScenario {
  const lc = new LineCounter();
  // resolveKnownTags: false keeps YAML 1.1 tags (!!binary, !!timestamp, !!set...) from turning
  // values into Buffers, Dates or Sets: a scenario is plain data.
  const doc = parseDocument(text, {
    lineCounter: lc,
    uniqueKeys: true,
    prettyErrors: false,
    strict: true,
    resolveKnownTags: false,
  });
  const problems = [...doc.errors, ...doc.warnings];
  if (problems.length > 0) {
    throw new ScenarioFileError(
      problems.map((e): ScenarioIssue => {
        const p = lc.linePos(e.pos[0]);
        return { file, line: p.line, column: p.col, path: '', message: `YAML: ${e.message.split('\n')[0]}` };
      }),
    );
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new ScenarioFileError([{ file, path: '', message: `YAML: ${(err as Error).message}` }]);
  }
  return scenarioFromDocument(data, file, yamlLocator(doc, lc));
}

/** Imports a TypeScript or JavaScript module; its default export is the scenario document. */
async function importModule(abs: string): Promise<unknown> {
  const ext = extname(abs);
  if (ext === '.ts' || ext === '.mts') {
    let tsImport: (spec: string, parent: string) => Promise<unknown>;
    try {
      ({ tsImport } = (await import('tsx/esm/api')) as { tsImport: typeof tsImport });
    } catch {
      throw new ScenarioFileError([
        { file: abs, path: '', message: 'loading a TypeScript scenario module needs tsx installed' },
      ]);
    }
    return tsImport(pathToFileURL(abs).href, import.meta.url);
  }
  return import(pathToFileURL(abs).href);
}

/**
 * Loads the scenario file at `path` (.yaml/.yml, or a .ts/.mts/.js/.mjs module with a default
 * export). Throws ScenarioFileError naming what is wrong and where.
 */
export async function loadScenarioFile(path: string): Promise<FileScenario> {
  const ext = extname(path);
  const isYaml = (YAML_EXTENSIONS as readonly string[]).includes(ext);
  const isModule = (MODULE_EXTENSIONS as readonly string[]).includes(ext);
  if (!isYaml && !isModule) {
    throw new ScenarioFileError([
      {
        file: path,
        path: '',
        message: `not a scenario file: expected one of ${[...YAML_EXTENSIONS, ...MODULE_EXTENSIONS].join(', ')}`,
      },
    ]);
  }
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (err) {
    throw new ScenarioFileError([
      { file: path, path: '', message: `cannot read: ${(err as Error).message}` },
    ]);
  }
  if (size > MAX_FILE_BYTES) {
    throw new ScenarioFileError([
      { file: path, path: '', message: `too large (${size} bytes; at most ${MAX_FILE_BYTES})` },
    ]);
  }
  if (isYaml) return loadScenarioText(await readFile(path, 'utf8'), path);
  let mod: unknown;
  try {
    mod = await importModule(resolve(path));
  } catch (err) {
    if (err instanceof ScenarioFileError) throw err;
    throw new ScenarioFileError([
      { file: path, path: '', message: `cannot import: ${(err as Error).message}` },
    ]);
  }
  const data = (mod as { default?: unknown } | null)?.default;
  if (data === undefined) {
    throw new ScenarioFileError([{ file: path, path: '', message: 'the module has no default export' }]);
  }
  return scenarioFromDocument(data, path);
}

/** Throws DriverUnavailableError when the scenario needs a driver this build lacks. */
export function assertRunnable(s: FileScenario): void {
  if (!s.runnable) {
    throw new DriverUnavailableError(s.drivers.find((d) => !driverAvailable(d)) ?? s.drivers[0], s.file);
  }
}
