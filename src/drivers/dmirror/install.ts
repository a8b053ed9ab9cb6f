/**
 * `k.createDmirror(options)` on Kernel. src/mm does not import drivers (imports point down), so the
 * method is declared by module augmentation and installed on Kernel.prototype when this module is
 * loaded: importing the package root, 'mirrorlab/drivers' or src/drivers/dmirror does it.
 */
import { Kernel } from '../../mm/kernel.js';
import { DmirrorDevice, type DmirrorOptions } from './device.js';

declare module '../../mm/kernel.js' {
  interface Kernel {
    /**
     * A new HMM test device (lib/test_hmm.c): `memory: 'private'` (hmm_dmirror0/1, the default) or
     * `'coherent'` (hmm_dmirror2/3). Each call is a distinct device with its own pagemap owner.
     * Callable from setup or a thread; never sleeps. Throws TypeError / RangeError for bad options.
     */
    createDmirror(options?: DmirrorOptions): DmirrorDevice;
  }
}

Kernel.prototype.createDmirror = function (this: Kernel, options?: DmirrorOptions): DmirrorDevice {
  return new DmirrorDevice(this, options);
};
