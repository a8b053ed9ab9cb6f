/**
 * The API report: every name the package exports, from the root and from each subpath of
 * package.json "exports", with its kind and (for functions and constants) its type, read from the
 * TypeScript sources with the compiler API. The report is checked in as api/mirrorlab.api.md so that
 * every change to the public surface shows in review; test/api-report.test.ts fails when it is stale.
 *
 *   npm run api:report            regenerates api/mirrorlab.api.md
 *   npm run api:report -- --check exits 1 when the checked-in report is stale
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const REPORT_PATH = join(ROOT, 'api', 'mirrorlab.api.md');
export const REGENERATE = 'npm run api:report';

/** One exported name. `typeOnly` names do not exist at run time. */
export interface ApiEntry {
  name: string;
  kind: 'function' | 'class' | 'const' | 'let' | 'enum' | 'namespace' | 'interface' | 'type';
  typeOnly: boolean;
  /** The report lines: the declaration, then (root only) one indented line per public member. */
  lines: string[];
}

/** An entry point: the subpath users import and the source file that implements it. */
export interface ApiEntryPoint {
  subpath: string;
  source: string;
  entries: ApiEntry[];
}

/** The package.json "exports" entries that point at code, mapped from dist/*.js back to src/*.ts. */
export function entryPoints(): { subpath: string; source: string }[] {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    name: string;
    exports: Record<string, string | { import?: string }>;
  };
  const out: { subpath: string; source: string }[] = [];
  for (const [key, target] of Object.entries(pkg.exports)) {
    const file = typeof target === 'string' ? target : target.import;
    if (file === undefined || !file.endsWith('.js')) continue;
    const source = file.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts');
    out.push({ subpath: key === '.' ? pkg.name : `${pkg.name}/${key.slice(2)}`, source });
  }
  return out;
}

function isTypeOnlyAlias(sym: ts.Symbol): boolean {
  return (sym.declarations ?? []).some(
    (d) =>
      (ts.isExportSpecifier(d) && (d.isTypeOnly || d.parent.parent.isTypeOnly)) ||
      (ts.isImportSpecifier(d) && (d.isTypeOnly || d.parent.parent.isTypeOnly === true)),
  );
}

const FMT =
  ts.TypeFormatFlags.NoTruncation |
  ts.TypeFormatFlags.UseFullyQualifiedType |
  ts.TypeFormatFlags.WriteArrowStyleSignature;
