/**
 * One open file of the HMM test device (struct dmirror of lib/test_hmm.c): it mirrors the opener's
 * address space through one interval subscription over all of it, keeps the device page table (the
 * DeviceMirror base), and serves the commands of the test ABI through `command`.
 *
 * The device page table holds the page the CPU page table names: for memory migrated to a private
 * device that is the device-private page, whose bytes live in its backing page (dataPfn).
 * Deviation: test_hmm stores the backing page itself; the data path is the same.
 */
import type { Mm } from '../../mm/mm.js';
import type { Process } from '../../mm/process.js';
import type { Vma } from '../../mm/vma.js';
import type { MmapableFile, VmOperations } from '../../mm/vm-ops.js';
import {
  HPAGE_PMD_ORDER,
  USER_VA_END,
  VM_FAULT_SIGBUS,
  VM_MIXEDMAP,
  VM_READ,
  VM_SHARED,
  VM_WRITE,
} from '../../mm/constants.js';
import { PTE_KIND_PRESENT, PTE_WRITE } from '../../mm/page-table.js';
import { ptepSet } from '../../mm/memory.js';
import { Mutex } from '../../sim/sync/mutex.js';
import { WaitQueue } from '../../sim/sync/waitqueue.js';
import { EBUSY, EFAULT, EINVAL, ENOENT, ENOMEM, EPERM } from '../../sim/errno.js';
import { mmuIntervalNotifierInsert, type MmuIntervalNotifier } from '../../notifier/index.js';
import { MMU_NOTIFY_MIGRATE, type MmuNotifierRange } from '../../notifier/types.js';
import { hmmRangeFault } from '../../hmm/range-fault.js';
import {
  HMM_PFN_ERROR,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  hmmPfnFlags,
  hmmPfnToMapOrder,
  hmmPfnToPfn,
} from '../../hmm/pfn.js';
import {
  MIGRATE_PFN_COMPOUND,
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_VALID,
  MIGRATE_PFN_WRITE,
  MIGRATE_VMA_SELECT_COMPOUND,
  MIGRATE_VMA_SELECT_SYSTEM,
  migratePfn,
  migratePfnFlags,
  migratePfnToPage,
  migrateVmaFinalize,
  migrateVmaPages,
  migrateVmaSetup,
} from '../../hmm/migrate-device.js';
import { makeDeviceExclusive } from '../../hmm/exclusive.js';
import type { HmmRange, MigrateVma } from '../../hmm/types.js';
import { DeviceMirror } from '../mirror/device-mirror.js';
import {
  DMIRROR_COMMANDS,
  DMIRROR_FAULT_BATCH,
  DMIRROR_MIGRATE_BATCH,
  DMIRROR_RANGE_FAULT_TIMEOUT_NS,
  HMM_DMIRROR_FLAG_FAIL_ALLOC,
  HMM_DMIRROR_FLAGS_KNOWN,
  HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL,
  HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE,
  HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL,
  HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE,
  HMM_DMIRROR_PROT_ERROR,
  HMM_DMIRROR_PROT_NONE,
  HMM_DMIRROR_PROT_PMD,
  HMM_DMIRROR_PROT_PUD,
  HMM_DMIRROR_PROT_READ,
  HMM_DMIRROR_PROT_WRITE,
  HMM_DMIRROR_PROT_ZERO,
  type DmirrorCommand,
} from './constants.js';
import type { DmirrorDevice } from './device.js';

/** The arguments of `fd.command` (struct hmm_dmirror_cmd): addr, npages and the user buffer. */
export interface DmirrorCommandArgs {
  /** User virtual address, page aligned. */
  addr: number;
  /** Pages (for 'flags': the flag word, as the kernel's ABI carries it). */
  npages: number;
  /** The user buffer: npages pages of data, or npages bytes for 'snapshot'. */
  mirror?: Uint8Array;
  /** For 'flags': the flag word (defaults to npages). */
  flags?: number;
}

/** What `fd.command` gives: the ioctl's return and, on success, the counters it copied back. */
export interface DmirrorCommandResult {
  /** 0 or -errno. */
  ret: number;
  /** Pages processed (0 on failure: the kernel does not copy the command back). */
  cpages: number;
  /** Device fault rounds (0 on failure). */
  faults: number;
}

interface Bounce {
  addr: number;
  data: Uint8Array;
  cpages: number;
}

const hex = (n: number): string => `0x${n.toString(16)}`;

/**
 * Whether src entry `i` starts a whole PMD-aligned PMD of the batch: where the kernel's compound
 * collection would have put one MIGRATE_PFN_COMPOUND entry (see dmAllocAndCopyToDevice).
 */
