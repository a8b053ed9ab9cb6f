/**
 * mirrorlab: an executable model of Linux shared virtual memory.
 *
 * The public surface: the deterministic runtime (src/sim), the interval tree
 * (src/lib), the memory model (src/mm) and the mmu notifier core (src/notifier).
 */
export * from './sim/index.js';
