/**
 * A long trace for the viewer's scale tests, from a real run: a process writes pages and unmaps
 * and re-maps its buffer in a loop while a device thread mirrors it through an interval
 * notifier (readBegin, readRetry, setSeq under its lock), so the trace carries every kind of
 * model event the viewer folds (interval_insert, set_seq, read_begin, set_pte, invalidate_seq).
 * `rounds` sets the length: about 60 entries a round.
 */
import { Mutex, Simulation, plainRunResult } from '../../src/sim/index.js';
import { Kernel } from '../../src/mm/kernel.js';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../src/mm/constants.js';
import { mmuIntervalNotifierInsert } from '../../src/notifier/index.js';
import { traceDocument, type TraceDocument } from '../../src/report/trace-file.js';

const PAGE = 4096;

/** Runs the loop for `rounds` rounds with tracing on and returns its trace document. */
export async function largeTrace(rounds: number): Promise<TraceDocument> {
  const sim = new Simulation({ seed: 7, maxSteps: 50_000_000, trace: true });
  const run = await sim.run((s) => {
    const k = new Kernel(s, { memoryPages: 256 });
    const p = k.createProcess('app');
    const lock = new Mutex(s, 'dev->lock');
    let addr = 0;
    let done = false;
    s.spawn('cpu0', async () => {
      addr = await p.mmap({
        length: 4 * PAGE,
        prot: PROT_READ | PROT_WRITE,
        flags: MAP_PRIVATE | MAP_ANONYMOUS,
      });
      await mmuIntervalNotifierInsert(p.mm, addr, 4 * PAGE, {
        async invalidate(sub, _range, cur) {
          await lock.lock();
          sub.setSeq(cur);
          lock.unlock();
          return true;
        },
      }).then((sub) => {
        s.spawn('dev0', async () => {
          while (!done) {
            const seq = await sub.readBegin();
            await lock.lock();
            sub.readRetry(seq);
            lock.unlock();
            await s.yield();
          }
        });
      });
      for (let r = 0; r < rounds; r++) {
        await p.write(addr + (r % 4) * PAGE, new Uint8Array([r & 0xff]));
        if (r % 3 === 2) {
          await p.munmap(addr, 4 * PAGE);
          await p.mmap({
            addr,
            length: 4 * PAGE,
            prot: PROT_READ | PROT_WRITE,
            flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
          });
        }
      }
      done = true;
    });
  });
  const doc = traceDocument(`large-trace-${rounds}`, plainRunResult(run));
  if (run.status !== 'ok')
    throw new Error(`large trace run ended ${run.status}: ${run.violations[0]?.message}`);
  return doc;
}
