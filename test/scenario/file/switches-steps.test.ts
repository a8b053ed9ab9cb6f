/**
 * The `switches:` field and the device `attach`/`detach` steps of scenario files: validated with
 * the file, line and column of the mistake; switches reach every run and its replay token; a
 * device with an `attach` step is attached by it, not at start, and `detach` ends its mirror.
 */
import { describe, expect, it } from 'vitest';
import '../../../src/drivers/index.js';
import { explore, replay } from '../../../src/explore/index.js';
import { Simulation } from '../../../src/sim/simulation.js';
import { knownSwitches } from '../../../src/sim/switches.js';
import { fileRunCounters } from '../../../src/scenario/file/build.js';
import { ScenarioFileError } from '../../../src/scenario/file/errors.js';
import { loadScenarioText } from '../../../src/scenario/file/load.js';

function issuesOf(text: string): ScenarioFileError['issues'] {
  try {
    loadScenarioText(text, 'bad.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ScenarioFileError);
    return (err as ScenarioFileError).issues;
  }
  throw new Error('expected the document to be refused');
}

const doc = (accessOps: string, extra = '') => `description: d
processes:
  - name: app
    mappings:
      - { name: buf, pages: 2, prot: [read, write], flags: [private, anonymous] }
    threads:
      - name: cpu
        ops:
          - { write: { at: buf, pages: 2, byte: 7 } }
devices:
  - { name: gpu, driver: dmirror, attach: app }
accesses:
  - { device: gpu, ops: ${accessOps} }
${extra}`;

describe('switches: in scenario files', () => {
  it('a misspelt switch is refused at its key, with the closest name and the list of names', () => {
    const text = doc('[{ read: { at: buf } }]', 'switches: { hmm2019.srcuFre: true }\n');
    const issues = issuesOf(text);
    expect(issues).toHaveLength(1);
    const line = text.split('\n').findIndex((l) => l.startsWith('switches:')) + 1;
    expect(issues[0]).toMatchObject({
      file: 'bad.yaml',
      line,
      column: 'switches: { '.length + 1,
      path: 'switches["hmm2019.srcuFre"]',
    });
    expect(issues[0].message).toMatch(
      /^unknown switch "hmm2019.srcuFre" \(did you mean "hmm2019.srcuFree"\?\); switches: /,
    );
    for (const s of knownSwitches()) expect(issues[0].message).toContain(s.name);
  });

  it('a switch value must be true or false', () => {
    const [i] = issuesOf(doc('[{ read: { at: buf } }]', 'switches: { hmm2019.srcuFree: yes }\n'));
    expect(i.path).toBe('switches["hmm2019.srcuFree"]');
    expect(i.message).toBe('expected boolean, got string "yes"');
  });

  it("the file's switches are on in every run and recorded in its replay token", async () => {
    const s = loadScenarioText(
      doc('[{ read: { at: buf } }]', "switches: { 'notifier.removeNoWait': true }\n"),
      'ok.yaml',
    );
    expect(s.switches).toEqual({ 'notifier.removeNoWait': true });
    const r = await explore({ strategy: 'random', schedules: 3, seed: 1, switches: s.switches }, s.setup);
    expect(r.violations).toEqual([]);
    const sim = new Simulation({ seed: 5, switches: s.switches });
    const run = await sim.run(s.setup);
    expect(run.token).toContain('+notifier:removeNoWait');
    // A plain replay of that token runs with the switch on as well (same steps, same token).
    const again = await replay(run.token, s.setup);
    expect(again.steps).toBe(run.steps);
  });
});

describe('checkers: as switches of the run', () => {
  it('a checkers list turns the checker switches it names on and the others off', () => {
    const s = loadScenarioText(
      doc('[{ read: { at: buf } }]', 'checkers: [coherence, liveness]\n'),
      'ok.yaml',
    );
    expect(s.switches).toEqual({
      'check.coherence': true,
      'check.pageLifetime': false,
      'check.lostWrites': false,
      'check.liveness': true,
    });
    expect(loadScenarioText(doc('[{ read: { at: buf } }]'), 'ok.yaml').switches).toBeUndefined();
  });

  it('a check.* switch that contradicts the checkers list is refused at its key', () => {
    const [i] = issuesOf(
      doc('[{ read: { at: buf } }]', 'checkers: [coherence]\nswitches: { check.coherence: false }\n'),
    );
    expect(i.path).toBe('switches["check.coherence"]');
    expect(i.message).toBe("switch 'check.coherence' is false but checkers lists 'coherence'");
  });
});

describe('device attach and detach steps', () => {
  it('attach and detach are bare words of a device thread; anything else is refused with the allowed words', () => {
    const [i] = issuesOf(doc('[attach, unbind]'));
    expect(i.path).toBe('accesses[0].ops[1]');
    expect(i.message).toBe('"unbind" is not allowed; allowed values: attach, detach');
  });

  async function counters(ops: string) {
    const s = loadScenarioText(doc(ops), 'ok.yaml');
    const sim = new Simulation({ seed: 1 });
    const run = await sim.run(s.setup);
    expect(run.violations).toEqual([]);
    return fileRunCounters(sim)!;
  }

  it('a device with an attach step is not attached before it; detach ends its accesses', async () => {
    // Read before attach: skipped. Read after attach: a device access. After detach: skipped.
    const c = await counters(
      '[{ read: { at: buf } }, attach, { read: { at: buf } }, detach, { read: { at: buf } }]',
    );
    expect(c.deviceAccesses).toBe(1);
    expect(c.skipped).toBe(2);
  });

  it('without an attach step the device is attached at start', async () => {
    const c = await counters('[{ read: { at: buf } }, detach, { read: { at: buf } }]');
    expect(c.deviceAccesses).toBe(1);
    expect(c.skipped).toBe(1);
  });

  it('attach while attached and detach while detached are skipped', async () => {
    const c = await counters('[attach, attach, { read: { at: buf } }, detach, detach]');
    expect(c.deviceAccesses).toBe(1);
    expect(c.skipped).toBe(2);
  });
});

describe('attachOptions', () => {
  const odp = (device: string) => `description: d
processes:
  - name: app
    mappings:
      - { name: buf, pages: 2, prot: [read, write], flags: [private, anonymous] }
devices:
  - ${device}
accesses:
  - { device: mlx0, ops: [{ read: { at: buf } }] }
`;

  it('a region driver attached to a whole process is refused at load time, naming the forms it takes', () => {
    const [i] = issuesOf(odp('{ name: mlx0, driver: odp, attach: app }'));
    expect(i.path).toBe('devices[0].attach');
    expect(i.message).toBe(
      "driver 'odp' attaches a memory region: give attach: { process, mapping } (or attachOptions: { implicit: true })",
    );
  });

  it("an unknown attach option is refused with the driver's attach options", () => {
    const issues = issuesOf(
      odp('{ name: mlx0, driver: odp, attach: app, attachOptions: { implict: true } }'),
    );
    expect(issues.map((x) => x.message)).toContain(
      'unknown attach option "implict" of driver \'odp\' (did you mean "implicit"?); attach options: implicit',
    );
  });

  it("odp's implicit MR over the whole process is attached and accessed", async () => {
    const s = loadScenarioText(
      odp('{ name: mlx0, driver: odp, attach: app, attachOptions: { implicit: true } }'),
      'ok.yaml',
    );
    const sim = new Simulation({ seed: 1 });
    const run = await sim.run(s.setup);
    expect(run.status).toBe('ok');
    expect(fileRunCounters(sim)!).toMatchObject({ deviceAccesses: 1, skipped: 0 });
  });
});
