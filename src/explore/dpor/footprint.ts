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

/** Whether two steps touching several objects each conflict. */
export function conflictsAll(a: readonly number[], b: readonly number[]): boolean {
  for (const x of a) for (const y of b) if (conflicts(x, y)) return true;
  return false;
}

/**
 * Interns object names: names with the same first word get the same id.
 */
export class ObjectIds {
  private readonly ids = new Map<string, number>();
  private readonly keys = new Map<string, number>();

  /** The footprint of a step on `object` (undefined: names none, so conflicts with all). */
  footprint(object: string | undefined, clock: boolean): number {
    if (object === undefined) return ANY;
    let id = this.ids.get(object);
    if (id === undefined) {
      // The object is the name's first word; the rest is detail for diagrams ('mlx0.mr100
      // revoke' and 'mlx0.mr100 zap' are one memory key). Coarser is never unsound.
      const space = object.indexOf(' ');
      const key = space > 0 ? object.slice(0, space) : object;
      id = this.keys.get(key);
      if (id === undefined) {
        id = this.keys.size;
        this.keys.set(key, id);
      }
      this.ids.set(object, id);
    }
    return id * 2 + (clock ? 1 : 0);
  }
}
