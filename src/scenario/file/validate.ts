/**
 * Validation of a scenario document: the schema (ajv) first, its errors translated into plain
 * sentences that list what was expected; then the cross-references a schema cannot express (names
 * that must exist, page ranges inside their mapping, unique names).
 */
import type { ErrorObject } from 'ajv';
import { formatPath, type ScenarioIssue } from './errors.js';
import { validateScenarioShape } from './schema.js';
import { didYouMean } from './suggest.js';
import { checkerConflicts, unknownSwitches } from './switches.js';
import { listDrivers } from '../../drivers/registry.js';
import { DriverError, parseDriverOptions } from '../../drivers/options.js';
import type { DeviceDef, Op, Place, ScenarioFile } from './types.js';

type Path = (string | number)[];

/** Maps a document path (and optionally one key of the map there) to a 1-based line and column. */
export type Locator = (
  path: readonly (string | number)[],
  key?: string,
) => { line: number; column: number } | undefined;

function decodePointer(pointer: string): Path {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^(0|[1-9]\d*)$/.test(s) ? Number(s) : s));
}

function valueAt(data: unknown, path: Path): unknown {
  let v = data;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[p];
  }
  return v;
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  if (v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  return String(v);
}

function branchType(schema: unknown): string | undefined {
  if (schema === null || typeof schema !== 'object') return undefined;
  const t = (schema as { type?: unknown }).type;
  return typeof t === 'string' ? t : undefined;
}

function matchesType(t: string, v: unknown): boolean {
  const j = jsonType(v);
  return t === j || (t === 'number' && j === 'integer');
}

/**
 * Drops the errors of `oneOf` branches the value was evidently not meant for (a bare word is judged
 * against the word branch, a map against the map branch), so each mistake is reported once.
 */
function pruneOneOf(errors: ErrorObject[], data: unknown): ErrorObject[] {
  let out = errors;
  for (const e of errors) {
    if (e.keyword !== 'oneOf') continue;
    const branches = (e.schema ?? []) as unknown[];
    const value = valueAt(data, decodePointer(e.instancePath));
    const chosen = branches.findIndex((b) => {
      const t = branchType(b);
      return t !== undefined && matchesType(t, value);
    });
    const prefix = `${e.schemaPath}/`;
    const here = e.instancePath;
    out = out.filter((x) => {
      if (x === e) return chosen < 0;
      if (x.instancePath !== here && !x.instancePath.startsWith(`${here}/`)) return true;
      if (!x.schemaPath.startsWith(prefix)) return true;
      return chosen >= 0 && x.schemaPath.startsWith(`${prefix}${chosen}/`);
    });
  }
  return out;
}

function describeBranches(branches: unknown[]): string {
  return branches
    .map((b) => {
      const s = b as {
        type?: string;
        enum?: string[];
        properties?: Record<string, unknown>;
        pattern?: string;
      };
      if (s.enum) return `one of the words ${s.enum.join(', ')}`;
      if (s.type === 'object' && s.properties) return `a map with ${Object.keys(s.properties).join(', ')}`;
      if (s.type === 'string') return 'a name';
      return s.type ?? 'a value';
    })
    .join(', or ');
}

function messageOf(e: ErrorObject, data: unknown): string {
  const value = valueAt(data, decodePointer(e.instancePath));
  const parent = e.parentSchema as { properties?: Record<string, unknown> } | undefined;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      const allowed = Object.keys(parent?.properties ?? {});
      return `unknown key ${JSON.stringify(key)}${didYouMean(key, allowed)}; expected one of: ${allowed.join(', ')}`;
    }
    case 'required':
      return `missing required key '${(e.params as { missingProperty: string }).missingProperty}'`;
    case 'enum': {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues.map(String);
      return `${show(value)} is not allowed${didYouMean(value, allowed)}; allowed values: ${allowed.join(', ')}`;
    }
    case 'type':
      return `expected ${String((e.params as { type: string | string[] }).type)}, got ${jsonType(value)} ${show(value)}`;
    case 'minimum':
    case 'maximum': {
      const p = e.params as { comparison: string; limit: number };
      return `expected an integer ${p.comparison} ${p.limit}, got ${show(value)}`;
    }
    case 'minLength':
      return 'expected a non-empty string';
    case 'maxLength':
      return `too long: at most ${(e.params as { limit: number }).limit} characters`;
    case 'minItems':
      return `expected at least ${(e.params as { limit: number }).limit} item(s)`;
    case 'maxItems':
      return `too many items: at most ${(e.params as { limit: number }).limit}`;
    case 'minProperties':
    case 'maxProperties': {
      const keys = value !== null && typeof value === 'object' ? Object.keys(value) : [];
      const allowed = Object.keys(parent?.properties ?? {});
      return (
        `an operation is a map with exactly one key (one of: ${allowed.join(', ')}), ` +
        `got ${keys.length === 0 ? 'none' : keys.join(', ')}`
      );
    }
    case 'uniqueItems':
      return 'duplicate item in the list';
    case 'pattern':
      if (e.instancePath.endsWith('/expect'))
        return `expected 'none' or a violation kind in kebab-case (e.g. stale-mapping), got ${show(value)}`;
      return `expected a name (letters, digits and _ . : -, not starting with . : -), got ${show(value)}`;
    case 'oneOf':
      return `expected ${describeBranches((e.schema ?? []) as unknown[])}; got ${jsonType(value)} ${show(value)}`;
    default:
      return e.message ?? `fails ${e.keyword}`;
  }
}

