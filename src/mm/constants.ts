/**
 * Memory-model constants with their Linux values (x86-64 unless said otherwise): page geometry,
 * the mmap/mprotect/madvise/mremap ABI, vm_area_struct flags (VM_*), GUP flags (FOLL_*), and the
 * page-fault result and request bits (VM_FAULT_*, FAULT_FLAG_*).
 *
 * Values are plain numbers so they combine with `|` as in C. Only flags that fit in 31 bits are
 * defined, so every combination stays a non-negative int32 (VM_MERGEABLE, bit 31, is not modelled).
 */

// ---------------------------------------------------------------------------------------------
// Page geometry (asm/page_types.h, asm/pgtable_types.h, linux/huge_mm.h)
// ---------------------------------------------------------------------------------------------

/** PAGE_SHIFT: the default base page shift (4 KiB pages). The model takes the shift as an option. */
export const PAGE_SHIFT = 12;
/** PAGE_SIZE for the default PAGE_SHIFT. */
export const PAGE_SIZE = 1 << PAGE_SHIFT;
/**
 * HPAGE_PMD_ORDER: order of a PMD-mapped transparent huge page. Deviation: the model keeps x86-64's
 * 9 for every page size (arm64 with 64 KiB pages would use 13).
 */
export const HPAGE_PMD_ORDER = 9;
/** HPAGE_PMD_NR (PTRS_PER_PTE): base pages per PMD-mapped huge page, and entries per PTE table. */
export const HPAGE_PMD_NR = 1 << HPAGE_PMD_ORDER;
/** PMD_SHIFT for the default PAGE_SHIFT (2 MiB). */
export const PMD_SHIFT = PAGE_SHIFT + HPAGE_PMD_ORDER;
/** PMD_SIZE for the default PAGE_SHIFT. */
export const PMD_SIZE = 2 ** PMD_SHIFT;
/**
 * End of the user address space the model accepts (exclusive): 2^47, x86-64's 4-level paging.
 * The kernel's TASK_SIZE is one page below it; {@link taskSize} gives that for a page size.
 */
export const USER_VA_END = 2 ** 47;
/** TASK_SIZE (TASK_SIZE_MAX on x86-64): the highest user address + 1, one page below 2^47. */
export function taskSize(pageSize: number = PAGE_SIZE): number {
  return USER_VA_END - pageSize;
}
/** mm->mmap_base default for the top-down allocator (where get_unmapped_area starts searching). */
export const DEFAULT_MMAP_BASE = 0x7f0000000000;
/** vm.mmap_min_addr default: the lowest address mmap hands out or accepts with MAP_FIXED. */
export const DEFAULT_MMAP_MIN_ADDR = 0x10000;
/** vm.max_map_count default (DEFAULT_MAX_MAP_COUNT): VMAs per mm before mmap/split fail with -ENOMEM. */
export const DEFAULT_MAX_MAP_COUNT = 65530;

// ---------------------------------------------------------------------------------------------
// mmap / mprotect ABI (uapi/asm-generic/mman-common.h, mman.h)
// ---------------------------------------------------------------------------------------------

export const PROT_NONE = 0x0;
export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
export const PROT_EXEC = 0x4;

export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_SHARED_VALIDATE = 0x03;
/** MAP_TYPE: the mask selecting MAP_SHARED / MAP_PRIVATE / MAP_SHARED_VALIDATE. */
export const MAP_TYPE = 0x0f;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;
export const MAP_GROWSDOWN = 0x0100;
export const MAP_LOCKED = 0x2000;
export const MAP_NORESERVE = 0x4000;
export const MAP_POPULATE = 0x8000;
export const MAP_NONBLOCK = 0x10000;
export const MAP_STACK = 0x20000;
export const MAP_HUGETLB = 0x40000;
export const MAP_FIXED_NOREPLACE = 0x100000;

// ---------------------------------------------------------------------------------------------
// madvise (uapi/asm-generic/mman-common.h)
// ---------------------------------------------------------------------------------------------

