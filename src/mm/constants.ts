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

/** mmap/mprotect protection (PROT_NONE): no access; any access is a segmentation fault (-EFAULT here). */
export const PROT_NONE = 0x0;
/** mmap/mprotect protection (PROT_READ): the pages may be read; becomes VM_READ. */
export const PROT_READ = 0x1;
/** mmap/mprotect protection (PROT_WRITE): the pages may be written; becomes VM_WRITE. */
export const PROT_WRITE = 0x2;
/** mmap/mprotect protection (PROT_EXEC): the pages may be executed; becomes VM_EXEC. */
export const PROT_EXEC = 0x4;

/**
 * mmap flag (MAP_SHARED): stores are seen by every other mapping of the same object and reach the
 * file; the VMA gets VM_SHARED | VM_MAYSHARE. Shared anonymous memory is backed by an unlinked shmem file.
 */
export const MAP_SHARED = 0x01;
/** mmap flag (MAP_PRIVATE): a copy-on-write mapping whose stores no other mapping and no file sees. */
export const MAP_PRIVATE = 0x02;
/**
 * mmap flag (MAP_SHARED_VALIDATE): MAP_SHARED, but unknown flags fail with -EOPNOTSUPP instead of being
 * ignored.
 */
export const MAP_SHARED_VALIDATE = 0x03;
/** MAP_TYPE: the mask selecting MAP_SHARED / MAP_PRIVATE / MAP_SHARED_VALIDATE. */
export const MAP_TYPE = 0x0f;
/** mmap flag (MAP_FIXED): map exactly at `addr` (page-aligned), unmapping whatever lies there first. */
export const MAP_FIXED = 0x10;
/**
 * mmap flag (MAP_ANONYMOUS): memory backed by no file, reading as zeros at first; the file argument is
 * ignored.
 */
export const MAP_ANONYMOUS = 0x20;
/**
 * mmap flag (MAP_GROWSDOWN): a stack growing downwards; sets VM_GROWSDOWN (the model never grows the VMA).
 */
export const MAP_GROWSDOWN = 0x0100;
/**
 * mmap flag (MAP_LOCKED): keep the pages in memory; sets VM_LOCKED. The model does not fault the range in
 * up front as the kernel's mlock does (use MAP_POPULATE for that).
 */
export const MAP_LOCKED = 0x2000;
/**
 * mmap flag (MAP_NORESERVE): reserve no swap space; sets VM_NORESERVE (the model keeps no commit accounting).
 */
export const MAP_NORESERVE = 0x4000;
/**
 * mmap flag (MAP_POPULATE): fault the whole mapping in right after mapping it (mm_populate; for write when
 * private and writable). A failure there is ignored, as the kernel ignores it.
 */
export const MAP_POPULATE = 0x8000;
/** mmap flag (MAP_NONBLOCK): together with MAP_POPULATE, skip the populating (no faults are taken). */
export const MAP_NONBLOCK = 0x10000;
/**
 * mmap flag (MAP_STACK): the mapping is a thread stack; becomes VM_NOHUGEPAGE (no THPs), as in current
 * kernels.
 */
export const MAP_STACK = 0x20000;
/**
 * mmap flag (MAP_HUGETLB): back an anonymous mapping with PMD-sized pages of the hugetlb pool; the length is
 * rounded up to the huge page size and the VMA gets VM_HUGETLB | VM_DONTEXPAND.
 */
export const MAP_HUGETLB = 0x40000;
/** mmap flag (MAP_FIXED_NOREPLACE): as MAP_FIXED, but fail with -EEXIST rather than replace a mapping. */
export const MAP_FIXED_NOREPLACE = 0x100000;

// ---------------------------------------------------------------------------------------------
// madvise (uapi/asm-generic/mman-common.h)
// ---------------------------------------------------------------------------------------------