export function wouldBeCompound(args: MigrateVma, i: number, pmdSize: number): boolean {
  const ps = pmdSize / (1 << HPAGE_PMD_ORDER);
  return (args.start + i * ps) % pmdSize === 0 && i + (1 << HPAGE_PMD_ORDER) <= args.src.length;
}

/** An open file of the HMM test device: `await dev.open(p)`. */
export class Dmirror extends DeviceMirror implements MmapableFile {
  /** dmirror->mutex: the driver's update lock (invalidate callback, device page-table programming). */
  readonly mutex: Mutex;
  /** The subscription over the whole address space. */
  notifier: MmuIntervalNotifier | null = null;
  /** dmirror->flags (HMM_DMIRROR_FLAG_*). */
  flags = 0;
  /** Set by close(); every later command, mmap or close then fails with -EINVAL. */
  closed = false;
  /** Commands in flight: each holds a reference on the file, as an ioctl does (fdget). */
  private commandsInFlight = 0;
  /** Woken when the last command in flight ends (the last fput of a closed file). */
  private readonly commandsDone: WaitQueue;
  /** Counts of what the exploration proves it reached (not used to decide anything). */
  readonly stats = {
    /** hmm_range_fault returned -EBUSY and the fault started over. */
    busyRetries: 0,
    /** read_retry found an invalidation after the walk and the fault started over. */
    readRetries: 0,
    /** Pages a migration checked and found not migrated. */
    notMigrated: 0,
    /** MIGRATE invalidations skipped because this device owns them. */
    skippedOwnMigrate: 0,
    /** Device-private entries counted in invalidated ranges (mirrors of at most 64 entries). */
    zappedDevicePrivate: 0,
  };
  private readonly vmOps: VmOperations;

  constructor(
    /** The device this file was opened on. */
    readonly device: DmirrorDevice,
    p: Process,
  ) {
    super(device.kernel, `${device.name}.fd${device.files.size}`, p);
    this.mutex = new Mutex(this.sim, `${this.name}.mutex`);
    this.commandsDone = new WaitQueue(this.sim, `${this.name}.fput`);
    this.vmOps = { name: 'dmirror_vm_ops', fault: () => Promise.resolve(VM_FAULT_SIGBUS) };
  }

  /** dmirror_fops_open: the subscription over [0, USER_VA_END) of the opener's mm. May sleep. */
  async init(): Promise<void> {
    const ps = this.kernel.pageSize;
    this.notifier = await mmuIntervalNotifierInsert(
      this.mm,
      0,
      USER_VA_END - ps,
      { invalidate: (sub, range, curSeq) => this.dmInvalidate(sub, range, curSeq) },
      { name: `${this.name} notifier` },
    );
  }

  protected override dataPfn(pfn: number): number {
    return this.device.dataPfn(pfn);
  }

  /**
   * dmirror_interval_invalidate: skip this device's own MIGRATE events; else lock (trylock when not
   * blockable), set_seq, erase entries [start, end] (inclusive of the page at end, as test_hmm does),
   * unlock. May sleep (blockable ranges).
   */
  private async dmInvalidate(
    sub: MmuIntervalNotifier,
    range: MmuNotifierRange,
    curSeq: number,
  ): Promise<boolean> {
    if (range.event === MMU_NOTIFY_MIGRATE && range.owner === this.device) {
      this.stats.skippedOwnMigrate++;
      return true;
    }
    if (range.blockable) await this.mutex.lock();
    else if (!(await this.mutex.trylock())) return false;
    sub.setSeq(curSeq);
    const ps = this.kernel.pageSize;
    if (this.device.mistakes.skipDevicePrivateZap) {
      const phys = this.kernel.phys;
      this.sim.touch(this.name); // for dpor: a device page-table write
      for (const [va, e] of [...this.entries])
        if (va >= range.start && va <= range.end && !phys.isDevicePrivate(e.pfn)) this.entries.delete(va);
    } else {
      const end = Math.min(range.end, USER_VA_END) + ps;
      if (this.entries.size <= 64) {
        const phys = this.kernel.phys;
        for (const [va, e] of this.entries)
          if (va >= range.start && va < end && phys.isDevicePrivate(e.pfn)) this.stats.zappedDevicePrivate++;
      }
      this.unmapRange(range.start, end);
    }
    this.mutex.unlock();
    return true;
  }

  /** Consumes HMM_DMIRROR_FLAG_FAIL_ALLOC: true when this allocation is to fail. */
  consumeFailAlloc(): boolean {
    if (!(this.flags & HMM_DMIRROR_FLAG_FAIL_ALLOC)) return false;
    this.flags &= ~HMM_DMIRROR_FLAG_FAIL_ALLOC;
    return true;
  }

