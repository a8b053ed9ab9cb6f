import { describe, expect, it } from 'vitest';
import { Simulation } from '../../src/sim/simulation.js';
import { Kernel } from '../../src/mm/kernel.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../src/mm/constants.js';
import { DeviceMirror } from '../../src/drivers/mirror/device-mirror.js';
import type { CheckOptions } from '../../src/check/options.js';

/** A user's driver whose fault path never makes progress (it always asks to be retried). */
class SpinningDevice extends DeviceMirror {
  faults = 0;
  protected override async fault(): Promise<number> {
    this.faults++;
    await this.sim.sleep(1_000_000, 'spin fault'); // 1 ms of virtual time per fault
    return 0;
  }
}

function run(checks: CheckOptions | undefined, maxSteps = 20_000) {
  return new Simulation({ seed: 1, maxSteps }).run((sim) => {
    const k = new Kernel(sim, { memoryPages: 32, checks });
    const p = k.createProcess('app');
    sim.spawn('gpu', async () => {
      const a = await p.mmap({
        length: k.pageSize,
        prot: PROT_READ | PROT_WRITE,
        flags: MAP_PRIVATE | MAP_ANONYMOUS,
      });
      const d = new SpinningDevice(k, 'gpu7', p);
      await d.access(a, 'read', 1);
    });
  });
}

describe('liveness checker', () => {
  it('a device access that keeps faulting is a livelock at the fault bound, naming device and VA', async () => {
    const r = await run({ maxDeviceFaults: 5 });
    expect(r.violations.map((v) => v.kind)).toEqual(['livelock']);
    const v = r.violations[0];
    expect(v.message).toMatch(
      /^gpu7: the device fault on 0x[0-9a-f]+ neither finished nor failed within 5 faults \(5 faults in 5\.000 ms of virtual time, read access\)$/,
    );
    expect(v.signature).toBe('livelock: gpu# device fault livelock (device access)');
    expect(v.objects?.[1]).toBe('gpu7');
  });

  it('or at the virtual-time bound', async () => {
    const r = await run({ maxDeviceFaultMs: 3 });
    expect(r.violations[0]?.message).toMatch(
      /within 3 ms \(3 faults in 3\.\d{3} ms of virtual time, read access\)$/,
    );
  });

  it('switched off, the endless access runs into the step limit, which names the thread', async () => {
    const r = await run({ liveness: false }, 3000);
    expect(r.status).toBe('step-limit');
    expect(r.violations[0]?.message).toMatch(
      /thread gpu never ends: keeps running \(\d+ steps, latest '(spin fault|device_access gpu7 0x[0-9a-f]+)'\)/,
    );
  });

  it('a bad bound is a clear error naming the option', async () => {
    // Read when the first device appears (inside the thread that creates it): the run ends in error.
    const r = await run({ maxDeviceFaults: 0 });
    expect(r.status).toBe('error');
    expect(r.violations[0]?.message).toMatch(
      /Kernel option checks\.maxDeviceFaults must be an integer >= 1, got 0/,
    );
  });
});
