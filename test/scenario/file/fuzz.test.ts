/**
 * Fuzzes the loader with malformed scenario documents: mutated valid documents (wrong types,
 * unknown keys, bad enum words, huge, negative and fractional numbers, unknown mapping names),
 * random YAML text, random JSON values and byte-level mutations of valid files. Each must end in
 * a ScenarioFileError whose every issue names the file, a path and a message, quickly; nothing
 * else may be thrown.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import fc from 'fast-check';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ScenarioFileError } from '../../../src/scenario/file/errors.js';
import { loadScenarioText, scenarioFromDocument } from '../../../src/scenario/file/load.js';

const dir = resolve(import.meta.dirname, '../../../scenarios');
const texts = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((f) => readFileSync(resolve(dir, f), 'utf8'));
const docs = texts.map((t) => parse(t) as unknown);
const docPaths = docs.map((d) => paths(d));

type Path = (string | number)[];
/** Every path in a document except free text (description, summary) and driver options. */
function paths(v: unknown, at: Path = [], out: Path[] = []): Path[] {
  out.push(at);
  if (v !== null && typeof v === 'object') {
    for (const [k, c] of Object.entries(v)) {
      if (k === 'description' || k === 'summary' || k === 'options') continue;
      paths(c, [...at, Array.isArray(v) ? Number(k) : k], out);
    }
  }
  return out;
}

function setAt(doc: unknown, path: Path, fn: (old: unknown) => unknown): unknown {
  const copy = structuredClone(doc) as Record<string | number, unknown>;
  if (path.length === 0) return fn(copy);
  let o = copy;
  for (const p of path.slice(0, -1)) o = o[p] as Record<string | number, unknown>;
  const last = path[path.length - 1];
  o[last] = fn(o[last]);
  return copy;
}

/** Mutations that always make a document invalid (given the path they apply to). */
type Mutation = (old: unknown, n: number) => unknown | typeof SKIP;
const SKIP = Symbol('skip');
const MUTATIONS: Record<string, Mutation> = {
  // Every object of the format refuses unknown keys (driver options excluded above).
  unknownKey: (old, n) =>
    old !== null && typeof old === 'object' && !Array.isArray(old) ? { ...old, [`bogus${n}`]: n } : SKIP,
  // No scalar position of the format takes a map.
  scalarToMap: (old, n) => (old === null || typeof old !== 'object' ? { [`k${n}`]: n } : SKIP),
  // Names, enum words and expect never contain a space.
  badWord: (old, n) => (typeof old === 'string' ? `${old} ${n}x` : SKIP),
  huge: (old, n) => (typeof old === 'number' ? 1e300 * (n + 1) : SKIP),
  negative: (old, n) => (typeof old === 'number' ? -1e15 - n : SKIP),
  fraction: (old) => (typeof old === 'number' ? old + 0.5 : SKIP),
  listToScalar: (old, n) => (Array.isArray(old) ? n : SKIP),
};

function expectClearError(run: () => unknown, file: string): ScenarioFileError {
  const t0 = performance.now();
  let caught: unknown;
  try {
    run();
  } catch (err) {
    caught = err;
  }
  const ms = performance.now() - t0;
  expect(ms).toBeLessThan(2000);
  if (!(caught instanceof ScenarioFileError)) {
    throw new Error(
      `expected a ScenarioFileError, got ${caught instanceof Error ? caught.stack : String(caught)}`,
    );
  }
  expect(caught.issues.length).toBeGreaterThan(0);
  for (const i of caught.issues) {
    expect(i.file).toBe(file);
    expect(typeof i.path).toBe('string');
    expect(i.message.length).toBeGreaterThan(5);
  }
  expect(caught.message).toContain(file);
  return caught;
}

let malformed = 0;

describe('loader fuzz', () => {
  it('mutated valid documents: one clear error each (5,000)', () => {
    fc.assert(
      fc.property(
        fc.nat(docs.length - 1),
        fc.nat(),
        fc.constantFrom(...Object.keys(MUTATIONS)),
        fc.nat(1000),
        (di, pi, mname, n) => {
          const doc = docs[di];
          const all = paths(doc).filter(
            (p) => MUTATIONS[mname](structuredClone(valueAt(doc, p)), n) !== SKIP,
          );
          if (all.length === 0) return;
          const path = all[pi % all.length];
          const bad = setAt(doc, path, (old) => MUTATIONS[mname](old, n));
          expectClearError(() => scenarioFromDocument(bad, 'mut.yaml'), 'mut.yaml');
          malformed++;
        },
      ),
      { numRuns: 5000, seed: 13 },
    );
  });

  it('unknown mapping names referenced by operations (1,000)', () => {
    fc.assert(
      fc.property(fc.nat(docs.length - 1), fc.nat(), fc.stringMatching(/^[a-z]{3,8}$/), (di, pi, name) => {
        const doc = docs[di];
        const ats = docPaths[di].filter((p) => p[p.length - 1] === 'at');
        if (ats.length === 0) return;
        const bad = setAt(doc, ats[pi % ats.length], () => `zz${name}`);
        const err = expectClearError(() => scenarioFromDocument(bad, 'ref.yaml'), 'ref.yaml');
        // Named as unknown, or as outside the one mapping a device is attached to.
        expect(err.issues.some((i) => i.message.includes(`'zz${name}'`))).toBe(true);
        malformed++;
      }),
      { numRuns: 1000, seed: 14 },
    );
  });

  it('random YAML text and random values (5,000)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme-ascii', maxLength: 200 }), (text) => {
        expectClearError(() => loadScenarioText(text, 'random.yaml'), 'random.yaml');
        malformed++;
      }),
      { numRuns: 2500, seed: 15 },
    );
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), (v) => {
        expectClearError(() => scenarioFromDocument(v, 'value.json'), 'value.json');
        malformed++;
      }),
      { numRuns: 2500, seed: 16 },
    );
  });

  it('byte-level mutations of valid files: a clear error or a valid scenario, never a crash (600)', () => {
    let valid = 0;
    fc.assert(
      fc.property(
        fc.nat(texts.length - 1),
        fc.array(fc.tuple(fc.nat(), fc.nat(3), fc.string({ unit: 'grapheme-ascii', maxLength: 4 })), {
          minLength: 1,
          maxLength: 4,
        }),
        (ti, edits) => {
          let t = texts[ti];
          for (const [pos, kind, s] of edits) {
            const p = pos % (t.length + 1);
            if (kind === 0) t = t.slice(0, p) + t.slice(p + 1 + s.length);
            else if (kind === 1) t = t.slice(0, p) + s + t.slice(p);
            else t = t.slice(0, p) + s + t.slice(p + s.length);
          }
          let stillValid = false;
          expectClearError(() => {
            loadScenarioText(t, 'edit.yaml');
            stillValid = true;
            throw new ScenarioFileError([{ file: 'edit.yaml', path: '', message: 'still a valid scenario' }]);
          }, 'edit.yaml');
          if (stillValid) valid++;
          else malformed++;
        },
      ),
      { numRuns: 600, seed: 17 },
    );
    expect(valid).toBeLessThan(600);
  });

  it('fed at least 10,000 malformed inputs in all', () => {
    expect(malformed).toBeGreaterThanOrEqual(10_000);
  });
});

function valueAt(doc: unknown, path: Path): unknown {
  let v = doc;
  for (const p of path) v = (v as Record<string | number, unknown>)[p];
  return v;
}
