/**
 * `mirrorlab view`: the server serves the viewer's own files and the trace, on 127.0.0.1
 * only, and nothing else (no path reaches outside the viewer's directory); bad input exits 2
 * with a message naming what is wrong. (Starting the real command
 * and stopping it with Ctrl-C is in test/web/viewer.test.ts, which builds the viewer.)
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTraceFile, startViewServer, ViewInputError, type ViewServer } from '../../src/cli/view.js';
import { TRACE_FORMAT, TRACE_VERSION } from '../../src/report/trace-file.js';
import { cli } from './run-cli.js';

/** A GET with the path sent exactly as written (no client-side normalisation). */
function get(port: number, path: string): Promise<{ status: number; body: string; type: string }> {
  return new Promise((done, fail) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () =>
        done({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type']) }),
      );
    });
    req.on('error', fail);
    req.end();
  });
}

const minimalTrace = JSON.stringify({
  format: TRACE_FORMAT,
  version: TRACE_VERSION,
  scenario: 'hand-written',
  status: 'ok',
  steps: 1,
  timeNs: 10,
  seed: 1,
  token: 'x',
  violations: [],
  trace: [{ step: 1, tid: 1, thread: 'cpu0', label: 'yield', timeNs: 10 }],
});

describe('mirrorlab view server', () => {
  let dir: string;
  let view: ViewServer;

  beforeAll(async () => {
    // A viewer directory with a secret next to it that no request may reach.
    dir = mkdtempSync(join(tmpdir(), 'mirrorlab-view-'));
    const web = join(dir, 'web');
    mkdirSync(join(web, 'assets'), { recursive: true });
    writeFileSync(join(web, 'index.html'), '<!doctype html><title>viewer</title>');
    writeFileSync(join(web, 'assets', 'app.js'), 'console.log(1)');
    writeFileSync(join(dir, 'secret.txt'), 'SECRET');
    view = await startViewServer({ traceText: minimalTrace, port: 0, webDir: web });
  });
  afterAll(() => view.close());

  it('listens on 127.0.0.1 and serves the viewer, its assets and the trace', async () => {
    expect(view.url).toBe(`http://127.0.0.1:${view.port}/`);
    const addr = view.server.address();
    expect(typeof addr === 'object' && addr?.address).toBe('127.0.0.1');
    const index = await get(view.port, '/');
    expect(index.status).toBe(200);
    expect(index.type).toMatch(/^text\/html/);
    expect(index.body).toContain('<title>viewer</title>');
    expect((await get(view.port, '/assets/app.js')).type).toMatch(/^text\/javascript/);
    const trace = await get(view.port, '/trace.json');
    expect(trace.status).toBe(200);
    expect(JSON.parse(trace.body)).toMatchObject({ format: 'mirrorlab-trace', scenario: 'hand-written' });
  });

  it('serves nothing outside its own files (no directory traversal)', async () => {
    for (const path of [
      '/../secret.txt',
      '/assets/../../secret.txt',
      '/%2e%2e/secret.txt',
      '/assets/..%2f..%2fsecret.txt',
      '/..%5csecret.txt',
      '//secret.txt',
      `/${encodeURIComponent(join(dir, 'secret.txt'))}`,
      '/assets',
      '/assets/',
      '/index.html%00.js',
      '/%zz',
    ]) {
      const r = await get(view.port, path);
      expect(r.body, path).not.toContain('SECRET');
      expect([400, 404], path).toContain(r.status);
    }
  });

  it('answers only GET and HEAD', async () => {
    const status = await new Promise<number>((done, fail) => {
      const req = request({ host: '127.0.0.1', port: view.port, path: '/', method: 'POST' }, (res) => {
        res.resume();
        done(res.statusCode ?? 0);
      });
      req.on('error', fail);
      req.end('x');
    });
    expect(status).toBe(405);
  });
});

describe('mirrorlab view command', () => {
  it('bad input exits 2 with a message naming what is wrong', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mirrorlab-view-bad-'));
    const missing = cli('view', join(dir, 'nope.json'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('trace file not found');
    const other = join(dir, 'b.json');
    writeFileSync(other, JSON.stringify({ scenario: 'x', trace: [] }));
    const r2 = cli('view', other);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain('not a mirrorlab trace document');
    expect(r2.stderr).toContain('format is missing');
  });

  it('loadTraceFile names the problem: not JSON, a directory, a bad entry', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mirrorlab-view-load-'));
    const notJson = join(dir, 'a.json');
    writeFileSync(notJson, '{ nope');
    expect(() => loadTraceFile(notJson)).toThrow(/a\.json: not JSON/);
    expect(() => loadTraceFile(dir)).toThrow(/is a directory/);
    const badEntry = join(dir, 'c.json');
    const doc = JSON.parse(minimalTrace) as { trace: unknown[] };
    doc.trace.push({ step: 'two', tid: 1, thread: 'cpu0', label: 'yield', timeNs: 20 });
    writeFileSync(badEntry, JSON.stringify(doc));
    expect(() => loadTraceFile(badEntry)).toThrow(ViewInputError);
    expect(() => loadTraceFile(badEntry)).toThrow(
      'trace[1].step: expected a non-negative integer, got string "two"',
    );
    const good = join(dir, 'd.json');
    writeFileSync(good, minimalTrace);
    expect(loadTraceFile(good)).toBe(minimalTrace);
  });
});
