/**
 * The checker behind every DeviceMirror: one per Kernel, installed on `k.hooks.onPteChange` when the
 * first mirror of that Kernel appears. It sees every device map, device access and CPU translation
 * change, and reports 'stale-mapping' (coherence) and 'device-use-after-free' (page lifetime). A
 * report names the VA, the pfn, the device, the step that installed the device mapping and the CPU
 * step that last changed the translation.
 *
 * It observes only: model and driver code never read it to decide anything.
 */
import type { Kernel } from '../mm/kernel.js';
import { pteTag, type Mm } from '../mm/mm.js';
import { checksOf } from './options.js';
import { coherenceProblem, lifetimeProblem, type DeviceEntry } from './coherence.js';

/** What the checker reads of a device mirror. */
export interface CheckedMirror {
  /** The mirror's name in violation messages (e.g. devA). */
  readonly name: string;
  /** The address space the device mirrors. */
  readonly mm: Mm;
  /** The device page table: page-aligned VA → entry. */
  readonly entries: ReadonlyMap<number, DeviceEntry>;
}

/**
 * A device's DMA list or pinned-page list (a umem's pfn list, a userptr's pinned pages): VA → page
 * the device may still DMA to. Page lifetime: none of them may be freed while listed.
 */
export interface CheckedDmaList {
  /** The list's name in violation messages. */
  readonly name: string;
  /** The address space whose pages are listed. */
  readonly mm: Mm;
  /** Page-aligned VA → pfn of each page the device may still DMA to. */
  readonly pages: ReadonlyMap<number, number>;
  /**
   * Where each entry was listed (VA → the step and thread that DMA-mapped it), when the driver
   * records it: a report then names that step as the one the CPU's free conflicts with.
   */
  readonly listedAt?: ReadonlyMap<
    number,
    {
      /** The scheduling step that listed the entry. */
      step: number;
      /** Name of the thread that listed it. */
      thread: string;
    }
  >;
}

interface CpuStep {
  step: number;
  thread: string;
}

const hex = (n: number): string => `0x${n.toString(16)}`;

/**
 * The dpor object of a checker's registry (which mirrors and DMA lists it watches): written
 * when a driver adds or removes one, read by every check that walks them.
 */
const REGISTRY = 'mirror-checker';

class MirrorChecker {
  readonly mirrors: CheckedMirror[] = [];
  readonly dmaLists: CheckedDmaList[] = [];
  /** Whether this checker observes the allocator's folio frees (installed with the first DMA list). */
  private observingFrees = false;
  readonly coherence: boolean;
  readonly lifetime: boolean;
  /** Per watched mm: the last CPU step that changed each page's translation. */
  private readonly lastCpuStep = new Map<Mm, Map<number, CpuStep>>();

  constructor(readonly k: Kernel) {
    const c = checksOf(k);
    this.coherence = c.coherence;
    this.lifetime = c.pageLifetime;
    if (this.coherence || this.lifetime)
      k.hooks.onPteChange.push((mm, va, huge) => this.onPteChange(mm, va, huge));
  }

  private onPteChange(mm: Mm, va: number, huge: boolean): void {
    // Which mirrors and lists exist is state the drivers change (add/remove): a read of it.
    this.k.sim.touch(REGISTRY, true);
    const steps = this.lastCpuStep.get(mm);
    if (steps === undefined) return;
    const k = this.k;
    const span = huge ? k.pmdSize : k.pageSize;
    const base = va - (va % span);
    const sim = k.sim;
    const who = { step: sim.steps, thread: sim.current?.name ?? '-' };
    for (let a = base; a < base + span; a += k.pageSize) steps.set(a, who);
    if (this.lifetime)
      for (let i = 0; i < this.dmaLists.length; i++) {
        const l = this.dmaLists[i];
        if (l.mm === mm) this.checkDmaList(l);
      }
    for (let i = 0; i < this.mirrors.length; i++) {
      const m = this.mirrors[i];
      if (m.mm !== mm) continue;
      // Looking up the device's entries is a read of its page table even when it finds none:
      // dpor must order it after a zap that emptied it (found by the commutation check).
      sim.touch(m.name, true);
      if (m.entries.size === 0) continue;
      for (let a = base; a < base + span; a += k.pageSize) {
        const e = m.entries.get(a);
        if (e !== undefined) this.check(m, a, e, 'cpu');
      }
    }
  }

