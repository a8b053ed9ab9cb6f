/**
 * The trace document (src/report/trace-file.ts): what a traced run writes, what validation
 * accepts, and the message for each kind of bad input (naming the source and the path).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Simulation, plainRunResult } from '../../src/sim/simulation.js';
import { getScenario } from '../../src/scenario/registry.js';
import '../../src/scenario/builtin/index.js';
import {
  parseTraceDocument,
  traceDocument,
  TraceFileError,
  validateTraceDocument,
} from '../../src/report/trace-file.js';

async function tracedRun(name: string, seed: number) {
  const s = getScenario(name);
  const sim = new Simulation({ seed, maxSteps: 100_000, trace: true });
  return plainRunResult(await sim.run(s.setup));
}

describe('trace document', () => {
  it('a traced run makes a valid version-1 document that survives JSON', async () => {
    const run = await tracedRun('mm-mirror-no-set-seq', 6);
    const doc = traceDocument('mm-mirror-no-set-seq', run, { steps: run.steps });
    expect(doc).toMatchObject({ format: 'mirrorlab-trace', version: 1, status: 'violation', seed: 6 });
    expect(doc.token).toBe(run.token);
    expect(doc.trace.length).toBe(run.trace!.length);
    expect(doc.violations[0]).toMatchObject({ kind: 'stale-mapping', step: run.violations[0].step });
    // The diagram is not carried (the viewer draws its own timeline).
    expect('diagram' in doc.violations[0]).toBe(false);
    const back = parseTraceDocument(JSON.stringify(doc), 'x.json');
    expect(back).toEqual(JSON.parse(JSON.stringify(doc)));
  });

  it('a traced run records the events the viewer folds', async () => {
    const run = await tracedRun('mm-mirror-no-set-seq', 6);
    const events = run.trace!.filter((e) => e.event);
    const labels = new Set(events.map((e) => e.label));
    for (const l of [
      'itree_insert',
      'interval_insert',
      'set_pte',
      'device_map',
      'read_begin',
      'invalidate_seq',
    ]) {
      expect(labels, l).toContain(l);
    }
    const insert = events.find((e) => e.label === 'interval_insert')!;
    expect(insert.object).toBe('dev0');
    expect(insert.note).toBe('[0x7effffffc000, 0x7effffffffff] seq 1; invalidate_seq 2; mm app[1]');
    const pte = events.find((e) => e.label === 'set_pte')!;
    expect(pte.note).toMatch(/^0x[0-9a-f]+: pte present pfn=0x[0-9a-f]+ rw/);
    // Untraced runs take the same schedule: the events are not scheduling points.
    const s = getScenario('mm-mirror-no-set-seq');
    const plain = await new Simulation({ seed: 6, maxSteps: 100_000 }).run(s.setup);
    expect(plain.token).toBe(run.token);
    expect(plain.trace).toBeUndefined();
  });

  it('an untraced run cannot make a document', async () => {
    const s = getScenario('seq-retry');
    const run = plainRunResult(await new Simulation({ seed: 1 }).run(s.setup));
    expect(() => traceDocument('seq-retry', run)).toThrow(/not traced/);
  });

  it('names what is wrong: not JSON, not a trace, another version, bad fields', () => {
    const ok = {
      format: 'mirrorlab-trace',
      version: 1,
      scenario: 's',
      status: 'ok',
      steps: 1,
      timeNs: 10,
      seed: 1,
      token: 't',
      violations: [],
      trace: [{ step: 1, tid: 1, thread: 'cpu0', label: 'yield', timeNs: 10 }],
    };
    expect(validateTraceDocument(ok, 'f')).toBe(ok);
    expect(() => parseTraceDocument('{', 'f.json')).toThrow(/^f\.json: not JSON/);
    expect(() => validateTraceDocument([], 'f')).toThrow(
      'f: not a mirrorlab trace document (expected a JSON object, got an array)',
    );
    expect(() => validateTraceDocument({ scenario: 'x', trace: [] }, 'f')).toThrow(
      /format is missing.*older `mirrorlab run --trace`/,
    );
    expect(() => validateTraceDocument({ ...ok, version: 2 }, 'f')).toThrow(
      'f: trace document version number 2 is not supported',
    );
    const bad = {
      ...ok,
      steps: -1,
      violations: [{ kind: 'k', message: 'm', thread: 't', threads: [], step: 1.5 }],
      trace: [
        { step: 2, tid: 1, thread: 'cpu0', label: 'a', timeNs: 10 },
        { step: 1, tid: 1, thread: 'cpu0', label: 'b', timeNs: 10, held: 'lock', event: false },
      ],
    };
    let msg = '';
    try {
      validateTraceDocument(bad, 'f.json');
    } catch (err) {
      expect(err).toBeInstanceOf(TraceFileError);
      msg = (err as Error).message;
    }
    expect(msg).toContain('f.json: invalid trace document:');
    expect(msg).toContain('steps: expected a non-negative integer, got number -1');
    expect(msg).toContain('violations[0].step: expected a non-negative integer, got number 1.5');
    expect(msg).toContain('trace[1].held: expected an array of lock names when present, got string "lock"');
    expect(msg).toContain('trace[1].event: expected true when present, got boolean false');
    expect(msg).toContain('trace[1].step: 1 goes back (the previous entry is step 2)');
  });

  it('any JSON value either validates or fails with a TraceFileError (never another error)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        try {
          validateTraceDocument(v, 'fuzz');
        } catch (err) {
          expect(err).toBeInstanceOf(TraceFileError);
          expect((err as Error).message.startsWith('fuzz: ')).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
    // Mutations of a valid document's fields.
    fc.assert(
      fc.property(
        fc.constantFrom('scenario', 'steps', 'trace', 'violations', 'seed', 'token'),
        fc.jsonValue(),
        (k, v) => {
          const d: Record<string, unknown> = {
            format: 'mirrorlab-trace',
            version: 1,
            scenario: 's',
            status: 'ok',
            steps: 1,
            timeNs: 1,
            seed: 1,
            token: 't',
            violations: [],
            trace: [],
          };
          d[k] = v;
          try {
            validateTraceDocument(d, 'fuzz');
          } catch (err) {
            expect(err).toBeInstanceOf(TraceFileError);
            expect((err as Error).message).toContain(k);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
