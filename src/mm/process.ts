/**
 * Processes (task_struct and its mm, as far as the memory model needs): the system calls a user
 * program makes on its address space, its CPU accesses, fork, exit, kill and wait.
 */
import { EINVAL, ESRCH, errnoName } from '../sim/errno.js';
import { WaitQueue } from '../sim/sync/waitqueue.js';
import { SIGKILL } from './constants.js';
import { Mm } from './mm.js';
import { accessUserMemory, type UserMemoryChange } from './access.js';
import { MAP_FIXED, MAP_FIXED_NOREPLACE } from './constants.js';
import { doMmap, type MmapArgs } from './mmap.js';
import { doMunmap } from './munmap.js';
import { doMprotect } from './mprotect.js';
import { doMadvise } from './madvise.js';
import { doMremap } from './mremap.js';
import { dupMmap } from './fork.js';
import type { Kernel } from './kernel.js';

/** What wait() returns: the pid, the exit code (exit(code)), and the killing signal (0 if none). */
export interface ExitStatus {
  /** The pid of the process that ended. */
  pid: number;
  /** The code it passed to exit(); 0 when a signal killed it. */
  code: number;
  /** The signal that killed it (SIGKILL), or 0 when it exited. */
  signal: number;
}

/** A process's life: running, exited or killed (a zombie until waited for), reaped. */
export type ProcessState = 'alive' | 'zombie' | 'reaped';

/** Thrown by the convenience forms (`fork()`) when the call they wrap returns -errno. */
export class MmError extends Error {
  constructor(
    /** The negative errno the wrapped call returned. */
    readonly errno: number,
    what: string,
  ) {
    super(`${what} failed with ${errnoName(errno)}`);
    this.name = 'MmError';
  }
}

/**
 * A user process: `pid`, its address space `mm`, and the operations its threads perform. Any simulated
 * thread may act as a thread of the process by calling these; while a call runs it holds its own
 * mm_users reference (as each thread of a CLONE_VM group does), so a concurrent exit or kill tears the
 * address space down only once the last call in flight has finished.
 *
 * A process has no simulated thread of its own: a forked child stays alive until exit() or kill().
 * Calls on a process that has exited return -ESRCH.
 */
export class Process {
  /** The process's address space (its mm_struct), created with it and named `name[pid]`. */
  readonly mm: Mm;
  private procState: ProcessState = 'alive';
  /** How it ended, once exit or kill has torn its address space down; null before. */
  status: ExitStatus | null = null;
  /** Its children not yet reaped, in fork order. */
  readonly children: Process[] = [];
  private readonly exitWait: WaitQueue;

  constructor(
    /** The kernel the process runs on. */
    readonly kernel: Kernel,
    /** Its process id, unique in the kernel, from 1. */
    readonly pid: number,
    /** The name given at creation (a forked child's is its parent's), for reports. */
    readonly name: string,
    /** The process that forked it; null for a first process, and set to null when the parent exits. */
    public parent: Process | null,
  ) {
    this.mm = new Mm(kernel, `${name}[${pid}]`);
    this.exitWait = new WaitQueue(kernel.sim, `exit ${name}[${pid}]`);
    parent?.children.push(this);
    kernel.hooks.userMemory?.newMm(this.mm);
  }

  /**
   * Running, exited (a zombie) or reaped. Every thread's call reads it without a lock (as the
   * kernel tests PF_EXITING): for dpor, a read of the process's exit object, which exit writes.
   */
  get state(): ProcessState {
    this.kernel.sim.touch(this.exitWait.name, true);
    return this.procState;
  }

  private setState(s: ProcessState): void {
    this.kernel.sim.touch(this.exitWait.name);
    this.procState = s;
  }

  // -------------------------------------------------------------------------------------------
  // System calls on the address space
  // -------------------------------------------------------------------------------------------

  /** mmap(2): the mapped address or -errno (see doMmap). May sleep. */
  mmap(args: MmapArgs): Promise<number> {
    const fixed = (args.flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) !== 0 && typeof args.addr === 'number';
    const start = fixed ? args.addr! : 0;
    return this.procCall(() =>
      this.contentsCall(start, fixed ? start + args.length : 0, { kind: 'mmap', length: args.length }, () =>
        doMmap(this.mm, args),
      ),
    );
  }

