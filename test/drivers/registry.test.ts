import { describe, expect, it } from 'vitest';
import { Simulation } from '../../src/sim/simulation.js';
import { Kernel } from '../../src/mm/kernel.js';
import type { Process } from '../../src/mm/process.js';
import {
  DriverError,
  createDevice,
  driverHelp,
  getDriver,
  listDrivers,
  registerDriver,
  type AttachedMirror,
  type Device,
} from '../../src/drivers/registry.js';

/** A driver for the registry tests only: records what it was made with. */
registerDriver({
  name: 'registry-test',
  summary: 'a driver for the registry tests',
  era: 'test',
  options: {
    pages: { type: 'number', integer: true, min: 1, default: 4, doc: 'device pages' },
    retry: { type: 'enum', values: ['none', 'timeout'], default: 'timeout', doc: 'retry policy' },
    chunks: { type: 'number-list', integer: true, min: 4096, doc: 'chunk sizes' },
  },
  attachOptions: { start: { type: 'number', integer: true, min: 0, doc: 'first address' } },
  create(k, name, options) {
    const dev: Device & { options: Record<string, unknown> } = {
      name,
      driver: 'registry-test',
      kernel: k,
      options,
      async attach(_p: Process): Promise<AttachedMirror> {
        return { name: `${name}.m`, access: async () => 0, detach: async () => {} };
      },
    };
    return dev;
  },
});

function kernel(): Kernel {
  return new Kernel(new Simulation({ seed: 1 }), { memoryPages: 64 });
}

describe('driver registry', () => {
  it('makes devices through k.createDevice with defaults filled in and distinct names', async () => {
    const k = kernel();
    const a = (await k.createDevice('registry-test')) as Device & { options: Record<string, unknown> };
    const b = (await k.createDevice('registry-test', { name: 'gpu7', pages: 9 })) as Device & {
      options: Record<string, unknown>;
    };
    expect(a.name).toBe('registry-test0');
    expect(a.options).toEqual({ pages: 4, retry: 'timeout' });
    expect(b.name).toBe('gpu7');
    expect(b.options).toEqual({ pages: 9, retry: 'timeout' });
    expect((await createDevice(k, 'registry-test')).name).toBe('registry-test2');
    expect(listDrivers().map((d) => d.name)).toContain('registry-test');
  });

  it('rejects an unknown driver listing the drivers that exist', async () => {
    const k = kernel();
    await expect(k.createDevice('nvidia-uvm')).rejects.toThrow(
      /unknown driver 'nvidia-uvm'; drivers: .*registry-test/,
    );
    expect(() => getDriver('x')).toThrow(DriverError);
  });

  it('rejects unknown options and bad values, naming the option and what is expected', async () => {
    const k = kernel();
    await expect(k.createDevice('registry-test', { page: 3 })).rejects.toThrow(
      "createDevice('registry-test'): unknown option 'page'; options: pages, retry, chunks",
    );
    await expect(k.createDevice('registry-test', { pages: 0 })).rejects.toThrow(
      /option 'pages' must be an integer >= 1, got 0/,
    );
    await expect(k.createDevice('registry-test', { retry: 'forever' })).rejects.toThrow(
      /option 'retry' must be one of 'none', 'timeout', got 'forever'/,
    );
    await expect(k.createDevice('registry-test', { chunks: [] })).rejects.toThrow(
      /option 'chunks' must be a non-empty array of integers >= 4096/,
    );
    await expect(k.createDevice('registry-test', { name: '' })).rejects.toThrow(/option 'name'/);
    await expect(k.createDevice('registry-test', 5 as unknown as object)).rejects.toThrow(
      /options must be an object, got 5/,
    );
  });

  it('refuses a second registration under one name and describes options', () => {
    expect(() => registerDriver({ ...getDriver('registry-test') })).toThrow(/registered twice/);
    const help = driverHelp('registry-test').join('\n');
    expect(help).toContain('pages: an integer >= 1 (default 4) — device pages');
    expect(help).toContain("retry: one of 'none', 'timeout' (default 'timeout')");
  });
});
