/**
 * Device options in scenario files are checked at load time against the option schema each
 * registered driver declares (src/drivers/options.ts): a misspelt or out-of-range option is bad
 * input with its file, line, column and path (exit code 2), never an error inside the run.
 */
import { describe, expect, it } from 'vitest';
import { ScenarioFileError } from '../../../src/scenario/file/errors.js';
import { loadScenarioText } from '../../../src/scenario/file/load.js';
import '../../../src/drivers/index.js';

function issuesOf(text: string): ScenarioFileError['issues'] {
  try {
    loadScenarioText(text, 'bad.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ScenarioFileError);
    return (err as ScenarioFileError).issues;
  }
  throw new Error('expected the document to be refused');
}

const base = (ops: string) => `description: d
processes:
  - name: app
    mappings:
      - { name: buf, pages: 4, prot: [read, write], flags: [private, anonymous] }
    threads:
      - name: t
        ops:
${ops}
`;

describe('device options in scenario files', () => {
  it("checks device options against the driver's own options at load time", () => {
    const dev = (options: string) =>
      base('          - fork') +
      `devices:\n  - { name: gpu0, driver: gpusvm, attach: app, options: ${options} }\n`;
    const [unknown] = issuesOf(dev('{ vramPage: 16 }'));
    expect(unknown).toMatchObject({ line: 11, path: 'devices[0].options.vramPage' });
    expect(unknown.column).toBe(dev('{ vramPage: 16 }').split('\n')[10].indexOf('vramPage') + 1);
    expect(unknown.message).toMatch(
      /^unknown option "vramPage" of driver 'gpusvm' \(did you mean "vramPages"\?\); options: name, .*vramPages/,
    );
    const [bad] = issuesOf(dev('{ vramPages: -3 }'));
    expect(bad).toMatchObject({ line: 11, path: 'devices[0].options.vramPages' });
    expect(bad.message).toMatch(/^option 'vramPages' must be an integer >= 0, got -3/);
    const [badName] = issuesOf(dev("{ name: '' }"));
    expect(badName.message).toBe("option 'name' must be a non-empty string");
    expect(() => loadScenarioText(dev('{ vramPages: 16, name: gpu }'), 'ok.yaml')).not.toThrow();
  });
});
