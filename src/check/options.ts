/**
 * Which checkers watch a run's device mirrors. A Kernel option (`new Kernel(sim, { checks })`), so it
 * belongs to the run that built the Kernel and never to a module global; and, for an exploration of a
 * scenario whose Kernel it does not build, a run switch per checker (`switches: { 'check.lostWrites':
 * false }` of explore, simulate or Simulation), recorded in the replay token. A checker runs when
 * neither turns it off.
 */
import type { Kernel } from '../mm/kernel.js';
import { defineSwitch } from '../sim/switches.js';

/** The run switches of the checkers (on by default; off turns the checker off for the whole run). */
export const CHECK_SWITCHES = {
  /** `check.coherence`: device mappings agree with the CPU page table ({@link CheckOptions.coherence}). */
  coherence: defineSwitch('check.coherence', true, 'the coherence checker of device mirrors'),
  /** `check.pageLifetime`: no device mapping or DMA list refers to a freed page. */
  pageLifetime: defineSwitch(
    'check.pageLifetime',
    true,
    'the page-lifetime checker of device mappings and DMA lists',
  ),
  /** `check.lostWrites`: every CPU or device load returns the last store there. */
  lostWrites: defineSwitch('check.lostWrites', true, 'the lost-writes checker of CPU and device loads'),
  /** `check.liveness`: device faults stay within the bounds of {@link CheckOptions}. */
  liveness: defineSwitch('check.liveness', true, 'the liveness bounds of device faults'),
} as const;

declare module '../sim/switches.js' {
  interface SwitchRegistry {
    /** The coherence checker (`CHECK_SWITCHES.coherence`); on by default. */
    'check.coherence': boolean;
    /** The page-lifetime checker (`CHECK_SWITCHES.pageLifetime`); on by default. */
    'check.pageLifetime': boolean;
    /** The lost-writes checker (`CHECK_SWITCHES.lostWrites`); on by default. */
    'check.lostWrites': boolean;
    /** The liveness bounds of device faults (`CHECK_SWITCHES.liveness`); on by default. */
    'check.liveness': boolean;
  }
}

/** Switches of the device-mirror checkers; every one is on unless set to false. */
export interface CheckOptions {
  /**
   * Coherence: a device mapping of VA → page with permission P exists only while the CPU translation
   * of VA yields that page with at least P. Checked when a device maps, when it accesses, and after
   * every CPU page-table change.
   */
  coherence?: boolean;
  /** Page lifetime: no device mapping refers to a freed page, or to a page reused elsewhere. */
  pageLifetime?: boolean;
  /**
   * Lost writes: every load (CPU or device) of private anonymous memory returns what the last store
   * there wrote (zero if none), unless the program discarded it since (munmap, MADV_DONTNEED, ...).
   */
  lostWrites?: boolean;
  /** Liveness: a device access whose faults outlive the bounds below is a livelock. */
  liveness?: boolean;
  /** Faults one device access may take (default 1000). */
  maxDeviceFaults?: number;
  /** Virtual ms one device access may spend faulting (default 10,000: ten HMM_RANGE_DEFAULT_TIMEOUTs). */
  maxDeviceFaultMs?: number;
}

declare module '../mm/kernel.js' {
  interface KernelOptions {
    /** Device-mirror checkers of this run (src/check); all on by default. */
    checks?: CheckOptions;
  }
}

const CHECK_KEYS = [
  'coherence',
  'pageLifetime',
  'lostWrites',
  'liveness',
  'maxDeviceFaults',
  'maxDeviceFaultMs',
] as const;

function bound(c: CheckOptions, key: 'maxDeviceFaults' | 'maxDeviceFaultMs', dflt: number): number {
  const v = c[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1)
    throw new TypeError(`Kernel option checks.${key} must be an integer >= 1, got ${String(v)}`);
  return v;
}

/** The checker switches of `k`'s run (Kernel option and run switches), validated (an unknown key is a usage error naming it). */
export function checksOf(k: Kernel): Required<CheckOptions> {
  const c = k.options.checks ?? {};
  if (c === null || typeof c !== 'object') throw new TypeError('Kernel option checks must be an object');
  for (const key of Object.keys(c))
    if (!(CHECK_KEYS as readonly string[]).includes(key))
      throw new TypeError(`Kernel option checks: unknown checker '${key}' (known: ${CHECK_KEYS.join(', ')})`);
  const sim = k.sim;
  return {
    coherence: c.coherence !== false && sim.switchOn(CHECK_SWITCHES.coherence),
    pageLifetime: c.pageLifetime !== false && sim.switchOn(CHECK_SWITCHES.pageLifetime),
    lostWrites: c.lostWrites !== false && sim.switchOn(CHECK_SWITCHES.lostWrites),
    liveness: c.liveness !== false && sim.switchOn(CHECK_SWITCHES.liveness),
    maxDeviceFaults: bound(c, 'maxDeviceFaults', 1000),
    maxDeviceFaultMs: bound(c, 'maxDeviceFaultMs', 10_000),
  };
}
