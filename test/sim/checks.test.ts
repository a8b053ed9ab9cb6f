import { describe, expect, it } from 'vitest';
import {
  Completion,
  Mutex,
  RwSemaphore,
  Simulation,
  SimUsageError,
  SpinLock,
  decodeToken,
  type SetupFn,
} from '../../src/sim/index.js';
import { explore, replay, simulate } from '../../src/explore/index.js';

describe('sleeping in atomic context', () => {
  it('is reported for a sleeping lock taken under a SpinLock', async () => {
    const r = await simulate({ seed: 1 }, (sim) => {
      const ptl = new SpinLock(sim, 'ptl');
      const m = new Mutex(sim, 'dev->lock');
      sim.spawn('t', async () => {
        await ptl.lock();
        await m.lock();
      });
    });
    expect(r.status).toBe('violation');
    expect(r.violations).toHaveLength(1);
    expect(r.violations[0].kind).toBe('sleep-in-atomic');
    expect(r.violations[0].message).toBe(
      'mutex_lock(dev->lock) may sleep but thread t is holding spinlock ptl',
    );
  });

  it('is reported for sim.sleep and waits under a SpinLock', async () => {
    for (const op of ['sleep', 'completion', 'rwsem'] as const) {
      const r = await simulate({ seed: 1 }, (sim) => {
        const s = new SpinLock(sim, 's');
        const c = new Completion(sim, 'c');
        const rw = new RwSemaphore(sim, 'rw');
        sim.spawn('t', async () => {
          await s.lock();
          if (op === 'sleep') await sim.sleep(100);
          else if (op === 'completion') await c.wait();
          else await rw.downRead();
        });
      });
      expect(r.violations.map((v) => v.kind)).toEqual(['sleep-in-atomic']);
    }
  });

  it('is reported inside sim.enterNonBlock(), and not after exitNonBlock()', async () => {
    const r = await simulate({ seed: 1 }, (sim) => {
      const c = new Completion(sim, 'c');
      sim.spawn('oom_reaper', async () => {
        sim.enterNonBlock();
        await c.wait();
      });
    });
    expect(r.violations.map((v) => v.kind)).toEqual(['sleep-in-atomic']);
    expect(r.violations[0].message).toBe(
      'wait_for_completion(c) may sleep but thread oom_reaper is inside a non-blockable region',
    );
    const ok = await simulate({ seed: 1 }, (sim) => {
      const m = new Mutex(sim, 'm');
      sim.spawn('t', async () => {
        sim.enterNonBlock();
        sim.check(!sim.canSleep(), 'canSleep inside a non-blockable region');
        sim.exitNonBlock();
        await m.lock();
        m.unlock();
      });
    });
    expect(ok.status).toBe('ok');
  });

  it('a SpinLock taken under a SpinLock is fine (it never sleeps)', async () => {
    const r = await simulate({ seed: 1 }, (sim) => {
      const a = new SpinLock(sim, 'a');
      const b = new SpinLock(sim, 'b');
      sim.spawn('t', async () => {
        await a.lock();
        await b.lock();
        b.unlock();
        a.unlock();
        await sim.sleep(10); // allowed again
      });
    });
    expect(r.status).toBe('ok');
  });
});

