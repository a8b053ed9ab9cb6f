/**
 * The web trace viewer's build: `vite build --config web/vite.config.ts` bundles web/ into
 * dist/web (shipped in the package, served by `mirrorlab view`). Relative asset paths, so the
 * built index.html also opens from disk (then load a trace with the file picker).
 */
import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: './',
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    chunkSizeWarningLimit: 200,
  },
});
