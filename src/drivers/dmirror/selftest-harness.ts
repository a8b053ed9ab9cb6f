/**
 * The harness of the HMM selftests re-created on the model (tools/testing/selftests/mm/hmm-tests.c's
 * fixtures, in our own words): each case runs in a fresh simulation with a fresh Kernel, once per
 * device-memory variant. Fixture 'hmm' opens one device; 'hmm2' opens two distinct devices of the
 * same kind. A failed expectation ends the case with a message naming it; a checker violation
 * (stale device mapping, use-after-free, deadlock, ...) fails it too.
 */
import { Simulation } from '../../sim/simulation.js';
import { Kernel } from '../../mm/kernel.js';
import type { Process } from '../../mm/process.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, type MmapArgs } from '../../mm/index.js';
import { DmirrorDevice } from './device.js';
import type { Dmirror, DmirrorCommandResult } from './file.js';
import type { DmirrorCommand } from './constants.js';

/** HMM_BUFFER_SIZE: 1024 pages of 4 KiB. */
export const HMM_BUFFER_SIZE = 1024 << 12;
/** NTIMES of the repeated cases. */
export const NTIMES = 10;

/** The device memory a case runs against: the DmirrorDevice's `memory` (test_hmm's device kinds). */
export type SelftestVariant = 'private' | 'coherent';

/** A failed ASSERT / EXPECT: ends the case. */
export class SelftestFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SelftestFailure';
  }
}

/** SKIP(): the case cannot run in this configuration. */
export class SelftestSkip extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SelftestSkip';
  }
}

/** struct hmm_buffer: the mapping, the mirror (device data or snapshot bytes) and the counters. */
export interface HmmBuffer {
  /** The mapping's address in the test process (0 until the case maps it). */
  ptr: number;
  /** The mapping's length in bytes. */
  size: number;
  /** The bytes commands read into or write from (device data, or one snapshot byte per page). */
  mirror: Uint8Array;
  /** Pages the last successful command processed (DmirrorCommandResult.cpages). */
  cpages: number;
  /** Device faults the last successful command took (DmirrorCommandResult.faults). */
  faults: number;
}

/** What a case body gets. */
export class SelftestContext {
  /** The kernel's page size in bytes. */
  readonly ps: number;
  /** The fixture's device file (the same as fd0). */
  fd!: Dmirror;
  /** The file opened on dev0 for the test process. */
  fd0!: Dmirror;
  /** The file opened on dev1 (fixture 'hmm2' only). */
  fd1!: Dmirror;
  /** The first device, of the case's variant. */
  dev0!: DmirrorDevice;
  /** The second device, of the same variant (fixture 'hmm2' only). */
  dev1!: DmirrorDevice;

  constructor(
    /** The fresh simulation the case runs in. */
    readonly sim: Simulation,
    /** The fresh kernel of the case. */
    readonly k: Kernel,
    /** The test process the devices mirror. */
    readonly p: Process,
    /** The device-memory kind this run of the case uses. */
    readonly variant: SelftestVariant,
  ) {
    this.ps = k.pageSize;
  }

  /** ASSERT_TRUE. */
  assert(ok: boolean, what: string): asserts ok {
    if (!ok) throw new SelftestFailure(what);
  }

  /** ASSERT_EQ with both values in the message. */
  eq(got: unknown, want: unknown, what: string): void {
    if (got !== want) throw new SelftestFailure(`${what}: got ${String(got)}, expected ${String(want)}`);
  }

  /** A buffer object for `size` bytes with a zeroed mirror of `mirrorBytes` (size by default). */
  buffer(size: number, mirrorBytes = size): HmmBuffer {
    return { ptr: 0, size, mirror: new Uint8Array(mirrorBytes), cpages: 0, faults: 0 };
  }

  /** mmap for the test process; asserts success and returns the address. */
  async mmap(args: Partial<MmapArgs> & { length: number }, p: Process = this.p): Promise<number> {
    const addr = await p.mmap({
      prot: PROT_READ | PROT_WRITE,
      flags: MAP_PRIVATE | MAP_ANONYMOUS,
      ...args,
    } as MmapArgs);
    this.assert(addr > 0, `mmap of ${args.length} bytes failed: ${addr}`);
    return addr;
  }

  /** hmm_dmirror_cmd: one command on `fd` over `npages` of `b`; copies the counters on success. */
  async cmd(fd: Dmirror, command: DmirrorCommand, b: HmmBuffer, npages: number): Promise<number> {
    const r: DmirrorCommandResult = await fd.command(command, { addr: b.ptr, npages, mirror: b.mirror });
    if (r.ret === 0) {
      b.cpages = r.cpages;
      b.faults = r.faults;
    }
    return r.ret;
  }

