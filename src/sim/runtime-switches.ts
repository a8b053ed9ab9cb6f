/**
 * The runtime's own behaviour switch (see switches.ts): a debug check, on by default.
 */
import { defineSwitch } from './switches.js';

/**
 * Debug check: a scheduling point reached after the running thread gave the CPU away and
 * before the thread it gave it to ran (a primitive called without await, or a promise that
 * escaped the thread) ends the run with a usage error naming both threads. JavaScript cannot
 * tell which async function calls the runtime, only when a microtask boundary has passed, so
 * the check costs one microtask per context switch: the random strategy at 8 threads runs
 * about 15% faster without it (bench/sim.ts prints the rate with it off). Off, such a point is
 * charged to the thread that was handed the CPU, and the run goes on wrong: turn it off only
 * for long explorations of code that already ran clean with it on (typed lint's
 * no-floating-promises catches most missing awaits before any run). A thread handed the CPU
 * while it runs is still a usage error either way. Not a kernel facility: the kernel knows
 * which task is running.
 */
export const AWAIT_CHECK = defineSwitch(
  'sim.awaitCheck',
  true,
  'debug check: a scheduling point reached by a thread that gave the CPU away (a missing await) is a usage error',
);

declare module './switches.js' {
  interface SwitchRegistry {
    /** Debug check for missing awaits (`AWAIT_CHECK`); on by default. */
    'sim.awaitCheck': boolean;
  }
}