export const MADV_NORMAL = 0;
export const MADV_RANDOM = 1;
export const MADV_SEQUENTIAL = 2;
export const MADV_WILLNEED = 3;
export const MADV_DONTNEED = 4;
export const MADV_FREE = 8;
export const MADV_REMOVE = 9;
export const MADV_DONTFORK = 10;
export const MADV_DOFORK = 11;
export const MADV_HUGEPAGE = 14;
export const MADV_NOHUGEPAGE = 15;
export const MADV_DONTDUMP = 16;
export const MADV_DODUMP = 17;
export const MADV_COLD = 20;
export const MADV_PAGEOUT = 21;
export const MADV_POPULATE_READ = 22;
export const MADV_POPULATE_WRITE = 23;
export const MADV_COLLAPSE = 25;

// ---------------------------------------------------------------------------------------------
// mremap (uapi/linux/mman.h)
// ---------------------------------------------------------------------------------------------

export const MREMAP_MAYMOVE = 1;
export const MREMAP_FIXED = 2;
export const MREMAP_DONTUNMAP = 4;

// ---------------------------------------------------------------------------------------------
// Signals the memory model delivers or receives (uapi/asm-generic/signal.h)
// ---------------------------------------------------------------------------------------------

export const SIGBUS = 7;
export const SIGKILL = 9;
export const SIGSEGV = 11;

// ---------------------------------------------------------------------------------------------
// get_user_pages flags (linux/mm_types.h, enum of FOLL_*)
// ---------------------------------------------------------------------------------------------

export const FOLL_WRITE = 1 << 0;
export const FOLL_GET = 1 << 1;
export const FOLL_DUMP = 1 << 2;
export const FOLL_FORCE = 1 << 3;
export const FOLL_NOWAIT = 1 << 4;
export const FOLL_NOFAULT = 1 << 5;
export const FOLL_HWPOISON = 1 << 6;
export const FOLL_ANON = 1 << 7;
export const FOLL_LONGTERM = 1 << 8;
export const FOLL_SPLIT_PMD = 1 << 9;
export const FOLL_PCI_P2PDMA = 1 << 10;
export const FOLL_INTERRUPTIBLE = 1 << 11;
export const FOLL_HONOR_NUMA_FAULT = 1 << 12;

// ---------------------------------------------------------------------------------------------
// vm_area_struct flags (linux/mm.h). Bits 0-30 only; see the file comment.
// ---------------------------------------------------------------------------------------------

export const VM_NONE = 0x00000000;
export const VM_READ = 0x00000001;
export const VM_WRITE = 0x00000002;
export const VM_EXEC = 0x00000004;
export const VM_SHARED = 0x00000008;
export const VM_MAYREAD = 0x00000010;
export const VM_MAYWRITE = 0x00000020;
export const VM_MAYEXEC = 0x00000040;
export const VM_MAYSHARE = 0x00000080;
export const VM_GROWSDOWN = 0x00000100;
export const VM_UFFD_MISSING = 0x00000200;
export const VM_PFNMAP = 0x00000400;
export const VM_UFFD_WP = 0x00001000;
export const VM_LOCKED = 0x00002000;
export const VM_IO = 0x00004000;
export const VM_SEQ_READ = 0x00008000;
export const VM_RAND_READ = 0x00010000;
export const VM_DONTCOPY = 0x00020000;
export const VM_DONTEXPAND = 0x00040000;
export const VM_LOCKONFAULT = 0x00080000;
export const VM_ACCOUNT = 0x00100000;
export const VM_NORESERVE = 0x00200000;
export const VM_HUGETLB = 0x00400000;
export const VM_SYNC = 0x00800000;
export const VM_WIPEONFORK = 0x02000000;
export const VM_DONTDUMP = 0x04000000;
export const VM_SOFTDIRTY = 0x08000000;
export const VM_MIXEDMAP = 0x10000000;
export const VM_HUGEPAGE = 0x20000000;
export const VM_NOHUGEPAGE = 0x40000000;