/** madvise advice (MADV_NORMAL): no access-pattern hint; clears VM_RAND_READ and VM_SEQ_READ. */
export const MADV_NORMAL = 0;
/** madvise advice (MADV_RANDOM): random access expected; sets VM_RAND_READ (a VMA flag only in the model). */
export const MADV_RANDOM = 1;
/** madvise advice (MADV_SEQUENTIAL): sequential access expected; sets VM_SEQ_READ (a VMA flag only). */
export const MADV_SEQUENTIAL = 2;
/** madvise advice (MADV_WILLNEED): the range will be used soon; accepted and ignored by the model. */
export const MADV_WILLNEED = 3;
/**
 * madvise advice (MADV_DONTNEED): drop the range's pages now (a CLEAR invalidation around the zap);
 * anonymous memory then reads as zeros, file and shmem memory refaults from the page cache.
 */
export const MADV_DONTNEED = 4;
/**
 * madvise advice (MADV_FREE): the private anonymous pages may be freed lazily. The model frees them at once,
 * as MADV_DONTNEED does.
 */
export const MADV_FREE = 8;
/**
 * madvise advice (MADV_REMOVE): free a shared range's backing store. Not modelled: doMadvise returns -EINVAL.
 */
export const MADV_REMOVE = 9;
/**
 * madvise advice (MADV_DONTFORK): leave the range out of fork children; sets VM_DONTCOPY (-EINVAL on VM_IO).
 */
export const MADV_DONTFORK = 10;
/** madvise advice (MADV_DOFORK): undoes MADV_DONTFORK by clearing VM_DONTCOPY (-EINVAL on VM_IO). */
export const MADV_DOFORK = 11;
/**
 * madvise advice (MADV_HUGEPAGE): transparent huge pages wanted; sets VM_HUGEPAGE and clears VM_NOHUGEPAGE.
 * The model's THP mode is "madvise": a huge page on fault needs this flag.
 */
export const MADV_HUGEPAGE = 14;
/** madvise advice (MADV_NOHUGEPAGE): no transparent huge pages; sets VM_NOHUGEPAGE and clears VM_HUGEPAGE. */
export const MADV_NOHUGEPAGE = 15;
/** madvise advice (MADV_DONTDUMP): leave the range out of core dumps; sets VM_DONTDUMP (a VMA flag only). */
export const MADV_DONTDUMP = 16;
/** madvise advice (MADV_DODUMP): undoes MADV_DONTDUMP (-EINVAL on special file mappings). */
export const MADV_DODUMP = 17;
/** madvise advice (MADV_COLD): deactivate the range's pages; accepted and ignored by the model. */
export const MADV_COLD = 20;
/** madvise advice (MADV_PAGEOUT): reclaim the range's pages now, through the Kernel's pageoutRange hook. */
export const MADV_PAGEOUT = 21;
/** madvise advice (MADV_POPULATE_READ): fault the range in for read, as a read of every page would. */
export const MADV_POPULATE_READ = 22;
/** madvise advice (MADV_POPULATE_WRITE): fault the range in for write (breaking COW); needs VM_WRITE. */
export const MADV_POPULATE_WRITE = 23;
/**
 * madvise advice (MADV_COLLAPSE): collapse each whole PMD of the range into a THP now, as khugepaged would.
 */
export const MADV_COLLAPSE = 25;

// ---------------------------------------------------------------------------------------------
// mremap (uapi/linux/mman.h)
// ---------------------------------------------------------------------------------------------

/** mremap flag (MREMAP_MAYMOVE): the mapping may move to a new address when it cannot grow in place. */
export const MREMAP_MAYMOVE = 1;
/**
 * mremap flag (MREMAP_FIXED): move to exactly `new_address`, unmapping what is there; needs MREMAP_MAYMOVE.
 */
export const MREMAP_FIXED = 2;
/**
 * mremap flag (MREMAP_DONTUNMAP): move the pages but keep the old range mapped, now empty; needs
 * MREMAP_MAYMOVE and an unchanged length.
 */
