import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { explore, replay } from '../../../src/explore/index.js';
import { Simulation } from '../../../src/sim/simulation.js';
import { fileRunCounters } from '../../../src/scenario/file/build.js';
import { ScenarioFileError } from '../../../src/scenario/file/errors.js';
import { loadScenarioFile, loadScenarioText } from '../../../src/scenario/file/load.js';
import { scenarioJsonSchema } from '../../../src/scenario/file/schema.js';

const root = resolve(import.meta.dirname, '../../..');
const DESIGN_EXAMPLE = `name: gpu-and-nic-share-a-buffer
description: A GPU and an RDMA NIC mirror one buffer while the CPU forks and unmaps.
kernel: { memoryPages: 1024, swapPages: 256 }
processes:
  - name: app
    mappings:
      - { name: buf, pages: 8, prot: [read, write], flags: [private, anonymous] }
    threads:
      - name: cpu0
        ops:
          - { write: { at: buf, page: 0, pages: 8, byte: 7 } }
          - fork
          - { munmap: { at: buf, page: 6, pages: 2 } }
          - { madvise: { at: buf, page: 2, advice: dontneed } }
devices:
  - { name: gpu0, driver: gpusvm, attach: app, options: { vramPages: 64 } }
  - { name: mlx0, driver: odp, attach: { process: app, mapping: buf } }
accesses:
  - { device: gpu0, ops: [ { read: { at: buf, page: 0, pages: 8 } }, { write: { at: buf, page: 1, byte: 1 } } ] }
  - { device: mlx0, ops: [ { atomic: { at: buf, page: 3, add: 1 } } ] }
expect: none            # or: a violation kind, e.g. stale-mapping
explore: { strategy: swarm, schedules: 20000, seed: 1 }
`;

