/**
 * The HMM test device's user ABI (lib/test_hmm_uapi.h) and driver constants (lib/test_hmm.c).
 */

/** Command names of `fd.command` and their ioctl numbers (HMM_DMIRROR_*). */
export const DMIRROR_COMMANDS = {
  /** HMM_DMIRROR_READ: fault pages in as needed and copy them into the caller's buffer. */
  read: 0x00,
  /** HMM_DMIRROR_WRITE: fault pages in writable as needed and copy the caller's buffer into them. */
  write: 0x01,
  /** HMM_DMIRROR_MIGRATE_TO_DEV: migrate the range into device memory, then read it into the buffer. */
  'migrate-to-dev': 0x02,
  /** HMM_DMIRROR_MIGRATE_TO_SYS: migrate the range's device pages of this kind back to system memory. */
  'migrate-to-sys': 0x03,
  /** HMM_DMIRROR_SNAPSHOT: one HMM_DMIRROR_PROT_* byte per page, without faulting anything in. */
  snapshot: 0x04,
  /** HMM_DMIRROR_EXCLUSIVE: make each page device-exclusive, map it atomic, then read the range. */
  exclusive: 0x05,
  /** HMM_DMIRROR_CHECK_EXCLUSIVE: -EPERM while any device entry of the range is still atomic. */
  'check-exclusive': 0x06,
  /** HMM_DMIRROR_RELEASE: evict all of the device's memory back to system memory. */
  release: 0x07,
  /** HMM_DMIRROR_FLAGS: set the file's HMM_DMIRROR_FLAG_* word (`flags`, else `npages`). */
  flags: 0x08,
} as const;

/** A command name of `fd.command` (the HMM_DMIRROR_* ioctl it stands for is in DMIRROR_COMMANDS). */
export type DmirrorCommand = keyof typeof DMIRROR_COMMANDS;

/** HMM_DMIRROR_FLAG_FAIL_ALLOC: the next destination allocation of a migration fails (then clears). */
export const HMM_DMIRROR_FLAG_FAIL_ALLOC = 1 << 0;
/** Every flag bit the device knows. */
export const HMM_DMIRROR_FLAGS_KNOWN = HMM_DMIRROR_FLAG_FAIL_ALLOC;

/** HMM_DMIRROR_PROT_*: the per-page bytes of the snapshot command. */
export const HMM_DMIRROR_PROT_ERROR = 0xff;
/** No access, or (as the kind bits) ordinary system memory. */
export const HMM_DMIRROR_PROT_NONE = 0x00;
/** The page is readable but not writable. */
export const HMM_DMIRROR_PROT_READ = 0x01;
/** The page is mapped writable. */
export const HMM_DMIRROR_PROT_WRITE = 0x02;
/** The page is mapped at PMD size (a huge page). */
export const HMM_DMIRROR_PROT_PMD = 0x04;
/** The page is mapped at PUD size. */
export const HMM_DMIRROR_PROT_PUD = 0x08;
/** The page is the shared zero page (or huge zero page). */
export const HMM_DMIRROR_PROT_ZERO = 0x10;
/** A device-private page of this device. */
export const HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL = 0x20;
/** A device-private page of another device. */
export const HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE = 0x30;
/** A device-coherent page of this device. */
export const HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL = 0x40;
/** A device-coherent page of another device. */
export const HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE = 0x50;

/** HMM_DMIRROR_MEMORY_DEVICE_PRIVATE / _COHERENT. */
export const HMM_DMIRROR_MEMORY_DEVICE_PRIVATE = 1;
/** HMM_DMIRROR_MEMORY_DEVICE_COHERENT: the uapi number of a device-coherent test device. */
export const HMM_DMIRROR_MEMORY_DEVICE_COHERENT = 2;

/** Pages per hmm_range_fault batch of the fault and snapshot paths (newest tree: 32). */
export const DMIRROR_FAULT_BATCH = 32;
/** Pages per migrate_vma batch (PTRS_PER_PTE in the newest tree). */
export const DMIRROR_MIGRATE_BATCH = 512;
/** DEVMEM_CHUNK_SIZE in pages of 4 KiB: 256 MiB. */
export const DEVMEM_CHUNK_PAGES = 65536;
/** HMM_RANGE_DEFAULT_TIMEOUT in nanoseconds of virtual time (1000 ms). */
export const DMIRROR_RANGE_FAULT_TIMEOUT_NS = 1000 * 1_000_000;
