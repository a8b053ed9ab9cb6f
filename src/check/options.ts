/**
 * Which checkers watch a run's device mirrors. A Kernel option (`new Kernel(sim, { checks })`), so it
 * belongs to the run that built the Kernel and never to a module global.
 */
import type { Kernel } from '../mm/kernel.js';

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

/** The checker switches of `k`'s run, validated (an unknown key is a usage error naming it). */
export function checksOf(k: Kernel): Required<CheckOptions> {
  const c = k.options.checks ?? {};
  if (c === null || typeof c !== 'object') throw new TypeError('Kernel option checks must be an object');
  for (const key of Object.keys(c))
    if (!(CHECK_KEYS as readonly string[]).includes(key))
      throw new TypeError(`Kernel option checks: unknown checker '${key}' (known: ${CHECK_KEYS.join(', ')})`);
  return {
    coherence: c.coherence !== false,
    pageLifetime: c.pageLifetime !== false,
    lostWrites: c.lostWrites !== false,
    liveness: c.liveness !== false,
    maxDeviceFaults: bound(c, 'maxDeviceFaults', 1000),
    maxDeviceFaultMs: bound(c, 'maxDeviceFaultMs', 10_000),
  };
}
