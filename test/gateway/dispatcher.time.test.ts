/**
 * What the gateway does as time passes, with the clock driven by the test:
 * attempt timeouts and the attempt limit, the grace time of a task no node
 * can serve, set-aside expiry. The real hub, dispatcher and store, in process.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MINUTE, SECOND } from '../../src/util/clock.js';
import { makeCapabilities } from '../helpers/capabilities.js';
import { type CoreWorld, createCoreWorld } from '../helpers/fake-nodes.js';
import { chillout, txt2img } from '../helpers/specs.js';
import type { TaskStore } from '../../src/store/task-store.js';
import { HELD_MESSAGE } from '../../src/gateway/task-view.js';
import { heldBehindFirst as holdBehindFirst, SEND_AHEAD_GAP_MS } from '../helpers/held-task.js';

let world: CoreWorld;
afterEach(() => world.close());

const stateOf = (id: string) => world.dispatcher.liveStatus(id);
const stored = async (id: string) => (await world.store.get(id))!;

/** A new world whose node a holds a task ready behind another (helpers/held-task.ts), as the tests' `world`. */
async function heldBehindFirst() {
  const setup = await holdBehindFirst();
  world = setup.world;
  return setup;
}

describe('a task held ready on its node', () => {
  it('has its timeout start again when it begins, and goes back to the queue unblamed when its node is lost', async () => {
    const { a, spec, first, held, heldAssign } = await heldBehindFirst();
    // 60 s to run, and the 0.8 s left of the first when it was sent.
    expect(heldAssign.timeoutMs).toBe(60.8 * SECOND);
    // The status says it has not begun.
    expect(stateOf(held)).toMatchObject({ state: 'running', held: true });
    expect(await world.status(held)).toMatchObject({ status: 1, progress: 0, message: HELD_MESSAGE });
    expect(stateOf(first)).toMatchObject({ state: 'running', held: false });
    await world.clock.advance(50 * SECOND);
    a.succeed(first, 1000, 1);
    await world.settle();
    // Begun at 50 s: its 60 s count from there, not from when it was sent.
    await world.clock.advance(59 * SECOND);
    expect(a.cancels()).toEqual([]);
    expect(stateOf(held)).toMatchObject({ state: 'running', held: false });
    expect(await world.status(held)).not.toHaveProperty('message');
    const third = await world.submit(spec);
    await a.assignment(third, 1);
    a.leave();
    await world.settle();
    // One attempt allowed: the one that ran fails with the node; the one held never began, so it waits again.
    expect(await world.status(held)).toMatchObject({ status: 3, error: 'DAN_ERR_TASK_ATTEMPTS_EXHAUSTED' });
    expect(stateOf(third)).toMatchObject({ state: 'queued' });
  });

  it('counts the loss of a held task that told progress as a failed attempt: it had begun', async () => {
    const { a, held } = await heldBehindFirst();
    // The WebUI began it as the first let go of its lock; the first's result is still on its way.
    a.progress(held, 0.2);
    await world.settle();
    expect(stateOf(held)).toMatchObject({ state: 'running', held: false, progress: 0.2 });
    expect(await world.status(held)).not.toHaveProperty('message');
    a.leave();
    await world.settle();
    expect(await world.status(held)).toMatchObject({ status: 3, error: 'DAN_ERR_TASK_ATTEMPTS_EXHAUSTED' });
  });
});

describe('assigns to one node', () => {
  it('reach it in the order their tasks were started there, whichever store write ends first', async () => {
    let release = (): void => {};
    const slowWrite = new Promise<void>((resolve) => (release = resolve));
    let slowTask: string | undefined;
    world = createCoreWorld({
      // The first task's start takes its time to be recorded.
      store: (inner) =>
        new Proxy(inner, {
          get(target, property) {
            if (property === 'markRunning') {
              return async (...args: Parameters<TaskStore['markRunning']>) => {
                slowTask ??= args[0];
                if (args[0] === slowTask) await slowWrite;
                return target.markRunning(...args);
              };
            }
            const value: unknown = Reflect.get(target, property);
            return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
          },
        }),
    });
    const a = world.connect('a', undefined, 1, undefined, 1);
    const spec = txt2img({ model: chillout });
    const first = await world.submit(spec);
    const second = await world.submit(spec);
    await world.clock.advance(SEND_AHEAD_GAP_MS);
    await world.settle();
    // The second's start was recorded at once, but it waits for the first's to be sent.
    expect(stateOf(second)).toMatchObject({ state: 'running' });
    expect(a.assignments()).toEqual([]);
    release();
    await a.assignment(second, 1);
    expect(a.assignments().map((m) => m.taskId)).toEqual([first, second]);
  });
});

