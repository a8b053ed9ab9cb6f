/**
 * What a step touches, as source-set DPOR compares it: the object named at the scheduling
 * point that starts the step (a lock, a sequence counter, an mm's page table, a device's
 * page table, ...), the virtual clock, or everything.
 *
 * A footprint is one small integer: `ANY` (-1) conflicts with every step; otherwise
 * `object * 2 + clock`, `object` an interned object id and `clock` set when the step ran while
 * a timer was armed (the step advances virtual time towards the expiry, so it conflicts with
 * every other such step: which events precede a timeout depends on their order).
 */
export const ANY = -1;

/** Whether two steps' footprints conflict (do not commute). */
export function conflicts(a: number, b: number): boolean {
  return a === ANY || b === ANY || a >> 1 === b >> 1 || (a & b & 1) === 1;
}

/**
 * Interns object names: equal names get equal ids. A thread's first step (from its spawn to
 * its first scheduling point) gets a private object of its own: by the model's convention it
 * touches nothing shared before its first point, and its spawn orders it after the spawner.
 */
export class ObjectIds {
  private readonly ids = new Map<string, number>();

  /** The footprint of a step on `object` (undefined: names none, so conflicts with all). */
  footprint(object: string | undefined, clock: boolean): number {
    if (object === undefined) return ANY;
    let id = this.ids.get(object);
    if (id === undefined) {
      id = this.ids.size;
      this.ids.set(object, id);
    }
    return id * 2 + (clock ? 1 : 0);
  }

  /** The private object of thread `tid`'s first step. */
  start(tid: number, clock: boolean): number {
    return this.footprint(`\0start ${tid}`, clock);
  }
}