  /** munmap(2): 0 or -errno (see doMunmap). May sleep. */
  munmap(addr: number, length: number): Promise<number> {
    return this.procCall(() =>
      this.contentsCall(addr, addr + length, { kind: 'munmap' }, () => doMunmap(this.mm, addr, length)),
    );
  }

  /** mprotect(2): 0 or -errno (see doMprotect). May sleep. */
  mprotect(addr: number, length: number, prot: number): Promise<number> {
    return this.procCall(() => doMprotect(this.mm, addr, length, prot));
  }

  /** madvise(2): 0 or -errno (see doMadvise). May sleep. */
  madvise(addr: number, length: number, advice: number): Promise<number> {
    return this.procCall(() =>
      this.contentsCall(addr, addr + length, { kind: 'madvise', advice }, () =>
        doMadvise(this.mm, addr, length, advice),
      ),
    );
  }

  /** mremap(2): the (new) address or -errno (see doMremap). May sleep. */
  mremap(oldAddr: number, oldLength: number, newLength: number, flags = 0, newAddr = 0): Promise<number> {
    const change: UserMemoryChange = { kind: 'mremap', oldAddr, oldLength, newLength, flags };
    return this.procCall(() =>
      this.contentsCall(
        oldAddr,
        oldAddr + oldLength,
        change,
        () => doMremap(this.mm, oldAddr, oldLength, newLength, flags, newAddr),
        newAddr,
        newAddr + newLength,
      ),
    );
  }

  // -------------------------------------------------------------------------------------------
  // CPU accesses
  // -------------------------------------------------------------------------------------------

  /** Reads `n` bytes at `addr` as the CPU does: the bytes, or -EFAULT (segfault) / -ENOMEM. May sleep. */
  async read(addr: number, n: number): Promise<Uint8Array | number> {
    checkAccess(addr, n);
    const buf = new Uint8Array(n);
    const ret = await this.procCall(() => accessUserMemory(this.mm, addr, n, false, buf));
    return ret < 0 ? ret : buf;
  }

  /** Writes `bytes` at `addr` as the CPU does: 0, or -EFAULT (segfault) / -ENOMEM. May sleep. */
  write(addr: number, bytes: Uint8Array): Promise<number> {
    if (!(bytes instanceof Uint8Array)) throw new TypeError('write: bytes must be a Uint8Array');
    checkAccess(addr, bytes.length);
    return this.procCall(() => accessUserMemory(this.mm, addr, bytes.length, true, bytes));
  }

  /** A little-endian u32 load: the value, or a negative errno. May sleep. */
  async readU32(addr: number): Promise<number> {
    const b = await this.read(addr, 4);
    if (typeof b === 'number') return b;
    return new DataView(b.buffer).getUint32(0, true);
  }

  /** A little-endian u64 load: the value as a bigint, or a negative errno (a number). May sleep. */
  async readU64(addr: number): Promise<bigint | number> {
    const b = await this.read(addr, 8);
    if (typeof b === 'number') return b;
    return new DataView(b.buffer).getBigUint64(0, true);
  }