describe('attempt timeouts', () => {
  it('abandons an attempt past its timeout, retries it on another node, and fails after the attempt limit', async () => {
    world = createCoreWorld({ maxAttempts: 3 });
    const a = world.connect('a');
    const b = world.connect('b');
    const id = await world.submit();
    const first = await Promise.race([a.assignment(id, 1), b.assignment(id, 1)]);
    const [firstNode, otherNode] = a.assignments().length > 0 ? [a, b] : [b, a];
    // 20 units at the reported 20 units/s: 1 s expected, so the floor of 60 s applies.
    expect(first.timeoutMs).toBe(60 * SECOND);
    await world.clock.advance(60 * SECOND - 1);
    expect(stateOf(id)).toMatchObject({ state: 'running' });
    await world.clock.advance(1);
    expect(firstNode.cancels()).toEqual([id]);
    await otherNode.assignment(id, 2);
    expect(stateOf(id)).toMatchObject({ state: 'running', nodeId: expect.stringMatching(new RegExp(`^${otherNode.name}-`)) });
    await world.clock.advance(60 * SECOND);
    const third = await Promise.race([a.assignment(id, 3), b.assignment(id, 3)]);
    expect(third.attempt).toBe(3);
    await world.clock.advance(60 * SECOND);
    const view = await world.status(id);
    expect(view).toMatchObject({ status: 3, error: 'DAN_ERR_TASK_ATTEMPTS_EXHAUSTED' });
    expect(view.message).toMatch(/^failed 3 times: attempt 1 on node \w: no answer within 60 s; attempt 2 on node \w: no answer within 60 s; attempt 3 on node \w: no answer/);
    expect(await stored(id)).toMatchObject({ state: 'failed', attempts: 3, error: { id: 'DAN_ERR_TASK_ATTEMPTS_EXHAUSTED' } });
    expect(a.cancels().length + b.cancels().length).toBe(3);
    expect(world.dispatcher.runningCount).toBe(0);
  });

  it('gives an attempt whose progress says it needs longer (a GPU far slower than expected) the time it needs, up to the task timeout', async () => {
    world = createCoreWorld({ maxAttempts: 3, taskTimeoutMs: 300 * SECOND });
    const slow = world.connect('slow');
    const id = await world.submit();
    expect((await slow.assignment(id, 1)).timeoutMs).toBe(60 * SECOND);
    // Halfway after 50 s: about 100 s in all, so its timer moves to 1.5 × 100 s + 30 s = 180 s from its start.
    await world.clock.advance(50 * SECOND);
    slow.progress(id, 0.5, 50);
    await world.settle();
    await world.clock.advance(70 * SECOND);
    expect(stateOf(id)).toMatchObject({ state: 'running' });
    expect(slow.cancels()).toEqual([]);
    // Stalled since: it times out at its new time, its message saying how long it ran.
    await world.clock.advance(60 * SECOND);
    expect(slow.cancels()).toEqual([id]);
    const retry = await slow.assignment(id, 2);
    expect(retry.attempt).toBe(2);
    // A node that reports it would need longer than the task timeout gets no more than that.
    await world.clock.advance(10 * SECOND);
    slow.progress(id, 0.01, 1000);
    await world.settle();
    await world.clock.advance(290 * SECOND - 1);
    expect(slow.cancels()).toEqual([id]);
    await world.clock.advance(1);
    expect(slow.cancels()).toEqual([id, id]);
  });

  it('a late answer of the abandoned attempt settles nothing, though the retry runs on the same node', async () => {
    world = createCoreWorld();
    const a = world.connect('a');
    const id = await world.submit();
    await a.assignment(id, 1);
    await world.clock.advance(60 * SECOND);
    expect(a.cancels()).toEqual([id]);
    await a.assignment(id, 2);
    a.succeed(id, 1000, 1);
    a.fail(id, 'DAN_ERR_BACKEND_FAILED', 'interrupted', 1);
    await world.settle();
    expect(stateOf(id)).toMatchObject({ state: 'running' });
    expect(world.dispatcher.runningCount).toBe(1);
    a.succeed(id, 1000, 2);
    await world.settle();
    expect(await stored(id)).toMatchObject({ state: 'succeeded', attempts: 2 });
    expect(world.dispatcher.runningCount).toBe(0);
  });
});

