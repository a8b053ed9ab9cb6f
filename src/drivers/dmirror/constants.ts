/**
 * The HMM test device's user ABI (lib/test_hmm_uapi.h) and driver constants (lib/test_hmm.c).
 */

/** Command names of `fd.command` and their ioctl numbers (HMM_DMIRROR_*). */
export const DMIRROR_COMMANDS = {
  read: 0x00,
  write: 0x01,
  'migrate-to-dev': 0x02,
  'migrate-to-sys': 0x03,
  snapshot: 0x04,
  exclusive: 0x05,
  'check-exclusive': 0x06,
  release: 0x07,
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
export const HMM_DMIRROR_PROT_NONE = 0x00;
export const HMM_DMIRROR_PROT_READ = 0x01;
export const HMM_DMIRROR_PROT_WRITE = 0x02;
export const HMM_DMIRROR_PROT_PMD = 0x04;
export const HMM_DMIRROR_PROT_PUD = 0x08;
export const HMM_DMIRROR_PROT_ZERO = 0x10;
export const HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL = 0x20;
export const HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE = 0x30;
export const HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL = 0x40;
export const HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE = 0x50;

/** HMM_DMIRROR_MEMORY_DEVICE_PRIVATE / _COHERENT. */
export const HMM_DMIRROR_MEMORY_DEVICE_PRIVATE = 1;
export const HMM_DMIRROR_MEMORY_DEVICE_COHERENT = 2;

/** Pages per hmm_range_fault batch of the fault and snapshot paths (newest tree: 32). */
export const DMIRROR_FAULT_BATCH = 32;
/** Pages per migrate_vma batch (PTRS_PER_PTE in the newest tree). */
export const DMIRROR_MIGRATE_BATCH = 512;
/** DEVMEM_CHUNK_SIZE in pages of 4 KiB: 256 MiB. */
export const DEVMEM_CHUNK_PAGES = 65536;
/** HMM_RANGE_DEFAULT_TIMEOUT in nanoseconds of virtual time (1000 ms). */
export const DMIRROR_RANGE_FAULT_TIMEOUT_NS = 1000 * 1_000_000;
