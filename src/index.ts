/**
 * mirrorlab: an executable model of Linux shared virtual memory.
 *
 * The package root exports what users write drivers and scenarios with: DESIGN.md's "Public API
 * sketch" and the options, results and constants its forms take. Extension points for people
 * modelling more of the kernel live in subpath exports (`mirrorlab/sim`, `mirrorlab/mm`,
 * `mirrorlab/notifier`); everything else is internal. api/mirrorlab.api.md lists every exported name
 * and test/api-report.test.ts fails when it is stale (`npm run api:report` regenerates it).
 *
 * Error convention, one per kind of call (README "Errors"):
 * - System calls and the operations a user program or device file performs (`p.mmap`, `p.munmap`,
 *   `p.mprotect`, `p.madvise`, `p.mremap`, `p.read`/`p.write`, `p.exit`, `p.kill`, `f.pwrite`,
 *   `fd.command`, `fd.close`) return -errno, as the kernel's system calls do; they never throw for a
 *   condition the kernel reports. `errnoName(-14)` prints `-EFAULT`.
 * - Kernel-internal functions return what their kernel function returns: 0 or -errno, or an object
 *   or -errno where the kernel returns an ERR_PTR (`mmuNotifierGet`).
 * - Three calls of the API sketch return the object they create and throw an error carrying `.errno`
 *   when the kernel operation they wrap fails: `mmuNotifierRegister` and `mmuIntervalNotifierInsert`
 *   (NotifierError) and `p.fork()` (MmError). Their kernel forms sit beside them: `sub.register(mm)`
 *   on a `new MmuNotifier(ops)`, `new MmuIntervalNotifier(ops).insert(mm, start, length)` and
 *   `p.forkOrErrno()`. No other operation has both a throwing and an errno form.
 * - Apart from those three, a call throws only for a bug in the caller's model code: SimUsageError
 *   for misuse of the runtime (a call outside a simulated thread, a token of another program, an
 *   unknown option); TypeError or RangeError naming the argument that is wrong (a value no C
 *   `unsigned long` could hold, such as a negative or fractional length, while a well-formed value
 *   the kernel rejects is -EINVAL); Error naming the structure whose internal invariant broke.
 *   Broken kernel contracts the kernel itself catches (a lock the caller must hold, a use after free,
 *   sleeping in atomic context) are not thrown: they end the run as a violation, with its diagram and
 *   replay token.
 *
 * Every call that can switch threads returns a promise and must be awaited, trylocks included:
 * `if (rw.downReadTrylock())` is always true. Run typed lint (`no-floating-promises`,
 * `no-misused-promises`, `await-thenable`) on driver code.
 */

// The runtime: explore, replay, the sync primitives with kernel semantics.
export {
  explore,
  replay,
  simulate,
  type ExploreOptions,
  type ExploreResult,
  type ReplayOptions,
  type StrategyName,
} from './explore/index.js';
export type { Simulation, RunResult, RunStatus, SetupFn, SimulationOptions } from './sim/simulation.js';
export type { SimThread, SpawnOptions, HeldLock } from './sim/thread.js';
export type { TraceEntry } from './sim/trace.js';
export {
  SimUsageError,
  type Violation,
  type CoreViolationKind,
  type ReportOptions,
} from './sim/violation.js';
export { Mutex } from './sim/sync/mutex.js';
export { SpinLock } from './sim/sync/spinlock.js';
export { RwSemaphore } from './sim/sync/rwsem.js';
export { WaitQueue } from './sim/sync/waitqueue.js';
export { Completion } from './sim/sync/completion.js';
export { Srcu } from './sim/sync/srcu.js';
export { Atomic } from './sim/sync/atomic.js';
export * from './sim/errno.js';