  /** Checks one entry; `when` says which event asked. Reports (and ends the run) on a problem. */
  check(
    m: CheckedMirror,
    va: number,
    e: DeviceEntry,
    when: 'map' | 'access' | 'cpu',
    writeAccess = false,
  ): void {
    const k = this.k;
    // The check reads the CPU translation and the device entry: for dpor, the step did too.
    k.sim.touch(pteTag(m.mm, va), true);
    k.sim.touch(m.name, true);
    if (this.lifetime) {
      const why = lifetimeProblem(k, e);
      if (why !== null) this.report(m, va, e, when, 'device-use-after-free', why);
    }
    if (this.coherence) {
      const why = coherenceProblem(k, m.mm, va, e, writeAccess);
      if (why !== null) this.report(m, va, e, when, 'stale-mapping', why);
    }
  }

  private report(
    m: CheckedMirror,
    va: number,
    e: DeviceEntry,
    when: string,
    kind: string,
    why: string,
  ): never {
    const k = this.k;
    const cpu = this.lastCpuStep.get(m.mm)?.get(va);
    const perm = e.atomic ? 'atomic' : e.write ? 'write' : 'read';
    const cpuStep =
      cpu === undefined
        ? 'no CPU step changed it since the device mirrored it'
        : `step ${cpu.step} (${cpu.thread}) changed the CPU translation`;
    const event =
      when === 'map'
        ? 'when it was mapped'
        : when === 'access'
          ? 'at a device access'
          : 'after a CPU page-table change';
    const message =
      `${m.name} maps ${hex(va)} → pfn ${hex(e.pfn)} (${perm}), installed at step ${e.step} (${e.thread}); ` +
      `${cpuStep}: ${m.mm.pageTable.describe(va)}: ${why} (${event})`;
    const threads = [e.thread];
    if (cpu !== undefined && cpu.thread !== e.thread) threads.push(cpu.thread);
    // The step this one conflicts with: the CPU change the mapping missed, or (when a CPU change is
    // what found it) the device step that installed the mapping.
    const conflictStep = when === 'cpu' || cpu === undefined ? e.step : cpu.step;
    return k.sim.report(kind, message, {
      key: `${m.name} ${kind}: ${why} (${event})`,
      threads,
      objects: [hex(va), `pfn ${e.pfn}`, m.name],
      conflictStep,
      details: {
        device: m.name,
        va,
        pfn: e.pfn,
        permission: perm,
        mappedAtStep: e.step,
        mappedBy: e.thread,
        cpuStep: cpu?.step ?? null,
        cpuThread: cpu?.thread ?? null,
      },
    });
  }

  /** Page lifetime of a DMA list: every listed page still allocated. Reports (ends the run) if not. */
  checkDmaList(l: CheckedDmaList): void {
    // A read of the list (its driver touches it when it changes it), even when empty.
    this.k.sim.touch(l.name, true);
    for (const [va, pfn] of l.pages)
      if (this.k.phys.isFree(pfn)) this.reportDmaFreed(l, va, pfn, 'was freed');
  }

  private reportDmaFreed(l: CheckedDmaList, va: number, pfn: number, what: string): void {
    const k = this.k;
    const cpu = this.lastCpuStep.get(l.mm)?.get(va);
    const listed = l.listedAt?.get(va);
    k.sim.report(
      'device-use-after-free',
      `${l.name} still lists ${hex(va)} → pfn ${hex(pfn)} for DMA, but the page ${what}` +
        (listed !== undefined ? `, listed at step ${listed.step} (${listed.thread})` : '') +
        (cpu !== undefined ? ` (step ${cpu.step} (${cpu.thread}) changed the CPU translation)` : ''),
      {
        key: `${l.name} DMA list names a freed page`,
        threads: listed !== undefined ? [listed.thread] : undefined,
        objects: [hex(va), `pfn ${pfn}`, l.name],
        // The step the free conflicts with: where the page was listed (else the CPU's last change).
        conflictStep: listed?.step ?? cpu?.step,
        details: { list: l.name, va, pfn, cpuStep: cpu?.step ?? null, listedAtStep: listed?.step ?? null },
      },
    );
  }

  addDmaList(l: CheckedDmaList): void {
    this.k.sim.touch(REGISTRY);
    if (!this.lastCpuStep.has(l.mm)) this.lastCpuStep.set(l.mm, new Map());
    this.dmaLists.push(l);
    if (this.lifetime && !this.observingFrees) {
      this.observingFrees = true;
      this.k.phys.observeFreeFolio((head, nr) => this.onFreeFolio(head, nr));
    }
  }

