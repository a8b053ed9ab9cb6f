// The worker of inFreshIsolate (isolate.ts): Node 20 ignores `--import tsx` in a worker's
// execArgv, so register tsx's loader here, then run the named export of the bench module.
import { parentPort, workerData } from 'node:worker_threads';

const { register } = await import('tsx/esm/api');
register();
const mod = await import(workerData.moduleUrl);
const result = await mod[workerData.fn](workerData.arg);
parentPort.postMessage(result);