describe('a task no connected node can serve', () => {
  it('says why while it waits, and fails once the grace time has passed', async () => {
    world = createCoreWorld({ unservableGraceMs: 2 * MINUTE });
    const onlyChillout = world.connect('c', makeCapabilities({ models: makeCapabilities().models.filter((m) => m.sha256 === chillout.id) }));
    const busy = await world.submit(txt2img({ model: chillout }));
    await onlyChillout.assignment(busy);
    const id = await world.submit(txt2img({ model: chillout }));
    onlyChillout.leave();
    await world.settle();
    expect(await world.status(id)).toMatchObject({ status: 0, message: 'waiting: no node is connected' });
    await world.clock.advance(2 * MINUTE - 1);
    expect(await world.status(id)).toMatchObject({ status: 0 });
    await world.clock.advance(1);
    expect(await world.status(id)).toMatchObject({
      status: 3,
      error: 'DAN_ERR_TASK_UNSERVABLE',
      message: 'no node could serve this task for 120 s: no node is connected',
    });
  });

  it('stops saying so and runs when a node that can serve it connects within the grace time', async () => {
    world = createCoreWorld({ unservableGraceMs: 2 * MINUTE });
    const id = await world.submit();
    expect(stateOf(id)).toMatchObject({ state: 'queued', waiting: 'no node is connected' });
    await world.clock.advance(MINUTE);
    const late = world.connect('late');
    await late.assignment(id);
    await world.clock.advance(2 * MINUTE);
    expect(stateOf(id)).toMatchObject({ state: 'running' });
  });
});

describe('a queued task whose nodes all stopped taking work', () => {
  it('says what it waits for, keeps its place past the grace time, and runs when its node is back', async () => {
    world = createCoreWorld({ unservableGraceMs: 2 * MINUTE });
    const a = world.connect('a');
    const b = world.connect('b', makeCapabilities({ models: makeCapabilities().models.filter((m) => m.sha256 !== chillout.id) }));
    const busy = await world.submit(txt2img({ model: chillout }));
    await a.assignment(busy);
    const id = await world.submit(txt2img({ model: chillout }));
    expect((await world.status(id)).message).toBeUndefined();
    a.succeed(busy, 1000);
    a.backend(false, 'connection refused');
    await world.settle();
    // b takes work but cannot run chillout: the one node that can is a, whose WebUI went down.
    expect(await world.status(id)).toMatchObject({
      status: 0,
      message: 'waiting: the one node that can run it cannot reach its WebUI; the task keeps its place and starts when that node takes work again',
    });
    await world.clock.advance(5 * MINUTE);
    expect(await world.status(id)).toMatchObject({ status: 0 });
    a.backend(true);
    await a.assignment(id);
    expect((await world.status(id)).message).toBeUndefined();
    expect(b.assignments()).toEqual([]);
  });

  it('counts each cause when several nodes could run it', async () => {
    world = createCoreWorld();
    const a = world.connect('a');
    const b = world.connect('b');
    const running = [await world.submit(txt2img({ model: chillout })), await world.submit(txt2img({ model: chillout }))];
    await a.assignment(running[0]!);
    await b.assignment(running[1]!);
    const id = await world.submit(txt2img({ model: chillout }));
    a.succeed(running[0]!, 1000);
    b.succeed(running[1]!, 1000);
    a.backend(false);
    b.backend(false);
    await world.settle();
    expect((await world.status(id)).message).toBe(
      'waiting: none of the 2 nodes that can run it takes work now (2 cannot reach their WebUI); the task keeps its place and starts when one does',
    );
    b.backend(true);
    await b.assignment(id);
  });
});

describe('a node idle beside work it could run', () => {
  it('is sent that work within one checkpoint load when the node the plan kept it for does not free', async () => {
    world = createCoreWorld();
    // Both nodes hold every catalog model; a has chillout loaded, b another one. Loads were measured at 2 s.
    const a = world.connect('a');
    const b = world.connect('b', makeCapabilities({ models: [...makeCapabilities().models].reverse() }));
    const first = await world.submit(txt2img({ model: chillout }));
    await a.assignment(first);
    // a is expected to finish in 1 s and run the next in 1 s more; b would load for 2 s first: the plan keeps it for a.
    const held = await world.submit(txt2img({ model: chillout }));
    await world.settle();
    expect(b.assignments()).toEqual([]);
    // a does not answer. b stays idle beside the task for less than one load (2 s): then it is sent the task.
    await world.clock.advance(1599);
    expect(b.assignments()).toEqual([]);
    await world.clock.advance(1);
    expect((await b.assignment(held)).taskId).toBe(held);
  });

  it('times each idle node from when it became idle, and sends every one that waited long enough', async () => {
    world = createCoreWorld();
    const others = makeCapabilities({ models: [...makeCapabilities().models].reverse() });
    const a = world.connect('a');
    const b = world.connect('b', others);
    const first = await world.submit(txt2img({ model: chillout }));
    await a.assignment(first);
    // Two tasks kept for a (1 s each after its first; b would load for 2 s first); a never answers.
    const held = [await world.submit(txt2img({ model: chillout })), await world.submit(txt2img({ model: chillout }))];
    await world.settle();
    await world.clock.advance(1000);
    // c joins a second later: idle beside the same work from then on.
    const c = world.connect('c', others);
    await world.settle();
    expect([...b.assignments(), ...c.assignments()]).toEqual([]);
    await world.clock.advance(600);
    expect(b.assignments().map((m) => m.taskId)).toEqual([held[0]]);
    expect(c.assignments()).toEqual([]);
    await world.clock.advance(999);
    expect(c.assignments()).toEqual([]);
    await world.clock.advance(1);
    expect(c.assignments().map((m) => m.taskId)).toEqual([held[1]]);
  });
});

