/**
 * The HTML report drawn by a real browser (Debian's chromium through playwright-core): every
 * chart becomes an SVG drawn by Plot (timelines, coverage, benchmark curves with one mark per
 * data point), the page asks the network for nothing, and a screenshot is saved under
 * test-output/. Skipped with a message (not failed) only when no chromium can be found: set
 * MIRRORLAB_CHROMIUM, or `apt-get install chromium`.
 */
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { BENCH_FORMAT, loadBenchCharts, type BenchFile } from '../../src/report/bench-file.js';
import { buildReport } from '../../src/report/html.js';
import { reportScenario } from '../../src/report/from-explore.js';
import { explore } from '../../src/explore/index.js';
import { getScenario } from '../../src/scenario/registry.js';
import '../../src/scenario/builtin/index.js';

const outDir = resolve(import.meta.dirname, '../../test-output');
const chromiumPath = process.env.MIRRORLAB_CHROMIUM ?? '/usr/bin/chromium';
const haveBrowser = existsSync(chromiumPath);
if (!haveBrowser) {
  console.warn(
    `test/report/report-browser.test.ts: skipped: no chromium at ${chromiumPath} ` +
      '(apt-get install chromium, or set MIRRORLAB_CHROMIUM)',
  );
}

const machine = { node: 'v20', platform: 'linux-x64', cpus: 2, cpuModel: 'test' };
function benchFile(bench: string, body: Partial<BenchFile>): string {
  return JSON.stringify({
    format: BENCH_FORMAT,
    bench,
    measuredAt: '2026-01-01T00:00:00Z',
    machine,
    ...body,
  });
}

let browser: Browser | undefined;
afterAll(async () => {
  await browser?.close();
});

describe.skipIf(!haveBrowser)('the HTML report in chromium', () => {
  it('draws every chart as SVG with Plot, one mark per point, fetching nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mirrorlab-report-'));
    writeFileSync(
      join(dir, 'notifier.json'),
      benchFile('notifier', {
        result: [1e2, 1e4, 1e6].map((n, i) => ({
          subscriptions: n,
          intervalNs: 4000 + i,
          listNs: 3000 * 10 ** i,
        })),
      }),
    );
    writeFileSync(
      join(dir, 'explore.json'),
      benchFile('explore', {
        result: {
          perStrategy: ['swarm', 'random', 'pct', 'dfs'].map((strategy, i) => ({
            scenario: 'seq-retry',
            strategy,
            perSec: 1000 * (i + 1),
          })),
          perStep: [300, 6000, 24_000, 100_000].map((length) => ({ length, ns: 400 })),
        },
      }),
    );
    const s = getScenario('seq-retry-no-set-seq');
    const r = await explore({ strategy: 'pct', schedules: 300, stopOnFirst: true }, s.setup);
    const section = await reportScenario(s, r, 0.1, {
      coverage: [
        { schedules: 0, value: 1 },
        { schedules: 100, value: 5 },
        { schedules: 200, value: 6 },
      ],
    });
    const bench = loadBenchCharts(dir);
    expect(bench.charts.map((c) => c.points.length)).toEqual([6, 4, 4]);
    const file = join(dir, 'report.html');
    writeFileSync(file, buildReport({ title: 'browser', command: 'test', scenarios: [section], bench }));

    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
      ],
    });
    const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
    const requests: string[] = [];
    page.on('request', (q) => {
      if (!q.url().startsWith('file:')) requests.push(q.url());
    });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`file://${file}`);
    await page.waitForSelector('body[data-charts-drawn]');
    expect(errors).toEqual([]);
    expect(requests).toEqual([]);
    // Every chart placeholder holds a Plot figure with an SVG plot.
    const charts = await page
      .locator('.chart')
      .evaluateAll((els) => els.map((e) => ({ id: e.id, svgs: e.querySelectorAll('svg').length })));
    expect(charts.map((c) => c.id.replace(/-\d+$/, ''))).toEqual([
      'coverage',
      'timeline',
      'bench',
      'bench',
      'bench',
    ]);
    for (const c of charts) expect(c.svgs, c.id).toBeGreaterThan(0);
    const bc = page.locator('.chart.bench');
    // Line charts: a dot per point and a line per series; the bar chart: a bar per point.
    expect(await bc.nth(0).locator('[aria-label="dot"] circle').count()).toBe(6);
    expect(await bc.nth(0).locator('[aria-label="line"] path').count()).toBe(2);
    expect(await bc.nth(1).locator('[aria-label="bar"] rect').count()).toBe(4);
    expect(await bc.nth(2).locator('[aria-label="dot"] circle').count()).toBe(4);
    // The log axis of the notifier chart spans the three sizes.
    const ticks = await bc.nth(0).locator('[aria-label="x-axis tick label"] text').allTextContents();
    expect(ticks).toEqual(expect.arrayContaining(['100', '10k', '1M']));
    mkdirSync(outDir, { recursive: true });
    await page.locator('#bench').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(outDir, 'report-bench.png'), fullPage: true });
  }, 60_000);
});