  /** Writes `n` ints value(i) at `addr` (the CPU's view), as the tests' `ptr[i] = ...` loops. */
  async writeInts(addr: number, n: number, value: (i: number) => number, p: Process = this.p): Promise<void> {
    const ret = await p.write(addr, ints(n, value));
    this.eq(ret, 0, `CPU write of ${n} ints at 0x${addr.toString(16)}`);
  }

  /** Reads `n` ints at `addr` through the CPU and checks each equals want(i). */
  async expectInts(
    addr: number,
    n: number,
    want: (i: number) => number,
    what: string,
    p: Process = this.p,
  ): Promise<void> {
    const got = await p.read(addr, n * 4);
    this.assert(got instanceof Uint8Array, `${what}: CPU read failed: ${String(got)}`);
    expectIntsIn(this, got, 0, n, want, what);
  }
}

/** `n` little-endian int32 values value(i). */
export function ints(n: number, value: (i: number) => number): Uint8Array {
  const out = new Uint8Array(n * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < n; i++) view.setInt32(i * 4, value(i), true);
  return out;
}

/** Checks ints [from, from + n) of `bytes` against want(i), naming the first mismatch. */
export function expectIntsIn(
  t: SelftestContext,
  bytes: Uint8Array,
  from: number,
  n: number,
  want: (i: number) => number,
  what: string,
): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = from; i < from + n; i++) {
    const got = view.getInt32(i * 4, true);
    if (got !== want(i)) throw new SelftestFailure(`${what}: int ${i} is ${got}, expected ${want(i)}`);
  }
}

/** One case of the catalogue. */
export interface SelftestCase {
  /** The case's name (the selftest's TEST_F name). */
  name: string;
  /** 'hmm' opens one device file; 'hmm2' opens files on two distinct devices. */
  fixture: 'hmm' | 'hmm2';
  /** Kernel options beyond the defaults. */
  kernel?: {
    /** Pages of system RAM (32768 by default). */
    memoryPages?: number;
    /** PMD-sized huge pages set aside for the hugetlb pool (nr_hugepages; 1 by default). */
    hugetlbPages?: number;
  };
  /**
   * The case body (TEST_F's), run in the harness's simulated thread after the fixture's devices are
   * open; fails by throwing SelftestFailure, skips with SelftestSkip. May sleep.
   */
  run(t: SelftestContext): Promise<void>;
}

/** The outcome of one case in one variant. */
export interface SelftestResult {
  /** The case's name. */
  name: string;
  /** The device-memory kind it ran against. */
  variant: SelftestVariant;
  /** 'fail' also covers a checker violation or a run that did not end 'ok'. */
  status: 'pass' | 'fail' | 'skip';
  /** Why it failed or was skipped. */
  message?: string;
  /** Scheduler steps the run took. */
  steps: number;
}

/**
 * Runs one case in one variant in a fresh simulation: a Kernel of 32768 pages with one hugetlb page,
 * a process, the fixture's device files opened, the body, then the fixture teardown (close, asserting
 * 0). Never throws for a failing case.
 */
export async function runSelftestCase(c: SelftestCase, variant: SelftestVariant): Promise<SelftestResult> {
  const sim = new Simulation({ seed: 1, maxSteps: 100_000_000 });
  let outcome: { status: 'pass' | 'fail' | 'skip'; message?: string } = { status: 'pass' };
  const run = await sim.run((s) => {
    const k = new Kernel(s, {
      memoryPages: c.kernel?.memoryPages ?? 32768,
      swapPages: 0,
      hugetlbPages: c.kernel?.hugetlbPages ?? 1,
    });
    const p = k.createProcess('hmm-tests');
    const t = new SelftestContext(s, k, p, variant);
    s.spawn('hmm-tests', async () => {
      try {
        t.dev0 = new DmirrorDevice(k, { memory: variant });
        t.fd = t.fd0 = await t.dev0.open(p);
        if (c.fixture === 'hmm2') {
          t.dev1 = new DmirrorDevice(k, { memory: variant });
          t.fd1 = await t.dev1.open(p);
        }
        await c.run(t);
        t.eq(await t.fd0.close(), 0, 'teardown: close(fd0)');
        if (c.fixture === 'hmm2') t.eq(await t.fd1.close(), 0, 'teardown: close(fd1)');
      } catch (e) {
        if (e instanceof SelftestFailure) outcome = { status: 'fail', message: e.message };
        else if (e instanceof SelftestSkip) outcome = { status: 'skip', message: e.message };
        else throw e;
      }
    });
  });
  if (run.status !== 'ok' && outcome.status === 'pass') {
    const v = run.violations[0];
    outcome = { status: 'fail', message: v ? `${v.kind}: ${v.message}` : `run ended: ${run.status}` };
  }
  return { name: c.name, variant, ...outcome, steps: run.steps };
}
