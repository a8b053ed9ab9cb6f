/**
 * Legacy designs the 2019 consolidation removed, kept to show their races. Today: `userptr-list`
 * (seed 000's linear lists with GUP and no sequence).
 */
export { UserptrListDevice, Userptr } from './userptr-list.js';
