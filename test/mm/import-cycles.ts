/**
 * Value-import cycles among TypeScript files: the imports that load a module at run time (not
 * `import type`, not imports whose every name is `type`), as a module loader sees them. Used by
 * test/mm/layout.test.ts; run directly (`npx tsx test/mm/import-cycles.ts src/mm`) to list them.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';

/** Every .ts file under `dir`. */
function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...tsFiles(p));
    else if (p.endsWith('.ts')) out.push(resolve(p));
  }
  return out;
}

/** The relative modules `file` loads at run time (resolved .js → .ts paths). */
export function valueImports(file: string): string[] {
  const src = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, false);
  const out: string[] = [];
  for (const st of src.statements) {
    let spec: ts.Expression | undefined;
    if (ts.isImportDeclaration(st)) {
      const c = st.importClause;
      if (c !== undefined) {
        if (c.isTypeOnly) continue;
        const nb = c.namedBindings;
        const onlyTypes =
          c.name === undefined &&
          nb !== undefined &&
          ts.isNamedImports(nb) &&
          nb.elements.length > 0 &&
          nb.elements.every((e) => e.isTypeOnly);
        if (onlyTypes) continue;
      }
      spec = st.moduleSpecifier;
    } else if (ts.isExportDeclaration(st)) {
      if (st.isTypeOnly || st.moduleSpecifier === undefined) continue;
      const ec = st.exportClause;
      if (
        ec !== undefined &&
        ts.isNamedExports(ec) &&
        ec.elements.length > 0 &&
        ec.elements.every((e) => e.isTypeOnly)
      )
        continue;
      spec = st.moduleSpecifier;
    }
    if (spec === undefined || !ts.isStringLiteral(spec) || !spec.text.startsWith('.')) continue;
    out.push(resolve(dirname(file), spec.text.replace(/\.js$/, '.ts')));
  }
  return out;
}

/**
 * The strongly connected components with more than one file (or a self-import) of the value-import
 * graph of the files under `dir`, each as paths relative to `root`, sorted.
 */
export function valueCycles(dir: string, root = process.cwd()): string[][] {
  const files = tsFiles(dir);
  const inDir = new Set(files);
  const edges = new Map<string, string[]>();
  for (const f of files)
    edges.set(
      f,
      valueImports(f).filter((g) => inDir.has(g)),
    );
  // Tarjan's algorithm.
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || (edges.get(v) ?? []).includes(v))
        out.push(comp.map((p) => relative(root, p)).sort());
    }
  };
  for (const f of files) if (!idx.has(f)) visit(f);
  return out.sort((a, b) => a[0]!.localeCompare(b[0]!));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const cycles = valueCycles(process.argv[2] ?? 'src');
  for (const c of cycles) console.log(c.join(' '));
  console.log(`${cycles.length} value-import cycle(s)`);
}
