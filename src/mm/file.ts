/**
 * Page-cache backed files: the temporary files of Kernel.createFile and the unlinked shmem files behind
 * shared anonymous mappings (shmem_zero_setup). tmpfs semantics: no writeback, a page once created
 * stays in the page cache until the file goes away.
 */
import { VM_FAULT_OOM, VM_FAULT_SIGBUS } from './constants.js';
import { LRU_INACTIVE_FILE, LRU_UNEVICTABLE, PG_swapbacked, PG_uptodate } from './physical.js';
import type { Kernel } from './kernel.js';
import type { Mm } from './mm.js';
import type { Vma } from './vma.js';
import type { MmapableFile, VmFault, VmOperations } from './vm-ops.js';

/**
 * A file with a page cache (struct file + inode + address_space in one). `pages` maps page index to the
 * pfn caching it; the page cache holds one reference on each such page.
 *
 * Deviations: files are tmpfs-like (no dirty accounting or writeback, so shared writable mappings map
 * pages writable on read faults, as shmem does); shmem pages are kept on the unevictable LRU (shmem
 * swap is not modelled); the page cache has no locks of its own (its operations are atomic between
 * scheduling points).
 */
export class MemFile implements MmapableFile {
  /** i_size in bytes. */
  sizeBytes: number;
  /** get_file/fput references: the creator's (createFile) and one per VMA mapping the file. */
  refs: number;
  /** Released: the last reference went and the page cache was truncated. */
  released = false;
  /** The page cache: page index → pfn (each holding the cache's reference). */
  readonly pages = new Map<number, number>();
  /** vm_operations_struct of its mappings: the page-cache fault handler. */
  readonly vmOps: VmOperations;

  constructor(
    /** The kernel whose page cache holds the file's pages. */
    readonly kernel: Kernel,
    /** Names the file in traces and reports. */
    readonly name: string,
    sizeBytes: number,
    /** An unlinked shmem file (shared anonymous memory): freed with its last reference. */
    readonly shmem: boolean,
  ) {
    this.sizeBytes = sizeBytes;
    this.refs = shmem ? 0 : 1;
    this.vmOps = {
      name: shmem ? 'shmem_anon_vm_ops' : 'shmem_vm_ops',
      fault: (vmf) => this.fileFault(vmf),
    };
  }

  /** Pages in the page cache. */
  get nrPages(): number {
    return this.pages.size;
  }

  /** Pages the file spans (DIV_ROUND_UP(i_size, PAGE_SIZE)). */
  get sizePages(): number {
    return Math.ceil(this.sizeBytes / this.kernel.pageSize);
  }

  /** filemap_get_entry: the pfn caching page `index`, or undefined. No reference taken. */
  pageAt(index: number): number | undefined {
    return this.pages.get(index);
  }

  /**
   * shmem_get_folio(SGP_CACHE) / filemap_grab_folio: the page at `index` with a new reference for the
   * caller, created (zero-filled, uptodate) if absent. Returns the pfn or -ENOMEM. Atomic.
   */
  getPage(index: number): number {
    const phys = this.kernel.phys;
    let pfn = this.pages.get(index);
    if (pfn !== undefined) {
      phys.getPage(pfn);
      return pfn;
    }
    pfn = phys.allocPage();
    if (pfn < 0) return pfn;
    phys.setFlag(pfn, PG_uptodate | (this.shmem ? PG_swapbacked : 0));
    phys.setMapping(pfn, this, index);
    phys.lruAdd(pfn, this.shmem ? LRU_UNEVICTABLE : LRU_INACTIVE_FILE);
    this.pages.set(index, pfn);
    phys.getPage(pfn); // the caller's; the allocation's reference is the page cache's
    return pfn;
  }

