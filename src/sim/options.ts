import { SimUsageError } from './violation.js';

/**
 * The one step limit of a run, wherever a run is made (Simulation, explore, simulate,
 * replay, tokens). A run longer than this is reported as 'step-limit' (a livelock or an
 * unbounded loop). One million: the memory-model scenarios legitimately run a few hundred
 * thousand steps (fork, reclaim and migration over many pages), so a lower limit would
 * flag correct runs; at the runtime's rate a livelocked schedule still ends in well under
 * a second.
 */
export const DEFAULT_MAX_STEPS = 1_000_000;

/** Virtual nanoseconds a scheduling step costs unless a run says otherwise. */
export const DEFAULT_STEP_NS = 10;

/** Validates an integer option: names the option, the value and what is allowed. */
export function checkInteger(
  name: string,
  value: unknown,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const allowed =
      max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer between ${min} and ${max}`;
    throw new SimUsageError(`option '${name}' must be ${allowed}, got ${describe(value)}`);
  }
  return value;
}

/** Validates that `value` is one of `allowed`. */
export function checkOneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new SimUsageError(
      `option '${name}' must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${describe(value)}`,
    );
  }
  return value as T;
}

/** Rejects keys that are not options (catches typos such as `schedule` for `schedules`). */
export function checkKnownKeys(what: string, options: object, known: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new SimUsageError(`${what}: unknown option '${key}' (known: ${known.join(', ')})`);
    }
  }
}

/** Renders an option value for an error message (strings quoted, objects as JSON). */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  try {
    return JSON.stringify(value);
  } catch {
    return typeof value;
  }
}