  // -------------------------------------------------------------------------------------------
  // The command interface (dmirror_fops_unlocked_ioctl)
  // -------------------------------------------------------------------------------------------

  /**
   * ioctl(fd, HMM_DMIRROR_<cmd>, &cmd). Validates as the kernel's prologue does (-EINVAL for an
   * unknown command, a misaligned address, zero pages or a wrapping range) and, before any work, that
   * `mirror` is long enough (-EINVAL; Deviation: the kernel finds a short user buffer only at
   * copy_to_user, with -EFAULT after the work; the model refuses first so nothing is half applied).
   * On failure `mirror` is untouched and the counters are 0. Call from a simulated thread. May sleep.
   */
  async command(cmd: DmirrorCommand, args: DmirrorCommandArgs): Promise<DmirrorCommandResult> {
    if (this.closed) return { ret: -EINVAL, cpages: 0, faults: 0 };
    this.commandsInFlight++;
    try {
      return await this.dmCommand(cmd, args);
    } finally {
      if (--this.commandsInFlight === 0) this.commandsDone.wakeUpAll();
    }
  }

  /** The body of {@link command}, run while the command holds its file reference. May sleep. */
  private async dmCommand(cmd: DmirrorCommand, args: DmirrorCommandArgs): Promise<DmirrorCommandResult> {
    const fail = (ret: number): DmirrorCommandResult => ({ ret, cpages: 0, faults: 0 });
    if (typeof cmd !== 'string' || !Object.prototype.hasOwnProperty.call(DMIRROR_COMMANDS, cmd))
      return fail(-EINVAL);
    if (args === null || typeof args !== 'object') return fail(-EINVAL);
    const ps = this.kernel.pageSize;
    const { addr, npages } = args;
    if (!Number.isSafeInteger(addr) || addr < 0 || addr % ps !== 0) return fail(-EINVAL);
    if (!Number.isSafeInteger(npages) || npages <= 0 || addr + npages * ps > USER_VA_END)
      return fail(-EINVAL);
    const need = cmd === 'snapshot' ? npages : npages * ps;
    const usesMirror =
      cmd !== 'check-exclusive' && cmd !== 'release' && cmd !== 'flags' && cmd !== 'migrate-to-sys';
    if (usesMirror && (!(args.mirror instanceof Uint8Array) || args.mirror.length < need))
      return fail(-EINVAL);
    const res = { cpages: 0, faults: 0 };
    let ret: number;
    switch (cmd) {
      case 'read':
        ret = await this.dmRead(addr, npages, args.mirror!, res);
        break;
      case 'write':
        ret = await this.dmWrite(addr, npages, args.mirror!, res);
        break;
      case 'migrate-to-dev':
        ret = await this.dmMigrateToDevice(addr, npages, args.mirror!, res);
        break;
      case 'migrate-to-sys':
        ret = await this.dmMigrateToSystem(addr, npages, res);
        break;
      case 'snapshot':
        ret = await this.dmSnapshot(addr, npages, args.mirror!, res);
        break;
      case 'exclusive':
        ret = await this.dmExclusive(addr, npages, args.mirror!, res);
        break;
      case 'check-exclusive':
        ret = await this.dmCheckAtomic(addr, npages);
        break;
      case 'release':
        await this.device.evictAll();
        ret = 0;
        break;
      case 'flags': {
        const word = args.flags ?? npages;
        if (!Number.isSafeInteger(word) || word < 0 || word & ~HMM_DMIRROR_FLAGS_KNOWN) return fail(-EINVAL);
        this.flags = word;
        ret = 0;
        break;
      }
    }
    return ret === 0 ? { ret, ...res } : fail(ret);
  }

  /**
   * close(2) and the last fput, dmirror_fops_release: no new command starts (-EINVAL, the model's
   * EBADF); the release waits for the commands in flight, each of which holds a file reference as
   * an ioctl does; then it removes the subscription, evicts this device's memory (newest tree) and
   * drops the device page table. Returns 0; a second close gives -EINVAL, as a closed fd would give
   * -EBADF. May sleep.
   *
   * Deviation: the closing thread waits and runs the release itself; in the kernel close(2) returns
   * at once and the release runs in whichever thread drops the last reference.
   */
  async close(): Promise<number> {
    if (this.closed) return -EINVAL;
    this.closed = true;
    await this.commandsDone.waitEvent(() => this.commandsInFlight === 0, 'fput');
    // No command can use the device page table any more: drop it (and stop checking it) now. The
    // kernel destroys it after the notifier is removed; in between nothing reads it, but it holds
    // entries no callback will zap once the subscription is gone.
    await this.mutex.lock();
    this.retire();
    this.mutex.unlock();
    if (this.notifier !== null) await this.notifier.remove();
    this.notifier = null;
    this.device.files.delete(this);
    await this.device.evictAll();
    return 0;
  }

