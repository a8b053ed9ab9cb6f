import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLI_REFERENCE_PATH, renderCliReference } from '../scripts/cli-reference.js';
import {
  DEVIATIONS_PATH,
  deviationNotes,
  firstName,
  kernelMap,
  README_PATH,
  readmeWithKernelMap,
  renderDeviations,
} from '../scripts/kernel-map.js';
import { renderScenarioReference, SCENARIO_REFERENCE_PATH } from '../scripts/scenario-reference.js';
import { scenarioJsonSchema } from '../src/scenario/file/schema.js';

const REGENERATE = 'npm run docs:gen';
const read = (path: string): string => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return ''; // a missing file is stale
  }
};

/** The generated references are checked in; each must match what its generator renders today. */
describe('generated references are current', () => {
  it('docs/scenario-format.md (from the scenario JSON Schema)', () => {
    if (read(SCENARIO_REFERENCE_PATH) !== renderScenarioReference())
      expect.fail(`docs/scenario-format.md is stale: run \`${REGENERATE}\`, then review and commit the diff`);
  });

  it("docs/cli.md (from commander's help of src/cli/main.ts)", async () => {
    if (read(CLI_REFERENCE_PATH) !== (await renderCliReference()))
      expect.fail(`docs/cli.md is stale: run \`${REGENERATE}\`, then review and commit the diff`);
  });

  it('the README kernel map and docs/deviations.md (from src)', () => {
    const readme = read(README_PATH);
    if (readmeWithKernelMap(readme) !== readme)
      expect.fail(`the README's kernel map is stale: run \`${REGENERATE}\`, then review and commit the diff`);
    if (read(DEVIATIONS_PATH) !== renderDeviations())
      expect.fail(`docs/deviations.md is stale: run \`${REGENERATE}\`, then review and commit the diff`);
  });
});

describe('what the references say', () => {
  it('the scenario reference has a row for every key of every object the schema defines', () => {
    const doc = renderScenarioReference();
    const keys = new Set<string>();
    const walk = (n: unknown): void => {
      if (Array.isArray(n)) n.forEach(walk);
      else if (n !== null && typeof n === 'object') {
        const o = n as Record<string, unknown>;
        if (o.properties !== undefined && typeof o.properties === 'object')
          for (const k of Object.keys(o.properties as object)) keys.add(k);
        Object.values(o).forEach(walk);
      }
    };
    walk(scenarioJsonSchema);
    expect(keys.size).toBeGreaterThan(30);
    for (const k of keys) expect(doc, k).toMatch(new RegExp(`\\| \`${k.replace(/[-.]/g, '\\$&')}\` \\|`));
    // Enums are listed in full, limits with their numbers.
    expect(doc).toContain('one of `dmirror`, `odp`, `gpusvm`');
    expect(doc).toContain(
      '| `processes` | yes | list of: object, see [`processes[]`](#processes) (1–64 items) |',
    );
  });

  it('the CLI reference shows every command with its options', async () => {
    const doc = await renderCliReference();
    for (const cmd of ['list', 'explore', 'replay', 'run', 'schema', 'report', 'explain'])
      expect(doc).toContain(`## \`mirrorlab ${cmd}\``);
    expect(doc).toMatch(/Usage: mirrorlab explore \[options\] <scenario>/);
    expect(doc).toContain('--schedules <n>');
  });

  it('the kernel map locates every name it lists in the file that declares it', () => {
    const map = kernelMap();
    const row = (kernel: string) => map.find((e) => e.kernel.startsWith(kernel));
    expect(row('mmu_interval_read_begin')).toMatchObject({ file: 'src/notifier/interval.ts' });
    expect(row('handle_mm_fault')).toMatchObject({ model: 'handleMmFault', file: 'src/mm/fault.ts' });
    expect(row('mmu_interval_notifier_remove')).toMatchObject({ model: 'sub.remove()' });
    expect(row('dmirror_devmem_fault')).toMatchObject({ file: 'src/drivers/dmirror/device.ts' });
    // Every entry that names code (not prose such as "the fault path") is found where it is declared.
    const lost = map.filter((e) => firstName(e.model) !== undefined && e.file === undefined);
    expect(lost.map((e) => `src/${e.folder}: ${e.kernel} → ${e.model}`)).toEqual([]);
    expect(new Set(map.map((e) => e.folder))).toEqual(
      new Set(['notifier', 'mm', 'hmm', 'drivers/dmirror', 'drivers/gpusvm', 'drivers/odp']),
    );
  });

  it('every Deviation note in src is collected with its text', () => {
    const notes = deviationNotes();
    expect(notes.length).toBeGreaterThan(20);
    for (const n of notes) expect(n.text, `${n.file}:${n.line}`).toMatch(/Deviation/);
    expect(notes).toContainEqual(
      expect.objectContaining({
        file: 'src/notifier/register.ts',
        text: 'Deviation: allocation never fails (no -ENOMEM).',
      }),
    );
  });
});
