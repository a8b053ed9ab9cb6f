/**
 * hmmRangeFault against a reference model, over random layouts and requests: on success every output
 * is the snapshot of the final CPU page table (VALID iff a readable translation, WRITE iff writable,
 * ERROR iff no VMA or a PROT_NONE VMA, the translated pfn) and every request is met; otherwise the
 * error is the one the first VMA (in address order) holding an unmeetable request calls for: -EFAULT
 * for a hole or PROT_NONE, -EPERM for a write request on a read-only VMA.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { EBUSY, EFAULT, EPERM } from '../../src/sim/errno.js';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_NONE, PROT_READ } from '../../src/mm/constants.js';
import { PTE_KIND_PRESENT, PTE_WRITE } from '../../src/mm/page-table.js';
import {
  HMM_PFN_ERROR,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  hmmPfnFlags,
  hmmPfnToPfn,
} from '../../src/hmm/pfn.js';
import { A, expectOk, fill, PAGE, rangeFaultOnce, RW, runKernel, subscribe } from './helpers.js';

type RegionKind = 'hole' | 'none' | 'ro' | 'rw';
type PageState = 'untouched' | 'read' | 'written';
const REGION = 4;
const NREG = 4;
const N = REGION * NREG;
const F = HMM_PFN_REQ_FAULT;
const W = HMM_PFN_REQ_WRITE;

const caseArb = fc.record({
  regions: fc.array(fc.constantFrom<RegionKind>('hole', 'none', 'ro', 'rw'), {
    minLength: NREG,
    maxLength: NREG,
  }),
  states: fc.array(fc.constantFrom<PageState>('untouched', 'read', 'written'), {
    minLength: N,
    maxLength: N,
  }),
  defaultFlags: fc.constantFrom(0, F, F | W),
  mask: fc.constantFrom(0, F, F | W),
  inputs: fc.array(fc.constantFrom(0, F, F | W, W), { minLength: N, maxLength: N }),
});

function expectedError(c: Case): number {
  for (let r = 0; r < NREG; r++) {
    for (let i = r * REGION; i < (r + 1) * REGION; i++) {
      const eff = (c.inputs[i] & c.mask) | c.defaultFlags;
      if (!(eff & F)) continue;
      const kind = c.regions[r];
      if (kind === 'hole' || kind === 'none') return -EFAULT;
      if (kind === 'ro' && eff & W) return -EPERM;
    }
  }
  return 0;
}

interface Case {
  regions: RegionKind[];
  states: PageState[];
  defaultFlags: number;
  mask: number;
  inputs: number[];
}

describe('hmmRangeFault (property)', () => {
  it('outputs are the final page table, requests are met, or the first unmeetable request sets the error', async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, async (c: Case) => {
        const run = await runKernel(async (k) => {
          const p = k.createProcess('app');
          for (let r = 0; r < NREG; r++) {
            const kind = c.regions[r];
            if (kind === 'hole') continue;
            const addr = A + r * REGION * PAGE;
            const got = await p.mmap({
              addr,
              length: REGION * PAGE,
              prot: RW,
              flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
            });
            expect(got).toBe(addr);
            for (let i = r * REGION; i < (r + 1) * REGION; i++) {
              if (kind === 'none') break;
              if (c.states[i] === 'read') await p.read(A + i * PAGE, 1);
              if (c.states[i] === 'written') expect(await p.write(A + i * PAGE, fill(1, i))).toBe(0);
            }
            if (kind === 'none') expect(await p.mprotect(addr, REGION * PAGE, PROT_NONE)).toBe(0);
            if (kind === 'ro') expect(await p.mprotect(addr, REGION * PAGE, PROT_READ)).toBe(0);
          }
          const { sub } = await subscribe(p.mm, A, N * PAGE);
          const pfns = c.inputs.slice();
          let ret = -EBUSY;
          for (let tries = 0; ret === -EBUSY && tries < 10; tries++) {
            for (let i = 0; i < N; i++) pfns[i] = c.inputs[i];
            ret = await rangeFaultOnce(sub, A, A + N * PAGE, pfns, c.defaultFlags, c.mask);
          }
          expect(ret).toBe(expectedError(c));
          if (ret !== 0) return;
          const pt = p.mm.pageTable;
          for (let i = 0; i < N; i++) {
            const va = A + i * PAGE;
            const kind = c.regions[Math.floor(i / REGION)];
            const out = hmmPfnFlags(pfns[i]);
            if (kind === 'hole' || kind === 'none') {
              expect(out).toBe(HMM_PFN_ERROR);
              continue;
            }
            const present = pt.kindAt(va) === PTE_KIND_PRESENT;
            const writable = present && (pt.flagsAt(va) & PTE_WRITE) !== 0;
            expect(out).toBe(present ? HMM_PFN_VALID | (writable ? HMM_PFN_WRITE : 0) : 0);
            if (present) expect(hmmPfnToPfn(pfns[i])).toBe(pt.pfnAt(va));
            const eff = (c.inputs[i] & c.mask) | c.defaultFlags;
            if (eff & F) expect(out & HMM_PFN_VALID).toBe(HMM_PFN_VALID);
            if (eff & F && eff & W) expect(out & HMM_PFN_WRITE).toBe(HMM_PFN_WRITE);
          }
        });
        expectOk(run);
      }),
      { numRuns: 150, seed: 42 },
    );
  }, 60_000);
});