export const MREMAP_DONTUNMAP = 4;

// ---------------------------------------------------------------------------------------------
// Signals the memory model delivers or receives (uapi/asm-generic/signal.h)
// ---------------------------------------------------------------------------------------------

/**
 * Signal number of a bus error (SIGBUS). The model delivers no such signal: an access whose fault ends in
 * VM_FAULT_SIGBUS returns -EFAULT instead.
 */
export const SIGBUS = 7;
/**
 * Signal number of the uncatchable kill (SIGKILL): the only signal Process.kill accepts; the OOM killer sends
 * it.
 */
export const SIGKILL = 9;
/**
 * Signal number of a segmentation fault (SIGSEGV). The model delivers no such signal: an access outside
 * every VMA or against its protection returns -EFAULT instead.
 */
export const SIGSEGV = 11;

// ---------------------------------------------------------------------------------------------
// get_user_pages flags (linux/mm_types.h, enum of FOLL_*)
// ---------------------------------------------------------------------------------------------

/** gup flag (FOLL_WRITE): the pages will be written: faults are for write (breaking COW); needs VM_WRITE. */
export const FOLL_WRITE = 1 << 0;
/**
 * gup flag (FOLL_GET): take a page reference, as getUserPages always does; pinUserPages refuses it (-EINVAL).
 */
export const FOLL_GET = 1 << 1;
/**
 * gup flag (FOLL_DUMP): the core-dump walk, failing on holes and zero pages; accepted and ignored by the
 * model.
 */
export const FOLL_DUMP = 1 << 2;
/**
 * gup flag (FOLL_FORCE): access despite the VMA's protection, as ptrace does. Accepted but not honoured:
 * the model still needs VM_READ, and VM_WRITE for a write.
 */
export const FOLL_FORCE = 1 << 3;
/** gup flag (FOLL_NOWAIT): do not wait for I/O in a fault, let the caller retry; accepted and ignored. */
export const FOLL_NOWAIT = 1 << 4;
/** gup flag (FOLL_NOFAULT): never fault; a page not already mapped as needed fails the call with -EFAULT. */
export const FOLL_NOFAULT = 1 << 5;
/**
 * gup flag (FOLL_HWPOISON): report poisoned pages as -EHWPOISON; accepted and ignored (no poison modelled).
 */
export const FOLL_HWPOISON = 1 << 6;
/** gup flag (FOLL_ANON): only anonymous VMAs may be walked; accepted but not checked by the model. */
export const FOLL_ANON = 1 << 7;
/**
 * gup flag (FOLL_LONGTERM): the pin may be held indefinitely, so pinUserPages first migrates
 * device-coherent pages to system memory.
 */
export const FOLL_LONGTERM = 1 << 8;
/** gup flag (FOLL_SPLIT_PMD): split a PMD-mapped THP into PTEs before taking it; accepted and ignored. */
export const FOLL_SPLIT_PMD = 1 << 9;
/** gup flag (FOLL_PCI_P2PDMA): PCI peer-to-peer DMA pages are acceptable; accepted and ignored. */
export const FOLL_PCI_P2PDMA = 1 << 10;
/** gup flag (FOLL_INTERRUPTIBLE): any signal, not only a fatal one, may end a wait; accepted and ignored. */
export const FOLL_INTERRUPTIBLE = 1 << 11;
/** gup flag (FOLL_HONOR_NUMA_FAULT): take NUMA hinting faults rather than skip them; accepted and ignored. */
export const FOLL_HONOR_NUMA_FAULT = 1 << 12;

// ---------------------------------------------------------------------------------------------
// vm_area_struct flags (linux/mm.h). Bits 0-30 only; see the file comment.
// ---------------------------------------------------------------------------------------------

