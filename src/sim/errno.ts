/**
 * Linux errno values (asm-generic/errno-base.h and errno.h). Model functions return them
 * negated, as the kernel does: `return -EBUSY`.
 */
export const EPERM = 1;
export const ENOENT = 2;
export const ESRCH = 3;
export const EINTR = 4;
export const EIO = 5;
export const ENXIO = 6;
export const E2BIG = 7;
export const EBADF = 9;
export const ECHILD = 10;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EACCES = 13;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const ENODEV = 19;
export const EINVAL = 22;
export const ENOSPC = 28;
export const ERANGE = 34;
export const EDEADLK = 35;
export const ENOSYS = 38;
export const EOVERFLOW = 75;
export const ETIMEDOUT = 110;
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
