/**
 * The device adapter, with a stand-in factory (the real driver registry is built elsewhere): a
 * device scenario creates each device with its driver name and options, attaches it to the whole
 * process or to the named mapping's range, and its access threads reach the right addresses.
 * Without a factory the same file is refused with a clear message.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Process } from '../../../src/mm/process.js';
import { setDeviceFactory, type DeviceAttachment } from '../../../src/scenario/file/devices.js';
import { DriverUnavailableError } from '../../../src/scenario/file/errors.js';
import { assertRunnable, loadScenarioText } from '../../../src/scenario/file/load.js';
import { explore } from '../../../src/explore/index.js';
import { Simulation } from '../../../src/sim/simulation.js';

const TEXT = `description: a stand-in device reads and writes through the CPU
processes:
  - name: app
    mappings:
      - { name: pad, pages: 1, prot: [read], flags: [private, anonymous] }
      - { name: buf, pages: 4, prot: [read, write], flags: [private, anonymous] }
    threads:
      - name: cpu0
        ops: [{ write: { at: buf, page: 0, pages: 4, byte: 5 } }]
devices:
  - { name: whole, driver: gpusvm, attach: app, options: { vramPages: 8 } }
  - { name: region, driver: odp, attach: { process: app, mapping: buf, access: r } }
accesses:
  - { device: whole, name: gpu, ops: [{ write: { at: buf, page: 3, byte: 9 } }, { read: { at: buf, page: 3, byte: 9 } }] }
  - { device: region, name: nic, ops: [{ read: { at: buf, page: 1, pages: 2 } }, { atomic: { at: buf, page: 0, add: 2 } }] }
`;

interface Call {
  device: string;
  what: string;
  va?: number;
  region?: { start: number; length: number; access: string };
}

function standIn(calls: Call[]): void {
  setDeviceFactory((_k, driver, options) => {
    const device = `${String(options.name)}(${driver})`;
    calls.push({ device, what: `create ${JSON.stringify(options)}` });
    return Promise.resolve({
      attach(p: Process, region?: { start: number; length: number; access: 'r' | 'rw' }) {
        calls.push({ device, what: 'attach', region });
        const att = {
          async access(va: number, kind: string, arg: unknown): Promise<unknown> {
            calls.push({ device, what: kind, va });
            if (kind === 'read') return p.read(va, arg as number);
            if (kind === 'write') return p.write(va, arg as Uint8Array);
            return 0;
          },
        };
        return Promise.resolve(att as DeviceAttachment);
      },
    });
  });
}

afterEach(() => setDeviceFactory(null));

describe('device scenarios through the adapter', () => {
  it('without a driver registry the file loads but is refused as not runnable', () => {
    const s = loadScenarioText(TEXT, 'dev.yaml');
    expect(s.runnable).toBe(false);
    expect(() => assertRunnable(s)).toThrow(DriverUnavailableError);
    expect(() => assertRunnable(s)).toThrow("driver 'gpusvm' is not available in this build");
  });

  it('creates, attaches and accesses through the factory at the mapped addresses', async () => {
    const calls: Call[] = [];
    standIn(calls);
    const s = loadScenarioText(TEXT, 'dev.yaml');
    expect(s.runnable).toBe(true);
    const run = await new Simulation({ seed: 1 }).run(s.setup);
    expect(run.violations).toEqual([]);
    expect(calls.filter((c) => c.what.startsWith('create')).map((c) => c.what)).toEqual([
      'create {"name":"whole","vramPages":8}',
      'create {"name":"region"}',
    ]);
    const attach = calls.filter((c) => c.what === 'attach');
    expect(attach[0]).toMatchObject({ device: 'whole(gpusvm)', region: undefined });
    const region = attach[1].region!;
    expect(region).toMatchObject({ length: 4 * 4096, access: 'r' });
    const vas = (d: string, what: string) =>
      calls.filter((c) => c.device === d && c.what === what).map((c) => c.va);
    expect(vas('whole(gpusvm)', 'write')).toEqual([region.start + 3 * 4096]);
    expect(vas('region(odp)', 'read')).toEqual([region.start + 4096, region.start + 2 * 4096]);
    expect(vas('region(odp)', 'atomic')).toEqual([region.start]);
  });

  it('a device read that disagrees with the expected byte is found by exploration', async () => {
    standIn([]);
    // cpu0 writes 5 over the page the device wrote 9 to: some schedule reads 5.
    const s = loadScenarioText(TEXT, 'dev.yaml');
    const r = await explore({ strategy: 'pct', schedules: 300, seed: 1 }, s.setup);
    expect(r.violations.map((v) => v.kind)).toEqual(['unexpected-read']);
    expect(r.violations[0].message).toMatch(/^device whole read of buf page 3 read 5, expected 9$/);
  });
});
