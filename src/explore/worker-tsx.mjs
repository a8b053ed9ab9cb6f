// The worker of explore({ workers }) when running from the TypeScript sources (tests, tsx):
// Node 20 ignores `--import tsx` in a worker's execArgv, so register tsx's loader here, then
// load the worker. The built package uses dist/explore/worker.js directly.
const api = await import('tsx/esm/api');
api.register();
const worker = await import('./worker.ts');
export default worker.default;