/** vm_flags (VM_NONE): no flag set. */
export const VM_NONE = 0x00000000;
/** vm_flags (VM_READ): the VMA may be read (from PROT_READ). */
export const VM_READ = 0x00000001;
/**
 * vm_flags (VM_WRITE): the VMA may be written (from PROT_WRITE); without VM_SHARED writes are copy-on-write.
 */
export const VM_WRITE = 0x00000002;
/** vm_flags (VM_EXEC): the VMA may be executed (from PROT_EXEC); the model makes no instruction fetches. */
export const VM_EXEC = 0x00000004;
/** vm_flags (VM_SHARED): writes go to the shared object (file or shmem) and are seen by its other mappers. */
export const VM_SHARED = 0x00000008;
/** vm_flags (VM_MAYREAD): mprotect may add VM_READ; do_mmap sets it on every mapping. */
export const VM_MAYREAD = 0x00000010;
/**
 * vm_flags (VM_MAYWRITE): mprotect may add VM_WRITE; do_mmap sets it on every mapping. A private VMA with
 * it is a copy-on-write mapping (isCowMapping).
 */
export const VM_MAYWRITE = 0x00000020;
/** vm_flags (VM_MAYEXEC): mprotect may add VM_EXEC; do_mmap sets it on every mapping. */
export const VM_MAYEXEC = 0x00000040;
/** vm_flags (VM_MAYSHARE): the mapping was created shared; do_mmap sets it together with VM_SHARED. */
export const VM_MAYSHARE = 0x00000080;
/** vm_flags (VM_GROWSDOWN): a stack growing downwards (from MAP_GROWSDOWN); recorded only, never grown. */
export const VM_GROWSDOWN = 0x00000100;
/** vm_flags (VM_UFFD_MISSING): userfaultfd handles missing pages; not used (no userfaultfd in the model). */
export const VM_UFFD_MISSING = 0x00000200;
/**
 * vm_flags (VM_PFNMAP): raw pfns without refcounted struct pages (remap_pfn_range). gup and migration
 * refuse the VMA, MADV_DONTNEED fails with -EINVAL, the OOM reaper skips it, mremap may not grow it.
 */
export const VM_PFNMAP = 0x00000400;
/** vm_flags (VM_UFFD_WP): userfaultfd write-protect tracking; in the model only fork looks at it. */
export const VM_UFFD_WP = 0x00001000;
/**
 * vm_flags (VM_LOCKED): the pages stay in memory (mlock, MAP_LOCKED): reclaim does not unmap them and
 * MADV_DONTNEED / MADV_FREE fail with -EINVAL.
 */
export const VM_LOCKED = 0x00002000;
/** vm_flags (VM_IO): memory-mapped I/O; gup, migration, MADV_POPULATE_* and MADV_(DONT|DO)FORK refuse it. */
export const VM_IO = 0x00004000;
/** vm_flags (VM_SEQ_READ): sequential access expected (from MADV_SEQUENTIAL); recorded only. */
export const VM_SEQ_READ = 0x00008000;
/** vm_flags (VM_RAND_READ): random access expected (from MADV_RANDOM); recorded only. */
export const VM_RAND_READ = 0x00010000;
/** vm_flags (VM_DONTCOPY): fork leaves the VMA out of the child (from MADV_DONTFORK). */
export const VM_DONTCOPY = 0x00020000;
/**
 * vm_flags (VM_DONTEXPAND): mremap may not grow the VMA or move it with MREMAP_DONTUNMAP; set on hugetlb
 * VMAs.
 */
export const VM_DONTEXPAND = 0x00040000;
/**
 * vm_flags (VM_LOCKONFAULT): lock pages as they are faulted in (mlock2 MLOCK_ONFAULT); not used by the model.
 */
export const VM_LOCKONFAULT = 0x00080000;
/**
 * vm_flags (VM_ACCOUNT): the VMA is charged against the commit limit; not used (no overcommit accounting).
 */