  /** The Drivers API's detach: close(). May sleep. */
  async detach(): Promise<void> {
    await this.close();
  }

  // -------------------------------------------------------------------------------------------
  // READ / WRITE and the device fault path
  // -------------------------------------------------------------------------------------------

  /** The device page-table walk of do_read / do_write: -ENOENT at the first unusable page. */
  private dmDoCopy(b: Bounce, start: number, end: number, write: boolean): number {
    const ps = this.kernel.pageSize;
    const phys = this.kernel.phys;
    for (let va = start; va < end; va += ps) {
      const e = this.entries.get(va);
      if (e === undefined || (write && (!e.write || e.atomic))) return -ENOENT;
      const off = va - b.addr;
      const data = this.dataPfn(e.pfn);
      this.checkEntry(va, e, write);
      if (write) phys.writeBytes(data, 0, b.data, off, ps);
      else phys.readBytes(data, 0, b.data, off, ps);
      this.noteCopy(va, 0, data, b.data, off, ps, write);
      b.cpages++;
    }
    return 0;
  }

  private async dmRead(
    addr: number,
    npages: number,
    mirror: Uint8Array,
    res: { cpages: number; faults: number },
  ): Promise<number> {
    const ps = this.kernel.pageSize;
    const end = addr + npages * ps;
    const b: Bounce = { addr, data: new Uint8Array(npages * ps), cpages: 0 };
    let start = addr;
    let ret: number;
    for (;;) {
      await this.mutex.lock();
      await this.sim.point('device_read', `${this.name} ${hex(start)}`);
      ret = this.dmDoCopy(b, start, end, false);
      this.mutex.unlock();
      if (ret !== -ENOENT) break;
      start = addr + b.cpages * ps;
      ret = await this.dmFault(start, end, false);
      if (ret !== 0) break;
      res.faults++;
    }
    if (ret !== 0) return ret;
    mirror.set(b.data);
    res.cpages = b.cpages;
    return 0;
  }

  private async dmWrite(
    addr: number,
    npages: number,
    mirror: Uint8Array,
    res: { cpages: number; faults: number },
  ): Promise<number> {
    const ps = this.kernel.pageSize;
    const end = addr + npages * ps;
    const b: Bounce = { addr, data: mirror.slice(0, npages * ps), cpages: 0 };
    let start = addr;
    let ret: number;
    for (;;) {
      await this.mutex.lock();
      await this.sim.point('device_write', `${this.name} ${hex(start)}`);
      ret = this.dmDoCopy(b, start, end, true);
      this.mutex.unlock();
      if (ret !== -ENOENT) break;
      start = addr + b.cpages * ps;
      ret = await this.dmFault(start, end, true);
      if (ret !== 0) break;
      res.faults++;
    }
    if (ret !== 0) return ret;
    res.cpages = b.cpages;
    return 0;
  }

  /**
   * The DeviceMirror fault hook (device accesses through `access`): dmirror_fault for one page.
   * May sleep.
   */
  protected fault(va: number, write: boolean): Promise<number> {
    return this.dmFault(va, va + this.kernel.pageSize, write);
  }

  /**
   * dmirror_fault: mmget_not_zero (else -EFAULT), then dmirror_range_fault over [start, end) in
   * batches of DMIRROR_FAULT_BATCH pages, stopping at the first error. No locks held. May sleep.
   */
  private async dmFault(start: number, end: number, write: boolean): Promise<number> {
    const mm = this.mm;
    const sub = this.notifier;
    if (sub === null || !mm.mmgetNotZero()) return -EFAULT;
    const ps = this.kernel.pageSize;
    let ret = 0;
    try {
      for (let addr = start; addr < end;) {
        const next = Math.min(end, addr + DMIRROR_FAULT_BATCH * ps);
        const range: HmmRange = {
          notifier: sub,
          notifierSeq: 0,
          start: addr,
          end: next,
          hmmPfns: new Array<number>((next - addr) / ps).fill(0),
          defaultFlags: HMM_PFN_REQ_FAULT | (write ? HMM_PFN_REQ_WRITE : 0),
          pfnFlagsMask: 0,
          devPrivateOwner: this.device,
        };
        ret = await this.dmRangeFault(range);
        if (ret !== 0) break;
        addr = next;
      }
    } finally {
      await mm.mmput();
    }
    return ret;
  }

