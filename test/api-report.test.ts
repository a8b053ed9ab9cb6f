import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { collectApi, REGENERATE, renderReport, REPORT_PATH } from '../scripts/api-report.js';

const points = collectApi();

/** The checked-in API report is the public surface; a change to either must show in the other. */
describe('API report (api/mirrorlab.api.md)', () => {
  it('is current', () => {
    let onDisk = '';
    try {
      onDisk = readFileSync(REPORT_PATH, 'utf8');
    } catch {
      // a missing report is stale
    }
    const current = renderReport(points);
    if (onDisk !== current) {
      expect.fail(`api/mirrorlab.api.md is stale: run \`${REGENERATE}\`, then review and commit the diff`);
    }
  });

  it('covers the root and one subpath per extension folder that has an index.ts', () => {
    // The pattern: src/<folder>/index.ts is published as mirrorlab/<folder> (dist/<folder>/index.js).
    const reserved = ['sim', 'mm', 'notifier', 'hmm', 'drivers', 'check', 'explore'];
    const present = reserved.filter((f) => existsSync(join(import.meta.dirname, '..', 'src', f, 'index.ts')));
    expect(points.map((p) => [p.subpath, p.source])).toEqual([
      ['mirrorlab', 'src/index.ts'],
      ...present.map((f) => [`mirrorlab/${f}`, `src/${f}/index.ts`]),
    ]);
    expect(present).toEqual(expect.arrayContaining(['sim', 'mm', 'notifier']));
  });

  it('lists exactly the names each module exports at run time as runtime names', async () => {
    for (const p of points) {
      const mod = (await import(join(import.meta.dirname, '..', p.source))) as Record<string, unknown>;
      const runtime = p.entries.filter((e) => !e.typeOnly).map((e) => e.name);
      expect(runtime, p.subpath).toEqual(Object.keys(mod).sort());
      for (const e of p.entries.filter((x) => x.kind === 'function'))
        expect(typeof mod[e.name], e.name).toBe('function');
      for (const e of p.entries.filter((x) => x.kind === 'class' && !x.typeOnly))
        expect(typeof mod[e.name], e.name).toBe('function');
    }
  });

  it('keeps the root small: the sketch and what its forms take, no extension points', () => {
    const names = new Set(points[0].entries.map((e) => e.name));
    for (const internal of [
      'ptepSet',
      'zapReleaseEntry',
      'PhysicalMemory',
      'mmuNotifierSubscriptionsDestroy',
    ])
      expect(names.has(internal), internal).toBe(false);
    expect(points[0].entries.filter((e) => !e.typeOnly).length).toBeLessThan(150); // a guard against `export *` of a whole subsystem;
    const kinds = Object.fromEntries(
      points[0].entries.map((e) => [e.name, e.typeOnly ? `type-only ${e.kind}` : e.kind]),
    );
    expect(kinds).toMatchObject({
      explore: 'function',
      replay: 'function',
      Kernel: 'class',
      Mutex: 'class',
      Simulation: 'type-only class',
      Process: 'type-only class',
      Violation: 'type-only interface',
      RunResult: 'type-only interface',
      PROT_READ: 'const',
    });
  });
});
