/**
 * The scenario file reference (docs/scenario-format.md), rendered from the JSON Schema that
 * validates scenario files (src/scenario/file/schema.ts, what `mirrorlab schema` prints), so the
 * reference cannot drift from what the loader accepts. test/docs.test.ts fails when it is stale.
 *
 *   npm run docs:gen                          regenerates every generated reference
 *   tsx scripts/scenario-reference.ts --check exits 1 when docs/scenario-format.md is stale
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { scenarioJsonSchema } from '../src/scenario/file/schema.js';
import { driverHelp, listDrivers } from '../src/drivers/registry.js';
import '../src/drivers/index.js';
import { knownSwitches } from '../src/sim/switches.js';
import '../src/scenario/file/switches.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const SCENARIO_REFERENCE_PATH = join(ROOT, 'docs', 'scenario-format.md');

/** The subset of JSON Schema the scenario schema uses. */
interface Node {
  type?: string | string[];
  description?: string;
  properties?: Record<string, Node>;
  required?: string[];
  items?: Node;
  oneOf?: Node[];
  enum?: (string | number)[];
  nullable?: boolean;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  minProperties?: number;
  maxProperties?: number;
  additionalProperties?: boolean | Node;
}

const NAME_PATTERN = '^[A-Za-z0-9_][A-Za-z0-9_.:-]*$';

interface Section {
  path: string;
  node: Node;
  /** How the path was reached, e.g. "an operation of `processes[].threads[].ops[]`". */
  lead?: string;
}

const code = (s: string | number): string => `\`${s}\``;
const range = (lo: number | undefined, hi: number | undefined): string =>
  lo !== undefined && hi !== undefined ? `${lo}–${hi}` : lo !== undefined ? `≥ ${lo}` : `≤ ${hi}`;

