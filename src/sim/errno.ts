/**
 * Linux errno values (asm-generic/errno-base.h and errno.h). Model functions return them
 * negated, as the kernel does: `return -EBUSY`.
 */
/** Operation not permitted. */
export const EPERM = 1;
/** No such file or directory (or entry). */
export const ENOENT = 2;
/** No such process. */
export const ESRCH = 3;
/** Interrupted: a fatal signal arrived while sleeping (killable waits). */
export const EINTR = 4;
/** I/O error. */
export const EIO = 5;
/** No such device or address. */
export const ENXIO = 6;
/** Argument list too long. */
export const E2BIG = 7;
/** Bad file descriptor (a closed device file). */
export const EBADF = 9;
/** No child processes. */
export const ECHILD = 10;
/** Try again: a non-blockable callback could not take its lock, or a lock-free path must retry. */
export const EAGAIN = 11;
/** Out of memory (no free page after reclaim). */
export const ENOMEM = 12;
/** Permission denied. */
export const EACCES = 13;
/** Bad address: unmapped, PROT_NONE, or a write to read-only memory. */
export const EFAULT = 14;
/** Device or resource busy: hmm_range_fault collided with an invalidation, or a retry budget ran out. */
export const EBUSY = 16;
/** Already exists (MAP_FIXED_NOREPLACE over a mapping). */
export const EEXIST = 17;
/** No such device. */
export const ENODEV = 19;
/** Invalid argument (flags, alignment, ranges). */
export const EINVAL = 22;
/** No space left (swap full). */
export const ENOSPC = 28;
/** Result out of range. */
export const ERANGE = 34;
/** Resource deadlock would occur. */
export const EDEADLK = 35;
/** Function not implemented. */
export const ENOSYS = 38;
/** Value too large (a range that wraps the address space). */
export const EOVERFLOW = 75;
/** Timed out. */
export const ETIMEDOUT = 110;
/** Memory page has a hardware error. */
export const EHWPOISON = 133;

const NAMES: Record<number, string> = {
  [EPERM]: 'EPERM',
  [ENOENT]: 'ENOENT',
  [ESRCH]: 'ESRCH',
  [EINTR]: 'EINTR',
  [EIO]: 'EIO',
  [ENXIO]: 'ENXIO',
  [E2BIG]: 'E2BIG',
  [EBADF]: 'EBADF',
  [ECHILD]: 'ECHILD',
  [EAGAIN]: 'EAGAIN',
  [ENOMEM]: 'ENOMEM',
  [EACCES]: 'EACCES',
  [EFAULT]: 'EFAULT',
  [EBUSY]: 'EBUSY',
  [EEXIST]: 'EEXIST',
  [ENODEV]: 'ENODEV',
  [EINVAL]: 'EINVAL',
  [ENOSPC]: 'ENOSPC',
  [ERANGE]: 'ERANGE',
  [EDEADLK]: 'EDEADLK',
  [ENOSYS]: 'ENOSYS',
  [EOVERFLOW]: 'EOVERFLOW',
  [ETIMEDOUT]: 'ETIMEDOUT',
  [EHWPOISON]: 'EHWPOISON',
};

/** Name of an errno given positive or negative (`-16` → `"-EBUSY"`); unknown values print as numbers. */
export function errnoName(err: number): string {
  const name = NAMES[Math.abs(err)];
  if (name === undefined) return String(err);
  return err < 0 ? `-${name}` : name;
}
