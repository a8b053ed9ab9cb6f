/**
 * Legacy designs the 2019 consolidation removed, kept to show their races: `userptr-list` (seed
 * 000's linear lists with GUP and no sequence), `odp2019` (ODP's notifiers_seq/notifiers_count
 * scheme with a completion and a wait timeout) and `hmm-mirror-2019` (struct hmm through mm->hmm,
 * seed 004). Their fixes are switches of the run (switches.ts), off by default.
 */
export { UserptrListDevice, Userptr } from './userptr-list.js';
export { Odp2019Device, Odp2019Mr } from './odp2019.js';
export { HmmMirror2019Device, HmmMirror2019 } from './hmm-mirror-2019.js';
export { Hmm2019, mmHmmOf, type Hmm2019Range, type Hmm2019MirrorOps } from './hmm-2019.js';
export {
  HMM2019_MMGET_IN_FAULT,
  HMM2019_SRCU_FREE,
  HMM2019_CONTAINER_OF,
  HMM2019_SEQ_RETRY,
  ODP2019_MMGET_NOT_ZERO,
  ODP2019_MAP_ON_TIMEOUT,
} from './switches.js';