  /**
   * dmirror_range_fault: the collision-retry loop of Documentation/mm/hmm.rst with the kernel test's
   * deadline (HMM_RANGE_DEFAULT_TIMEOUT of virtual time; then -EBUSY), then dmirror_do_fault under
   * the mutex. May sleep.
   */
  private async dmRangeFault(range: HmmRange): Promise<number> {
    const mm = this.mm;
    const sub = range.notifier;
    const deadline = this.sim.now() + DMIRROR_RANGE_FAULT_TIMEOUT_NS;
    for (;;) {
      if (this.sim.now() > deadline) return -EBUSY;
      range.notifierSeq = await sub.readBegin();
      await mm.mmapLock.downRead();
      const ret = await hmmRangeFault(range);
      mm.mmapLock.upRead();
      if (ret === -EBUSY && this.device.mistakes.ignoreEbusy) {
        await this.mutex.lock();
        break;
      }
      if (ret !== 0) {
        if (ret === -EBUSY) {
          this.stats.busyRetries++;
          continue;
        }
        return ret;
      }
      await this.mutex.lock();
      if (sub.readRetry(range.notifierSeq)) {
        this.mutex.unlock();
        this.stats.readRetries++;
        continue;
      }
      break;
    }
    const ret = this.dmDoFault(range);
    this.mutex.unlock();
    return ret;
  }

  /** dmirror_do_fault: program the device page table from a successful walk. Caller holds the mutex. */
  private dmDoFault(range: HmmRange): number {
    this.sim.assertHeld(this.mutex, 'dmirror_do_fault');
    const ps = this.kernel.pageSize;
    const wantWrite = (range.defaultFlags & HMM_PFN_REQ_WRITE) !== 0;
    for (let i = 0; i < range.hmmPfns.length; i++) {
      const entry = range.hmmPfns[i];
      const f = hmmPfnFlags(entry);
      if (!this.device.mistakes.ignoreEbusy && (f & HMM_PFN_ERROR || !(f & HMM_PFN_VALID))) return -EFAULT;
      const write = (f & HMM_PFN_WRITE) !== 0;
      if (wantWrite && !write && !this.device.mistakes.ignoreEbusy) return -EFAULT;
      this.mapPage(range.start + i * ps, hmmPfnToPfn(entry), { write });
    }
    return 0;
  }

  // -------------------------------------------------------------------------------------------
  // Migration
  // -------------------------------------------------------------------------------------------

  /**
   * dmirror_migrate_to_device: under the mmap read lock, per VMA-bounded batch: setup (system pages,
   * compound), allocate and copy, migrate_vma_pages, program the device page table for the entries
   * that migrated, finalize. Then read the whole range back through the device page table (-ENOENT
   * when a page is not there: nothing migrated). May sleep.
   */
  private async dmMigrateToDevice(
    addr: number,
    npages: number,
    mirror: Uint8Array,
    res: { cpages: number; faults: number },
  ): Promise<number> {
    const ps = this.kernel.pageSize;
    const end = addr + npages * ps;
    let ret = await this.dmMigrateBatches(
      addr,
      end,
      MIGRATE_VMA_SELECT_SYSTEM | MIGRATE_VMA_SELECT_COMPOUND,
      async (args) => {
        this.dmAllocAndCopyToDevice(args);
        if (this.device.mistakes.mapBeforePages) await this.dmFinalizeAndMap(args, false);
        await migrateVmaPages(args);
        await this.dmFinalizeAndMap(args, true);
        await migrateVmaFinalize(args);
        return 0;
      },
    );
    if (ret !== 0) return ret;
    const b: Bounce = { addr, data: new Uint8Array(npages * ps), cpages: 0 };
    await this.mutex.lock();
    ret = this.dmDoCopy(b, addr, end, false);
    this.mutex.unlock();
    if (ret !== 0) return ret;
    mirror.set(b.data);
    res.cpages = b.cpages;
    return 0;
  }

