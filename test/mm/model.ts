/**
 * The reference model of the property test: what every CPU access of a process must return, page by
 * page, as a plain map from page address to protection and backing. Private pages own their bytes;
 * shared anonymous pages refer to a page of a shared object (the shmem file), which has a size beyond
 * which accesses fault (SIGBUS).
 */
import { PROT_EXEC, PROT_READ, PROT_WRITE } from '../../src/mm/constants.js';

export const PAGE = 4096;

export interface SharedObj {
  sizePages: number;
  pages: Map<number, Uint8Array>;
}

/**
 * private: anonymous private memory; shared: a page of a shared object (shmem or a MAP_SHARED file);
 * cow: a MAP_PRIVATE file page, reading the file until written, then its own copy.
 */
export type Backing =
  | { kind: 'private'; data: Uint8Array | null }
  | { kind: 'shared'; obj: SharedObj; index: number }
  | { kind: 'cow'; obj: SharedObj; index: number; data: Uint8Array | null };

export interface PageState {
  prot: number;
  backing: Backing;
}

export class RefModel {
  readonly pages = new Map<number, PageState>();

  /** fork: private pages are copied, shared ones keep referring to the same object. */
  clone(): RefModel {
    const m = new RefModel();
    for (const [va, p] of this.pages) {
      const b: Backing =
        p.backing.kind === 'shared'
          ? { ...p.backing }
          : { ...p.backing, data: p.backing.data === null ? null : p.backing.data.slice() };
      m.pages.set(va, { prot: p.prot, backing: b });
    }
    return m;
  }

  mapped(va: number): boolean {
    return this.pages.has(va);
  }

  /** Whether an access to the page at `va` succeeds. */
  accessible(va: number, write: boolean): boolean {
    const p = this.pages.get(va);
    if (p === undefined) return false;
    if (write ? !(p.prot & PROT_WRITE) : !(p.prot & (PROT_READ | PROT_WRITE | PROT_EXEC))) return false;
    if (p.backing.kind !== 'private' && p.backing.index >= p.backing.obj.sizePages) return false;
    return true;
  }

  /** The bytes of an accessible page (a copy). */
  bytes(va: number): Uint8Array {
    const p = this.pages.get(va)!;
    const b = p.backing;
    const src =
      b.kind === 'private'
        ? b.data
        : b.kind === 'cow' && b.data !== null
          ? b.data
          : (b.obj.pages.get(b.index) ?? null);
    return src === null ? new Uint8Array(PAGE) : src.slice();
  }

  /** Writes into an accessible page. */
  writeInto(va: number, off: number, data: Uint8Array): void {
    const p = this.pages.get(va)!;
    const b = p.backing;
    if (b.kind === 'private') {
      b.data ??= new Uint8Array(PAGE);
      b.data.set(data, off);
    } else if (b.kind === 'cow') {
      b.data ??= b.obj.pages.get(b.index)?.slice() ?? new Uint8Array(PAGE);
      b.data.set(data, off);
    } else {
      let page = b.obj.pages.get(b.index);
      if (page === undefined) {
        page = new Uint8Array(PAGE);
        b.obj.pages.set(b.index, page);
      }
      page.set(data, off);
    }
  }

  /** mmap(MAP_FIXED): new pages (zero private, or a new shared object of the mapping's size). */
  map(start: number, npages: number, prot: number, shared: boolean): void {
    const obj: SharedObj = { sizePages: npages, pages: new Map() };
    for (let i = 0; i < npages; i++) {
      const backing: Backing = shared ? { kind: 'shared', obj, index: i } : { kind: 'private', data: null };
      this.pages.set(start + i * PAGE, { prot, backing });
    }
  }

  /** mmap of a file object at page offset `pgoff` (MAP_SHARED: shared pages; MAP_PRIVATE: COW). */
  mapFile(start: number, npages: number, prot: number, shared: boolean, obj: SharedObj, pgoff: number): void {
    for (let i = 0; i < npages; i++) {
      const backing: Backing = shared
        ? { kind: 'shared', obj, index: pgoff + i }
        : { kind: 'cow', obj, index: pgoff + i, data: null };
      this.pages.set(start + i * PAGE, { prot, backing });
    }
  }

  /** MADV_DONTNEED of one page: anonymous data and private file copies are dropped. */
  dontneed(va: number): void {
    const b = this.pages.get(va)?.backing;
    if (b !== undefined && b.kind !== 'shared') b.data = null;
  }

  unmap(start: number, npages: number): void {
    for (let i = 0; i < npages; i++) this.pages.delete(start + i * PAGE);
  }

  /**
   * CPU access over [addr, addr + len): the expected result of a write (0 or -EFAULT, applying the
   * pages before the first faulting one) or of a read (the bytes or -EFAULT).
   */
  write(addr: number, data: Uint8Array): number {
    let pos = 0;
    while (pos < data.length) {
      const va = Math.floor((addr + pos) / PAGE) * PAGE;
      const off = addr + pos - va;
      const n = Math.min(PAGE - off, data.length - pos);
      if (!this.accessible(va, true)) return -14;
      this.writeInto(va, off, data.subarray(pos, pos + n));
      pos += n;
    }
    return 0;
  }

  read(addr: number, len: number): Uint8Array | number {
    const out = new Uint8Array(len);
    let pos = 0;
    while (pos < len) {
      const va = Math.floor((addr + pos) / PAGE) * PAGE;
      const off = addr + pos - va;
      const n = Math.min(PAGE - off, len - pos);
      if (!this.accessible(va, false)) return -14;
      out.set(this.bytes(va).subarray(off, off + n), pos);
      pos += n;
    }
    return out;
  }
}
