/**
 * The modern drivers under the shared mirror workload (src/drivers/mirror-workload.ts), attached as
 * their registered scenarios attach them, with the workload's options (exit on, for ODP): for the
 * exploration tests in this folder.
 */
import { mirrorWorkload, type MirrorWorkloadOptions } from '../../src/drivers/mirror-workload.js';
import type { SetupFn } from '../../src/sim/simulation.js';
import '../../src/drivers/index.js';

/** The modern drivers under the workload, attached as their registered scenarios attach them. */
export function modernWorkload(
  driver: 'odp' | 'gpusvm' | 'vram' | 'nouveau2019',
  o: MirrorWorkloadOptions = {},
): SetupFn {
  if (driver === 'odp')
    return mirrorWorkload(
      'mlx0',
      async (k, p, addr, length) =>
        (await k.createDevice('odp', { name: 'mlx0' })).attach(p, { start: addr, length }),
      o,
    );
  return mirrorWorkload(
    'gpu0',
    async (k, p) => {
      const ps = k.pageSize;
      const gpu = await k.createDevice('gpusvm', {
        name: 'gpu0',
        flavor: driver === 'nouveau2019' ? 'nouveau2019' : 'drm_gpusvm',
        notifierSize: 1 << 21,
        chunkSizes: [2 * ps, ps],
        ...(driver === 'vram' ? { vramPages: 4, migrateOnFault: true } : {}),
      });
      return gpu.attach(p);
    },
    o,
  );
}