  /**
   * The batch loop both migration commands share: takes an mm_users reference and the mmap lock
   * for read, then for each VMA-bounded batch of at most DMIRROR_MIGRATE_BATCH pages of [addr, end)
   * runs migrate_vma_setup with `flags` (this device as pgmap owner) and hands the batch to `batch`,
   * whose non-zero return ends the loop. -EINVAL for a hole, an unreadable VMA or a dying mm. May
   * sleep.
   */
  private async dmMigrateBatches(
    addr: number,
    end: number,
    flags: number,
    batch: (args: MigrateVma) => Promise<number>,
  ): Promise<number> {
    const mm = this.mm;
    const ps = this.kernel.pageSize;
    if (!mm.mmgetNotZero()) return -EINVAL;
    let ret = 0;
    await mm.mmapLock.downRead();
    for (let start = addr; start < end;) {
      const vma = mm.vmas.lookup(start);
      if (vma === undefined || !(vma.flags & VM_READ)) {
        ret = -EINVAL;
        break;
      }
      const next = Math.min(end, start + DMIRROR_MIGRATE_BATCH * ps, vma.end);
      const n = (next - start) / ps;
      const args: MigrateVma = {
        mm,
        vma,
        start,
        end: next,
        src: new Array<number>(n).fill(0),
        dst: new Array<number>(n).fill(0),
        cpages: 0,
        npages: 0,
        pgmapOwner: this.device,
        flags,
      };
      ret = await migrateVmaSetup(args);
      if (ret === 0) ret = await batch(args);
      if (ret !== 0) break;
      start = next;
    }
    mm.mmapLock.upRead();
    await mm.mmput();
    return ret;
  }

  /**
   * dmirror_migrate_alloc_and_copy: a locked device page per collected entry, holding the source's
   * data (or zeros for a hole); for a compound entry (a THP) one PMD-order device folio, or — when that
   * allocation fails, FAIL_ALLOC included — base pages for each of its pages (the core then splits the
   * source). FAIL_ALLOC on an order-0 entry leaves it in system memory.
   * Deviation: the model collects empty PMD ranges page by page, so a hole entry that starts a whole
   * PMD-aligned PMD of the batch stands for the compound hole entry the kernel would have collected
   * there: FAIL_ALLOC consumed on it takes the fallback (every page still migrates), as the kernel's
   * does.
   */
  private dmAllocAndCopyToDevice(args: MigrateVma): void {
    const phys = this.kernel.phys;
    const dev = this.device;
    for (let i = 0; i < args.src.length; i++) {
      const word = args.src[i];
      const flags = migratePfnFlags(word);
      if (!(flags & MIGRATE_PFN_MIGRATE)) continue;
      const compound = (flags & MIGRATE_PFN_COMPOUND) !== 0;
      const spfn = migratePfnToPage(word);
      if (spfn >= 0 && phys.zoneOf(spfn) === 'device') continue;
      const nr = Math.min(compound ? phys.folioNrPages(spfn) : 1, args.src.length - i);
      const failed = this.consumeFailAlloc();
      if (failed && !compound && !(spfn < 0 && wouldBeCompound(args, i, this.kernel.pmdSize))) continue;
      const folio = compound && !failed ? dev.allocFolio() : -1;
      if (folio >= 0) {
        for (let j = 0; j < nr; j++) phys.copyPage(dev.dataPfn(folio + j), spfn + j);
        dev.migratedBy.set(folio, this);
        args.dst[i] = migratePfn(folio) + (flags & MIGRATE_PFN_WRITE) + MIGRATE_PFN_COMPOUND;
        continue;
      }
      for (let j = 0; j < nr; j++) {
        const dpfn = dev.allocPage();
        if (dpfn < 0) break;
        const data = dev.dataPfn(dpfn);
        if (spfn >= 0) phys.copyPage(data, spfn + j);
        else phys.clearPage(data);
        dev.migratedBy.set(dpfn, this);
        args.dst[i + j] = migratePfn(dpfn) + (flags & MIGRATE_PFN_WRITE);
      }
    }
  }

  /**
   * dmirror_migrate_finalize_and_map: under the mutex, map every destination of an entry still marked
   * MIGRATE (writable with MIGRATE_PFN_WRITE). With `checked` false (the mapBeforePages mistake) it maps
   * every destination the driver filled, before migrate_vma_pages decided. May sleep (mutex).
   */
  private async dmFinalizeAndMap(args: MigrateVma, checked: boolean): Promise<void> {
    const ps = this.kernel.pageSize;
    await this.mutex.lock();
    for (let i = 0; i < args.src.length; i++) {
      const dpfn = migratePfnToPage(args.dst[i]);
      if (dpfn < 0) continue;
      const migrating = (migratePfnFlags(args.src[i]) & MIGRATE_PFN_MIGRATE) !== 0;
      if (checked && !migrating) {
        this.stats.notMigrated++;
        continue;
      }
      const f = migratePfnFlags(args.dst[i]);
      const nr = f & MIGRATE_PFN_COMPOUND ? this.kernel.phys.folioNrPages(dpfn) : 1;
      for (let j = 0; j < nr; j++)
        this.mapPage(args.start + (i + j) * ps, dpfn + j, { write: (f & MIGRATE_PFN_WRITE) !== 0 });
    }
    this.mutex.unlock();
  }

