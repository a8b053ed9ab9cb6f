/**
 * What one run touched, for exploration coverage: the distinct (thread, operation, object)
 * triples of its scheduling points. Recorded only when a run asks for it (explore does);
 * a step costs two map lookups, and the sets grow with the program's distinct operations,
 * not with the run's length. The explorer folds objects to kinds and lock dependencies to
 * edges when it merges runs (src/explore/coverage.ts).
 */
export class StepCoverage {
  /** Per thread id: operation label → objects it acted on (undefined: none named). */
  readonly byThread: Map<string, Set<string | undefined>>[] = [];

  step(tid: number, label: string, object: string | undefined): void {
    let ops = this.byThread[tid];
    if (ops === undefined) this.byThread[tid] = ops = new Map();
    let objects = ops.get(label);
    if (objects === undefined) ops.set(label, (objects = new Set()));
    objects.add(object);
  }
}
