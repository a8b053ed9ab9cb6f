import type { Simulation } from './simulation.js';

interface Site {
  thread: string;
  step: number;
}

interface ObjectInfo {
  label: string;
  allocated: Site | null;
  freed: Site | null;
}

/**
 * Object lifetime checking, like KASAN: objects freed with `kfree` are poisoned, and a
 * later `use` reports use-after-free naming where the object was allocated, freed and
 * used. Kept per run, keyed weakly so the model's objects are collected as usual.
 */
export class Lifetime {
  /** Created on the first allocation: most runs of an exploration never allocate. */
  private infoMap: WeakMap<object, ObjectInfo> | null = null;

  constructor(private readonly sim: Simulation) {}

  private get info(): WeakMap<object, ObjectInfo> {
    return (this.infoMap ??= new WeakMap());
  }

  private site(): Site {
    return { thread: this.sim.current?.name ?? 'setup', step: this.sim.steps };
  }

  private labelOf(obj: object, label?: string): string {
    if (label !== undefined) return label;
    const name = (obj as { name?: unknown }).name;
    const ctor = (obj as { constructor?: { name?: string } }).constructor?.name ?? 'object';
    return typeof name === 'string' ? `${ctor} ${name}` : ctor;
  }

  /** The label `obj` is reported under (what dpor names a kfree or use of it by). */
  label(obj: object): string {
    return this.infoMap?.get(obj)?.label ?? this.labelOf(obj);
  }

  /** kmalloc: remembers where `obj` was allocated. */
  alloc<T extends object>(obj: T, label?: string): T {
    this.info.set(obj, { label: this.labelOf(obj, label), allocated: this.site(), freed: null });
    return obj;
  }

  /** kfree: poisons `obj`; freeing twice is a `double-free`. */
  free(obj: object): void {
    const prev = this.info.get(obj);
    if (prev?.freed) {
      this.sim.report(
        'double-free',
        `${prev.label} freed twice: first by ${prev.freed.thread} at step ${prev.freed.step}, again by ${this.site().thread}`,
        { key: `double free ${prev.label}`, objects: [prev.label], conflictStep: prev.freed.step },
      );
    }
    const info = prev ?? { label: this.labelOf(obj), allocated: null, freed: null };
    info.freed = this.site();
    this.info.set(obj, info);
    if (this.sim.tracing) this.sim.traceEvent('kfree', info.label);
  }

  /** A dereference of `obj`: reports `use-after-free` when it was freed. */
  use<T extends object>(obj: T, what?: string): T {
    const info = this.infoMap?.get(obj);
    if (info?.freed) {
      const use = this.site();
      const alloc = info.allocated
        ? `allocated by ${info.allocated.thread} at step ${info.allocated.step}, `
        : '';
      this.sim.report(
        'use-after-free',
        `use-after-free of ${info.label}${what ? ` (${what})` : ''} by ${use.thread} at step ${use.step}: ` +
          `${alloc}freed by ${info.freed.thread} at step ${info.freed.step}`,
        {
          key: `uaf ${info.label}`,
          threads: [...new Set([use.thread, info.freed.thread])],
          objects: [info.label],
          conflictStep: info.freed.step,
          details: { allocated: info.allocated, freed: info.freed, used: use },
        },
      );
    }
    return obj;
  }

  /** Whether `obj` has been freed. */
  isFreed(obj: object): boolean {
    return this.infoMap?.get(obj)?.freed != null;
  }
}
