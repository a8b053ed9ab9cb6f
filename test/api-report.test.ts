import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as root from '../src/index.js';
import * as mm from '../src/mm/index.js';
import * as notifier from '../src/notifier/index.js';
import * as sim from '../src/sim/index.js';
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

  it('covers the root and each subpath of package.json "exports"', () => {
    expect(points.map((p) => [p.subpath, p.source])).toEqual([
      ['mirrorlab', 'src/index.ts'],
      ['mirrorlab/sim', 'src/sim/index.ts'],
      ['mirrorlab/mm', 'src/mm/index.ts'],
      ['mirrorlab/notifier', 'src/notifier/index.ts'],
    ]);
  });

  it('lists exactly the names each module exports at run time as runtime names', () => {
    const modules: Record<string, object> = {
      mirrorlab: root,
      'mirrorlab/sim': sim,
      'mirrorlab/mm': mm,
      'mirrorlab/notifier': notifier,
    };
    for (const p of points) {
      const runtime = p.entries.filter((e) => !e.typeOnly).map((e) => e.name);
      expect(runtime, p.subpath).toEqual(Object.keys(modules[p.subpath]).sort());
      for (const e of p.entries.filter((x) => x.kind === 'function'))
        expect(typeof (modules[p.subpath] as Record<string, unknown>)[e.name], e.name).toBe('function');
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
    expect(points[0].entries.filter((e) => !e.typeOnly).length).toBeLessThan(130);
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
