/**
 * API docs from the doc comments, with typedoc: one module per entry point of package.json
 * "exports" (the root `mirrorlab` and each subpath), read from the TypeScript sources.
 *
 *   npm run docs          writes HTML into docs/api (not checked in)
 *   npm run docs:check    converts and validates only (part of `npm test`); exits 1 when
 *                         - a doc comment's {@link ...} does not resolve to a documented name,
 *                         - an exported declaration refers to a type no entry point exports and
 *                           that is not listed in INTENTIONALLY_NOT_EXPORTED below,
 *                         - any exported declaration of any entry point (the root and every
 *                           subpath), or any member of one (property, method, accessor,
 *                           constructor, the fields of an inline object type), has no doc comment.
 *                         Until 2026-12 the subpaths' properties and constants were only warned
 *                         about; all of them are documented now, so a new one without a comment
 *                         fails like any other.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Application,
  ConsoleLogger,
  LogLevel,
  type MinimalNode,
  type MinimalSourceFile,
  type TranslatedString,
} from 'typedoc';
import { entryPoints } from './api-report.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const DOCS_OUT = join(ROOT, 'docs', 'api');

/**
 * Internal types that public members mention (a class's internal field, a hook table). They stay
 * unexported on purpose (the curated surface, api/mirrorlab.api.md); the docs show their names only.
 */
const INTENTIONALLY_NOT_EXPORTED = [
  'IntervalNode',
  'IntervalTree',
  'ThreadState',
  'SimHooks',
  'Lifetime',
  'LockDep',
  'StepCoverage',
  'DeviceRegionState',
];

/** What typedoc's validation found, sorted into what fails the check and what is reported. */
export interface DocsFindings {
  /**
   * Broken links, types referenced but not exported, undocumented root declarations and undocumented
   * types and callables of the subpaths.
   */
  errors: string[];
  /** Other typedoc warnings and errors (configuration, comment syntax). */
  other: string[];
}

const ROOT_MODULE = 'index';
/** typedoc's message for a declaration without a doc comment: its dotted name and reflection kind. */
const UNDOCUMENTED = /^(\S+) \((\w+)\), defined in (.*?),? does not have any documentation$/;

/** Colour codes and the level prefix typedoc's console logger adds. */
// eslint-disable-next-line no-control-regex -- the escape that starts a colour code
const PLAIN = /\x1b\[[0-9;]*m|^\[\w+\] /g;

/** A logger that keeps validation messages for classification instead of printing them. */
class CollectingLogger extends ConsoleLogger {
  readonly validation: string[] = [];
  readonly other: string[] = [];

  override validationWarning(
    text: TranslatedString,
    ...args: [MinimalNode?] | [number, MinimalSourceFile]
  ): void {
    this.validation.push(this.addContext(text, LogLevel.Warn, ...args).replace(PLAIN, ''));
  }

  override warn(text: TranslatedString, ...args: [MinimalNode?] | [number, MinimalSourceFile]): void {
    this.other.push(this.addContext(text, LogLevel.Warn, ...args).replace(PLAIN, ''));
  }
}

/** Module names typedoc derives from the entry files, mapped to the names users import. */
function moduleNames(): Map<string, string> {
  const names = new Map<string, string>();
  for (const p of entryPoints()) {
    const m = /^src\/(?:(.*)\/)?index\.ts$/.exec(p.source);
    names.set(m?.[1] ?? ROOT_MODULE, p.subpath);
  }
  return names;
}

/** Converts and validates; writes HTML into `out` when given. */
export async function buildDocs(out?: string): Promise<DocsFindings> {
  const app = await Application.bootstrapWithPlugins({
    entryPoints: entryPoints().map((p) => join(ROOT, p.source)),
    tsconfig: join(ROOT, 'tsconfig.build.json'),
    name: 'mirrorlab',
    readme: 'none',
    excludePrivate: true,
    excludeInternal: true,
    // `npm run typecheck` checks the types; the docs run only reads them.
    skipErrorChecking: true,
    intentionallyNotExported: INTENTIONALLY_NOT_EXPORTED,
    validation: { invalidLink: true, notExported: true, notDocumented: true, rewrittenLink: true },
    logLevel: 'Warn',
  });
  const logger = new CollectingLogger();
  logger.level = LogLevel.Warn;
  app.logger = logger;
  const project = await app.convert();
  const findings: DocsFindings = { errors: [], other: logger.other };
  if (project === undefined) {
    findings.errors.push('typedoc could not convert the entry points (see the messages above)');
    return findings;
  }
  app.validate(project);
  const names = moduleNames();
  for (const msg of logger.validation) {
    const undocumented = UNDOCUMENTED.exec(msg);
    if (undocumented === null) {
      findings.errors.push(msg);
      continue;
    }
    // As users import it: `mirrorlab/mm: Vma.start (Property) in src/mm/vma.ts:40 has no doc comment`.
    const [module, ...rest] = undocumented[1].split('.');
    const where = module === ROOT_MODULE ? 'mirrorlab' : (names.get(module) ?? module);
    findings.errors.push(
      `${where}: ${rest.join('.')} (${undocumented[2]}) in ${undocumented[3]} has no doc comment`,
    );
  }
  if (out !== undefined) {
    for (const child of project.children ?? []) child.name = names.get(child.name) ?? child.name;
    await app.generateDocs(project, out);
  }
  return findings;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const check = args.includes('--check');
  const started = performance.now();
  const f = await buildDocs(check ? undefined : DOCS_OUT);
  for (const msg of f.other) console.warn(`warning: ${msg}`);
  for (const msg of f.errors) console.error(`error: ${msg}`);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (f.errors.length > 0) {
    console.error(
      `docs: ${f.errors.length} errors (broken links, unexported types, undocumented declarations) in ${seconds} s`,
    );
    process.exitCode = 1;
  } else {
    console.log(check ? `docs: check passed in ${seconds} s` : `docs: wrote ${DOCS_OUT} in ${seconds} s`);
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) await main();