describe('lock misuse', () => {
  const cases: [string, SetupFn, string][] = [
    [
      'mutex',
      (sim) => {
        const m = new Mutex(sim, 'm');
        sim.spawn('t', async () => m.unlock());
      },
      'thread t unlocks mutex m held by nobody',
    ],
    [
      'mutex held by another thread',
      (sim) => {
        const m = new Mutex(sim, 'm');
        const locked = new Completion(sim, 'locked');
        sim.spawn('owner', async () => {
          await m.lock();
          locked.complete();
          await sim.sleep(100);
          m.unlock();
        });
        sim.spawn('t', async () => {
          await locked.wait();
          m.unlock();
        });
      },
      'thread t unlocks mutex m held by owner',
    ],
    [
      'spinlock',
      (sim) => {
        const s = new SpinLock(sim, 's');
        sim.spawn('t', async () => s.unlock());
      },
      'thread t unlocks spinlock s held by nobody',
    ],
    [
      'rwsem read side',
      (sim) => {
        const rw = new RwSemaphore(sim, 'rw');
        sim.spawn('t', async () => rw.upRead());
      },
      'thread t up_read on rw without holding it for read',
    ],
    [
      'rwsem write side',
      (sim) => {
        const rw = new RwSemaphore(sim, 'rw');
        sim.spawn('t', async () => {
          await rw.downRead();
          rw.upWrite();
        });
      },
      'thread t up_write on rw held by nobody',
    ],
    [
      'assertHeld',
      (sim) => {
        const m = new Mutex(sim, 'm');
        sim.spawn('t', async () => sim.assertHeld(m, 'mn_itree_inv_end'));
      },
      'mn_itree_inv_end requires m held, but thread t does not hold it',
    ],
  ];
  for (const [what, setup, message] of cases) {
    it(`unlocking a ${what} not held is reported`, async () => {
      const r = await simulate({ seed: 1 }, setup);
      expect(r.status).toBe('violation');
      expect(r.violations.map((v) => v.kind)).toEqual(['lock-misuse']);
      expect(r.violations[0].message).toBe(message);
    });
  }
});

describe('object lifetime', () => {
  it('a use after kfree reports use-after-free with the allocating, freeing and using thread and step', async () => {
    const r = await simulate({ seed: 1 }, (sim) => {
      let obj: { name: string } | null = null;
      const allocated = new Completion(sim, 'allocated');
      const freed = new Completion(sim, 'freed');
      sim.spawn('alloc', async () => {
        await sim.yield();
        obj = sim.kalloc({ name: 'mirror' }, 'struct dmirror');
        allocated.completeAll();
      });
      sim.spawn('free', async () => {
        await allocated.wait();
        await sim.yield();
        sim.kfree(obj!);
        freed.complete();
      });
      sim.spawn('user', async () => {
        await freed.wait();
        await sim.yield();
        sim.use(obj!, 'dmirror->notifier');
      });
    });
    expect(r.status).toBe('violation');
    const v = r.violations[0];
    expect(v.kind).toBe('use-after-free');
    const d = v.details as Record<string, { thread: string; step: number }>;
    expect(d.allocated.thread).toBe('alloc');
    expect(d.freed.thread).toBe('free');
    expect(d.used.thread).toBe('user');
    expect(d.allocated.step).toBeLessThan(d.freed.step);
    expect(d.freed.step).toBeLessThan(d.used.step);
    expect(v.message).toBe(
      `use-after-free of struct dmirror (dmirror->notifier) by user at step ${d.used.step}: ` +
        `allocated by alloc at step ${d.allocated.step}, freed by free at step ${d.freed.step}`,
    );
    expect([...v.threads].sort()).toEqual(['free', 'user']);
  });

  it('a use before kfree is fine; a second kfree is a double free', async () => {
    const r = await simulate({ seed: 1 }, (sim) => {
      sim.spawn('t', async () => {
        const obj = sim.kalloc({ name: 'range' });
        sim.use(obj);
        sim.check(!sim.lifetime.isFreed(obj), 'freed too early');
        sim.kfree(obj);
        sim.check(sim.lifetime.isFreed(obj), 'not freed');
        await sim.yield();
        sim.kfree(obj);
      });
    });
    expect(r.violations.map((v) => v.kind)).toEqual(['double-free']);
    expect(r.violations[0].message).toMatch(/^Object range freed twice: first by t at step \d+, again by t$/);
  });

  it('explore finds a use-after-free that only some schedules hit', async () => {
    const r = await explore({ strategy: 'dfs', schedules: 1000 }, (sim) => {
      const obj = sim.kalloc({ name: 'sub' });
      let removed = false;
      sim.spawn('remove', async () => {
        await sim.yield();
        removed = true;
        sim.kfree(obj);
      });
      sim.spawn('invalidate', async () => {
        if (removed) return;
        await sim.yield();
        sim.use(obj, 'invalidate');
      });
    });
    expect(r.violations.map((v) => v.kind)).toEqual(['use-after-free']);
    expect(r.statuses.ok).toBeGreaterThan(0);
  });
});

