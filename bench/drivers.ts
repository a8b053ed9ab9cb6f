/**
 * Driver designs side by side (issue 10):
 *  1. per device fault: scheduler steps and virtual time for GPU SVM (drm_gpusvm, nouveau's 2019
 *     flow) against ODP (a pre-registered MR) on one access pattern — seed 002's trade-off;
 *  2. notifier count and memory as the touched address space grows from 1 MiB to 64 GiB;
 *  3. seed 003's three retry policies under the same adversarial CPU: faults per virtual second.
 *
 * Run with `npm run bench` (or `node --expose-gc --import tsx bench/drivers.ts`).
 */
import { Simulation } from '../src/sim/simulation.js';
import { DEFAULT_STEP_NS } from '../src/sim/options.js';
import { Kernel } from '../src/mm/kernel.js';
import { MAP_ANONYMOUS, MAP_NORESERVE, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../src/mm/constants.js';
import '../src/drivers/index.js';
import type { FaultLoopStats } from '../src/drivers/fault-retry.js';
import type { AttachedMirror } from '../src/drivers/registry.js';
import { livelockScenario, type LivelockOutcome } from '../src/drivers/livelock.js';
import type { GpuSvm } from '../src/drivers/gpusvm/gpusvm.js';
import type { ImplicitOdpMr } from '../src/drivers/odp/implicit.js';
import type { OdpMr } from '../src/drivers/odp/mr.js';
import { recordBenchRow } from './lib/results.js';
import { gc } from './lib/gc.js';

const PAGE = 4096;
const MiB = 1 << 20;
const GiB = 1 << 30;

type Design = 'odp' | 'odp-implicit' | 'gpusvm' | 'nouveau2019';

interface Run {
  steps: number;
  virtualNs: number;
  faults: number;
  notifiers: number;
  wallMs: number;
  heapBytes: number;
  /** Per-page slots the driver keeps (ODP pfn lists, drm_gpusvm ranges' pfns): deterministic memory. */
  slots: number;
}

/**
 * One run: a process maps `spanBytes`, the CPU touches one page every `strideBytes`, the device
 * (of `design`) reads each touched page once. Counts what the device part cost.
 */
async function deviceRun(design: Design, spanBytes: number, strideBytes: number): Promise<Run> {
  const out: Run = { steps: 0, virtualNs: 0, faults: 0, notifiers: 0, wallMs: 0, heapBytes: 0, slots: 0 };
  gc();
  const mem = (): number => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  const heap0 = mem();
  const t0 = performance.now();
  const sim = new Simulation({ seed: 1, maxSteps: 50_000_000 });
  let keep: unknown = null;
  const r = await sim.run((s) => {
    const k = new Kernel(s, { memoryPages: 8192 });
    const p = k.createProcess('app');
    s.spawn('app', async () => {
      const a = await p.mmap({
        length: spanBytes,
        prot: PROT_READ | PROT_WRITE,
        flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
      });
      if (a < 0) throw new Error(`mmap of ${spanBytes} bytes failed: ${a}`);
      for (let off = 0; off < spanBytes; off += strideBytes) await p.write(a + off, new Uint8Array([1]));
      const steps0 = s.steps;
      const ns0 = s.now();
      let m: AttachedMirror;
      let stats: FaultLoopStats;
      if (design === 'odp' || design === 'odp-implicit') {
        const nic = await k.createDevice('odp');
        stats = (nic as unknown as { stats: FaultLoopStats }).stats;
        m =
          design === 'odp'
            ? await nic.attach(p, { start: a, length: spanBytes })
            : await nic.attach(p, { implicit: true });
      } else {
        const gpu = await k.createDevice('gpusvm', {
          flavor: design === 'gpusvm' ? 'drm_gpusvm' : 'nouveau2019',
        });
        stats = (gpu as unknown as { stats: FaultLoopStats }).stats;
        m = await gpu.attach(p);
      }
      for (let off = 0; off < spanBytes; off += strideBytes) {
        const got = await m.access(a + off, 'read', 1);
        if (!(got instanceof Uint8Array)) throw new Error(`${design}: device read failed: ${String(got)}`);
      }
      out.steps = s.steps - steps0;
      out.virtualNs = s.now() - ns0;
      out.faults = stats.faults;
      out.notifiers = p.mm.notifierSubscriptions?.itree.size ?? 0;
      if (design === 'gpusvm') out.notifiers = (m as GpuSvm).notifiers.size;
      if (design === 'odp-implicit') out.notifiers = (m as ImplicitOdpMr).children.size;
      if (design === 'odp') out.slots = (m as OdpMr).umem.pfnList.length;
      if (design === 'odp-implicit')
        for (const c of (m as ImplicitOdpMr).children.values()) out.slots += c.umem.pfnList.length;
      if (design === 'gpusvm')
        for (const n of (m as GpuSvm).notifiers.values())
          for (const r of n.ranges.values()) out.slots += r.pfns.length;
      keep = m;
      gc();
      out.heapBytes = Math.max(0, mem() - heap0);
    });
  });
  if (r.status !== 'ok')
    throw new Error(`${design}: run ended ${r.status}: ${r.violations[0]?.message ?? ''}`);
  out.wallMs = performance.now() - t0;
  void keep;
  return out;
}

function pad(s: string | number, n: number): string {
  return String(s).padStart(n);
}

function human(bytes: number): string {
  if (bytes >= GiB) return `${bytes / GiB} GiB`;
  if (bytes >= MiB) return `${bytes / MiB} MiB`;
  return `${bytes / 1024} KiB`;
}

export async function benchDrivers(): Promise<void> {
  console.log(
    'drivers: per device fault, the same pattern (1 MiB, every page touched, device reads each page;',
  );
  console.log(
    `virtual time at ${DEFAULT_STEP_NS} ns per scheduler step, no device latency; attach included)`,
  );
  console.log(
    `${'design'.padEnd(14)}${pad('faults', 8)}${pad('steps', 10)}${pad('steps/fault', 13)}${pad('steps/page', 12)}${pad('virt us', 10)}${pad('us/fault', 10)}${pad('notifiers', 11)}${pad('wall ms', 9)}`,
  );
  for (const d of ['odp', 'odp-implicit', 'gpusvm', 'nouveau2019'] as const) {
    const r = await deviceRun(d, MiB, PAGE);
    console.log(
      `${d.padEnd(14)}${pad(r.faults, 8)}${pad(r.steps, 10)}${pad((r.steps / r.faults).toFixed(1), 13)}${pad((r.steps / 256).toFixed(1), 12)}${pad((r.virtualNs / 1000).toFixed(1), 10)}${pad((r.virtualNs / 1000 / r.faults).toFixed(2), 10)}${pad(r.notifiers, 11)}${pad(r.wallMs.toFixed(0), 9)}`,
    );
  }

  console.log(
    '\ndrivers: notifiers and memory as the touched address space grows (at most 256 touched pages, evenly spread;',
  );
  console.log(
    'slots: per-page entries the driver keeps (pfn/DMA lists), 16 B each in the kernel; heap: measured, noisy)',
  );
  console.log(
    `${'span'.padEnd(10)}${'design'.padEnd(14)}${pad('faults', 8)}${pad('notifiers', 11)}${pad('slots', 10)}${pad('slot KiB', 10)}${pad('heap KiB', 10)}${pad('steps', 10)}${pad('us/fault', 10)}${pad('wall ms', 9)}`,
  );
  for (const span of [MiB, 64 * MiB, 4 * GiB, 64 * GiB]) {
    const stride = Math.max(PAGE, span / 256);
    for (const d of ['odp', 'odp-implicit', 'gpusvm', 'nouveau2019'] as const) {
      const r = await deviceRun(d, span, stride);
      recordBenchRow('drivers', 'growth', { spanBytes: span, design: d, ...r });
      console.log(
        `${human(span).padEnd(10)}${d.padEnd(14)}${pad(r.faults, 8)}${pad(r.notifiers, 11)}${pad(r.slots, 10)}${pad(((r.slots * 16) / 1024).toFixed(0), 10)}${pad((r.heapBytes / 1024).toFixed(0), 10)}${pad(r.steps, 10)}${pad((r.virtualNs / 1000 / r.faults).toFixed(2), 10)}${pad(r.wallMs.toFixed(0), 9)}`,
      );
    }
  }

  console.log(
    "\ndrivers: seed 003's retry policies, a CPU zapping the faulted page every 10 us, each walk 25 us",
  );
  console.log(
    '(timeout budget 2 ms, liveness bound 20 ms, 20 device reads; HMM_RANGE_DEFAULT_TIMEOUT is 1000 ms)',
  );
  console.log(
    `${'driver'.padEnd(8)}${'policy'.padEnd(22)}${pad('ok', 4)}${pad('failed', 8)}${pad('attempts', 10)}${pad('virtual ms', 12)}${pad('faults/vs', 11)}  outcome`,
  );
  for (const driver of ['odp', 'gpusvm'] as const) {
    for (const policy of ['none', 'timeout', 'mmap-write-fallback'] as const) {
      const outcome = {} as LivelockOutcome;
      const sim = new Simulation({ seed: 1, maxSteps: 5_000_000 });
      const r = await sim.run(livelockScenario({ driver, policy, outcome, accesses: 20 }));
      const st = outcome.stats!;
      const vms = (r.violations.length ? r.violations[0].timeNs : outcome.elapsedNs) / 1e6;
      const perS = vms > 0 ? (st.completed / (vms / 1000)).toFixed(0) : '-';
      console.log(
        `${driver.padEnd(8)}${policy.padEnd(22)}${pad(outcome.accessesOk, 4)}${pad(outcome.accessesFailed, 8)}${pad(st.attempts, 10)}${pad(vms.toFixed(2), 12)}${pad(perS, 11)}  ${r.violations[0]?.kind ?? r.status}`,
      );
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchDrivers();
