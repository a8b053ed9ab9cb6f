/**
 * The notifier core's single SRCU domain (the kernel's static `srcu` in
 * mm/mmu_notifier.c). Classic callbacks run inside its read sections; unregister, release
 * and put fence through its grace periods. The kernel has one per machine; the model keeps
 * one per Simulation, so runs never share state.
 */
import type { Simulation } from '../sim/simulation.js';
import { Srcu } from '../sim/sync/srcu.js';

/** Per run (Simulation.runLocal). */
const DOMAIN = Symbol('mmu_notifier srcu');

/** The notifier SRCU domain of `sim`, created on first use. Atomic. */
export function mmuNotifierSrcu(sim: Simulation): Srcu {
  return sim.runLocal<Srcu>(DOMAIN) ?? sim.setRunLocal(DOMAIN, new Srcu(sim, 'mmu_notifier'));
}
