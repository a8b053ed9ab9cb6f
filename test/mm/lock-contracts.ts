/**
 * Counts the functions whose doc comment says the caller holds a lock, and how many of them assert
 * it in code (lockdep_assert_held-style), over the files under the given folders. Run:
 * `npx tsx test/mm/lock-contracts.ts src/mm src/notifier src/lib` (add `-v` to list them).
 *
 * Documented: the doc comment says "caller holds X" / "caller must hold X" / "entered with X held" /
 * "must be called holding X" / "with X held" where X is a lock (mmap lock, ptl / page-table / PTE /
 * PMD lock, subs.lock, folio lock, lruvec lock, a user lock ...), and not only "holds no ... lock".
 * Asserted: the body calls an assertion of a held lock (`assertHeld`, `assertMmapLocked`,
 * `assertMmapWriteLocked`, an `assert...Locked/Held` helper, the old `mmapAssert...` functions) or
 * tests `isHeldBy` / `isWriteHeldBy` by hand.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

const LOCK = String.raw`(?:mmap[ _]lock|mm\.mmapLock|\`?mm\.ptl\`?|page-table lock|PTE(?:/PMD)? lock|PMD lock|both page-table locks|subs\.lock|\`subs\.lock\`|folio lock|lruvec lock|zone lock|user lock|both mmap locks|lock of)`;
const DOC_RE = new RegExp(
  String.raw`(?:caller (?:must )?holds?|entered with|must be called holding|handles, holding|held by the caller)[^.;]*?${LOCK}|with ${LOCK}[^.;]*? held`,
  'i',
);
const ASSERT_RE = /\b(?:assertHeld|mmapAssert\w+|\w*[aA]ssert\w*(?:Locked|Held))\s*\(|\.is(?:Write)?HeldBy\(/;

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...tsFiles(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

interface Row {
  where: string;
  asserted: boolean;
}

export function lockContracts(dirs: string[]): Row[] {
  const rows: Row[] = [];
  for (const file of dirs.flatMap(tsFiles)) {
    const text = readFileSync(file, 'utf8');
    const src = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
    const visit = (node: ts.Node): void => {
      const fn =
        ts.isFunctionDeclaration(node) ||
        ts.isMethodDeclaration(node) ||
        ts.isGetAccessorDeclaration(node) ||
        ts.isConstructorDeclaration(node);
      if (fn && node.body !== undefined) {
        const ranges = ts.getLeadingCommentRanges(text, node.getFullStart()) ?? [];
        const doc = ranges
          .map((r) => text.slice(r.pos, r.end))
          .filter((c) => c.startsWith('/**'))
          .join('\n')
          .replace(/\s*\*\s*/g, ' ');
        // "holds no mm lock", "holds no page-table lock and no folio lock": not a requirement.
        const stripped = doc.replace(/holds? no [^.;]*/gi, '');
        if (DOC_RE.test(stripped)) {
          const name = node.name !== undefined ? node.name.getText(src) : 'constructor';
          const line = src.getLineAndCharacterOfPosition(node.getStart(src)).line + 1;
          rows.push({
            where: `${relative(process.cwd(), file)}:${line} ${name}`,
            asserted: ASSERT_RE.test(node.body.getText(src)),
          });
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(src);
  }
  return rows;
}

const argv = process.argv.slice(2);
const verbose = argv.includes('-v');
const rows = lockContracts(argv.filter((a) => a !== '-v'));
if (verbose) for (const r of rows) console.log(`${r.asserted ? 'asserted  ' : 'UNASSERTED'} ${r.where}`);
console.log(
  `${rows.filter((r) => r.asserted).length} of ${rows.length} documented lock requirements asserted`,
);