  /** A folio is being freed: no watched DMA list may still name one of its pages. */
  private onFreeFolio(head: number, nr: number): void {
    const lists = this.dmaLists;
    this.k.sim.touch(REGISTRY, true);
    for (let i = 0; i < lists.length; i++) {
      this.k.sim.touch(lists[i].name, true);
      for (const [va, pfn] of lists[i].pages)
        if (pfn >= head && pfn < head + nr) this.reportDmaFreed(lists[i], va, pfn, 'is being freed');
    }
  }

  removeDmaList(l: CheckedDmaList): void {
    this.k.sim.touch(REGISTRY);
    const i = this.dmaLists.indexOf(l);
    if (i >= 0) this.dmaLists.splice(i, 1);
  }

  add(m: CheckedMirror): void {
    this.k.sim.touch(REGISTRY);
    if (!this.lastCpuStep.has(m.mm)) this.lastCpuStep.set(m.mm, new Map());
    this.mirrors.push(m);
  }

  remove(m: CheckedMirror): void {
    this.k.sim.touch(REGISTRY);
    const i = this.mirrors.indexOf(m);
    if (i >= 0) this.mirrors.splice(i, 1);
    if (!this.mirrors.some((o) => o.mm === m.mm) && !this.dmaLists.some((o) => o.mm === m.mm))
      this.lastCpuStep.delete(m.mm);
  }
}

/** Per run (Simulation.runMap): each kernel's checker. */
const CHECKERS = Symbol('mirror checkers');

function checkerOf(k: Kernel): MirrorChecker {
  const checkers = k.sim.runMap<Kernel, MirrorChecker>(CHECKERS);
  let c = checkers.get(k);
  if (c === undefined) {
    c = new MirrorChecker(k);
    checkers.set(k, c);
  }
  return c;
}

/** Starts checking `m` (a DeviceMirror's constructor calls it). */
export function watchMirror(k: Kernel, m: CheckedMirror): void {
  checkerOf(k).add(m);
}

/** Stops checking `m` (its device page table is gone). */
export function unwatchMirror(k: Kernel, m: CheckedMirror): void {
  k.sim.runLocal<Map<Kernel, MirrorChecker>>(CHECKERS)?.get(k)?.remove(m);
}

/** A device mapped `va` (mapPage): checks the new entry now. Atomic. */
export function checkDeviceMap(k: Kernel, m: CheckedMirror, va: number, e: DeviceEntry): void {
  checkerOf(k).check(m, va, e, 'map');
}

/** A device reads (or, with `write`, writes) memory through its entry for `va`: checks it. Atomic. */
export function checkDeviceAccess(
  k: Kernel,
  m: CheckedMirror,
  va: number,
  e: DeviceEntry,
  write: boolean,
): void {
  checkerOf(k).check(m, va, e, 'access', write);
}

/**
 * Starts checking a device's DMA (or pinned-page) list `l`: after every CPU translation change of
 * its mm, no listed page may be free (page lifetime). The driver keeps `l.pages` current. The
 * checker reads the list from other threads without the driver's lock, so dpor must see every
 * access: make `l.pages` a TouchedMap named `l.name` (`new TouchedMap(sim, l.name)`, as the ODP,
 * userptr-list and odp2019 drivers do), or touch `l.name` (`sim.touch(l.name)`) at each change
 * of a plain Map. Atomic.
 */
export function watchDmaList(k: Kernel, l: CheckedDmaList): void {
  checkerOf(k).addDmaList(l);
}

/** Stops checking `l` (the list is gone). Atomic. */
export function unwatchDmaList(k: Kernel, l: CheckedDmaList): void {
  k.sim.runLocal<Map<Kernel, MirrorChecker>>(CHECKERS)?.get(k)?.removeDmaList(l);
}

/** Checks `l` now (a driver about to start DMA from it). Atomic. */
export function checkDmaList(k: Kernel, l: CheckedDmaList): void {
  const c = checkerOf(k);
  if (c.lifetime) c.checkDmaList(l);
}

/** Whether the checkers of `k`'s run are on (for tests and reports). */
export function mirrorChecksOn(k: Kernel): {
  /** The coherence checker is on. */
  coherence: boolean;
  /** The page-lifetime checker is on. */
  pageLifetime: boolean;
  /** The lost-writes checker is on. */
  lostWrites: boolean;
} {
  const c = checkerOf(k);
  return { coherence: c.coherence, pageLifetime: c.lifetime, lostWrites: checksOf(k).lostWrites };
}
