/**
 * Recycled array buffers (src/sim/buffers.ts): a world never shares a buffer with another
 * live world, a retired world's buffers wait for a host turn, contents never depend on
 * recycling, and an exploration gives the same results with it and without it.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  pooledBufferBytes,
  releaseRetiredBuffers,
  RunBuffers,
  setBufferRecycling,
} from '../../src/sim/buffers.js';
import { Simulation } from '../../src/sim/simulation.js';
import { SimUsageError } from '../../src/sim/violation.js';
import { explore } from '../../src/explore/index.js';
import { getScenario } from '../../src/scenario/registry.js';
import '../../src/scenario/builtin/index.js';

afterEach(() => setBufferRecycling(true));

const allZero = (b: ArrayBuffer): boolean => new Uint8Array(b).every((x) => x === 0);

describe('RunBuffers', () => {
  it('reuses a retired world’s buffer only after a host turn, zeroed', () => {
    setBufferRecycling(true);
    const a = new RunBuffers();
    const buf = a.zeroed(4096);
    new Uint8Array(buf).fill(7);
    a.retire();
    const b = new RunBuffers();
    const early = b.zeroed(4096);
    expect(early).not.toBe(buf); // still retired: not before the host turn
    releaseRetiredBuffers();
    const c = new RunBuffers();
    const later = c.zeroed(4096);
    expect(later).toBe(buf);
    expect(allZero(later)).toBe(true);
  });

  it('copies into a reused buffer byte for byte, and a retired world allocates unrecorded', () => {
    setBufferRecycling(true);
    const a = new RunBuffers();
    new Uint8Array(a.zeroed(16)).fill(9);
    a.retire();
    releaseRetiredBuffers();
    const b = new RunBuffers();
    const src = Uint8Array.from({ length: 16 }, (_, i) => i * 3);
    const out = b.copy(src);
    expect([...out]).toEqual([...src]);
    b.retire();
    const before = pooledBufferBytes();
    const straggler = b.zeroed(16); // a finished world's late take: not pooled again
    b.retire();
    expect(pooledBufferBytes()).toBe(before);
    expect(allZero(straggler)).toBe(true);
  });

  it('with recycling off, every take allocates', () => {
    setBufferRecycling(false);
    const a = new RunBuffers();
    const buf = a.zeroed(64);
    a.retire();
    releaseRetiredBuffers();
    expect(new RunBuffers().zeroed(64)).not.toBe(buf);
    expect(pooledBufferBytes()).toBe(0);
  });

  it('property: no buffer is held by two live worlds; zeroed is zero, copy is equal', () => {
    const sizes = [8, 64, 4096];
    const op = fc.oneof(
      fc.record({ op: fc.constant('zeroed' as const), w: fc.nat(3), size: fc.constantFrom(...sizes) }),
      fc.record({
        op: fc.constant('copy' as const),
        w: fc.nat(3),
        size: fc.constantFrom(...sizes),
        fill: fc.nat(255),
      }),
      fc.record({ op: fc.constant('retire' as const), w: fc.nat(3) }),
      fc.record({ op: fc.constant('release' as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        setBufferRecycling(true);
        // The reference model: which world holds each buffer; retired ones wait for release.
        const worlds = [0, 1, 2, 3].map(() => new RunBuffers());
        const owner = new Map<ArrayBuffer, number>();
        const waiting = new Set<ArrayBuffer>();
        const retired = new Set<number>();
        const held = (w: number, buf: ArrayBuffer): void => {
          const o = owner.get(buf);
          // A buffer already owned must be one a retired world gave back, and released.
          if (o !== undefined) {
            expect(retired.has(o)).toBe(true);
            expect(waiting.has(buf)).toBe(false);
          }
          if (!retired.has(w)) owner.set(buf, w);
          // The world writes to it: a later reuse must not show these bytes.
          new Uint8Array(buf).fill(0xa5);
        };
        for (const o of ops) {
          if (o.op === 'zeroed') {
            const buf = worlds[o.w].zeroed(o.size);
            expect(buf.byteLength).toBe(o.size);
            expect(allZero(buf)).toBe(true);
            held(o.w, buf);
          } else if (o.op === 'copy') {
            const src = new Uint8Array(o.size).fill(o.fill);
            const out = worlds[o.w].copy(src);
            expect(out.every((x) => x === o.fill)).toBe(true);
            expect(out.buffer).not.toBe(src.buffer);
            held(o.w, out.buffer);
          } else if (o.op === 'retire') {
            if (!retired.has(o.w)) {
              for (const [buf, w] of owner) if (w === o.w) waiting.add(buf);
              retired.add(o.w);
            }
            worlds[o.w].retire();
          } else {
            releaseRetiredBuffers();
            waiting.clear();
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('Simulation.retireBuffers', () => {
  it('is refused while the run is still running', async () => {
    const sim = new Simulation({ seed: 1 });
    let error: unknown = null;
    await sim.run((s) => {
      s.spawn('t', async () => {
        await s.yield();
        try {
          s.retireBuffers();
        } catch (e) {
          error = e;
        }
      });
    });
    expect(error).toBeInstanceOf(SimUsageError);
    expect(String(error)).toMatch(/retireBuffers: the run has not ended/);
    expect(() => sim.retireBuffers()).not.toThrow();
  });
});

describe('explore with recycled buffers', () => {
  // Scenarios whose worlds hold page contents, page tables, swap and lost-writes shadows,
  // one of them finding violations; 200 schedules cross three host turns (every 64).
  for (const name of ['gpusvm-mirror', 'dmirror-cpu-storm', 'dmirror-skip-private-zap']) {
    it(`${name}: the same result with recycling and without`, async () => {
      const sc = getScenario(name);
      const run = async (): Promise<unknown> => {
        const r = await explore(
          { strategy: 'random', schedules: 200, seed: 7, switches: sc.switches, shrink: false },
          sc.setup,
        );
        return {
          totalSteps: r.totalSteps,
          statuses: r.statuses,
          marks: r.marks,
          coverage: r.coverage,
          violations: r.violations.map((v) => [v.signature, v.token, v.message]),
        };
      };
      setBufferRecycling(false);
      const plain = await run();
      setBufferRecycling(true);
      const recycled = await run();
      expect(pooledBufferBytes()).toBeGreaterThan(0); // the pool was in use
      const again = await run(); // with a pool the first run left behind
      expect(recycled).toEqual(plain);
      expect(again).toEqual(plain);
    }, 60_000);
  }
});
