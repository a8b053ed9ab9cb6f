import { describe, expect, it } from 'vitest';
import { explore } from '../../src/explore/index.js';
import { userptrListScenario } from '../../src/drivers/legacy/scenarios.js';

describe('legacy designs: their races found', () => {
  it('userptr-list: an invalidation between pin and map leaves a stale device mapping', async () => {
    const r = await explore({ strategy: 'random', schedules: 300, seed: 1 }, userptrListScenario());
    expect(r.violations[0]?.kind).toBe('stale-mapping');
    expect(r.violations[0]?.message).toMatch(/gpu0\.userptr0 maps .* the CPU has no entry/);
  });
});
