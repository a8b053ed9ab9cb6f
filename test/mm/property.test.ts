import fc from 'fast-check';
import { describe, it } from 'vitest';

import { opArb, runSequence } from './property-runner.js';

describe('memory model against a reference model', () => {
  it('random operation sequences: every access as the model says, nothing leaked', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 8, maxLength: 16 }), async (ops) => {
        const err = await runSequence(ops);
        if (err !== null) throw new Error(err);
      }),
      { numRuns: 10_000, seed: 42 },
    );
  });
});