  /**
   * pread: up to `length` bytes from `offset` (fewer at end of file). Holes read as zeros without
   * allocating. In a simulated thread each page is a scheduling point. May sleep.
   */
  async pread(length: number, offset: number): Promise<Uint8Array> {
    this.fileCheckIo('pread', length, offset);
    const end = Math.min(offset + length, this.sizeBytes);
    const out = new Uint8Array(Math.max(0, end - offset));
    const ps = this.kernel.pageSize;
    for (let pos = offset; pos < end;) {
      const index = Math.floor(pos / ps);
      const inPage = pos - index * ps;
      const n = Math.min(ps - inPage, end - pos);
      await this.filePoint('file_read');
      const pfn = this.pages.get(index);
      if (pfn !== undefined) this.kernel.phys.readBytes(pfn, inPage, out, pos - offset, n);
      pos += n;
    }
    return out;
  }

  /**
   * pwrite: writes `bytes` at `offset`, creating pages as needed and extending the file. Returns the
   * number of bytes written, or -ENOMEM when a page cannot be allocated before anything was written.
   * In a simulated thread each page is a scheduling point. May sleep.
   */
  async pwrite(bytes: Uint8Array, offset: number): Promise<number> {
    if (!(bytes instanceof Uint8Array))
      throw new TypeError(`pwrite(${this.name}): bytes must be a Uint8Array`);
    this.fileCheckIo('pwrite', bytes.length, offset);
    const ps = this.kernel.pageSize;
    const end = offset + bytes.length;
    let done = 0;
    for (let pos = offset; pos < end;) {
      const index = Math.floor(pos / ps);
      const inPage = pos - index * ps;
      const n = Math.min(ps - inPage, end - pos);
      await this.filePoint('file_write');
      const pfn = this.getPage(index);
      if (pfn < 0) return done > 0 ? done : pfn;
      this.kernel.phys.writeBytes(pfn, inPage, bytes, pos - offset, n);
      this.kernel.phys.putPage(pfn);
      pos += n;
      done += n;
      if (pos > this.sizeBytes) this.sizeBytes = pos;
    }
    return done;
  }

  /** call_mmap (shmem_mmap): installs the file's vm_operations. */
  mmap(_mm: Mm, vma: Vma): number {
    vma.ops = this.vmOps;
    return 0;
  }

  /** get_file. */
  get(): void {
    if (this.released) this.kernel.sim.bug(`get_file on released ${this.name}`);
    this.refs++;
  }

  /** fput: the last reference of an unlinked (shmem) file truncates its page cache. */
  put(): void {
    if (this.refs <= 0) this.kernel.sim.bug(`fput on ${this.name} with ${this.refs} references`);
    this.refs--;
    if (this.refs === 0 && this.shmem) this.fileRelease();
  }

  toString(): string {
    return `file ${this.name}`;
  }

  /** ->fault (shmem_fault / filemap_fault): the page at the faulting offset, or SIGBUS beyond EOF. */
  private async fileFault(vmf: VmFault): Promise<number> {
    const vma = vmf.vma;
    const index = vma.pgoff + (vmf.address - vma.start) / this.kernel.pageSize;
    if (index >= this.sizePages) return VM_FAULT_SIGBUS;
    const pfn = this.getPage(index);
    if (pfn < 0) return VM_FAULT_OOM;
    vmf.page = pfn;
    return 0;
  }

  /** shmem_evict_inode / truncate_inode_pages: drops every page-cache page. */
  private fileRelease(): void {
    const phys = this.kernel.phys;
    this.released = true;
    for (const pfn of this.pages.values()) {
      phys.setMapping(pfn, undefined, 0);
      phys.putPage(pfn);
    }
    this.pages.clear();
  }

  private fileCheckIo(what: string, length: number, offset: number): void {
    if (!Number.isSafeInteger(length) || length < 0 || !Number.isSafeInteger(offset) || offset < 0)
      throw new RangeError(`${what}(${this.name}): bad length ${length} or offset ${offset}`);
    if (this.released) throw new Error(`${what}(${this.name}): the file was released`);
  }

  private filePoint(label: string): Promise<void> | undefined {
    const sim = this.kernel.sim;
    if (sim.current === null) return undefined;
    return sim.point(label, this.name);
  }
}