/** One line saying what values a node accepts; queues object sections it refers to. */
function describeType(node: Node, path: string, queue: Section[]): string {
  if (node.enum !== undefined) return `one of ${node.enum.map(code).join(', ')}`;
  if (node.oneOf !== undefined) {
    queue.push({ path, node });
    return `see [${code(path)}](#${anchor(path)})`;
  }
  const type = Array.isArray(node.type) ? node.type.join(' or ') : node.type;
  switch (type) {
    case 'integer':
    case 'number':
      return node.minimum !== undefined || node.maximum !== undefined
        ? `${type} ${range(node.minimum, node.maximum)}`
        : type;
    case 'string': {
      if (node.pattern === NAME_PATTERN)
        return `name (letters, digits, \`_.:-\`; ${range(node.minLength, node.maxLength)} characters)`;
      const parts: string[] = [];
      if (node.pattern !== undefined) parts.push(`matching ${code(node.pattern)}`);
      if (node.minLength !== undefined || node.maxLength !== undefined)
        parts.push(`${range(node.minLength, node.maxLength)} characters`);
      return parts.length > 0 ? `string, ${parts.join(', ')}` : 'string';
    }
    case 'boolean':
      return 'boolean';
    case 'array': {
      const item = node.items === undefined ? 'any' : describeType(node.items, `${path}[]`, queue);
      const limits: string[] = [];
      if (node.minItems !== undefined || node.maxItems !== undefined)
        limits.push(`${range(node.minItems, node.maxItems)} items`);
      if (node.uniqueItems === true) limits.push('no repeats');
      return `list of: ${item}${limits.length > 0 ? ` (${limits.join(', ')})` : ''}`;
    }
    case 'object':
      if (node.properties === undefined) {
        const values = node.additionalProperties;
        if (typeof values === 'object' && values.type === 'boolean')
          return 'map of names to `true` or `false`';
        return 'object (any keys: driver options)';
      }
      queue.push({ path, node });
      return `object, see [${code(path)}](#${anchor(path)})`;
    default:
      return type ?? 'any';
  }
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function anchor(path: string): string {
  return path
    .toLowerCase()
    .replace(/[^a-z0-9 _-]/g, '')
    .replace(/ /g, '-');
}

function renderObject(s: Section, queue: Section[]): string[] {
  const out = [`## ${code(s.path)}`, ''];
  if (s.lead !== undefined) out.push(s.lead, '');
  if (s.node.description !== undefined) out.push(s.node.description, '');
  const required = new Set(s.node.required ?? []);
  out.push('| key | required | value |', '| --- | --- | --- |');
  for (const [key, child] of Object.entries(s.node.properties ?? {})) {
    const value = describeType(child, s.path === '(top level)' ? key : `${s.path}.${key}`, queue);
    const desc = child.description !== undefined ? ` — ${child.description}` : '';
    out.push(`| ${code(key)} | ${required.has(key) ? 'yes' : 'no'} | ${value}${desc} |`);
  }
  out.push('');
  if (s.node.maxProperties === 1) out.push('Exactly one of these keys per entry.', '');
  else if (s.node.additionalProperties === false) out.push('No other keys are accepted.', '');
  return out;
}

function renderOneOf(s: Section, queue: Section[]): string[] {
  const out = [
    `## ${code(s.path)}`,
    '',
    s.path.endsWith('[]') ? 'Each entry is one of:' : 'The value is one of:',
    '',
  ];
  for (const alt of s.node.oneOf ?? []) {
    if (alt.enum !== undefined) {
      const desc = alt.description !== undefined ? ` — ${alt.description}` : '';
      out.push(`- a bare word: ${alt.enum.map(code).join(', ')}${desc}`);
    } else if (alt.type === 'object' && alt.maxProperties === 1 && alt.properties !== undefined) {
      out.push('- a map with exactly one key, the operation:', '', '  | key | value |', '  | --- | --- |');
      for (const [key, child] of Object.entries(alt.properties)) {
        const path = `${s.path}.${key}`;
        if (
          child.type === 'object' &&
          child.properties !== undefined &&
          Object.keys(child.properties).length > 0
        ) {
          queue.push({
            path,
            node: child,
            lead: `The ${code(key)} operation of [${code(s.path)}](#${anchor(s.path)}).`,
          });
          out.push(`  | ${code(key)} | object, see [${code(path)}](#${anchor(path)}) |`);
        } else {
          out.push(`  | ${code(key)} | ${describeType(child, path, queue)} |`);
        }
      }
    } else {
      const path = alt.type === 'object' ? `${s.path} (map)` : s.path;
      out.push(`- ${describeType(alt, path, queue)}`);
    }
  }
  out.push('');
  return out;
}

/** The reference as markdown, from a JSON Schema of the shape scenarioJsonSchema has. */
export function renderScenarioReference(schema: Node = scenarioJsonSchema as unknown as Node): string {
  const out = [
    '# Scenario file reference',
    '',
    '<!-- Generated by scripts/scenario-reference.ts from the JSON Schema (`mirrorlab schema`). Do not edit: run `npm run docs:gen`. -->',
    '',
    'A scenario file is YAML (`.yaml`, `.yml`) or a TypeScript/JavaScript module whose default export has',
    'the same shape. `mirrorlab run FILE`, `mirrorlab explore FILE` and `mirrorlab list` accept both; an',
    'error names the file, line and column, the path inside the document and what was expected.',
    'A key the format does not know is an error, not a warning (a misspelt `devics:` must not be silently',
    'ignored): the message lists the keys allowed there and suggests the closest (`did you mean "devices"?`),',
    'as it does for a misspelt enum word and for a device option its driver does not declare. Bad input',
    'exits with code 2.',
    'Addresses are given by mapping name (`at:`) and page offset (`page:`, `pages:`), never as raw numbers.',
    'Editors can validate as you type: `mirrorlab schema > scenario.schema.json` and put',
    '`# yaml-language-server: $schema=scenario.schema.json` at the top of the file.',
    '',
  ];
  const queue: Section[] = [{ path: '(top level)', node: schema }];
  const seen = new Set<string>();
  while (queue.length > 0) {
    const s = queue.shift()!;
    if (seen.has(s.path)) continue;
    seen.add(s.path);
    out.push(...(s.node.oneOf !== undefined ? renderOneOf(s, queue) : renderObject(s, queue)));
  }
  out.push(...renderDriverOptions(), ...renderSwitches());
  return `${out.join('\n').trimEnd()}\n`;
}

/** Each registered driver's device options (`devices[].options`), from its own option schema. */
function renderDriverOptions(): string[] {
  const out = [
    '## Driver options',
    '',
    "`devices[].options` is checked at load time against the driver's declared options (the same",
    'list `k.createDevice(driver, options)` accepts):',
    '',
  ];
  for (const d of listDrivers()) {
    const [head, , ...rest] = driverHelp(d.name);
    const attachAt = rest.indexOf('  attach options:');
    const opts = rest.slice(0, attachAt < 0 ? rest.length : attachAt);
    out.push(`### \`${d.name}\``, '', head.replace(/^[^:]*: /, ''), '');
    for (const line of opts) out.push(`- ${line.trim().replace(/^([A-Za-z]+):/, '`$1`:')}`);
    out.push('');
  }
  return out;
}

/** Every registered run switch (`switches:`), with what it changes. */
function renderSwitches(): string[] {
  const out = [
    '## Switches',
    '',
    '`switches:` turns behaviour switches of the model on or off for every run of the file: the fixes',
    'upstream made to the legacy designs, and planted mistakes. Each run records the switches that',
    'differ from their defaults in its replay token, so `mirrorlab replay FILE TOKEN` and',
    '`mirrorlab explain FILE TOKEN` reproduce it. A name not in this list is refused at load time',
    '(with the closest name when one is close):',
    '',
    '| switch | default | what it does |',
    '| --- | --- | --- |',
  ];
  for (const sw of knownSwitches()) out.push(`| ${code(sw.name)} | ${String(sw.defaultValue)} | ${sw.doc} |`);
  out.push('');
  return out;
}

function main(): void {
  const current = renderScenarioReference();
  if (process.argv.includes('--check')) {
    let onDisk = '';
    try {
      onDisk = readFileSync(SCENARIO_REFERENCE_PATH, 'utf8');
    } catch {
      // missing is stale
    }
    if (onDisk !== current) {
      console.error('docs/scenario-format.md is stale: run `npm run docs:gen`');
      process.exitCode = 1;
    }
    return;
  }
  writeFileSync(SCENARIO_REFERENCE_PATH, current);
  console.log(`wrote ${SCENARIO_REFERENCE_PATH}`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) main();