/** The schema errors of `data`, as issues. Empty when it has the shape of a ScenarioFile. */
export function schemaIssues(data: unknown, file: string, locate: Locator): ScenarioIssue[] {
  if (validateScenarioShape(data)) return [];
  const errors = pruneOneOf(validateScenarioShape.errors ?? [], data);
  const seen = new Set<string>();
  const issues: ScenarioIssue[] = [];
  for (const e of errors) {
    const path = decodePointer(e.instancePath);
    let key: string | undefined;
    if (e.keyword === 'additionalProperties')
      key = (e.params as { additionalProperty: string }).additionalProperty;
    const message = messageOf(e, data);
    const shownPath = key !== undefined ? [...path, key] : path;
    const id = `${formatPath(shownPath)}|${message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    issues.push({ file, ...locate(path, key), path: formatPath(shownPath), message });
  }
  return issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
}

// ---------------------------------------------------------------------------------------------
// Cross-references
// ---------------------------------------------------------------------------------------------

/** The op's kind and its argument (a bare word has no argument). */
export function opParts(op: Op): [string, Record<string, unknown> | undefined] {
  if (typeof op === 'string') return [op, undefined];
  const k = Object.keys(op)[0];
  return [k, (op as Record<string, Record<string, unknown> | undefined>)[k] ?? undefined];
}

interface ProcInfo {
  /** Mapping name → the largest size in pages it may have. */
  mappings: Map<string, number>;
  parent?: string;
}

/** Semantic issues of a document that has the schema's shape. */
export function referenceIssues(doc: ScenarioFile, file: string, locate: Locator): ScenarioIssue[] {
  const issues: ScenarioIssue[] = [];
  const add = (path: Path, message: string, key?: string): void => {
    issues.push({ file, ...locate(path, key), path: formatPath(key ? [...path, key] : path), message });
  };
  const unique = (items: readonly { name?: string }[] | undefined, where: Path, what: string): void => {
    const seen = new Set<string>();
    items?.forEach((it, i) => {
      if (it.name === undefined) return;
      if (seen.has(it.name)) add([...where, i, 'name'], `duplicate ${what} name '${it.name}'`);
      seen.add(it.name);
    });
  };

  const files = new Set((doc.files ?? []).map((f) => f.name));
  unique(doc.files, ['files'], 'file');
  unique(doc.processes, ['processes'], 'process');
  unique(doc.devices, ['devices'], 'device');
  const nodes = doc.kernel?.nodes ?? 1;

  // Processes, their declared mappings, and fork children (named by `fork: { child }`).
  const procs = new Map<string, ProcInfo>();
  doc.processes.forEach((p) => {
    const m = new Map<string, number>();
    for (const mp of p.mappings ?? []) m.set(mp.name, mp.pages);
    procs.set(p.name, { mappings: m });
  });
  const threadNames = new Set<string>();
  const checkFlags = (path: Path, prot: string[], flags: string[], fileName: string | undefined): void => {
    if (prot.includes('none') && prot.length > 1)
      add([...path, 'prot'], "'none' cannot be combined with other protections");
    const kinds = flags.filter((f) => f === 'private' || f === 'shared');
    if (kinds.length !== 1) add([...path, 'flags'], 'expected exactly one of private, shared');
    if (fileName !== undefined) {
      if (flags.includes('anonymous')) add([...path, 'flags'], "a file mapping cannot be 'anonymous'");
      if (!files.has(fileName))
        add(
          [...path, 'file'],
          `unknown file '${fileName}'; declared files: ${[...files].join(', ') || '(none)'}`,
        );
    } else if (!flags.includes('anonymous')) {
      add([...path, 'flags'], "a mapping without 'file' must be 'anonymous'");
    }
  };
  doc.processes.forEach((p, pi) => {
    const mseen = new Set<string>();
    (p.mappings ?? []).forEach((mp, mi) => {
      const path: Path = ['processes', pi, 'mappings', mi];
      if (mseen.has(mp.name))
        add([...path, 'name'], `duplicate mapping name '${mp.name}' in process '${p.name}'`);
      mseen.add(mp.name);
      checkFlags(path, mp.prot, mp.flags, mp.file);
    });
  });

  // First pass over ops: fork children and mmap'd names, so later ops may refer to them.
  const eachOp = (fn: (op: Op, path: Path, own: string) => void): void => {
    doc.processes.forEach((p, pi) =>
      (p.threads ?? []).forEach((t, ti) =>
        t.ops.forEach((op, oi) => fn(op, ['processes', pi, 'threads', ti, 'ops', oi], p.name)),
      ),
    );
  };
  const declared = new Set(procs.keys());
  eachOp((op, path, own) => {
    const [kind, arg] = opParts(op);
    if (kind === 'fork' && typeof arg?.child === 'string') {
      const parent = (arg.process as string | undefined) ?? own;
      if (declared.has(arg.child))
        add([...path, 'fork', 'child'], `fork child '${arg.child}' has the name of a declared process`);
      else if (!procs.has(arg.child)) procs.set(arg.child, { mappings: new Map(), parent });
    }
  });
  // Children see their parents' mappings (resolved after every child is known).
  const mappingsOf = (name: string, depth = 0): Map<string, number> => {
    const info = procs.get(name);
    if (info === undefined) return new Map();
    if (info.parent === undefined || depth > 64) return info.mappings;
    return new Map([...mappingsOf(info.parent, depth + 1), ...info.mappings]);
  };
  eachOp((op, path, own) => {
    const [kind, arg] = opParts(op);
    const target = (arg?.process as string | undefined) ?? own;
    if (kind === 'mmap' && arg !== undefined && procs.has(target)) {
      const m = procs.get(target)!.mappings;
      m.set(arg.name as string, Math.max(m.get(arg.name as string) ?? 0, arg.pages as number));
      checkFlags(
        [...path, 'mmap'],
        arg.prot as string[],
        arg.flags as string[],
        arg.file as string | undefined,
      );
    }
    if (kind === 'mremap' && arg !== undefined && procs.has(target)) {
      const m = procs.get(target)!.mappings;
      const at = arg.at as string;
      if (m.has(at)) m.set(at, Math.max(m.get(at)!, arg.newPages as number));
    }
  });

  const known = (): string => [...procs.keys()].join(', ');
  const checkPlace = (place: Place, path: Path, proc: string): void => {
    const maps = mappingsOf(proc);
    const size = maps.get(place.at);
    if (size === undefined) {
      add(
        [...path, 'at'],
        `unknown mapping '${place.at}' in process '${proc}'; known: ${[...maps.keys()].join(', ') || '(none)'}`,
      );
      return;
    }
    const page = place.page ?? 0;
    const pages = place.pages ?? 1;
    if (page + pages > size)
      add(path, `pages ${page}..${page + pages - 1} lie outside mapping '${place.at}' (${size} pages)`);
  };

  doc.processes.forEach((p, pi) =>
    (p.threads ?? []).forEach((t, ti) => {
      if (threadNames.has(t.name))
        add(['processes', pi, 'threads', ti, 'name'], `duplicate thread name '${t.name}'`);
      threadNames.add(t.name);
    }),
  );
  eachOp((op, path, own) => {
    const [kind, arg] = opParts(op);
    if (arg === undefined) return;
    const argPath = [...path, kind];
    const target = (arg.process as string | undefined) ?? own;
    if (arg.process !== undefined && !procs.has(target)) {
      add([...argPath, 'process'], `unknown process '${target}'; known: ${known()}`);
      return;
    }
    if (typeof arg.at === 'string') checkPlace(arg as unknown as Place, argPath, target);
    if (kind === 'mremap' && (arg.page ?? 0) !== 0)
      add([...argPath, 'page'], 'mremap moves a whole mapping: page must be 0');
    if (kind === 'mremap' && arg.pages !== undefined)
      add([...argPath, 'pages'], 'mremap moves a whole mapping: give newPages, not pages');
    if (kind === 'migrate' && (arg.node as number) >= nodes)
      add([...argPath, 'node'], `node ${String(arg.node)} does not exist: kernel.nodes is ${nodes}`);
  });

  // Devices and their access threads.
  const devices = new Map<string, { process: string; mapping?: string }>();
  (doc.devices ?? []).forEach((d, di) => {
    const path: Path = ['devices', di, 'attach'];
    const a = typeof d.attach === 'string' ? { process: d.attach } : d.attach;
    if (!procs.has(a.process)) add(path, `unknown process '${a.process}'; known: ${known()}`);
    else if ('mapping' in a && !mappingsOf(a.process).has(a.mapping))
      add(path, `unknown mapping '${a.mapping}' in process '${a.process}'`);
    devices.set(d.name, { process: a.process, mapping: 'mapping' in a ? a.mapping : undefined });
    optionIssues(d.driver, d.options, ['devices', di, 'options'], add);
    attachOptionIssues(d, di, add);
  });
  (doc.accesses ?? []).forEach((acc, ai) => {
    const dev = devices.get(acc.device);
    if (dev === undefined) {
      add(
        ['accesses', ai, 'device'],
        `unknown device '${acc.device}'; known: ${[...devices.keys()].join(', ') || '(none)'}`,
      );
      return;
    }
    const tname = acc.name ?? `${acc.device}:${ai}`;
    if (threadNames.has(tname)) add(['accesses', ai], `duplicate thread name '${tname}'`);
    threadNames.add(tname);
    acc.ops.forEach((op, oi) => {
      const [kind, arg] = opParts(op as Op);
      if (arg === undefined || typeof arg.at !== 'string') return;
      const path: Path = ['accesses', ai, 'ops', oi, kind];
      if (arg.process !== undefined && arg.process !== dev.process)
        add([...path, 'process'], `device '${acc.device}' is attached to process '${dev.process}'`);
      else if (dev.mapping !== undefined && arg.at !== dev.mapping)
        add(
          [...path, 'at'],
          `device '${acc.device}' is attached to mapping '${dev.mapping}' only, not '${arg.at}'`,
        );
      else checkPlace(arg as unknown as Place, path, dev.process);
    });
  });
  for (const u of unknownSwitches(doc.switches ?? {})) add(['switches'], u.message, u.name);
  for (const c of checkerConflicts(doc)) add(['switches'], c.message, c.name);
  return issues;
}

/**
 * A device's `attachOptions` against its driver's declared attach options (`start` and `length`
 * come from the mapping, `access` from `attach`), and the attach form the driver needs: a driver
 * whose attach takes a region (it declares `start`) needs `attach: { process, mapping }` unless
 * the options ask for a whole-address-space form (odp's `implicit: true`).
 */
function attachOptionIssues(
  d: DeviceDef,
  di: number,
  add: (path: Path, message: string, key?: string) => void,
): void {
  const def = listDrivers().find((x) => x.name === d.driver);
  if (def === undefined) return;
  const path: Path = ['devices', di, 'attachOptions'];
  const known = Object.keys(def.attachOptions).filter((k) => !['start', 'length', 'access'].includes(k));
  for (const [key, value] of Object.entries(d.attachOptions ?? {})) {
    if (!known.includes(key)) {
      add(
        path,
        `unknown attach option ${JSON.stringify(key)} of driver '${d.driver}'${didYouMean(key, known)}; ` +
          `attach options: ${known.join(', ') || '(none besides the mapping)'}`,
        key,
      );
      continue;
    }
    try {
      parseDriverOptions(d.driver, { [key]: def.attachOptions[key] }, { [key]: value });
    } catch (err) {
      if (!(err instanceof DriverError)) throw err;
      add([...path, key], err.message.replace(/^[^:]*: /, ''));
    }
  }
  const wholeProcess = typeof d.attach === 'string';
  if (wholeProcess && 'start' in def.attachOptions && d.attachOptions?.implicit !== true) {
    add(
      ['devices', di, 'attach'],
      `driver '${d.driver}' attaches a memory region: give attach: { process, mapping }` +
        ('implicit' in def.attachOptions ? ' (or attachOptions: { implicit: true })' : ''),
    );
  }
}

/**
 * The driver options of one device against the driver's own option schema (when the driver is
 * registered in this build): an unknown option or a bad value is bad input found at load time,
 * with its place in the file, not an error thrown inside the run.
 */
function optionIssues(
  driver: string,
  options: Record<string, unknown> | null | undefined,
  path: Path,
  add: (path: Path, message: string, key?: string) => void,
): void {
  const def = listDrivers().find((d) => d.name === driver);
  if (def === undefined || options === undefined || options === null) return;
  const known = ['name', ...Object.keys(def.options)];
  for (const [key, value] of Object.entries(options)) {
    if (!known.includes(key)) {
      add(
        path,
        `unknown option ${JSON.stringify(key)} of driver '${driver}'${didYouMean(key, known)}; options: ${known.join(', ')}`,
        key,
      );
      continue;
    }
    try {
      if (key === 'name') {
        if (typeof value !== 'string' || value.length === 0)
          throw new DriverError(`option 'name' must be a non-empty string`);
      } else parseDriverOptions(driver, { [key]: def.options[key] }, { [key]: value });
    } catch (err) {
      if (!(err instanceof DriverError)) throw err;
      add([...path, key], err.message.replace(/^[^:]*: /, ''));
    }
  }
}