export const VM_ACCOUNT = 0x00100000;
/** vm_flags (VM_NORESERVE): no swap space reserved (from MAP_NORESERVE); recorded only. */
export const VM_NORESERVE = 0x00200000;
/**
 * vm_flags (VM_HUGETLB): backed by the hugetlb pool and mapped by PMD-level entries only (from MAP_HUGETLB).
 */
export const VM_HUGETLB = 0x00400000;
/** vm_flags (VM_SYNC): synchronous page faults for DAX (MAP_SYNC); not used by the model. */
export const VM_SYNC = 0x00800000;
/**
 * vm_flags (VM_WIPEONFORK): a fork child gets the VMA empty (reading as zeros) rather than a copy. Fork
 * honours it; no model call sets it (MADV_WIPEONFORK is not modelled).
 */
export const VM_WIPEONFORK = 0x02000000;
/** vm_flags (VM_DONTDUMP): left out of core dumps (from MADV_DONTDUMP); recorded only. */
export const VM_DONTDUMP = 0x04000000;
/**
 * vm_flags (VM_SOFTDIRTY): the whole VMA counts as soft-dirty; merging ignores it, nothing in the model sets
 * it.
 */
export const VM_SOFTDIRTY = 0x08000000;
/**
 * vm_flags (VM_MIXEDMAP): the VMA may map both refcounted pages and raw pfns (vm_insert_page and friends);
 * part of VM_SPECIAL. The dmirror device file sets it.
 */
export const VM_MIXEDMAP = 0x10000000;
/**
 * vm_flags (VM_HUGEPAGE): transparent huge pages wanted (from MADV_HUGEPAGE); anonymous faults try a PMD
 * folio.
 */
export const VM_HUGEPAGE = 0x20000000;
/**
 * vm_flags (VM_NOHUGEPAGE): no transparent huge pages (from MADV_NOHUGEPAGE or MAP_STACK): no THP fault or
 * collapse.
 */
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

/** vm_fault_t bit (VM_FAULT_OOM): the fault could not allocate memory; the access returns -ENOMEM. */
export const VM_FAULT_OOM = 0x000001;
/**
 * vm_fault_t bit (VM_FAULT_SIGBUS): nothing can back the address (beyond EOF, an empty hugetlb pool, a
 * reaped mm, no ->fault, a failed migration to RAM); the access returns -EFAULT.
 */
export const VM_FAULT_SIGBUS = 0x000002;
/** vm_fault_t bit (VM_FAULT_MAJOR): the fault needed I/O; never returned by the model. */
export const VM_FAULT_MAJOR = 0x000004;
/** vm_fault_t bit (VM_FAULT_HWPOISON): the fault hit a poisoned page; never returned by the model. */
export const VM_FAULT_HWPOISON = 0x000010;
/**
 * vm_fault_t bit (VM_FAULT_HWPOISON_LARGE): the fault hit a poisoned huge page; never returned by the model.
 */
export const VM_FAULT_HWPOISON_LARGE = 0x000020;
/**
 * vm_fault_t bit (VM_FAULT_SIGSEGV): the VMA does not allow the access; handleMmFault returns it for a
 * write without VM_WRITE and for any access to a PROT_NONE VMA.
 */
export const VM_FAULT_SIGSEGV = 0x000040;
/** vm_fault_t bit (VM_FAULT_NOPAGE): the handler installed the entry itself; never returned by the model. */
export const VM_FAULT_NOPAGE = 0x000100;
/** vm_fault_t bit (VM_FAULT_LOCKED): ->fault returned its page locked; not used by the model. */
export const VM_FAULT_LOCKED = 0x000200;
/**
 * vm_fault_t bit (VM_FAULT_RETRY): the handler had to wait and asks for the whole fault to be retried;
 * it has released the mmap lock unless FAULT_FLAG_RETRY_NOWAIT was given.
 */
export const VM_FAULT_RETRY = 0x000400;
/**
 * vm_fault_t bit (VM_FAULT_FALLBACK): a PMD-level fault could not be served; fall back to PTE-level pages.
 */