  /**
   * dmirror_migrate_to_system: this device's pages in the range back to system memory, per VMA batch
   * (-EINVAL for a hole or an unreadable VMA). cpages counts the entries that migrated. May sleep.
   */
  private async dmMigrateToSystem(
    addr: number,
    npages: number,
    res: { cpages: number; faults: number },
  ): Promise<number> {
    const end = addr + npages * this.kernel.pageSize;
    return this.dmMigrateBatches(
      addr,
      end,
      this.device.selectFlag | MIGRATE_VMA_SELECT_COMPOUND,
      async (args) => {
        const ret = await this.device.allocAndCopyToSys(args, this);
        if (ret !== 0) {
          await migrateVmaFinalize(args);
          return ret;
        }
        await migrateVmaPages(args);
        for (let i = 0; i < args.src.length; i++) {
          const f = migratePfnFlags(args.src[i]);
          // A compound entry counts every page it covers.
          if (f & MIGRATE_PFN_VALID && f & MIGRATE_PFN_MIGRATE)
            res.cpages +=
              f & MIGRATE_PFN_COMPOUND ? this.kernel.phys.folioNrPages(migratePfnToPage(args.src[i])) : 1;
        }
        await migrateVmaFinalize(args);
        return 0;
      },
    );
  }

  // -------------------------------------------------------------------------------------------
  // SNAPSHOT
  // -------------------------------------------------------------------------------------------

  private async dmSnapshot(
    addr: number,
    npages: number,
    mirror: Uint8Array,
    res: { cpages: number; faults: number },
  ): Promise<number> {
    const mm = this.mm;
    const ps = this.kernel.pageSize;
    const end = addr + npages * ps;
    if (!mm.mmgetNotZero()) return -EINVAL;
    const out = new Uint8Array(npages);
    let ret = 0;
    try {
      for (let start = addr; start < end;) {
        const next = Math.min(end, start + DMIRROR_FAULT_BATCH * ps);
        ret = await this.dmRangeSnapshot(start, next, out, (start - addr) / ps);
        if (ret !== 0) break;
        res.cpages += (next - start) / ps;
        start = next;
      }
    } finally {
      await mm.mmput();
    }
    if (ret !== 0) return ret;
    mirror.set(out);
    return 0;
  }

  /**
   * dmirror_range_snapshot: a temporary subscription exactly over the batch (its callback only bumps
   * the sequence), the C.2 loop without faulting, then one byte per page under the mutex. May sleep.
   */
  private async dmRangeSnapshot(start: number, end: number, out: Uint8Array, at: number): Promise<number> {
    const mm = this.mm;
    const ps = this.kernel.pageSize;
    const mutex = this.mutex;
    const tmp = await mmuIntervalNotifierInsert(
      mm,
      start,
      end - start,
      {
        invalidate: async (sub, range, curSeq) => {
          if (range.blockable) await mutex.lock();
          else if (!(await mutex.trylock())) return false;
          sub.setSeq(curSeq);
          mutex.unlock();
          return true;
        },
      },
      { name: `${this.name} snapshot` },
    );
    const range: HmmRange = {
      notifier: tmp,
      notifierSeq: 0,
      start,
      end,
      hmmPfns: new Array<number>((end - start) / ps).fill(0),
      defaultFlags: 0,
      pfnFlagsMask: 0,
      devPrivateOwner: this.device,
    };
    const deadline = this.sim.now() + DMIRROR_RANGE_FAULT_TIMEOUT_NS;
    let ret = 0;
    for (;;) {
      if (this.sim.now() > deadline) {
        ret = -EBUSY;
        break;
      }
      range.notifierSeq = await tmp.readBegin();
      await mm.mmapLock.downRead();
      ret = await hmmRangeFault(range);
      mm.mmapLock.upRead();
      if (ret === -EBUSY) continue;
      if (ret !== 0) break;
      await mutex.lock();
      if (tmp.readRetry(range.notifierSeq)) {
        mutex.unlock();
        continue;
      }
      for (let i = 0; i < range.hmmPfns.length; i++) out[at + i] = this.dmProtByte(range.hmmPfns[i]);
      mutex.unlock();
      break;
    }
    await tmp.remove();
    return ret;
  }