// The memory model: a kernel, its processes and files, and the uapi constants of their calls.
export { Kernel, type KernelOptions } from './mm/kernel.js';
export { MmError, type Process, type ExitStatus, type ProcessState } from './mm/process.js';
export type { Mm } from './mm/mm.js';
export type { MmStruct } from './mm/mm-struct.js';
export type { MemFile } from './mm/file.js';
export type { MmapArgs } from './mm/mmap.js';
export {
  PAGE_SIZE,
  PMD_SIZE,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  PROT_EXEC,
  MAP_SHARED,
  MAP_PRIVATE,
  MAP_SHARED_VALIDATE,
  MAP_FIXED,
  MAP_ANONYMOUS,
  MAP_GROWSDOWN,
  MAP_LOCKED,
  MAP_NORESERVE,
  MAP_POPULATE,
  MAP_NONBLOCK,
  MAP_STACK,
  MAP_HUGETLB,
  MAP_FIXED_NOREPLACE,
  MADV_NORMAL,
  MADV_RANDOM,
  MADV_SEQUENTIAL,
  MADV_WILLNEED,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_REMOVE,
  MADV_DONTFORK,
  MADV_DOFORK,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MADV_DONTDUMP,
  MADV_DODUMP,
  MADV_COLD,
  MADV_PAGEOUT,
  MADV_POPULATE_READ,
  MADV_POPULATE_WRITE,
  MADV_COLLAPSE,
  MREMAP_MAYMOVE,
  MREMAP_FIXED,
  MREMAP_DONTUNMAP,
  SIGBUS,
  SIGKILL,
  SIGSEGV,
  FOLL_WRITE,
  FOLL_GET,
  FOLL_FORCE,
  FOLL_NOWAIT,
  FOLL_NOFAULT,
  FOLL_LONGTERM,
} from './mm/constants.js';

// The mmu notifier core: classic and interval notifiers, their ranges and events.
export {
  MMU_NOTIFY_UNMAP,
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_PROTECTION_VMA,
  MMU_NOTIFY_PROTECTION_PAGE,
  MMU_NOTIFY_SOFT_DIRTY,
  MMU_NOTIFY_RELEASE,
  MMU_NOTIFY_MIGRATE,
  MMU_NOTIFY_EXCLUSIVE,
  MMU_NOTIFIER_RANGE_BLOCKABLE,
  mmuNotifierEventName,
  NotifierError,
  type MmuNotifierEvent,
  type MmuNotifierRange,
  type MmuNotifierOps,
  type MmuIntervalNotifierOps,
  type MmuIntervalNotifierFinish,
  type MaybePromise,
} from './notifier/types.js';
export { mmuNotifierRegister, MmuNotifier } from './notifier/classic.js';
export {
  mmuIntervalNotifierInsert,
  MmuIntervalNotifier,
  type MmuIntervalNotifierOptions,
} from './notifier/interval.js';

// Scenarios.
export { registerScenario, listScenarios, getScenario, type Scenario } from './scenario/registry.js';

// HMM: hmm_range_fault and how to read its output (the encoding is internal).
export {
  hmmRangeFault,
  hmmPfnFlags,
  hmmPfnToPfn,
  hmmPfnToMapOrder,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  HMM_PFN_ERROR,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_RANGE_DEFAULT_TIMEOUT,
  type HmmRange,
  type PfnArray,
} from './hmm/index.js';

// Devices: the base every driver (and the user's own) extends, the driver interface
// (k.createDevice, installed on Kernel by importing the drivers), and the HMM test device
// (k.createDmirror).
export {
  DeviceMirror,
  type MirrorAccessKind,
  type MirrorAtomicOp,
  type MirrorLookup,
} from './drivers/mirror/index.js';
export {
  listDrivers,
  DriverError,
  FAULT_RETRY_POLICIES,
  type Device,
  type AttachedMirror,
  type DeviceAccessKind,
  type FaultRetryPolicy,
} from './drivers/index.js';
export {
  HMM_DMIRROR_PROT_ERROR,
  HMM_DMIRROR_PROT_NONE,
  HMM_DMIRROR_PROT_READ,
  HMM_DMIRROR_PROT_WRITE,
  HMM_DMIRROR_PROT_PMD,
  HMM_DMIRROR_PROT_PUD,
  HMM_DMIRROR_PROT_ZERO,
  HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL,
  HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE,
  HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL,
  HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE,
  HMM_DMIRROR_FLAG_FAIL_ALLOC,
  type DmirrorDevice,
  type Dmirror,
  type DmirrorOptions,
  type DmirrorCommandResult,
} from './drivers/dmirror/index.js';
export type { CheckOptions } from './check/index.js';
