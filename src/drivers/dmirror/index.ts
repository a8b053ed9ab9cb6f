/**
 * The HMM test device (lib/test_hmm.c) as a driver of the model: `k.createDmirror({ memory })`,
 * `await dev.open(p)`, `await fd.command('read', { addr, npages, mirror })`, `await fd.close()`.
 *
 * Kernel → model names: dmirror_device → DmirrorDevice; struct dmirror (an open file) → Dmirror;
 * dmirror_fops_unlocked_ioctl → Dmirror.command; dmirror_interval_invalidate → the subscription's
 * callback; dmirror_fault / dmirror_range_fault → the fault path; dmirror_devmem_fault →
 * DmirrorDevice.migrateToRam; dmirror_device_remove_chunks → DmirrorDevice.evictAll.
 */
import './install.js';
import './driver.js';

export * from './constants.js';
export { DmirrorDevice, DMIRROR_MISTAKES, type DmirrorOptions, type DmirrorMistakes } from './device.js';
export { Dmirror, type DmirrorCommandArgs, type DmirrorCommandResult } from './file.js';
export { runHmmSelftests, HMM_SELFTESTS, HMM_SELFTEST_NAMES } from './selftests.js';
export type {
  HmmBuffer,
  SelftestCase,
  SelftestContext,
  SelftestResult,
  SelftestVariant,
} from './selftest-harness.js';