function issuesOf(text: string): ScenarioFileError['issues'] {
  try {
    loadScenarioText(text, 'bad.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ScenarioFileError);
    return (err as ScenarioFileError).issues;
  }
  throw new Error('expected the document to be refused');
}

const base = (ops: string) => `description: d
processes:
  - name: app
    mappings:
      - { name: buf, pages: 4, prot: [read, write], flags: [private, anonymous] }
    threads:
      - name: t
        ops:
${ops}
`;

describe('scenario file schema and loader', () => {
  it("accepts DESIGN.md's example and reads its fields", () => {
    const s = loadScenarioText(DESIGN_EXAMPLE, 'design.yaml');
    expect(s.name).toBe('gpu-and-nic-share-a-buffer');
    expect(s.expect).toBe('clean');
    expect(s.drivers).toEqual(['gpusvm', 'odp']);
    expect(s.runnable).toBe(false); // no driver registry in this build
    expect(s.defaults).toEqual({ strategy: 'swarm', schedules: 20000, seed: 1 });
  });

  it('names file, line, column, path and the allowed values of an enum', () => {
    const op = '          - { madvise: { at: buf, advice: dontned } }';
    const issues = issuesOf(base(op));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ file: 'bad.yaml', line: 9, column: op.indexOf('dontned') + 1 });
    expect(issues[0].path).toBe('processes[0].threads[0].ops[0].madvise.advice');
    expect(issues[0].message).toBe(
      '"dontned" is not allowed (did you mean "dontneed"?); allowed values: dontneed, free, hugepage, nohugepage, pageout, cold',
    );
  });

  it('points at an unknown key and lists the keys it may be', () => {
    const op = '          - { wrte: { at: buf, byte: 1 } }';
    const [i] = issuesOf(base(op));
    expect(i).toMatchObject({
      line: 9,
      column: op.indexOf('wrte') + 1,
      path: 'processes[0].threads[0].ops[0].wrte',
    });
    expect(i.message).toMatch(
      /^unknown key "wrte" \(did you mean "write"\?\); expected one of: mmap, write, read, fork, munmap/,
    );
  });

  it('a misspelt root field is an error, with a suggestion; an unrelated one gets none', () => {
    const text = base('          - fork');
    const [typo] = issuesOf(text + 'devics: []\n');
    expect(typo).toMatchObject({ file: 'bad.yaml', line: 10, column: 1, path: 'devics' });
    expect(typo.message).toBe(
      'unknown key "devics" (did you mean "devices"?); expected one of: name, description, summary, ' +
        'kernel, files, processes, devices, accesses, checkers, expect, explore, switches',
    );
    const [other] = issuesOf(text + 'colour: blue\n');
    expect(other.message).toMatch(/^unknown key "colour"; expected one of: /);
  });

  it('reports a bare word that is no operation once, with the words allowed', () => {
    const issues = issuesOf(base('          - forx'));
    expect(issues.map((i) => i.message)).toEqual([
      '"forx" is not allowed (did you mean "fork"?); allowed values: fork, exit, reclaim, oom-kill, yield',
    ]);
  });

  it('refuses negative and huge sizes and non-integers', () => {
    const issues = issuesOf(
      base('          - { write: { at: buf, page: -1, byte: 1.5 } }').replace('memoryPages', '') +
        'kernel: { memoryPages: 99999999999 }\n',
    );
    const msgs = issues.map((i) => `${i.path}: ${i.message}`);
    expect(msgs).toContain('processes[0].threads[0].ops[0].write.page: expected an integer >= 0, got -1');
    expect(msgs).toContain('processes[0].threads[0].ops[0].write.byte: expected integer, got number 1.5');
    expect(msgs).toContain('kernel.memoryPages: expected an integer <= 1048576, got 99999999999');
  });

  it('refuses unknown mapping and process names and pages outside the mapping', () => {
    const issues = issuesOf(
      base(
        [
          '          - { write: { at: bf, byte: 1 } }',
          '          - { read: { at: buf, page: 3, pages: 2 } }',
          '          - { exit: { process: ghost } }',
        ].join('\n'),
      ),
    );
    expect(issues.map((i) => [i.line, i.message])).toEqual([
      [9, "unknown mapping 'bf' in process 'app'; known: buf"],
      [10, "pages 3..4 lie outside mapping 'buf' (4 pages)"],
      [11, "unknown process 'ghost'; known: app"],
    ]);
  });

  it('requires a description and reports YAML syntax errors with their position', () => {
    expect(issuesOf('processes: [{ name: app }]\n')[0].message).toBe("missing required key 'description'");
    const [syntax] = issuesOf('description: x\nprocesses: [\n');
    expect(syntax.line).toBeGreaterThan(1);
    expect(syntax.message).toMatch(/^YAML: /);
    expect(issuesOf('description: a\ndescription: b\nprocesses: []\n')[0].message).toMatch(/unique/i);
  });

  it('generates a JSON Schema that lists every operation', () => {
    const json = JSON.stringify(scenarioJsonSchema);
    for (const op of [
      'mmap',
      'write',
      'read',
      'fork',
      'munmap',
      'mprotect',
      'madvise',
      'mremap',
      'exit',
      'reclaim',
      'migrate',
      'oom-kill',
      'sleep',
    ])
      expect(json).toContain(`"${op}"`);
  });

  it('loads a TypeScript module with the same shape and explores it like a built-in', async () => {
    const s = await loadScenarioFile(resolve(import.meta.dirname, 'fixtures/module-scenario.ts'));
    expect(s.name).toBe('module-writers');
    const r = await explore({ strategy: 'pct', schedules: 200, seed: 1 }, s.setup);
    expect(r.violations.map((v) => v.kind)).toEqual(['unexpected-read']);
    const again = await replay(r.violations[0].token, s.setup);
    expect(again.violations[0].message).toBe(r.violations[0].message);
  });

  it('a module with a bad shape gets the same errors, without positions', async () => {
    await expect(
      loadScenarioFile(resolve(import.meta.dirname, 'fixtures/../loader.test.ts')),
    ).rejects.toThrow(/no default export|cannot import/);
  });

  it('the read check stays silent when writers do not share a page, and fires when they do', async () => {
    const text = readFileSync(resolve(root, 'scenarios/racy-writers-demo.yaml'), 'utf8');
    const racy = loadScenarioText(text, 'racy.yaml');
    const r = await explore({ strategy: 'pct', schedules: 200, seed: 1 }, racy.setup);
    expect(r.violations.map((v) => v.kind)).toEqual(['unexpected-read']);
    const fixed = loadScenarioText(
      text.replace('          - { write: { at: buf, byte: 2 } }', '          - { read: { at: buf } }'),
      'fixed.yaml',
    );
    const clean = await explore({ strategy: 'pct', schedules: 200, seed: 1 }, fixed.setup);
    expect(clean.violations).toEqual([]);
  });

  it('munmap-race-access reaches both sides of its race: some accesses segfault, some land', async () => {
    const s = await loadScenarioFile(resolve(root, 'scenarios/munmap-race-access.yaml'));
    let faulted = 0;
    let clean = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const sim = new Simulation({ seed });
      const run = await sim.run(s.setup);
      expect(run.status).toBe('ok');
      const c = fileRunCounters(sim)!;
      if ((c.errors['-14'] ?? 0) > 0) faulted++;
      else clean++;
    }
    expect(faulted).toBeGreaterThan(0);
    expect(clean).toBeGreaterThan(0);
  });
});

describe('scenario files are plain data', () => {
  it('refuses YAML 1.1 tags that would make Buffers, dates or sets', () => {
    const [i] = issuesOf('description: !!binary aGVsbG8=\nprocesses: [{ name: app }]\n');
    expect(i.message).toMatch(/^YAML: Unresolved tag/);
  });

  it('refuses a fork child named like a declared process', () => {
    const [i] = issuesOf(base('          - { fork: { child: app } }'));
    expect(i).toMatchObject({ line: 9, path: 'processes[0].threads[0].ops[0].fork.child' });
    expect(i.message).toBe("fork child 'app' has the name of a declared process");
  });

  it('shows at most 20 problems in the message and keeps them all', () => {
    const keys = Array.from({ length: 30 }, (_, i) => `k${i}: 1`).join('\n');
    const err = (() => {
      try {
        loadScenarioText(`description: x\nprocesses: [{ name: a }]\n${keys}\n`, 'many.yaml');
      } catch (e) {
        return e as ScenarioFileError;
      }
      throw new Error('expected an error');
    })();
    expect(err.issues).toHaveLength(30);
    expect(err.message).toContain('... and 10 more');
  });
});