describe('misuse of the runtime', () => {
  it('awaiting a foreign promise in a thread is reported as foreign-await, never a hang', async () => {
    const r = await simulate({ seed: 1 }, (sim) => {
      sim.spawn('cpu0', async () => {
        await sim.yield();
      });
      sim.spawn('driver', async () => {
        await sim.yield('before');
        await new Promise((resolve) => setTimeout(resolve, 1));
        await sim.yield('after');
      });
    });
    expect(r.status).toBe('error');
    expect(r.violations).toHaveLength(1);
    expect(r.violations[0].kind).toBe('foreign-await');
    expect(r.violations[0].thread).toBe('driver');
    expect(r.violations[0].message).toMatch(/^thread driver awaited a promise the runtime did not create/);
    expect(r.violations[0].message).toContain("'before'");
    // When the foreign promise settles later, the finished run is left alone.
    const steps = r.trace!.length;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(r.trace!.length).toBe(steps);
  });

  it('explore reports foreign-await as a violation and carries on', async () => {
    const r = await explore({ strategy: 'random', schedules: 5, shrink: false }, (sim) => {
      sim.spawn('t', async () => {
        await new Promise((resolve) => setImmediate(resolve));
      });
    });
    expect(r.schedules).toBe(5);
    expect(r.statuses).toEqual({ error: 5 });
    expect(r.violations.map((v) => v.kind)).toEqual(['foreign-await']);
  });

  it('a primitive called without await (two pending points) is a clear error', async () => {
    const setup: SetupFn = (sim) => {
      const m = new Mutex(sim, 'm');
      sim.spawn('careless', async () => {
        void m.lock(); // missing await
        await sim.yield();
        m.unlock();
      });
      sim.spawn('other', async () => {
        await sim.yield();
      });
    };
    await expect(explore({ strategy: 'dfs', schedules: 100 }, setup)).rejects.toThrow(
      /thread careless has two scheduling points pending \(a primitive was called without await/,
    );
    await expect(explore({ strategy: 'dfs', schedules: 100 }, setup)).rejects.toBeInstanceOf(SimUsageError);
  });

  it('sim.awaitCheck off: correct runs are the same, the token carries it, a missing await goes unseen', async () => {
    const program: SetupFn = (sim) => {
      const m = new Mutex(sim, 'm');
      for (const name of ['a', 'b', 'c']) {
        sim.spawn(name, async () => {
          for (let i = 0; i < 5; i++) {
            await m.lock();
            await sim.yield();
            m.unlock();
          }
        });
      }
    };
    const off = { 'sim.awaitCheck': false } as const;
    for (const seed of [1, 2, 3]) {
      const on = await new Simulation({ seed }).run(program);
      const without = await new Simulation({ seed, switches: off }).run(program);
      expect(without.status).toBe('ok');
      expect(without.choices).toEqual(on.choices);
      expect(without.schedule.split(' | ')[1]).toBe(on.schedule.split(' | ')[1]);
      expect(without.token).toContain('~s-sim:awaitCheck');
      expect(decodeToken(without.token).switches).toEqual(off);
      const again = await replay(without.token, program);
      expect(again.choices).toEqual(without.choices);
    }
    // The careless program of the test above: with the check off, its second point is charged
    // to the thread it handed the CPU to, and no usage error names the missing await there.
    const careless: SetupFn = (sim) => {
      sim.spawn('careless', async () => {
        void sim.yield(); // missing await
        await sim.yield();
      });
      sim.spawn('other', async () => {
        await sim.yield();
      });
    };
    let caught = 0;
    for (let seed = 1; seed <= 20; seed++) {
      try {
        await new Simulation({ seed }).run(careless);
      } catch (err) {
        expect(String(err)).toMatch(/two scheduling points pending|finished while/);
        caught++;
      }
    }
    expect(caught).toBeGreaterThan(0);
    for (let seed = 1; seed <= 20; seed++) {
      try {
        await new Simulation({ seed, switches: off }).run(careless);
      } catch (err) {
        expect(String(err)).not.toMatch(/two scheduling points pending/);
      }
    }
  });

  it('a thread that finishes with its point still pending is a clear error', async () => {
    await expect(
      explore({ strategy: 'dfs', schedules: 100 }, (sim) => {
        sim.spawn('a', async () => {
          void sim.yield();
        });
        sim.spawn('b', () => sim.yield());
      }),
    ).rejects.toThrow(/thread a finished while b held the CPU: a primitive was called without await/);
  });

  it('a scheduling point outside a simulated thread is a clear error', async () => {
    await expect(
      new Simulation().run(async (sim) => {
        await sim.yield();
      }),
    ).rejects.toThrow("scheduling point 'yield' reached outside a simulated thread (use sim.spawn)");
  });

  it('a failed check in setup ends the run with its violation', async () => {
    const r = await new Simulation().run((sim) => {
      sim.check(false, 'setup precondition');
    });
    expect(r.status).toBe('violation');
    expect(r.violations[0].message).toBe('setup precondition');
  });

  it('a simulation runs once', async () => {
    const sim = new Simulation();
    await sim.run(() => {});
    await expect(sim.run(() => {})).rejects.toThrow(/a Simulation runs once/);
  });

  it('an exception thrown by a thread is an error violation naming the thread', async () => {
    const r = await simulate({ seed: 1 }, (sim) => {
      sim.spawn('buggy', async () => {
        await sim.yield();
        throw new RangeError('index 7 out of range');
      });
    });
    expect(r.status).toBe('error');
    expect(r.violations[0].kind).toBe('error');
    expect(r.violations[0].message).toBe('thread buggy threw RangeError: index 7 out of range');
    expect(r.violations[0].signature).toBe('error: RangeError: index # out of range');
  });
});

describe('bad input', () => {
  const noop: SetupFn = (sim) => {
    sim.spawn('t', () => sim.yield());
  };

  const invalid: [string, Record<string, unknown>, RegExp][] = [
    ['negative schedules', { schedules: -1 }, /^option 'schedules' must be an integer >= 1, got -1$/],
    ['fractional schedules', { schedules: 2.5 }, /^option 'schedules' must be an integer >= 1, got 2\.5$/],
    ['string schedules', { schedules: '10' }, /^option 'schedules' must be an integer >= 1, got "10"$/],
    ['zero maxSteps', { maxSteps: 0 }, /^option 'maxSteps' must be an integer >= 1, got 0$/],
    [
      'negative preemptionBound',
      { preemptionBound: -1 },
      /^option 'preemptionBound' must be an integer >= 0, got -1$/,
    ],
    ['depth 0', { depth: 0 }, /^option 'depth' must be an integer between 1 and 64, got 0$/],
    ['fractional seed', { seed: 1.5 }, /^option 'seed' must be an integer >= 0, got 1\.5$/],
    ['negative stepNs', { stepNs: -10 }, /^option 'stepNs' must be an integer >= 0, got -10$/],
    ['NaN shrinkRuns', { shrinkRuns: NaN }, /^option 'shrinkRuns' must be an integer >= 0, got NaN$/],
    [
      'unknown strategy',
      { strategy: 'bfs' },
      /^option 'strategy' must be one of 'swarm', 'random', 'pct', 'dfs', 'dpor', got "bfs"$/,
    ],
    [
      'unknown option',
      { schedule: 10 },
      /^explore: unknown option 'schedule' \(known: strategy, schedules, /,
    ],
    ['non-boolean shrink', { shrink: 'yes' }, /^option 'shrink' must be a boolean, got "yes"$/],
    [
      'shard index out of range',
      { shard: { index: 3, count: 3 } },
      /^option 'shard.index' must be an integer between 0 and 2, got 3$/,
    ],
    [
      'dfs shards',
      { strategy: 'dfs', shard: { index: 0, count: 2 } },
      /^option 'shard' is supported for 'swarm', 'random' and 'pct', not 'dfs'$/,
    ],
  ];
  for (const [what, options, message] of invalid) {
    it(`explore rejects ${what}`, async () => {
      await expect(explore(options, noop)).rejects.toThrow(message);
      await expect(explore(options, noop)).rejects.toBeInstanceOf(SimUsageError);
    });
  }

  it('explore rejects a setup that is not a function', async () => {
    await expect(explore({}, 42 as unknown as SetupFn)).rejects.toThrow(
      /^explore: setup must be a function \(sim\) => \{ sim.spawn\(...\) \}, got 42$/,
    );
  });

  it('Simulation rejects bad options', () => {
    expect(() => new Simulation({ maxSteps: -5 })).toThrow(
      "option 'maxSteps' must be an integer >= 1, got -5",
    );
    expect(() => new Simulation({ seed: -1 })).toThrow("option 'seed' must be an integer >= 0, got -1");
    expect(() => new Simulation({ stepNs: 0.5 })).toThrow("option 'stepNs' must be an integer >= 0, got 0.5");
  });

  it('simulate and replay reject unknown options', async () => {
    await expect(simulate({ sead: 1 } as never, noop)).rejects.toThrow(/^simulate: unknown option 'sead'/);
    const run = await simulate({ seed: 1 }, noop);
    await expect(replay(run.token, noop, { trace: true } as never)).rejects.toThrow(
      /^replay: unknown option 'trace' \(known: maxSteps, stepNs, switches\)$/,
    );
  });

  it('bad arguments to primitives name the argument and the value', async () => {
    await expect(
      simulate({ seed: 1 }, (sim) => {
        sim.spawn('t', () => sim.sleep(-5));
      }),
    ).rejects.toThrow("option 'sleep ns' must be an integer >= 0, got -5");
    await expect(
      simulate({ seed: 1 }, (sim) => {
        sim.spawn('t', async () => {
          sim.choose(0);
        });
      }),
    ).rejects.toThrow("option 'choose n' must be an integer between 1 and 2147483647, got 0");
    // The decision log holds 32-bit integers: a larger n is refused, not truncated.
    await expect(
      simulate({ seed: 1 }, (sim) => {
        sim.spawn('t', async () => {
          sim.choose(2 ** 31);
        });
      }),
    ).rejects.toThrow("option 'choose n' must be an integer between 1 and 2147483647, got 2147483648");
    expect(() => new Simulation().spawn('', async () => {})).toThrow(
      'spawn: thread name must be a non-empty string, got ""',
    );
  });

  describe('tokens', () => {
    const two: SetupFn = (sim) => {
      for (const n of ['a', 'b']) {
        sim.spawn(n, async () => {
          for (let i = 0; i < 5; i++) await sim.yield();
        });
      }
    };

    it('a malformed token is rejected with the expected form', async () => {
      for (const bad of ['', 'hello', 'm2.1.2.AA.x', 'm1.1.2']) {
        await expect(replay(bad, two)).rejects.toThrow(
          `malformed replay token '${bad}': expected 'm1.<seed>.<steps>.<schedule>.<check>' as printed by explore`,
        );
      }
      await expect(replay(42 as unknown as string, two)).rejects.toThrow(
        'replay token must be a string, got number',
      );
    });

    it('an edited token fails its checksum', async () => {
      const run = await simulate({ seed: 3 }, two);
      const parts = run.token.split('.');
      parts[2] = (parseInt(parts[2], 36) + 1).toString(36);
      const edited = parts.join('.');
      await expect(replay(edited, two)).rejects.toThrow(
        `malformed replay token '${edited}': checksum mismatch (token truncated or edited?)`,
      );
    });

    it('a token of another program is rejected as not matching', async () => {
      const run = await simulate({ seed: 3 }, two);
      const three: SetupFn = (sim) => {
        for (const n of ['a', 'b', 'c']) sim.spawn(n, () => sim.yield());
      };
      await expect(replay(run.token, three)).rejects.toThrow(/^replay token does not match this program/);
      const one: SetupFn = (sim) => {
        sim.spawn('a', async () => {
          for (let i = 0; i < 5; i++) await sim.yield();
        });
      };
      await expect(replay(run.token, one)).rejects.toThrow(/^replay token does not match this program/);
    });
  });
});
