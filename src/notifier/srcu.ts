/**
 * The notifier core's single SRCU domain (the kernel's static `srcu` in
 * mm/mmu_notifier.c). Classic callbacks run inside its read sections; unregister, release
 * and put fence through its grace periods. The kernel has one per machine; the model keeps
 * one per Simulation, so runs never share state.
 */
import type { Simulation } from '../sim/simulation.js';
import { Srcu } from '../sim/sync/srcu.js';

const domains = new WeakMap<Simulation, Srcu>();

/** The notifier SRCU domain of `sim`, created on first use. Atomic. */
export function mmuNotifierSrcu(sim: Simulation): Srcu {
  let srcu = domains.get(sim);
  if (srcu === undefined) {
    srcu = new Srcu(sim, 'mmu_notifier');
    domains.set(sim, srcu);
  }
  return srcu;
}