export const VM_FAULT_FALLBACK = 0x000800;
/** vm_fault_t bit (VM_FAULT_DONE_COW): ->fault already did the COW; not used by the model. */
export const VM_FAULT_DONE_COW = 0x001000;
/** vm_fault_t bit (VM_FAULT_NEEDDSYNC): a DAX fault needs an fsync before mapping; not used by the model. */
export const VM_FAULT_NEEDDSYNC = 0x002000;
/**
 * vm_fault_t bit (VM_FAULT_COMPLETED): the fault is done and the mmap lock already released;
 * doUserAddrFault honours it, no handler of the model returns it.
 */
export const VM_FAULT_COMPLETED = 0x004000;
/** VM_FAULT_ERROR: the results that end the fault with an error. */
export const VM_FAULT_ERROR =
  VM_FAULT_OOM | VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV | VM_FAULT_HWPOISON | VM_FAULT_HWPOISON_LARGE;

/** fault_flag (FAULT_FLAG_WRITE): a write access; breaks COW and leaves a writable, dirty entry. */
export const FAULT_FLAG_WRITE = 1 << 0;
/** fault_flag (FAULT_FLAG_MKWRITE): a write to a present read-only shared page (page_mkwrite); not used. */
export const FAULT_FLAG_MKWRITE = 1 << 1;
/**
 * fault_flag (FAULT_FLAG_ALLOW_RETRY): the handler may drop the mmap lock to wait and return
 * VM_FAULT_RETRY; without it every wait happens with the lock held.
 */
export const FAULT_FLAG_ALLOW_RETRY = 1 << 2;
/**
 * fault_flag (FAULT_FLAG_RETRY_NOWAIT): with ALLOW_RETRY, return VM_FAULT_RETRY at once, keeping the mmap
 * lock.
 */
export const FAULT_FLAG_RETRY_NOWAIT = 1 << 3;
/**
 * fault_flag (FAULT_FLAG_KILLABLE): a fatal signal may end the fault's waits; passed by doUserAddrFault, no
 * handler reads it.
 */
export const FAULT_FLAG_KILLABLE = 1 << 4;
/**
 * fault_flag (FAULT_FLAG_TRIED): a retry after VM_FAULT_RETRY; set by doUserAddrFault, no handler reads it.
 */
export const FAULT_FLAG_TRIED = 1 << 5;
/**
 * fault_flag (FAULT_FLAG_USER): the fault comes from a user-mode access; set by doUserAddrFault, no handler
 * reads it.
 */
export const FAULT_FLAG_USER = 1 << 6;
/**
 * fault_flag (FAULT_FLAG_REMOTE): a fault on behalf of another context (gup, hmm_range_fault); no handler
 * reads it.
 */
export const FAULT_FLAG_REMOTE = 1 << 7;
/** fault_flag (FAULT_FLAG_INSTRUCTION): the access was an instruction fetch; not used by the model. */
export const FAULT_FLAG_INSTRUCTION = 1 << 8;
/** fault_flag (FAULT_FLAG_INTERRUPTIBLE): any signal may end the fault's waits; not used by the model. */
export const FAULT_FLAG_INTERRUPTIBLE = 1 << 9;
/** fault_flag (FAULT_FLAG_UNSHARE): break COW on a read to get an exclusive anonymous page; not used. */
export const FAULT_FLAG_UNSHARE = 1 << 10;
/** fault_flag (FAULT_FLAG_ORIG_PTE_VALID): vmf->orig_pte was read; not used (VmFault always carries it). */
export const FAULT_FLAG_ORIG_PTE_VALID = 1 << 11;
/** fault_flag (FAULT_FLAG_VMA_LOCK): handled under the per-VMA lock, not the mmap lock; not used. */
export const FAULT_FLAG_VMA_LOCK = 1 << 12;
