/**
 * Array buffers for a run's world, recycled between the schedules of an exploration.
 *
 * A world holds a few dozen array buffers (page contents, page-table pages, the frame table,
 * the lost-writes checker's page shadows: about 150 KB per schedule of a driver scenario).
 * Each fresh one costs a malloc and a memset on the running thread, and its free later runs
 * on one of V8's helper threads, which then competes with the runners when every core runs
 * one (`explore({ workers })`). Recycling them saves about a tenth of a schedule's CPU time.
 *
 * Ownership: a buffer belongs to the world that took it until explore retires the world
 * (`Simulation.retireBuffers`, once the run's result is read) and then to nobody until the
 * next host turn (`releaseRetiredBuffers`, after explore's periodic yield to the event loop).
 * Only then may another world take it. The delay matters: a finished world's code can still
 * run for a few microtasks after its run resolved (a SimAbort unwinding through `finally`
 * blocks), and a host turn is the first moment at which the microtask queue, and with it
 * every such straggler, has certainly drained. A world never retired (a test, `sim.run`
 * outside explore) simply drops its buffers to the garbage collector.
 *
 * Contents never depend on recycling: `zeroed` fills a reused buffer with zeros and `copy`
 * overwrites every byte, so a run is the same with or without it (a test checks this).
 *
 * Models nothing in the kernel: this is host memory management for the simulator.
 */

/** Where a world's array buffers come from (a run's {@link RunBuffers}, or plain allocation). */
export interface BufferSource {
  /** A buffer of `bytes` bytes, all zero. */
  zeroed(bytes: number): ArrayBuffer;
  /** A copy of `src` in a buffer of its own (`src.slice()`). */
  copy(src: Uint8Array): Uint8Array<ArrayBuffer>;
}

/** Plain allocation: what data structures use when built outside a simulation. */
export const PLAIN_BUFFERS: BufferSource = {
  zeroed: (bytes) => new ArrayBuffer(bytes),
  copy: (src) => src.slice(),
};

/** At most this many bytes wait in the pool (free and retired together), per thread. */
const POOL_MAX_BYTES = 32 << 20;

/** Free buffers by byte length, ready to be taken. */
const free = new Map<number, ArrayBuffer[]>();
/** Buffers of retired worlds, free from the next host turn on. */
let retired: ArrayBuffer[] = [];
let pooledBytes = 0;
/** False: every take allocates (tests compare runs with and without recycling). */
let recycling = true;

function take(bytes: number): ArrayBuffer | undefined {
  const list = free.get(bytes);
  if (list === undefined || list.length === 0) return undefined;
  pooledBytes -= bytes;
  return list.pop();
}

/**
 * The buffers of one run's world: taken from this thread's pool when it has one of the
 * size, else allocated; each recorded so that `retire` can hand it back. A host-side
 * allocator (no kernel function): its methods take no locks, are not scheduling points
 * and never sleep, so model code may call them anywhere, atomic context included.
 */
export class RunBuffers implements BufferSource {
  private taken: ArrayBuffer[] | null = [];

  zeroed(bytes: number): ArrayBuffer {
    const reused = this.taken !== null ? take(bytes) : undefined;
    const buf = reused ?? new ArrayBuffer(bytes);
    if (reused !== undefined) new Uint8Array(buf).fill(0);
    this.taken?.push(buf);
    return buf;
  }

  copy(src: Uint8Array): Uint8Array<ArrayBuffer> {
    const reused = this.taken !== null ? take(src.byteLength) : undefined;
    if (reused === undefined) {
      const out = src.slice();
      this.taken?.push(out.buffer);
      return out;
    }
    const out = new Uint8Array(reused);
    out.set(src);
    this.taken!.push(reused);
    return out;
  }

  /**
   * Hands every buffer this world took to the pool's retired list (see the module comment:
   * reusable from the next host turn). Later takes allocate and are not recorded.
   */
  retire(): void {
    const taken = this.taken;
    this.taken = null;
    if (taken === null || !recycling) return;
    for (const buf of taken) {
      if (pooledBytes + buf.byteLength > POOL_MAX_BYTES) break;
      pooledBytes += buf.byteLength;
      retired.push(buf);
    }
  }
}

/**
 * Makes the retired worlds' buffers free for new worlds. Call only at the start of a host
 * turn (after awaiting a macrotask such as setImmediate), when no code of a finished world
 * can still be pending.
 */
export function releaseRetiredBuffers(): void {
  const list = retired;
  retired = [];
  for (const buf of list) {
    let sized = free.get(buf.byteLength);
    if (sized === undefined) free.set(buf.byteLength, (sized = []));
    sized.push(buf);
  }
}

/** Turns recycling off (every take allocates) or back on; empties the pool. For tests. */
export function setBufferRecycling(on: boolean): void {
  recycling = on;
  free.clear();
  retired = [];
  pooledBytes = 0;
}

/** Bytes waiting in this thread's pool, free and retired (for tests). */
export function pooledBufferBytes(): number {
  return pooledBytes;
}