/** VM_ACCESS_FLAGS: the permission bits. */
export const VM_ACCESS_FLAGS = VM_READ | VM_WRITE | VM_EXEC;
/** VM_SPECIAL: mappings whose pages are not ordinary (no merge, no THP, no COW of struct pages). */
export const VM_SPECIAL = VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP;
/** VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC: what do_mmap adds to every mapping (VM_MAYSHARE for shared). */
export const VM_MAY_ALL = VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;

/**
 * calc_vm_prot_bits: PROT_* to VM_READ/VM_WRITE/VM_EXEC (the bits coincide on Linux).
 * Pure; no locks.
 */
export function calcVmProtBits(prot: number): number {
  return (
    (prot & PROT_READ ? VM_READ : 0) | (prot & PROT_WRITE ? VM_WRITE : 0) | (prot & PROT_EXEC ? VM_EXEC : 0)
  );
}

/**
 * calc_vm_flag_bits: the MAP_* flags that become VM_* flags: MAP_GROWSDOWN, MAP_LOCKED, and MAP_STACK
 * (VM_NOHUGEPAGE). MAP_SYNC is not modelled; do_mmap itself turns MAP_NORESERVE into VM_NORESERVE and
 * MAP_SHARED into VM_SHARED | VM_MAYSHARE. Pure; no locks.
 */
export function calcVmFlagBits(mapFlags: number): number {
  return (
    (mapFlags & MAP_GROWSDOWN ? VM_GROWSDOWN : 0) |
    (mapFlags & MAP_LOCKED ? VM_LOCKED : 0) |
    (mapFlags & MAP_STACK ? VM_NOHUGEPAGE : 0)
  );
}

// ---------------------------------------------------------------------------------------------
// Page-fault results and requests (linux/mm_types.h enum vm_fault_reason, enum fault_flag)
// ---------------------------------------------------------------------------------------------

export const VM_FAULT_OOM = 0x000001;
export const VM_FAULT_SIGBUS = 0x000002;
export const VM_FAULT_MAJOR = 0x000004;
export const VM_FAULT_HWPOISON = 0x000010;
export const VM_FAULT_HWPOISON_LARGE = 0x000020;
export const VM_FAULT_SIGSEGV = 0x000040;
export const VM_FAULT_NOPAGE = 0x000100;
export const VM_FAULT_LOCKED = 0x000200;
export const VM_FAULT_RETRY = 0x000400;
export const VM_FAULT_FALLBACK = 0x000800;
export const VM_FAULT_DONE_COW = 0x001000;
export const VM_FAULT_NEEDDSYNC = 0x002000;
export const VM_FAULT_COMPLETED = 0x004000;
/** VM_FAULT_ERROR: the results that end the fault with an error. */
export const VM_FAULT_ERROR =
  VM_FAULT_OOM | VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV | VM_FAULT_HWPOISON | VM_FAULT_HWPOISON_LARGE;

export const FAULT_FLAG_WRITE = 1 << 0;
export const FAULT_FLAG_MKWRITE = 1 << 1;
export const FAULT_FLAG_ALLOW_RETRY = 1 << 2;
export const FAULT_FLAG_RETRY_NOWAIT = 1 << 3;
export const FAULT_FLAG_KILLABLE = 1 << 4;
export const FAULT_FLAG_TRIED = 1 << 5;
export const FAULT_FLAG_USER = 1 << 6;
export const FAULT_FLAG_REMOTE = 1 << 7;
export const FAULT_FLAG_INSTRUCTION = 1 << 8;
export const FAULT_FLAG_INTERRUPTIBLE = 1 << 9;
export const FAULT_FLAG_UNSHARE = 1 << 10;
export const FAULT_FLAG_ORIG_PTE_VALID = 1 << 11;
export const FAULT_FLAG_VMA_LOCK = 1 << 12;
