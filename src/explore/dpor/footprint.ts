/**
 * What a step touches, as source-set DPOR compares it: the object named at the scheduling
 * point that starts the step (a lock, a sequence counter, an mm's page table, a device's
 * page table, ...) and the objects it touched without a point, each read or written, the
 * virtual clock, or everything.
 *
 * A footprint is one small integer: `ANY` (-1) conflicts with every step; otherwise
 * `object * 4 + write * 2 + clock`, `object` an interned object id (0: no object, the
 * footprint of a thread's first stretch), `write` set unless the access only reads, and
 * `clock` set when the step ran while a timer was armed (the step advances virtual time
 * towards the expiry, so it conflicts with every other such step: which events precede a
 * timeout depends on their order). Two accesses of one object conflict unless both read.
 */
export const ANY = -1;

/** The footprint of a step that touches no object (a thread's first stretch): commutes with all. */
export const NOTHING = 0;

/** Whether two steps' footprints conflict (do not commute). */
export function conflicts(a: number, b: number): boolean {
  return (
    a === ANY || b === ANY || (a >> 2 === b >> 2 && a >> 2 !== 0 && ((a | b) & 2) !== 0) || (a & b & 1) === 1
  );
}

/** Whether two steps touching several objects each conflict. */
export function conflictsAll(a: readonly number[], b: readonly number[]): boolean {
  for (const x of a) for (const y of b) if (conflicts(x, y)) return true;
  return false;
}

/**
 * Labels of scheduling points whose operation only reads its object (shares it with other
 * readers): two such steps on one object commute. The rest of such a step (up to the
 * thread's next point) must write nothing shared except through points, touches, or under
 * a lock held exclusively.
 */
export const READ_LABELS: ReadonlySet<string> = new Set([
  // rwsem readers: concurrent holders, blocked only by a writer (a write step).
  'down_read',
  'down_read_killable',
  'down_read_trylock',
  'down_read_wait',
  // the toy mirror's CPU page-table read.
  'cpu_pte_read',
]);

/**
 * Interns object names: names with the same first word get the same id (from 1; 0 is
 * "no object").
 */
export class ObjectIds {
  private readonly ids = new Map<string, number>();
  private readonly keys = new Map<string, number>();

  /** The object key (first word) of id `id`, for messages; `#id` if unknown. */
  nameOf(id: number): string {
    for (const [key, k] of this.keys) if (k === id) return key;
    return `#${id}`;
  }

  /** The id of `object`'s first word. */
  id(object: string): number {
    let id = this.ids.get(object);
    if (id === undefined) {
      // The object is the name's first word; the rest is detail for diagrams ('mlx0.mr100
      // revoke' and 'mlx0.mr100 zap' are one memory key). Coarser is never unsound.
      const space = object.indexOf(' ');
      const key = space > 0 ? object.slice(0, space) : object;
      id = this.keys.get(key);
      if (id === undefined) {
        id = this.keys.size + 1;
        this.keys.set(key, id);
      }
      this.ids.set(object, id);
    }
    return id;
  }

  /**
   * The footprint of an access to `object` (undefined: names none, so conflicts with all),
   * a read when `read` is set, while a timer is armed when `clock` is set.
   */
  footprint(object: string | undefined, clock: boolean, read = false): number {
    if (object === undefined) return ANY;
    return this.id(object) * 4 + (read ? 0 : 2) + (clock ? 1 : 0);
  }
}
