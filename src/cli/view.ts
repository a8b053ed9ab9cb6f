/**
 * `mirrorlab view trace.json [--port N]`: serves the web trace viewer (built by vite into
 * dist/web) and one trace document on 127.0.0.1, and prints the URL. Only the viewer's own
 * files and the trace are served: the file list is fixed when the server starts, so no request
 * path reaches anything else. Ctrl-C stops it.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { parseTraceDocument, TraceFileError } from '../report/trace-file.js';

/** Bad input to `view` (missing file, not a trace document, viewer not built): exit code 2. */
export class ViewInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ViewInputError';
  }
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.map': 'application/json; charset=utf-8',
};

/**
 * The built viewer's directory: dist/web next to dist/cli when running the package, or the
 * repository's dist/web when running from src (tsx). Undefined when it was never built.
 */
export function findViewerDir(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const dir of [join(here, '..', 'web'), join(here, '..', '..', 'dist', 'web')]) {
    if (existsSync(join(dir, 'index.html'))) return dir;
  }
  return undefined;
}

/** Every file under `dir`, keyed by its URL path (`/assets/x.js`). */
function listFiles(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.set('/' + relative(dir, p).split(sep).join('/'), p);
    }
  };
  walk(dir);
  return out;
}

/** Reads and validates a trace document; throws ViewInputError naming what is wrong. */
export function loadTraceFile(path: string): string {
  const abs = resolve(path);
  if (!existsSync(abs)) throw new ViewInputError(`trace file not found: ${path}`);
  if (statSync(abs).isDirectory()) throw new ViewInputError(`${path} is a directory, not a trace file`);
  const text = readFileSync(abs, 'utf8');
  try {
    parseTraceDocument(text, path);
  } catch (err) {
    if (err instanceof TraceFileError) throw new ViewInputError(err.message);
    throw err;
  }
  return text;
}

export interface ViewServerOptions {
  /** The trace document's text (validated by the caller, see loadTraceFile). */
  traceText: string;
  /** Port on 127.0.0.1; 0 picks a free one. */
  port: number;
  /** The built viewer (default: findViewerDir()). */
  webDir?: string;
}

export interface ViewServer {
  url: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

/** Starts the viewer's HTTP server on 127.0.0.1. */
export async function startViewServer(options: ViewServerOptions): Promise<ViewServer> {
  const webDir = options.webDir ?? findViewerDir();
  if (webDir === undefined) {
    throw new ViewInputError(
      'the web viewer is not built (dist/web/index.html is missing): run `npm run build`',
    );
  }
  const files = listFiles(webDir);
  const trace = Buffer.from(options.traceText, 'utf8');
  const server = createServer((req, res) => {
    const send = (code: number, type: string, body: Buffer | string): void => {
      res.writeHead(code, {
        'content-type': type,
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
    let path: string;
    try {
      // The raw path, decoded; looked up as a key, never joined to a directory.
      path = decodeURIComponent((req.url ?? '/').split(/[?#]/, 1)[0]);
    } catch {
      return send(400, 'text/plain', 'bad request\n');
    }
    if (path === '/trace.json') return send(200, TYPES['.json'], trace);
    const file = files.get(path === '/' ? '/index.html' : path);
    if (file === undefined) return send(404, 'text/plain', 'not found\n');
    send(200, TYPES[extname(file)] ?? 'application/octet-stream', readFileSync(file));
  });
  await new Promise<void>((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', () => {
      server.off('error', reject);
      resolvePromise();
    });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : options.port;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    server,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/** Adds the `view` sub-command. `intArg` is main's integer option parser. */
export function registerViewCommand(
  program: Command,
  intArg: (name: string, min: number) => (v: string) => number,
): void {
  program
    .command('view')
    .description('serve the web trace viewer for a trace file (from `run --trace`) on 127.0.0.1')
    .argument('<trace>', 'trace document written by `mirrorlab run <scenario> --trace <file>`')
    .option('--port <n>', 'port on 127.0.0.1 (0: any free port)', intArg('--port', 0), 8737)
    .action(async (path: string, flags: { port: number }) => {
      if (flags.port > 65535) throw new ViewInputError(`--port must be at most 65535, got ${flags.port}`);
      const traceText = loadTraceFile(path);
      let view: ViewServer;
      try {
        view = await startViewServer({ traceText, port: flags.port });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE') {
          throw new ViewInputError(
            `port ${flags.port} on 127.0.0.1 is in use: pick another with --port (0: any)`,
          );
        }
        throw err;
      }
      console.log(`mirrorlab view: ${path} at ${view.url}  (Ctrl-C stops)`);
      await new Promise<void>((done) => {
        process.once('SIGINT', () => void view.close().then(done));
        process.once('SIGTERM', () => void view.close().then(done));
      });
    });
}
