/**
 * Child process of scavenge-survival.test.ts (run with --expose-gc and a young generation large
 * enough that no scavenge happens inside a batch). For each scenario named on the command line:
 * warms up, then per round flushes the young generation (two minor GCs), runs a batch of
 * schedules, forces one minor GC and reads how many bytes of the young generation survived it,
 * per schedule. `keep:` before a name also keeps each finished Simulation reachable (the
 * control: what a retained world measures). Prints one JSON object: name → KB per schedule, per round.
 */
import { getHeapSpaceStatistics } from 'node:v8';
import '../../src/scenario/builtin/index.js';
import { getScenario } from '../../src/scenario/registry.js';
import { Simulation } from '../../src/sim/simulation.js';

const gc = (globalThis as { gc?: (o?: { type: 'minor' | 'major' }) => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');

const BATCH = 20;
const ROUNDS = 5;

function youngUsed(): number {
  const s = getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');
  if (s === undefined) throw new Error('no new_space in v8.getHeapSpaceStatistics()');
  return s.space_used_size;
}

const out: Record<string, number[]> = {};
for (const arg of process.argv.slice(2)) {
  const keep = arg.startsWith('keep:');
  const setup = getScenario(keep ? arg.slice(5) : arg).setup;
  const kept: Simulation[] = [];
  let seed = 0;
  for (let i = 0; i < 100; i++) await new Simulation({ seed: seed++ }).run(setup);
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    kept.length = 0;
    gc({ type: 'minor' });
    gc({ type: 'minor' });
    const before = youngUsed();
    for (let i = 0; i < BATCH; i++) {
      const sim = new Simulation({ seed: seed++ });
      await sim.run(setup);
      if (keep) kept.push(sim);
    }
    gc({ type: 'minor' });
    rounds.push((youngUsed() - before) / BATCH / 1024);
  }
  out[arg] = rounds;
}
process.stdout.write(JSON.stringify(out) + '\n');