  /** dmirror_mkentry: the HMM_DMIRROR_PROT_* byte of one hmm_range_fault output entry. */
  private dmProtByte(entry: number): number {
    const f = hmmPfnFlags(entry);
    if (f & HMM_PFN_ERROR) return HMM_DMIRROR_PROT_ERROR;
    if (!(f & HMM_PFN_VALID)) return HMM_DMIRROR_PROT_NONE;
    const phys = this.kernel.phys;
    const pfn = hmmPfnToPfn(entry);
    let b: number;
    if (phys.isDevicePrivate(pfn))
      b = this.device.owns(pfn) ? HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL : HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE;
    else if (phys.isDeviceCoherent(pfn))
      b = this.device.owns(pfn) ? HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL : HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE;
    else if (phys.isZeroPfn(pfn) || phys.isHugeZeroPfn(pfn)) b = HMM_DMIRROR_PROT_ZERO;
    else b = HMM_DMIRROR_PROT_NONE;
    b |= f & HMM_PFN_WRITE ? HMM_DMIRROR_PROT_WRITE : HMM_DMIRROR_PROT_READ;
    const order = hmmPfnToMapOrder(entry);
    if (order === HPAGE_PMD_ORDER) b |= HMM_DMIRROR_PROT_PMD;
    else if (order === 2 * HPAGE_PMD_ORDER) b |= HMM_DMIRROR_PROT_PUD;
    return b;
  }

  // -------------------------------------------------------------------------------------------
  // EXCLUSIVE / CHECK_EXCLUSIVE
  // -------------------------------------------------------------------------------------------

  /**
   * dmirror_exclusive: make_device_exclusive on every page (owner NULL, so this file's own notifier
   * erases older entries), each mapped atomic under the mutex; then read the range back. May sleep.
   */
  private async dmExclusive(
    addr: number,
    npages: number,
    mirror: Uint8Array,
    res: { cpages: number; faults: number },
  ): Promise<number> {
    const mm = this.mm;
    const k = this.kernel;
    const ps = k.pageSize;
    const end = addr + npages * ps;
    if (!mm.mmgetNotZero()) return -EINVAL;
    let ret = 0;
    await mm.mmapLock.downRead();
    for (let va = addr; va < end; va += ps) {
      const r = await makeDeviceExclusive(mm, va, null);
      if (r.ret !== 0) {
        ret = r.ret;
        break;
      }
      await this.mutex.lock();
      this.mapPage(va, r.pfn, { atomic: true });
      this.mutex.unlock();
      k.folioUnlock(r.pfn);
      k.phys.putPage(r.pfn);
    }
    mm.mmapLock.upRead();
    await mm.mmput();
    if (ret !== 0) return ret;
    const b: Bounce = { addr, data: new Uint8Array(npages * ps), cpages: 0 };
    await this.mutex.lock();
    ret = this.dmDoCopy(b, addr, end, false);
    this.mutex.unlock();
    if (ret !== 0) return ret;
    mirror.set(b.data);
    res.cpages = b.cpages;
    return 0;
  }

  /** dmirror_check_atomic: -EPERM while any page of the range is still mapped atomic. May sleep. */
  private async dmCheckAtomic(addr: number, npages: number): Promise<number> {
    const ps = this.kernel.pageSize;
    await this.mutex.lock();
    let ret = 0;
    for (let i = 0; i < npages; i++) {
      if (this.entries.get(addr + i * ps)?.atomic) {
        ret = -EPERM;
        break;
      }
    }
    this.mutex.unlock();
    return ret;
  }

  // -------------------------------------------------------------------------------------------
  // mmap of the device file (a mixed map of zeroed kernel pages)
  // -------------------------------------------------------------------------------------------

  /**
   * dmirror_fops_mmap: a zeroed page inserted at every page of the new VMA (vm_insert_page: ordinary
   * refcounted pages, VM_MIXEDMAP), read-only in a private mapping (COW) and writable in a shared
   * writable one. Called by mmap with the mmap lock held for write. May sleep.
   */
  async mmap(mm: Mm, vma: Vma): Promise<number> {
    mm.assertMmapWriteLocked('dmirror_fops_mmap');
    if (this.closed) return -EINVAL;
    const k = this.kernel;
    const ps = k.pageSize;
    vma.flags |= VM_MIXEDMAP;
    vma.ops = this.vmOps;
    const writable = (vma.flags & VM_SHARED) !== 0 && (vma.flags & VM_WRITE) !== 0;
    for (let va = vma.start; va < vma.end; va += ps) {
      const pfn = k.phys.allocPage(0);
      if (pfn < 0) return -ENOMEM;
      await mm.ptl.lock();
      await ptepSet(mm, va, PTE_KIND_PRESENT, pfn, writable ? PTE_WRITE : 0);
      k.phys.rmapAddPte(pfn, mm, va);
      mm.ptl.unlock();
    }
    return 0;
  }

  /** get_file: a VMA maps the file. */
  get(): void {}

  /** fput. Deviation: the file is released by close(), not by its last reference. */
  put(): void {}
}
