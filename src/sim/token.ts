import { DEFAULT_MAX_STEPS, DEFAULT_STEP_NS } from './options.js';
import { SimUsageError } from './violation.js';

/**
 * Replay tokens.
 *
 * A token is the list of every scheduling decision that had more than one option
 * (which runnable thread, or which value of `sim.choose`), plus the run's seed and
 * step count so that a replay can tell when it is applied to another program, and the
 * run options that change a schedule (step limit, virtual time per step, behaviour
 * switches) when they differ from their defaults.
 * Layout: `m1.<seed>.<steps>[~m<maxSteps>][~n<stepNs>][~s<switches>].<payload base64url>.<check>`,
 * numbers in base 36, the payload run-length encoded varints, switches as `+name` (on) or
 * `-name` (off) with the dots of their names written as colons
 * (`~s+notifier:insertNotDeferred`).
 */
export interface ScheduleToken {
  /** The run's seed. */
  seed: number;
  /** Steps the run took; a replay that takes another number does not fit the program. */
  steps: number;
  /** The choice made at each decision with more than one option, in order (thread index or value). */
  choices: number[];
  /** The run's step limit, when not the default (DEFAULT_MAX_STEPS). */
  maxSteps?: number;
  /** The run's virtual nanoseconds per step, when not the default (10). */
  stepNs?: number;
  /** The run's behaviour switches that differ from their defaults. */
  switches?: Record<string, boolean>;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function pushVarint(out: number[], value: number): void {
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

function bytesToB64(bytes: number[]): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const b0 = bytes[i];
    const b1 = i + 1 < bytes.length ? bytes[i + 1] : 0;
    const b2 = i + 2 < bytes.length ? bytes[i + 2] : 0;
    const n = (b0 << 16) | (b1 << 8) | b2;
    s += B64[(n >> 18) & 63] + B64[(n >> 12) & 63];
    if (i + 1 < bytes.length) s += B64[(n >> 6) & 63];
    if (i + 2 < bytes.length) s += B64[n & 63];
  }
  return s;
}

function b64ToBytes(text: string): number[] | undefined {
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < text.length; i++) {
    const v = B64.indexOf(text[i]);
    if (v < 0) return undefined;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 0xff);
    }
  }
  return out;
}

/** Encodes a schedule as a replay token. */
export function encodeToken(token: ScheduleToken): string {
  const bytes: number[] = [];
  const c = token.choices;
  for (let i = 0; i < c.length;) {
    let j = i + 1;
    while (j < c.length && c[j] === c[i]) j++;
    pushVarint(bytes, c[i]);
    pushVarint(bytes, j - i - 1);
    i = j;
  }
  let steps = token.steps.toString(36);
  if (token.maxSteps !== undefined && token.maxSteps !== DEFAULT_MAX_STEPS) {
    steps += `~m${token.maxSteps.toString(36)}`;
  }
  if (token.stepNs !== undefined && token.stepNs !== DEFAULT_STEP_NS) {
    steps += `~n${token.stepNs.toString(36)}`;
  }
  const switches = Object.entries(token.switches ?? {});
  if (switches.length > 0) {
    steps += '~s' + switches.map(([name, on]) => `${on ? '+' : '-'}${name.replace(/\./g, ':')}`).join('');
  }
  const body = `m1.${token.seed.toString(36)}.${steps}.${bytesToB64(bytes)}`;
  return `${body}.${fnv1a(body).toString(36)}`;
}

/** Decodes a replay token; throws a SimUsageError that says what is wrong with it. */
export function decodeToken(text: unknown): ScheduleToken {
  if (typeof text !== 'string') {
    throw new SimUsageError(`replay token must be a string, got ${typeof text}`);
  }
  const parts = text.trim().split('.');
  if (parts.length !== 5 || parts[0] !== 'm1') {
    throw new SimUsageError(
      `malformed replay token '${text}': expected 'm1.<seed>.<steps>.<schedule>.<check>' as printed by explore`,
    );
  }
  const body = parts.slice(0, 4).join('.');
  if (fnv1a(body).toString(36) !== parts[4]) {
    throw new SimUsageError(
      `malformed replay token '${text}': checksum mismatch (token truncated or edited?)`,
    );
  }
  const seed = parseBase36(parts[1]);
  const [stepText, ...runOptions] = parts[2].split('~');
  const steps = parseBase36(stepText);
  const bytes = b64ToBytes(parts[3]);
  if (seed === undefined || steps === undefined || bytes === undefined) {
    throw new SimUsageError(`malformed replay token '${text}': bad seed, step count or schedule`);
  }
  let maxSteps: number | undefined;
  let stepNs: number | undefined;
  let switches: Record<string, boolean> | undefined;
  for (const o of runOptions) {
    if (o[0] === 's' && /^([+-][a-zA-Z0-9:]+)+$/.test(o.slice(1))) {
      switches = {};
      for (const m of o.slice(1).matchAll(/([+-])([a-zA-Z0-9:]+)/g)) {
        switches[m[2].replace(/:/g, '.')] = m[1] === '+';
      }
      continue;
    }
    const v = parseBase36(o.slice(1));
    if (o[0] === 'm' && v !== undefined && v >= 1) maxSteps = v;
    else if (o[0] === 'n' && v !== undefined) stepNs = v;
    else throw new SimUsageError(`malformed replay token '${text}': bad run option '${o}'`);
  }
  const values: number[] = [];
  let v = 0;
  let scale = 1;
  for (const b of bytes) {
    v += (b & 0x7f) * scale;
    if (b & 0x80) {
      scale *= 0x80;
    } else {
      values.push(v);
      v = 0;
      scale = 1;
    }
  }
  if (scale !== 1 || values.length % 2 !== 0) {
    throw new SimUsageError(`malformed replay token '${text}': truncated schedule`);
  }
  const choices: number[] = [];
  for (let i = 0; i < values.length; i += 2) {
    for (let k = 0; k <= values[i + 1]; k++) choices.push(values[i]);
  }
  const token: ScheduleToken = { seed, steps, choices };
  if (maxSteps !== undefined) token.maxSteps = maxSteps;
  if (stepNs !== undefined) token.stepNs = stepNs;
  if (switches !== undefined) token.switches = switches;
  return token;
}

function parseBase36(text: string): number | undefined {
  if (!/^[0-9a-z]+$/.test(text)) return undefined;
  const v = parseInt(text, 36);
  return Number.isSafeInteger(v) ? v : undefined;
}