  /** A little-endian u32 store: 0 or a negative errno. May sleep. */
  writeU32(addr: number, value: number): Promise<number> {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, value >>> 0, true);
    return this.write(addr, b);
  }

  /** A little-endian u64 store (bigint or safe integer): 0 or a negative errno. May sleep. */
  writeU64(addr: number, value: bigint | number): Promise<number> {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, BigInt(value)), true);
    return this.write(addr, b);
  }

  // -------------------------------------------------------------------------------------------
  // fork, exit, kill, wait
  // -------------------------------------------------------------------------------------------

  /**
   * kernel_clone without CLONE_VM: a child process with a copy of this address space (dup_mmap: COW
   * for private memory, shared memory shared). Returns the child or -errno (-ENOMEM, -EINTR, -ESRCH).
   * May sleep.
   */
  async forkOrErrno(): Promise<Process | number> {
    if (this.state !== 'alive') return -ESRCH;
    this.mm.mmget();
    const child = this.kernel.kernelNewProcess(this.name, this);
    const obs = this.kernel.hooks.userMemory;
    const h = obs?.forkBegin(this.mm);
    const ret = await dupMmap(child.mm, this.mm);
    if (obs !== undefined) obs.forkEnd(this.mm, h!, ret < 0 ? null : child.mm);
    await this.mm.mmput();
    if (ret < 0) {
      await child.procExit(0, 0);
      child.procReap();
      return ret;
    }
    return child;
  }

  /** fork(): as forkOrErrno, throwing an MmError when it fails. May sleep. */
  async fork(): Promise<Process> {
    const r = await this.forkOrErrno();
    if (typeof r === 'number') throw new MmError(r, `fork of ${this.name}[${this.pid}]`);
    return r;
  }

  /**
   * exit(code) (do_exit → exit_mm): the task drops its reference on the mm (mmput; the last one runs
   * exit_mmap: notifier release, then teardown) and the process becomes a zombie until waited for.
   * Returns 0, or -ESRCH if it already exited. May sleep.
   */
  exit(code = 0): Promise<number> {
    if (this.state !== 'alive') return Promise.resolve(-ESRCH);
    return this.procExit(code, 0);
  }

  /**
   * kill(pid, sig): only SIGKILL is modelled (-EINVAL otherwise): the process dies as by exit with
   * signal 9 (wait reports { code: 0, signal: SIGKILL }). Returns 0, or -ESRCH if already dead.
   * Threads in the middle of a call on it finish that call. May sleep.
   */
  kill(signal: number = SIGKILL): Promise<number> {
    if (signal !== SIGKILL) return Promise.resolve(-EINVAL);
    if (this.state !== 'alive') return Promise.resolve(-ESRCH);
    return this.procExit(0, signal);
  }

  /**
   * wait(): sleeps until the process has exited or was killed, then reaps it and returns its status
   * ({ pid, code, signal }). A second wait returns the same status. May sleep.
   */
  async wait(): Promise<ExitStatus> {
    this.kernel.sim.touch(this.exitWait.name, true); // for dpor: exit sets status
    if (this.status === null) await this.exitWait.waitEvent(() => this.status !== null, 'wait4');
    this.procReap();
    return this.status!;
  }

  /** `process <name>[<pid>]`, for messages. */
  toString(): string {
    return `process ${this.name}[${this.pid}]`;
  }

  // -------------------------------------------------------------------------------------------
  // Internals
  // -------------------------------------------------------------------------------------------

  /** A call made by one of the process's threads: -ESRCH once dead; holds mm_users while running. */
  private async procCall(fn: () => Promise<number>): Promise<number> {
    if (this.state !== 'alive') return -ESRCH;
    this.mm.mmget();
    const ret = await fn();
    await this.mm.mmput();
    return ret;
  }

  /**
   * A call that may replace or discard the contents of [start, end) (and [start2, end2)): told to the
   * contents observer (src/check's lost-writes checker) before and after, when one is installed.
   */
  private async contentsCall(
    start: number,
    end: number,
    change: UserMemoryChange,
    fn: () => Promise<number>,
    start2 = 0,
    end2 = 0,
  ): Promise<number> {
    const obs = this.kernel.hooks.userMemory;
    if (obs === undefined) return fn();
    const h = obs.contentsBegin(this.mm, start, end, start2, end2);
    const ret = await fn();
    obs.contentsEnd(this.mm, h, change, ret);
    return ret;
  }

  /**
   * do_exit: the state turns 'zombie' at once, standing for PF_EXITING as well (new calls get
   * -ESRCH while exit_mm runs), the children are reparented (to nobody: no init is modelled),
   * then mmput; the status that wait reads is set only after it, as exit_notify comes after
   * exit_mm. May sleep.
   */
  private async procExit(code: number, signal: number): Promise<number> {
    this.setState('zombie');
    this.kernel.hooks.userMemory?.exit(this.mm);
    for (const c of this.children) c.parent = null;
    this.children.length = 0;
    await this.mm.mmput();
    this.status = { pid: this.pid, code, signal };
    this.exitWait.wakeUpAll();
    return 0;
  }

  private procReap(): void {
    if (this.state === 'reaped') return;
    this.setState('reaped');
    this.kernel.processes.delete(this.pid);
    if (this.parent !== null) {
      const i = this.parent.children.indexOf(this);
      if (i >= 0) this.parent.children.splice(i, 1);
    }
  }
}

function checkAccess(addr: number, n: number): void {
  if (!Number.isSafeInteger(addr) || addr < 0 || !Number.isSafeInteger(n) || n < 0)
    throw new RangeError(`access: address and length must be non-negative integers, got ${addr}, ${n}`);
}
