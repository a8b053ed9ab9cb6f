export * from './errno.js';
export {
  Simulation,
  plainRunResult,
  type RunResult,
  type RunStatus,
  type SetupFn,
  type SimulationOptions,
} from './simulation.js';
export { SimThread, type SpawnOptions, type Waitable, type HeldLock, type ResumeOp } from './thread.js';
export {
  defineSwitch,
  knownSwitches,
  type Switch,
  type SwitchRegistry,
  type SwitchSettings,
} from './switches.js';
export { DEFAULT_MAX_STEPS } from './options.js';
export { AWAIT_CHECK } from './runtime-switches.js';
export { PLAIN_BUFFERS, RunBuffers, type BufferSource } from './buffers.js';
export { TouchedMap } from './touched-map.js';
export {
  DfsStrategy,
  GuidedStrategy,
  PctStrategy,
  RandomStrategy,
  ReplayStrategy,
  defaultPick,
  type Strategy,
} from './strategy.js';
export { encodeToken, decodeToken, type ScheduleToken } from './token.js';
export { renderDiagram, type TraceEntry, type DiagramOptions } from './trace.js';
export { foldNumbers, SimAbort, SimUsageError, type Violation, type ReportOptions } from './violation.js';
export { Prng, deriveSeed } from './prng.js';
export { SpinLock } from './sync/spinlock.js';
export { Mutex } from './sync/mutex.js';
export { RwSemaphore } from './sync/rwsem.js';
export { Completion } from './sync/completion.js';
export { WaitQueue } from './sync/waitqueue.js';
export { Srcu } from './sync/srcu.js';
export { Atomic } from './sync/atomic.js';