const clean = (s: string): string => s.replace(/import\("[^"]*"\)\./g, '');
/** A type as written in the source, on one line. */
const sourceText = (node: ts.Node): string =>
  node.getText().replace(/\s+/g, ' ').replace(/^\| /, '').replace(/\( /g, '(').replace(/ \)/g, ')');

function isHidden(member: ts.Symbol): boolean {
  if (member.getName().startsWith('#') || member.getName().startsWith('__')) return true;
  // Members inherited from the platform (Error's stack, captureStackTrace...) are not ours.
  const decls = member.declarations ?? [];
  if (decls.length > 0 && decls.every((d) => d.getSourceFile().isDeclarationFile)) return true;
  return (member.declarations ?? []).some(
    (d) =>
      (ts.getCombinedModifierFlags(d as ts.Declaration) &
        (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) !==
      0,
  );
}

/** One line per public member of a class instance, its static side, or an interface. */
function memberLines(checker: ts.TypeChecker, type: ts.Type, at: ts.Node, prefix: string): string[] {
  const out: string[] = [];
  for (const m of checker.getPropertiesOfType(type)) {
    if (isHidden(m) || m.getName() === 'prototype') continue;
    const name = `${prefix}${m.getName()}`;
    const mt = checker.getTypeOfSymbolAtLocation(m, at);
    const decls = m.declarations ?? [];
    const readonly = decls.some(
      (d) => (ts.getCombinedModifierFlags(d as ts.Declaration) & ts.ModifierFlags.Readonly) !== 0,
    );
    if (m.flags & ts.SymbolFlags.Method) {
      const opt = m.flags & ts.SymbolFlags.Optional ? '?' : '';
      for (const sig of checker.getNonNullableType(mt).getCallSignatures())
        out.push(
          `  ${name}${opt}${clean(checker.signatureToString(sig, at, FMT & ~ts.TypeFormatFlags.WriteArrowStyleSignature))}`,
        );
    } else if (m.flags & ts.SymbolFlags.GetAccessor && !(m.flags & ts.SymbolFlags.SetAccessor)) {
      out.push(`  get ${name}: ${clean(checker.typeToString(mt, at, FMT))}`);
    } else {
      const opt = m.flags & ts.SymbolFlags.Optional ? '?' : '';
      // What the author wrote, when there is an annotation: stable, and as readable as the source.
      const annotated = decls.find(
        (d): d is ts.PropertySignature | ts.PropertyDeclaration | ts.ParameterDeclaration =>
          (ts.isPropertySignature(d) || ts.isPropertyDeclaration(d) || ts.isParameter(d)) &&
          d.type !== undefined,
      );
      let text =
        annotated?.type !== undefined ? sourceText(annotated.type) : clean(checker.typeToString(mt, at, FMT));
      if (opt !== '') text = text.replace(/ \| undefined$/, '');
      out.push(`  ${readonly ? 'readonly ' : ''}${name}${opt}: ${text}`);
    }
  }
  return out;
}

function describe(checker: ts.TypeChecker, exported: ts.Symbol, at: ts.Node, detail: boolean): ApiEntry {
  let sym = exported;
  let typeOnly = false;
  // Follow the chain of re-exports; any type-only link makes the name type-only.
  while (sym.flags & ts.SymbolFlags.Alias) {
    if (isTypeOnlyAlias(sym)) typeOnly = true;
    const next = checker.getImmediateAliasedSymbol(sym);
    if (next === undefined) break;
    sym = next;
  }
  const f = sym.flags;
  const name = exported.getName();
  const head = (kind: ApiEntry['kind'], only: boolean, rest = ''): string =>
    `${only ? 'type-only ' : ''}${kind} ${name}${rest}`;
  if (f & ts.SymbolFlags.Class) {
    const lines = [head('class', typeOnly)];
    if (detail) {
      const staticSide = checker.getTypeOfSymbolAtLocation(sym, at);
      for (const c of staticSide.getConstructSignatures())
        lines.push(
          `  new${clean(checker.signatureToString(c, at, FMT & ~ts.TypeFormatFlags.WriteArrowStyleSignature))}`,
        );
      lines.push(...memberLines(checker, staticSide, at, 'static '));
      lines.push(...memberLines(checker, checker.getDeclaredTypeOfSymbol(sym), at, ''));
    }
    return { name, kind: 'class', typeOnly, lines };
  }
  if (f & ts.SymbolFlags.Enum) return { name, kind: 'enum', typeOnly, lines: [head('enum', typeOnly)] };
  if (f & ts.SymbolFlags.Function) {
    const type = checker.getTypeOfSymbolAtLocation(sym, at);
    const lines = type
      .getCallSignatures()
      .map((s) =>
        head(
          'function',
          typeOnly,
          clean(checker.signatureToString(s, at, FMT & ~ts.TypeFormatFlags.WriteArrowStyleSignature)),
        ),
      );
    return { name, kind: 'function', typeOnly, lines };
  }
  if (f & ts.SymbolFlags.Variable) {
    const vd = sym.valueDeclaration;
    const isConst =
      vd !== undefined &&
      ts.isVariableDeclaration(vd) &&
      (ts.getCombinedNodeFlags(vd) & ts.NodeFlags.Const) !== 0;
    const kind = isConst ? 'const' : 'let';
    const type = clean(checker.typeToString(checker.getTypeOfSymbolAtLocation(sym, at), at, FMT));
    return { name, kind, typeOnly, lines: [head(kind, typeOnly, `: ${type}`)] };
  }
  if (f & (ts.SymbolFlags.ValueModule | ts.SymbolFlags.NamespaceModule))
    return { name, kind: 'namespace', typeOnly, lines: [head('namespace', typeOnly)] };
  if (f & ts.SymbolFlags.Interface) {
    const lines = [head('interface', true)];
    if (detail) lines.push(...memberLines(checker, checker.getDeclaredTypeOfSymbol(sym), at, ''));
    return { name, kind: 'interface', typeOnly: true, lines };
  }
  const lines = [head('type', true)];
  const alias = (sym.declarations ?? []).find(ts.isTypeAliasDeclaration);
  if (detail && alias !== undefined) {
    const params = alias.typeParameters?.map((t) => sourceText(t)).join(', ');
    lines[0] += `${params === undefined ? '' : `<${params}>`} = ${sourceText(alias.type)}`;
  }
  return { name, kind: 'type', typeOnly: true, lines };
}

/** Reads every entry point's exports from the sources. */
export function collectApi(): ApiEntryPoint[] {
  const points = entryPoints();
  const config = ts.getParsedCommandLineOfConfigFile(join(ROOT, 'tsconfig.build.json'), undefined, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    },
  });
  if (config === undefined) throw new Error('cannot read tsconfig.build.json');
  const program = ts.createProgram({
    rootNames: points.map((p) => join(ROOT, p.source)),
    options: { ...config.options, noEmit: true },
  });
  const checker = program.getTypeChecker();
  return points.map(({ subpath, source }) => {
    const file = program.getSourceFile(join(ROOT, source));
    if (file === undefined) throw new Error(`${subpath}: no source file ${source}`);
    const moduleSymbol = checker.getSymbolAtLocation(file);
    const exports = moduleSymbol === undefined ? [] : checker.getExportsOfModule(moduleSymbol);
    const entries = exports
      .map((s) => describe(checker, s, file, subpath === points[0].subpath))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { subpath, source, entries };
  });
}

