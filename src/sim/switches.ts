import { SimUsageError } from './violation.js';
import { describe } from './options.js';

/**
 * Behaviour switches of a run: planted mistakes in the model (FoundationDB's BUGGIFY),
 * debug checks, fault injection. Each is declared once, by the layer whose behaviour it
 * changes, with `defineSwitch`; a run turns it on or off through its options
 * (`switches: { 'notifier.insertNotDeferred': true }`), the model reads it with
 * `sim.switchOn(sw)`, and the run's replay token records every switch that differs from
 * its default, so `replay(token, setup)` reproduces a mutated run with no other set-up
 * and two simulations in one process never see each other's.
 *
 * Layers add their switch names to {@link SwitchRegistry} by module augmentation, so the
 * `switches` option is typed: a misspelt name is a compile error, and at run time a clear
 * error listing the known names.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface SwitchRegistry {}

/** Switch values a run may set, by name. */
export type SwitchSettings = { readonly [K in keyof SwitchRegistry]?: boolean };

/** A declared switch. `id` indexes a simulation's switch table (read on hot paths). */
export interface Switch {
  /** Position in declaration order; the index of the switch in a run's switch table. */
  readonly id: number;
  /** `layer.what`, as set in a run's `switches` option and written into replay tokens. */
  readonly name: string;
  /** The value when a run does not set it. */
  readonly defaultValue: boolean;
  /** A one-line description, for listings of the known switches. */
  readonly doc: string;
}

const NAME = /^[a-z][a-zA-Z0-9]*(\.[a-zA-Z0-9]+)+$/;
const byName = new Map<string, Switch>();
const byId: Switch[] = [];

/**
 * Declares a switch (at module load). `name` is `layer.what`, letters and digits with
 * dots between parts (it is written into replay tokens). Declaring a name twice with the
 * same default returns the first declaration (a module loaded twice); otherwise throws.
 */
export function defineSwitch(name: string, defaultValue: boolean, doc: string): Switch {
  if (!NAME.test(name)) throw new Error(`switch name '${name}' must look like 'layer.name'`);
  const old = byName.get(name);
  if (old !== undefined) {
    if (old.defaultValue !== defaultValue) throw new Error(`switch '${name}' is declared twice`);
    return old;
  }
  const sw: Switch = { id: byId.length, name, defaultValue, doc };
  byName.set(name, sw);
  byId.push(sw);
  return sw;
}

/** Every declared switch, in declaration order. */
export function knownSwitches(): readonly Switch[] {
  return byId;
}

function knownNames(): string {
  return byId.length === 0 ? '(none declared)' : byId.map((s) => s.name).join(', ');
}

/**
 * Validates a `switches` option and returns the run's switch table (a value per declared
 * switch, by id). Unknown names and non-boolean values are errors that name them.
 */
export function switchTable(settings: unknown, what = 'switches'): boolean[] {
  const table = byId.map((s) => s.defaultValue);
  if (settings === undefined) return table;
  if (settings === null || typeof settings !== 'object' || Array.isArray(settings)) {
    throw new SimUsageError(
      `option '${what}' must be an object of switch names to booleans, got ${describe(settings)}`,
    );
  }
  for (const [name, value] of Object.entries(settings as Record<string, unknown>)) {
    const sw = byName.get(name);
    if (sw === undefined) {
      throw new SimUsageError(`${what}: unknown switch '${name}' (known: ${knownNames()})`);
    }
    if (typeof value !== 'boolean') {
      throw new SimUsageError(`${what}: switch '${name}' must be true or false, got ${describe(value)}`);
    }
    table[sw.id] = value;
  }
  return table;
}

/** The switches of `table` that differ from their defaults, as an options object. */
export function changedSwitches(table: readonly boolean[]): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  for (let i = 0; i < byId.length; i++) {
    if (table[i] !== byId[i].defaultValue) out[byId[i].name] = table[i];
  }
  return out;
}
