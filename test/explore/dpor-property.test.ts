/**
 * dpor against exhaustive dfs as the reference model: on random small programs of lock,
 * reader/writer, shared-variable (read and write points, reads and writes without a point
 * through `sim.touch`), completion, wait-queue, timer, spawn and value-choice operations, the
 * set of reachable final states (shared variables and every thread's observations, or the
 * violation a run ends with) is the same, and dpor never runs more schedules than dfs. A
 * relation that wrongly lets two writes commute is caught by the same property.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { SourceDporStrategy } from '../../src/explore/dpor/source-dpor.js';
import { explore } from '../../src/explore/index.js';
import { Simulation, type SetupFn } from '../../src/sim/simulation.js';
import { Completion } from '../../src/sim/sync/completion.js';
import { Mutex } from '../../src/sim/sync/mutex.js';
import { RwSemaphore } from '../../src/sim/sync/rwsem.js';
import { SpinLock } from '../../src/sim/sync/spinlock.js';
import { WaitQueue } from '../../src/sim/sync/waitqueue.js';

type Op =
  | { k: 'read'; v: number }
  | { k: 'write'; v: number; c: number }
  /** A read at a point whose label only reads (READ_LABELS). */
  | { k: 'readPoint'; v: number }
  /** A read and a write without a point, told to dpor with `sim.touch`. */
  | { k: 'peek'; v: number }
  | { k: 'poke'; v: number; c: number }
  /** A check on a shared variable at a read point: a violation ends the run. */
  | { k: 'check'; v: number }
  | { k: 'mutex'; m: number; body: Op[] }
  | { k: 'spin'; body: Op[] }
  | { k: 'rwsem'; write: boolean; body: Op[] }
  | { k: 'complete' }
  | { k: 'wait' }
  | { k: 'flag' }
  | { k: 'waitFlag' }
  | { k: 'yield' }
  | { k: 'choose' }
  | { k: 'sleep' }
  | { k: 'spawn'; v: number };

const VARS = 2;
/** A store of a value 1-3 to one of the variables (through a point, or a touch for 'poke'). */
const store = <K extends 'write' | 'poke'>(k: K) =>
  fc.record({ k: fc.constant(k), v: fc.nat(VARS - 1), c: fc.integer({ min: 1, max: 3 }) });
const leaf: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant('read' as const), v: fc.nat(VARS - 1) }) },
  { weight: 4, arbitrary: store('write') },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('readPoint' as const), v: fc.nat(VARS - 1) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('peek' as const), v: fc.nat(VARS - 1) }) },
  { weight: 1, arbitrary: store('poke') },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('check' as const), v: fc.nat(VARS - 1) }) },
  { weight: 1, arbitrary: fc.constant<Op>({ k: 'yield' }) },
  { weight: 1, arbitrary: fc.constant<Op>({ k: 'choose' }) },
);
const body = fc.array(leaf, { minLength: 1, maxLength: 2 });
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: leaf },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('mutex' as const), m: fc.nat(1), body }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('spin' as const), body }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('rwsem' as const), write: fc.boolean(), body }) },
  { weight: 1, arbitrary: fc.constant<Op>({ k: 'complete' }) },
  { weight: 1, arbitrary: fc.constant<Op>({ k: 'wait' }) },
  { weight: 1, arbitrary: fc.constant<Op>({ k: 'flag' }) },
  { weight: 1, arbitrary: fc.constant<Op>({ k: 'waitFlag' }) },
  { weight: 1, arbitrary: fc.constant<Op>({ k: 'sleep' }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('spawn' as const), v: fc.nat(VARS - 1) }) },
);
const program = fc.array(fc.array(op, { minLength: 1, maxLength: 3 }), { minLength: 2, maxLength: 3 });