/**
 * The report text: one section per entry point, runtime names first, then type-only names. The root's
 * classes and interfaces list their public members and its type aliases their definition: that is the
 * surface the sketch promises; the subpaths list names, kinds and types of functions and constants.
 */
export function renderReport(points: ApiEntryPoint[]): string {
  const lines = [
    '# mirrorlab public API',
    '',
    `Generated by \`${REGENERATE}\` (scripts/api-report.ts) from the TypeScript sources; do not edit.`,
    'test/api-report.test.ts fails when this file is stale: a change to the public surface shows here in review.',
    '',
  ];
  for (const p of points) {
    const runtime = p.entries.filter((e) => !e.typeOnly);
    const types = p.entries.filter((e) => e.typeOnly);
    lines.push(`## ${p.subpath}`, '');
    lines.push(`Source: ${p.source}. ${runtime.length} runtime names, ${types.length} type-only names.`, '');
    lines.push('```ts');
    for (const e of runtime) lines.push(...e.lines);
    if (types.length > 0 && runtime.length > 0) lines.push('');
    for (const e of types) lines.push(...e.lines);
    lines.push('```', '');
  }
  return lines.join('\n');
}

function main(): void {
  const text = renderReport(collectApi());
  const rel = relative(process.cwd(), REPORT_PATH);
  if (process.argv.includes('--check')) {
    let old = '';
    try {
      old = readFileSync(REPORT_PATH, 'utf8');
    } catch {
      // missing: stale
    }
    if (old !== text) {
      console.error(`${rel} is stale: run \`${REGENERATE}\` and review the diff`);
      process.exit(1);
    }
    console.log(`${rel} is current`);
    return;
  }
  writeFileSync(REPORT_PATH, text);
  console.log(`wrote ${rel}`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) main();