describe('set-aside', () => {
  it('gives a node that keeps failing no work for a minute, then work again', async () => {
    world = createCoreWorld({ maxAttempts: 1 });
    const flaky = world.connect('flaky');
    for (let i = 0; i < 3; i++) {
      const id = await world.submit();
      await flaky.assignment(id);
      flaky.fail(id, 'DAN_ERR_BACKEND_FAILED', `CUDA error ${i}`);
    }
    expect(world.nodes.list()).toMatchObject([{ name: 'flaky', state: 'set-aside', problem: 'CUDA error 2' }]);
    const waiting = await world.submit();
    await world.clock.advance(MINUTE - 1);
    expect(stateOf(waiting)).toMatchObject({ state: 'queued' });
    expect(flaky.assignments()).toHaveLength(3);
    await world.clock.advance(SECOND);
    await flaky.assignment(waiting);
    expect(world.nodes.list()).toMatchObject([{ name: 'flaky', state: 'busy', problem: null }]);
  });
});

describe('a gateway that stalls while a node runs a task', () => {
  it('learns the node\'s speed from the node\'s own measure: the stall is not the node\'s slowness', async () => {
    /** The speed learned of node a after one task it answers in 1 s of its own, while the gateway slept `stallMs`. */
    async function learned(stallMs: number): Promise<number> {
      // The hub checks its nodes every 5 s: that check running late is how the gateway knows it stalled.
      world = createCoreWorld({ heartbeatIntervalMs: 5 * SECOND });
      const a = world.connect('a');
      // On the checkpoint it has loaded: the whole time is the run's, none of it a load.
      const id = await world.submit(txt2img({ model: chillout }));
      await a.assignment(id, 1);
      // The gateway's process is paused (a VM migrated, SIGSTOP): its timers fire late, once, when it wakes.
      if (stallMs > 0) await world.clock.sleep(stallMs);
      await world.clock.advance(1000);
      a.succeed(id, 1000, 1);
      await world.settle();
      const identity = [...world.hub.sessions.values()][0]!.identity;
      const speed = world.dispatcher.scheduler.estimates.get(identity).unitsPerSecond;
      await world.close();
      return speed;
    }
    const steady = await learned(0);
    const stalled = await learned(40 * SECOND);
    world = createCoreWorld();
    expect(stalled).toBeCloseTo(steady, 6);
  });
  it('learns nothing of a node\'s speed from a task it ran across a silence of its own (its process stood still)', async () => {
    /** What the gateway knows of node a after one task of 11 s, a heartbeat from it every `beatMs`. */
    async function learned(beatMs: number) {
      world = createCoreWorld({ heartbeatIntervalMs: 5 * SECOND });
      const a = world.connect('a');
      const id = await world.submit(txt2img({ model: chillout }));
      await a.assignment(id, 1);
      // 11 s: a node that beats every 4 s was heard throughout; one heard from only at the end (10 s and
      // more of silence, under the 15 s that drops a node) had stopped: its task's time holds the pause.
      for (let at = beatMs; at < 11 * SECOND; at += beatMs) {
        await world.clock.advance(beatMs);
        a.backend(true);
      }
      await world.clock.advance(11 * SECOND - Math.floor((11 * SECOND - 1) / beatMs) * beatMs);
      const identity = [...world.hub.sessions.values()][0]!.identity;
      const before = world.dispatcher.scheduler.estimates.get(identity).samples;
      a.succeed(id, 11_000, 1);
      await world.settle();
      const runsLearned = world.dispatcher.scheduler.estimates.get(identity).samples - before;
      const done = world.nodes.list()[0]!.done;
      await world.close();
      return { runsLearned, done };
    }
    expect(await learned(4 * SECOND)).toEqual({ runsLearned: 1, done: 1 });
    // Still a success, counted as one; only its time is left out.
    expect(await learned(11 * SECOND)).toEqual({ runsLearned: 0, done: 1 });
    world = createCoreWorld();
  });
});
