/**
 * The HMM test device in the driver registry: `await k.createDevice('dmirror', { memory })` gives a
 * Device whose `attach(p)` opens the device file for `p` (an open Dmirror: `access`, `command`,
 * `detach` = close). The same device as `k.createDmirror`.
 */
import { registerDriver, type AttachedMirror, type Device } from '../registry.js';
import type { Kernel } from '../../mm/kernel.js';
import type { Process } from '../../mm/process.js';
import { DmirrorDevice, DMIRROR_MISTAKES, type DmirrorMistakes } from './device.js';
import { DEVMEM_CHUNK_PAGES } from './constants.js';

class DmirrorRegistryDevice implements Device {
  readonly driver = 'dmirror';
  constructor(
    readonly kernel: Kernel,
    readonly name: string,
    readonly dev: DmirrorDevice,
  ) {}

  /** open() of the device file by `p`. May sleep. */
  async attach(p: Process): Promise<AttachedMirror> {
    return this.dev.open(p);
  }
}

registerDriver({
  name: 'dmirror',
  summary: "the kernel's HMM test device (lib/test_hmm.c): hmm_range_fault, migration, snapshot, exclusive",
  era: 'test',
  options: {
    memory: { type: 'enum', values: ['private', 'coherent'], default: 'private', doc: 'device memory kind' },
    chunkPages: {
      type: 'number',
      integer: true,
      min: 1,
      default: DEVMEM_CHUNK_PAGES,
      doc: 'pages per chunk of device memory (256 MiB upstream)',
    },
    ...Object.fromEntries(
      DMIRROR_MISTAKES.map((m) => [
        m,
        { type: 'boolean', default: false, doc: `planted mistake (DmirrorMistakes.${m})` },
      ]),
    ),
  },
  attachOptions: {},
  create(k, name, options) {
    const mistakes: DmirrorMistakes = {};
    for (const m of DMIRROR_MISTAKES) if (options[m] === true) mistakes[m] = true;
    const dev = new DmirrorDevice(k, {
      name,
      memory: options.memory as 'private' | 'coherent',
      chunkPages: options.chunkPages as number,
      mistakes,
    });
    return new DmirrorRegistryDevice(k, name, dev);
  },
});
