/**
 * Validation of a driver's options (createDevice) and attach options (device.attach): every
 * driver declares its options as a small schema, and a bad value is an error that names the
 * driver, the option, what was given and what is expected, and lists the options that exist.
 */

/** One option of a driver: its type, its default, what it means. */
export type DriverOptionSpec =
  | {
      /** A finite number. */
      type: 'number';
      /** What the option means (shown in help and in error messages). */
      doc: string;
      /** The value filled in when the option is not given. */
      default?: number;
      /** The smallest value accepted (inclusive). */
      min?: number;
      /** The largest value accepted (inclusive). */
      max?: number;
      /** Only safe integers are accepted. */
      integer?: boolean;
    }
  | {
      /** true or false. */
      type: 'boolean';
      /** What the option means (shown in help and in error messages). */
      doc: string;
      /** The value filled in when the option is not given. */
      default?: boolean;
    }
  | {
      /** Any string. */
      type: 'string';
      /** What the option means (shown in help and in error messages). */
      doc: string;
      /** The value filled in when the option is not given. */
      default?: string;
    }
  | {
      /** One string of `values`. */
      type: 'enum';
      /** What the option means (shown in help and in error messages). */
      doc: string;
      /** The strings accepted. */
      values: readonly string[];
      /** The value filled in when the option is not given. */
      default?: string;
    }
  | {
      /** A non-empty array of finite numbers. */
      type: 'number-list';
      /** What the option means (shown in help and in error messages). */
      doc: string;
      /** The list filled in (copied) when the option is not given. */
      default?: readonly number[];
      /** The smallest element accepted (inclusive). */
      min?: number;
      /** Only safe integers are accepted as elements. */
      integer?: boolean;
    };

/** A schema: option name → spec. */
export type DriverOptionSchema = Readonly<Record<string, DriverOptionSpec>>;

/** Thrown for an unknown driver, a bad option or a bad attach option. */
export class DriverError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DriverError';
  }
}

function describeValue(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (Array.isArray(v)) return `[${v.map(describeValue).join(', ')}]`;
  if (v === null) return 'null';
  if (typeof v === 'object') return 'an object';
  return String(v);
}

function expected(spec: DriverOptionSpec): string {
  switch (spec.type) {
    case 'number': {
      const kind = spec.integer ? 'an integer' : 'a number';
      const lo = spec.min !== undefined ? ` >= ${spec.min}` : '';
      const hi = spec.max !== undefined ? ` <= ${spec.max}` : '';
      return `${kind}${lo}${lo && hi ? ' and' : ''}${hi}`;
    }
    case 'number-list':
      return `a non-empty array of ${spec.integer ? 'integers' : 'numbers'}${spec.min !== undefined ? ` >= ${spec.min}` : ''}`;
    case 'boolean':
      return 'true or false';
    case 'string':
      return 'a string';
    case 'enum':
      return `one of ${spec.values.map((s) => `'${s}'`).join(', ')}`;
  }
}

function valid(spec: DriverOptionSpec, v: unknown): boolean {
  switch (spec.type) {
    case 'number':
      return (
        typeof v === 'number' &&
        Number.isFinite(v) &&
        (!spec.integer || Number.isSafeInteger(v)) &&
        (spec.min === undefined || v >= spec.min) &&
        (spec.max === undefined || v <= spec.max)
      );
    case 'number-list':
      return (
        Array.isArray(v) &&
        v.length > 0 &&
        v.every(
          (x) =>
            typeof x === 'number' &&
            Number.isFinite(x) &&
            (!spec.integer || Number.isSafeInteger(x)) &&
            (spec.min === undefined || x >= spec.min),
        )
      );
    case 'boolean':
      return typeof v === 'boolean';
    case 'string':
      return typeof v === 'string';
    case 'enum':
      return typeof v === 'string' && spec.values.includes(v);
  }
}

/**
 * Checks `given` against `schema` and returns it with the defaults filled in. `where` names
 * the call for the message (e.g. "createDevice('odp')"). Throws DriverError on an unknown
 * option or a bad value; never half-applies anything (the caller has not changed state yet).
 */
export function parseDriverOptions<T extends object>(
  where: string,
  schema: DriverOptionSchema,
  given: unknown,
): T {
  if (given === undefined || given === null) given = {};
  if (typeof given !== 'object' || Array.isArray(given))
    throw new DriverError(`${where}: options must be an object, got ${describeValue(given)}`);
  const known = Object.keys(schema);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(given as Record<string, unknown>)) {
    const spec = schema[key];
    if (spec === undefined) {
      throw new DriverError(
        `${where}: unknown option '${key}'; options: ${known.length ? known.join(', ') : '(none)'}`,
      );
    }
    if (value === undefined) continue;
    if (!valid(spec, value))
      throw new DriverError(
        `${where}: option '${key}' must be ${expected(spec)}, got ${describeValue(value)} (${spec.doc})`,
      );
    out[key] = Array.isArray(value) ? [...(value as unknown[])] : value;
  }
  for (const key of known) {
    const spec = schema[key]!;
    if (!(key in out) && spec.default !== undefined)
      out[key] = Array.isArray(spec.default) ? [...spec.default] : spec.default;
  }
  return out as T;
}

/** One line per option, for `mirrorlab list` and error messages. */
export function describeDriverOptions(schema: DriverOptionSchema): string[] {
  return Object.entries(schema).map(
    ([k, s]) =>
      `${k}: ${expected(s)}${s.default !== undefined ? ` (default ${describeValue(s.default)})` : ''} — ${s.doc}`,
  );
}
