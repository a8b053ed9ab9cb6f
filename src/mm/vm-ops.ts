/**
 * The interfaces between the memory model and what it maps: files (struct file + file_operations.mmap),
 * vm_operations_struct, the fault descriptor (struct vm_fault) and ZONE_DEVICE pagemap operations
 * (dev_pagemap_ops.migrate_to_ram). Types only.
 */
import type { PteKind } from './page-table.js';
import type { Vma } from './vma.js';
import type { Mm } from './mm.js';

/**
 * struct vm_fault: one page fault being handled. `orig*` is the PTE as read before the handler took
 * the page-table lock (vmf->orig_pte); handlers compare it under the lock (pte_same) and give up when
 * it changed. `page` is the pfn a ->fault handler returns, with a reference the caller owns, or -1.
 */
export interface VmFault {
  /** The address space faulting (vmf->vma->vm_mm). */
  readonly mm: Mm;
  /** The VMA containing the address (vmf->vma). */
  readonly vma: Vma;
  /** Page-aligned faulting address. */
  readonly address: number;
  /** FAULT_FLAG_* bits. */
  flags: number;
  /** The kind (PTE_KIND_*) of the PTE as first read (the type of vmf->orig_pte). */
  origKind: PteKind;
  /** The pfn that PTE maps, or its swap slot for a swap entry (the payload of vmf->orig_pte). */
  origPfn: number;
  /** The PTE_* flags of that PTE. */
  origFlags: number;
  /** vmf->page: set by ->fault (with a reference), -1 when none. */
  page: number;
}

/**
 * struct vm_operations_struct, the subset the model calls. A VMA with `ops` is not anonymous.
 */
export interface VmOperations {
  /** For traces. */
  readonly name: string;
  /**
   * ->fault: find (or create) the page backing `vmf.address`, take a reference and store its pfn in
   * `vmf.page`. Returns 0 or VM_FAULT_* error bits (VM_FAULT_SIGBUS beyond EOF, VM_FAULT_OOM).
   * Called with the mmap lock held for read. May sleep.
   */
  fault?(vmf: VmFault): Promise<number>;
  /** ->open: a VMA was duplicated (fork, split). Atomic. */
  open?(vma: Vma): void;
  /** ->close: a VMA is being freed (munmap, exit). Atomic. */
  close?(vma: Vma): void;
}

/**
 * A mappable file (struct file with file_operations.mmap). `mmap` is call_mmap: it may set
 * `vma.ops` and adjust `vma.flags`; it returns 0 or -errno. `get`/`put` are get_file/fput: each VMA
 * mapping the file holds one reference.
 */
export interface MmapableFile {
  /** The file's name, for traces and messages (what file->f_path would show). */
  readonly name: string;
  /**
   * call_mmap (file->f_op->mmap): prepares `vma`, not yet in `mm`'s tree and already holding a file
   * reference, to map this file; it may set `vma.ops` and adjust `vma.flags`. Returns 0, or -errno,
   * upon which doMmapLocked frees the VMA (vmaFree: vm_ops close, fput) and fails. Called with the mmap
   * lock held for write. May sleep.
   */
  mmap(mm: Mm, vma: Vma): number | Promise<number>;
  /** get_file: one more reference, taken for each VMA that maps the file (mmap, split, fork). Atomic. */
  get(): void;
  /** fput: drops a reference, as a VMA mapping the file is freed. Atomic. */
  put(): void;
}

/**
 * What a CPU fault on a device-private entry hands to the owning pagemap (the relevant fields of
 * struct vm_fault): the faulting mm, VMA and page-aligned address, the device page (locked by the
 * fault path and referenced for the duration of the call), and whether it is a write fault.
 */
export interface DevicePrivateFault {
  /** The faulting address space (vmf->vma->vm_mm). */
  readonly mm: Mm;
  /** The VMA containing the address (vmf->vma). */
  readonly vma: Vma;
  /** The page-aligned faulting address (inside the PMD's range for a PMD-level entry). */
  readonly address: number;
  /**
   * The device-private page the entry maps (vmf->page; the folio's head for a PMD-level entry), locked
   * and referenced by the fault path for the call.
   */
  readonly pfn: number;
  /** Whether the access was a write (FAULT_FLAG_WRITE). */
  readonly write: boolean;
  /** FAULT_FLAG_* of the fault. */
  readonly flags: number;
  /**
   * The fault came through a PMD-level device-private entry (do_huge_pmd_device_private): `pfn` is the
   * head of a PMD-order device folio mapped whole, and the handler may migrate the whole folio.
   * Absent or false for a PTE-level entry.
   */
  readonly pmd?: boolean;
}

/**
 * struct dev_pagemap_ops, the part the CPU fault path calls. `migrateToRam` (migrate_to_ram) moves the
 * faulting device-private page back to system memory, normally with migrate_vma_setup(fault_page) /
 * migrate_vma_pages / migrate_vma_finalize, and returns a vm_fault_t: 0 means the fault is to be
 * retried (the CPU re-executes the access), VM_FAULT_SIGBUS / VM_FAULT_OOM fail it. Called with the
 * mmap lock held for read and the device page locked and referenced; may sleep.
 */
export interface DevPagemapOps {
  /**
   * migrate_to_ram: called by do_swap_page for a device-private PTE, or by do_huge_pmd_device_private with
   * `fault.pmd` set, with the mmap lock held for read and `fault.pfn` locked and referenced (the fault
   * path unlocks and puts it afterwards). Returns 0 to retry the access, or VM_FAULT_* bits. May sleep.
   */
  migrateToRam(fault: DevicePrivateFault): Promise<number>;
  /**
   * dev_pagemap_ops.folio_split: the large device folio at `head` of `nr` pages is about to become
   * `nr` order-0 folios; the driver splits whatever it keeps per folio (test_hmm: the backing folio).
   * Called with the folio locked. Atomic.
   */
  folioSplit?(head: number, nr: number): void;
}