/** The program as a setup; every run's final state goes into `outcomes`. */
function build(threads: Op[][], outcomes: Set<string>): SetupFn {
  return (sim: Simulation) => {
    const x = new Array<number>(VARS).fill(0);
    const mutexes = [new Mutex(sim, 'm0'), new Mutex(sim, 'm1')];
    const spin = new SpinLock(sim, 'spin');
    const sem = new RwSemaphore(sim, 'sem');
    const done = new Completion(sim, 'done');
    const wq = new WaitQueue(sim, 'wq');
    let flag = false;
    const seen: string[] = threads.map(() => '');
    let live = threads.length;
    const finish = (): void => {
      if (--live === 0) outcomes.add(`${x.join(',')} | ${seen.join(' ')}`);
    };
    const run = async (t: number, ops: Op[]): Promise<void> => {
      for (const o of ops) {
        switch (o.k) {
          case 'read':
            await sim.point('read', `x${o.v}`);
            seen[t] += `r${x[o.v]}`;
            break;
          case 'write':
            await sim.point('write', `x${o.v}`);
            x[o.v] = x[o.v] * 2 + o.c;
            break;
          case 'readPoint':
            await sim.point('cpu_pte_read', `x${o.v}`);
            seen[t] += `p${x[o.v]}`;
            break;
          case 'peek':
            sim.touch(`x${o.v}`, true);
            seen[t] += `k${x[o.v]}`;
            break;
          case 'check':
            await sim.point('read', `x${o.v}`);
            sim.check(x[o.v] !== 1, `x${o.v} is 1`);
            break;
          case 'poke':
            sim.touch(`x${o.v}`);
            x[o.v] = x[o.v] * 2 + o.c;
            break;
          case 'mutex':
            await mutexes[o.m].lock();
            await run(t, o.body);
            mutexes[o.m].unlock();
            break;
          case 'spin':
            await spin.lock();
            await run(t, o.body);
            spin.unlock();
            break;
          case 'rwsem':
            if (o.write) await sem.downWrite();
            else await sem.downRead();
            await run(t, o.body);
            if (o.write) sem.upWrite();
            else sem.upRead();
            break;
          case 'complete':
            done.complete();
            break;
          case 'wait':
            await done.wait();
            seen[t] += 'w';
            break;
          case 'flag':
            flag = true;
            wq.wakeUpAll();
            break;
          case 'waitFlag':
            await wq.waitEvent(() => flag);
            seen[t] += 'f';
            break;
          case 'yield':
            await sim.yield();
            break;
          case 'choose':
            seen[t] += `c${sim.choose(2)}`;
            break;
          case 'sleep':
            await sim.sleep(30);
            break;
          case 'spawn': {
            live++;
            const child = seen.length;
            seen.push('');
            sim.spawn(`child${child}`, async () => {
              await sim.point('write', `x${o.v}`);
              x[o.v] = x[o.v] * 2 + 1;
              seen[child] += 'k';
              finish();
            });
            break;
          }
        }
      }
    };
    threads.forEach((ops, t) => {
      sim.spawn(`t${t}`, async () => {
        await run(t, ops);
        finish();
      });
    });
  };
}

/** Final states and violation signatures every schedule of `strategy` reaches. */
async function reach(
  threads: Op[][],
  strategy: 'dfs' | 'dpor',
): Promise<{ outcomes: Set<string>; schedules: number; exhausted: boolean }> {
  const outcomes = new Set<string>();
  const r = await explore(
    {
      strategy,
      preemptionBound: strategy === 'dfs' ? 1000 : undefined,
      schedules: 20_000,
      shrink: false,
      stepNs: 10,
    },
    build(threads, outcomes),
  );
  for (const v of r.violations) outcomes.add(`violation ${v.signature}`);
  return { outcomes, schedules: r.schedules, exhausted: r.exhausted };
}

/** Final states of every schedule dpor runs with `readLabels` as its read-only point labels. */
async function reachWith(threads: Op[][], readLabels: ReadonlySet<string>): Promise<Set<string>> {
  const outcomes = new Set<string>();
  const strategy = new SourceDporStrategy(Infinity, readLabels);
  const setup = build(threads, outcomes);
  for (let i = 0; i < 20_000; i++) {
    const r = await new Simulation({ seed: 1, strategy, stepNs: 10 }).run(setup);
    for (const v of r.violations) outcomes.add(`violation ${v.signature}`);
    if (!strategy.advance()) break;
  }
  return outcomes;
}

describe('dpor against exhaustive dfs', () => {
  it('reaches the same final states with no more schedules, on random programs', async () => {
    let compared = 0;
    await fc.assert(
      fc.asyncProperty(program, async (threads) => {
        const dfs = await reach(threads, 'dfs');
        if (!dfs.exhausted) return; // too big for the reference: skipped
        compared++;
        const dpor = await reach(threads, 'dpor');
        expect(dpor.exhausted).toBe(true);
        expect([...dpor.outcomes].sort()).toEqual([...dfs.outcomes].sort());
        expect(dpor.schedules).toBeLessThanOrEqual(dfs.schedules);
      }),
      { numRuns: 200, seed: 1 },
    );
    expect(compared).toBeGreaterThan(100);
  }, 120_000);

  it('catches a relation that lets two writes commute', async () => {
    // Mutant: 'write' points counted as reads. Some random program must then miss a final state.
    const mutant = new Set(['write', 'cpu_pte_read']);
    const result = await fc.check(
      fc.asyncProperty(program, async (threads) => {
        const dfs = await reach(threads, 'dfs');
        if (!dfs.exhausted) return;
        const got = await reachWith(threads, mutant);
        expect([...got].sort()).toEqual([...dfs.outcomes].sort());
      }),
      { numRuns: 60, seed: 12 },
    );
    expect(result.failed).toBe(true);
  }, 120_000);
});
