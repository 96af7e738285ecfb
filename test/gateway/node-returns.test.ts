/**
 * A node whose connection drops runs on, and comes back for its tasks (protocol 4): the gateway keeps
 * their attempts for the resume grace, moves those the node names to its new connection, and counts
 * the rest lost once the grace has passed. In one process with a fake clock (test/helpers/fake-nodes.ts);
 * the same with real processes and a cut network: test/e2e/node-returns.e2e.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_RESUME_GRACE_MS, identityOf } from '../../src/network/node-hub.js';
import type { GatewayMessage } from '../../src/protocol/messages.js';
import { DanError } from '../../src/errors/dan-error.js';
import { SECOND } from '../../src/util/clock.js';
import { makeCapabilities } from '../helpers/capabilities.js';
import { type CoreWorld, createCoreWorld, FakeNode, fakeNodeKey, PNG_512, TEST_CALLER } from '../helpers/fake-nodes.js';
import { chillout, txt2img } from '../helpers/specs.js';
import type { StoredTask, TaskStore } from '../../src/store/task-store.js';
import { overridden, runningOnOtherGateway } from '../helpers/store-overrides.js';
import { heldBehindFirst } from '../helpers/held-task.js';

let world: CoreWorld;
afterEach(() => world.close());

type Welcome = Extract<GatewayMessage, { type: 'welcome' }>;
const isWelcome = (m: GatewayMessage): m is Welcome => m.type === 'welcome';

/** The node `name` connects again (a new socket), naming the attempts it holds; `nodeKey`: whose key it shows. */
function comeBack(name: string, resume: { taskId: string; attempt: number }[], options: { nodeKey?: string; slots?: number; prefetch?: number; protocol?: number } = {}): FakeNode {
  const node = new FakeNode(name);
  world.hub.accept(node.socket, '127.0.0.1');
  node.hello(makeCapabilities(), options.slots ?? 1, options.nodeKey ?? fakeNodeKey(name), options.prefetch ?? 0, { resume, ...(options.protocol === undefined ? {} : { protocol: options.protocol }) });
  return node;
}

/** A store whose `overrides` replace its own methods (the rest are the store's, bound to it). */
function storeWith(overrides: Record<string, unknown>) {
  return (inner: TaskStore): TaskStore => overridden(inner, (method) => (Object.hasOwn(overrides, method) ? overrides[method] : undefined));
}

/** The `shared` options of a gateway sharing its store; `runsElsewhere` says whether a running task runs on another gateway's node. */
const sharing = (runsElsewhere: (task: StoredTask) => boolean) => ({ runsElsewhere, servableElsewhere: () => false, wantProgress: () => {}, progressed: () => {} });

/** The welcome of a node, and the ids it says the gateway still waits for. */
async function resumedBy(node: FakeNode): Promise<string[] | undefined> {
  return (await node.next(isWelcome)).resumed;
}

/** Node `a` (one slot, one task held ready) runs a task and holds a second behind it (helpers/held-task.ts), in the tests' `world`. */
async function holdingOne() {
  const setup = await heldBehindFirst();
  world = setup.world;
  return setup;
}

/** Node `a` runs one task (a second node `b`, idle, could take it over); then a's connection drops. */
async function runningWhenDropped(options: Parameters<typeof createCoreWorld>[0] = {}) {
  world = createCoreWorld({ maxAttempts: 3, ...options });
  const a = world.connect('a');
  const id = await world.submit();
  await a.assignment(id, 1);
  const b = world.connect('b');
  a.progress(id, 0.4, 3);
  await world.settle();
  a.disconnect();
  await world.settle();
  return { a, b, id };
}

describe('a node whose connection drops', () => {
  it('is waited for: its task is not retried elsewhere during the grace, says it runs, and the node is listed as reconnecting', async () => {
    const { b, id } = await runningWhenDropped();
    await world.clock.advance(DEFAULT_RESUME_GRACE_MS - 1);
    expect(b.assignments()).toEqual([]);
    expect(await world.status(id)).toMatchObject({ status: 1, progress: 0.4 });
    expect(world.nodes.list().find((n) => n.name === 'a')).toMatchObject({ state: 'reconnecting', running: 1, problem: expect.stringContaining('connection dropped') });
    // Not once the grace has passed: then it is gone.
    await world.clock.advance(1);
    expect(world.nodes.list().map((n) => n.name)).toEqual(['b']);
    expect(world.log.lines.some((l) => l.message === 'node connection dropped; its tasks wait for it to come back')).toBe(true);
  });

  it('leaves the queue saying what it waits for: the node is not there to take work meanwhile', async () => {
    world = createCoreWorld({ maxAttempts: 3 });
    const a = world.connect('a');
    const running = await world.submit();
    await a.assignment(running, 1);
    const queued = await world.submit();
    a.disconnect();
    await world.settle();
    expect(await world.status(queued)).toMatchObject({ status: 0, message: 'waiting: no node is connected' });
    expect(await world.status(running)).toMatchObject({ status: 1 });
  });

  it('comes back naming its attempt: the task runs on there, and its answer on the new connection ends it, in one attempt', async () => {
    const { b, id } = await runningWhenDropped();
    await world.clock.advance(3 * SECOND);
    const back = comeBack('a', [{ taskId: id, attempt: 1 }]);
    expect(await resumedBy(back)).toEqual([id]);
    // Listed once, as the connection it is on now.
    expect(world.nodes.list().filter((n) => n.name === 'a')).toMatchObject([{ state: 'busy', running: 1 }]);
    expect((await back.next(isWelcome)).resumeGraceMs).toBe(DEFAULT_RESUME_GRACE_MS);
    // The grace passes with nothing lost: the attempt is the new connection's.
    await world.clock.advance(DEFAULT_RESUME_GRACE_MS);
    expect(b.assignments()).toEqual([]);
    back.progress(id, 0.9, 1);
    await world.settle();
    expect(await world.status(id)).toMatchObject({ status: 1, progress: 0.9 });
    back.succeed(id, 4000, 1);
    await world.settle();
    expect(await world.status(id)).toMatchObject({ status: 2 });
    expect(await world.store.get(id)).toMatchObject({ state: 'succeeded', attempts: 1 });
    // Its node is busy no more: the next task goes to it or to b, at once.
    const next = await world.submit();
    await Promise.race([back.assignment(next, 1), b.assignment(next, 1)]);
  });

  it('not back within the grace: its task is retried elsewhere, and a later claim of it is refused', async () => {
    const { b, id } = await runningWhenDropped();
    await world.clock.advance(DEFAULT_RESUME_GRACE_MS);
    await b.assignment(id, 2);
    const late = comeBack('a', [{ taskId: id, attempt: 1 }]);
    expect(await resumedBy(late)).toEqual([]);
    b.succeed(id, 1000, 2);
    await world.settle();
    expect(await world.store.get(id)).toMatchObject({ state: 'succeeded', attempts: 2 });
  });

  it('cannot be impersonated: a node of the same name with another key, or naming another attempt, takes nothing over', async () => {
    const { b, id } = await runningWhenDropped();
    const other = comeBack('a', [{ taskId: id, attempt: 1 }], { nodeKey: fakeNodeKey('someone-else') });
    expect(await resumedBy(other)).toEqual([]);
    const wrongAttempt = comeBack('a', [{ taskId: id, attempt: 2 }]);
    expect(await resumedBy(wrongAttempt)).toEqual([]);
    // A result from either settles nothing: one it named is taken as late and dropped; one for a task it
    // neither named nor was given is junk, and its connection is closed.
    other.succeed(id, 1000, 1);
    await world.settle();
    expect(await world.status(id)).toMatchObject({ status: 1 });
    other.answer('never-named', { kind: 'images', images: [PNG_512], seeds: [1] }, { attempt: 1 });
    await world.settle();
    expect(other.socket.readyState).not.toBe(other.socket.OPEN);
    await world.clock.advance(DEFAULT_RESUME_GRACE_MS);
    await b.assignment(id, 2);
  });

  it('its old connection still open at the gateway (a cut that closed nothing): the claim moves the task and closes the old one', async () => {
    world = createCoreWorld({ maxAttempts: 3 });
    const a = world.connect('a', undefined, 2);
    const first = await world.submit();
    const second = await world.submit();
    await a.assignment(first, 1);
    await a.assignment(second, 1);
    // It names only the first: the second it no longer holds, so it is lost at once, not after the grace.
    const back = comeBack('a', [{ taskId: first, attempt: 1 }], { slots: 2 });
    expect(await resumedBy(back)).toEqual([first]);
    await world.settle();
    expect(a.socket.readyState).not.toBe(a.socket.OPEN);
    expect(world.log.lines.some((l) => l.message === 'closing node connection: replaced')).toBe(true);
    // The lost second goes to the only node there is, the one that came back, as its second attempt.
    await back.assignment(second, 2);
    back.succeed(first, 1000, 1);
    back.succeed(second, 1000, 2);
    await world.settle();
    expect(await world.store.get(first)).toMatchObject({ state: 'succeeded', attempts: 1 });
    expect(await world.store.get(second)).toMatchObject({ state: 'succeeded', attempts: 2 });
  });

  it('comes back holding nothing (it restarted): its task is retried at once, not when the grace ends', async () => {
    const { b, id } = await runningWhenDropped();
    await world.clock.advance(SECOND);
    const restarted = comeBack('a', []);
    expect(await resumedBy(restarted)).toEqual([]);
    await world.settle();
    expect(b.assignments().length + restarted.assignments().length).toBe(1);
    await Promise.race([b.assignment(id, 2), restarted.assignment(id, 2)]);
  });

  it('comes back twice in a row, and its task moves along each time', async () => {
    const { id } = await runningWhenDropped();
    const once = comeBack('a', [{ taskId: id, attempt: 1 }]);
    expect(await resumedBy(once)).toEqual([id]);
    once.disconnect();
    await world.settle();
    await world.clock.advance(5 * SECOND);
    const twice = comeBack('a', [{ taskId: id, attempt: 1 }]);
    expect(await resumedBy(twice)).toEqual([id]);
    await world.clock.advance(2 * DEFAULT_RESUME_GRACE_MS);
    twice.succeed(id, 1000, 1);
    await world.settle();
    expect(await world.store.get(id)).toMatchObject({ state: 'succeeded', attempts: 1 });
  });

  it('idle, comes back while the gateway still holds its old connection (a one-sided cut): the old one is closed, and no work goes to it', async () => {
    world = createCoreWorld();
    const old = world.connect('a');
    await world.settle();
    const back = comeBack('a', []);
    await world.settle();
    expect(old.socket.readyState).not.toBe(old.socket.OPEN);
    expect([...world.hub.sessions.keys()]).toHaveLength(1);
    expect(world.log.lines.some((l) => l.message === 'the node connected again; its older connection is closed')).toBe(true);
    const id = await world.submit();
    await back.assignment(id, 1);
    expect(old.assignments()).toEqual([]);
  });

  it('replacing its own connection again and again: two machines may share a name and key, and the log says so', async () => {
    world = createCoreWorld();
    world.connect('a');
    for (let i = 0; i < 5; i++) comeBack('a', []);
    await world.settle();
    expect(world.log.lines.filter((l) => l.message.startsWith('a node keeps replacing its own connection'))).toHaveLength(1);
  });

  it('replaced by another process of its name and key that does not hold its task: the task goes back to the queue, no attempt counted against it', async () => {
    world = createCoreWorld({ maxAttempts: 1 });
    world.connect('a');
    const id = await world.submit();
    await world.settle();
    // A copy of the node connects (names nothing), again and again: each time the task is back, not failed.
    for (let round = 0; round < 3; round++) {
      const copy = comeBack('a', []);
      await world.settle();
      await copy.assignment(id);
    }
    expect(await world.store.get(id)).toMatchObject({ state: 'running' });
    expect(world.log.lines.filter((l) => l.message.startsWith('task of a node connection another took the place of'))).toHaveLength(3);
  });

  it('is timed by its node\'s own measure: the outage is not learned as the node\'s slowness', async () => {
    /** The speed learned of node a after one task it answers in 1 s of its own, `awayMs` of it spent away. */
    async function learned(awayMs: number): Promise<number> {
      world = createCoreWorld();
      const a = world.connect('a');
      // On the checkpoint it has loaded: the whole time is the run's, none of it a load.
      const id = await world.submit(txt2img({ model: chillout }));
      await a.assignment(id, 1);
      let answering = a;
      if (awayMs > 0) {
        a.disconnect();
        await world.settle();
        await world.clock.advance(awayMs);
        answering = comeBack('a', [{ taskId: id, attempt: 1 }]);
        await answering.next(isWelcome);
      }
      await world.clock.advance(1000);
      answering.succeed(id, 1000, 1);
      await world.settle();
      const identity = [...world.hub.sessions.values()][0]!.identity;
      const speed = world.dispatcher.scheduler.estimates.get(identity).unitsPerSecond;
      await world.close();
      return speed;
    }
    const atOnce = await learned(0);
    const away = await learned(8_000);
    world = createCoreWorld();
    expect(away).toBeCloseTo(atOnce, 6);
  });

  it('sends, too late, the answer of a task it named that the gateway no longer waited for: ignored, not a protocol error', async () => {
    world = createCoreWorld({ maxAttempts: 3 });
    const a = world.connect('a', undefined, 2);
    const kept = await world.submit();
    const cancelled = await world.submit();
    await a.assignment(kept, 1);
    await a.assignment(cancelled, 1);
    a.disconnect();
    await world.settle();
    await world.dispatcher.cancel(cancelled, 'cancelled by its client');
    const back = comeBack('a', [{ taskId: kept, attempt: 1 }, { taskId: cancelled, attempt: 1 }], { slots: 2 });
    expect(await resumedBy(back)).toEqual([kept]);
    // Its run ended with an image before the node could give it up.
    back.succeed(cancelled, 1000, 1);
    await world.settle();
    expect(back.socket.readyState).toBe(back.socket.OPEN);
    back.succeed(kept, 1000, 1);
    await world.settle();
    expect(await world.store.get(kept)).toMatchObject({ state: 'succeeded', attempts: 1 });
  });

  it('keeps a task it held ready whose turn had come (it may have begun during the cut), and the node takes it back', async () => {
    const { a, spec, first, held } = await holdingOne();
    // The first was to end half a second later: by the time the cut is seen, the node may well run the held one.
    a.progress(first, 0.9, 0.5);
    await world.settle();
    await world.clock.advance(1000);
    a.disconnect();
    await world.settle();
    const back = comeBack('a', [{ taskId: first, attempt: 1 }, { taskId: held, attempt: 1 }], { prefetch: 1 });
    expect(new Set(await resumedBy(back))).toEqual(new Set([first, held]));
    // Its slot and its one held ready are both taken again: it is sent nothing more until the first ends.
    const third = await world.submit(spec);
    await world.clock.advance(5 * SECOND);
    await world.settle();
    expect(back.assignments()).toEqual([]);
    expect(await world.status(held)).toMatchObject({ status: 1, message: expect.stringContaining('held ready') });
    back.succeed(first, 1000, 1);
    await back.assignment(third, 1);
    back.succeed(held, 1000, 1);
    await world.settle();
    for (const id of [first, held]) expect(await world.status(id)).toMatchObject({ status: 2 });
  });

  it('puts back at once a task it held ready behind one that still runs: another node runs it during the grace, and the node that comes back gives it up', async () => {
    const { a, first, held } = await holdingOne();
    // Ten seconds to go on the first: the node cannot have begun the held one when its connection drops.
    a.progress(first, 0.2, 10);
    await world.settle();
    a.disconnect();
    await world.settle();
    expect(await world.status(held)).toMatchObject({ status: 0 });
    expect(await world.status(first)).toMatchObject({ status: 1 });
    expect(await world.store.get(held)).toMatchObject({ state: 'queued' });
    expect(world.log.lines.some((l) => l.message.startsWith('task held ready on a node whose connection dropped') && (l.fields as { task?: string }).task === held)).toBe(true);
    // A node that joins meanwhile runs it, long before the grace ends.
    const b = world.connect('b');
    await b.assignment(held);
    b.succeed(held);
    await world.settle();
    expect(await world.status(held)).toMatchObject({ status: 2 });
    // The node comes back naming both: it runs on with the first, and gives up the other.
    const back = comeBack('a', [{ taskId: first, attempt: 1 }, { taskId: held, attempt: 1 }], { prefetch: 1 });
    expect(await resumedBy(back)).toEqual([first]);
    back.succeed(first, 1000, 1);
    await world.settle();
    expect(await world.status(first)).toMatchObject({ status: 2 });
  });

  it.each([
    ['2 s to go, just told: its held job may reach the WebUI any moment', 2, 0, false],
    ['20 s to go, told 15 s before the drop was seen: that estimate may be seconds off', 20, 15_000, false],
    ['20 s to go, told 5 s before', 20, 5000, true],
  ])('puts a held task back only when its turn is surely far off: %s', async (_case, etaSeconds, silentMs, putBack) => {
    const { a, first, held } = await holdingOne();
    a.progress(first, 0.5, etaSeconds);
    await world.settle();
    await world.clock.advance(silentMs);
    a.disconnect();
    await world.settle();
    expect((await world.store.get(held))?.state).toBe(putBack ? 'queued' : 'running');
    expect(await world.status(held)).toMatchObject({ status: putBack ? 0 : 1 });
  });
});

describe('a node lost for good at once', () => {
  it('when it said it stopped (close 1001): its task is retried without waiting', async () => {
    world = createCoreWorld({ maxAttempts: 3 });
    const a = world.connect('a');
    const id = await world.submit();
    await a.assignment(id, 1);
    const b = world.connect('b');
    a.leave();
    // No time passed: the retry is sent at once.
    expect((await b.assignment(id, 2)).taskId).toBe(id);
  });

  it('when it spoke protocol 3 (its tasks end with its connection), and such a node cannot name tasks', async () => {
    world = createCoreWorld({ maxAttempts: 3 });
    const old = new FakeNode('old');
    world.hub.accept(old.socket, '127.0.0.1');
    old.hello(makeCapabilities(), 1, fakeNodeKey('old'), 0, { protocol: 3 });
    const welcome = await old.next(isWelcome);
    // Answered in its own words: a node of protocol 3 knows no resume fields.
    expect(welcome).toEqual({ type: 'welcome', protocol: 3, nodeId: expect.any(String), heartbeatIntervalMs: expect.any(Number) });
    const id = await world.submit();
    await old.assignment(id, 1);
    const b = world.connect('b');
    old.disconnect();
    await b.assignment(id, 2);
    const naming = comeBack('old', [{ taskId: id, attempt: 1 }], { protocol: 3 });
    await world.settle();
    expect(naming.received.filter((m) => m.type === 'reject')).toMatchObject([{ error: 'DAN_ERR_NODE_PROTOCOL' }]);
  });

  it('when it broke the protocol: what it ran is not waited for', async () => {
    world = createCoreWorld({ maxAttempts: 3 });
    const a = world.connect('a');
    const id = await world.submit();
    await a.assignment(id, 1);
    const b = world.connect('b');
    // A caption for a txt2img task: the node is sent away.
    a.answer(id, { kind: 'caption', caption: 'junk' }, { attempt: 1 });
    expect((await b.assignment(id, 2)).taskId).toBe(id);
    expect(a.socket.readyState).not.toBe(a.socket.OPEN);
  });

  it('not when a proxy in between closed with 1001 (going away): that is no node stopping', async () => {
    world = createCoreWorld({ maxAttempts: 3 });
    const a = world.connect('a');
    const id = await world.submit();
    await a.assignment(id, 1);
    const b = world.connect('b');
    a.socket.close(1001, 'proxy restarting');
    await world.settle();
    await world.clock.advance(DEFAULT_RESUME_GRACE_MS - 1);
    expect(b.assignments()).toEqual([]);
  });

  it('when the operator set no grace (--resume-grace-s 0)', async () => {
    world = createCoreWorld({ maxAttempts: 3, resumeGraceMs: 0 });
    const a = world.connect('a');
    const id = await world.submit();
    await a.assignment(id, 1);
    const b = world.connect('b');
    a.disconnect();
    await b.assignment(id, 2);
    expect((await a.next(isWelcome)).resumeGraceMs).toBe(0);
  });
});

describe('a node that ran a task when the gateway stopped', () => {
  /** A task stored as running on node `gpu` (session `gpu-0a1b2c`), as the gateway left it; then the gateway starts again. */
  async function restartedWithRunningTask(nodeIdentity?: string) {
    world = createCoreWorld({ maxAttempts: 3 });
    const id = 'ran-before';
    await world.store.insert({ id, kind: 'txt2img', spec: txt2img(), owner: TEST_CALLER.owner, createdAt: world.clock.now() });
    await world.store.markRunning(id, 1, 'gpu-0a1b2c', world.clock.now(), nodeIdentity);
    await world.dispatcher.recover();
    return id;
  }

  it('is waited for after the restart, and the node that comes back with it finishes it, in one attempt', async () => {
    const id = await restartedWithRunningTask();
    // Another node, there from the start, is not given it while its node may come back.
    const other = world.connect('other');
    await world.settle();
    expect(other.assignments()).toEqual([]);
    expect(await world.status(id)).toMatchObject({ status: 1 });
    await world.clock.advance(2 * SECOND);
    const back = comeBack('gpu', [{ taskId: id, attempt: 1 }]);
    expect(await resumedBy(back)).toEqual([id]);
    await world.clock.advance(DEFAULT_RESUME_GRACE_MS);
    expect(other.assignments()).toEqual([]);
    back.succeed(id, 3000, 1);
    await world.settle();
    expect(await world.store.get(id)).toMatchObject({ state: 'succeeded', attempts: 1 });
  });

  it('not back within the grace: the task is requeued and runs elsewhere; a node of another name cannot take it', async () => {
    const id = await restartedWithRunningTask();
    const impostor = comeBack('not-gpu', [{ taskId: id, attempt: 1 }]);
    expect(await resumedBy(impostor)).toEqual([]);
    await world.clock.advance(DEFAULT_RESUME_GRACE_MS);
    await world.settle();
    const assign = await impostor.assignment(id, 2);
    expect(assign.attempt).toBe(2);
    expect(await resumedBy(comeBack('gpu', [{ taskId: id, attempt: 1 }]))).toEqual([]);
  });

  it('stored with who its node is: only that node takes it back, not another of its name (another key)', async () => {
    // As the gateway stores a start: the node's token (here none: a node of this machine), name and key.
    const id = await restartedWithRunningTask(identityOf('local', { name: 'gpu', nodeKey: fakeNodeKey('gpu') }));
    const sameName = comeBack('gpu', [{ taskId: id, attempt: 1 }], { nodeKey: fakeNodeKey('someone-else') });
    expect(await resumedBy(sameName)).toEqual([]);
    const back = comeBack('gpu', [{ taskId: id, attempt: 1 }]);
    expect(await resumedBy(back)).toEqual([id]);
    back.succeed(id, 3000, 1);
    await world.settle();
    expect(await world.store.get(id)).toMatchObject({ state: 'succeeded', attempts: 1 });
  });

  it('taken back with the one it held ready: that one is held again, and the node is sent nothing more until its slot frees', async () => {
    world = createCoreWorld({ maxAttempts: 3 });
    const [id, heldId] = ['ran-before', 'held-before'];
    for (const task of [id, heldId]) {
      await world.store.insert({ id: task, kind: 'txt2img', spec: txt2img(), owner: TEST_CALLER.owner, createdAt: world.clock.now() });
      await world.store.markRunning(task, 1, 'gpu-0a1b2c', world.clock.now());
    }
    await world.dispatcher.recover();
    const back = comeBack('gpu', [{ taskId: id, attempt: 1 }, { taskId: heldId, attempt: 1 }], { prefetch: 1 });
    expect(new Set(await resumedBy(back))).toEqual(new Set([id, heldId]));
    expect(await world.status(heldId)).toMatchObject({ status: 1, message: expect.stringContaining('held ready') });
    const third = await world.submit();
    await world.clock.advance(5 * SECOND);
    await world.settle();
    expect(back.assignments()).toEqual([]);
    back.succeed(id, 1000, 1);
    await world.clock.advance(5 * SECOND);
    await back.assignment(third, 1);
  });

  it('back without naming it (the node restarted too): requeued at once, not when the grace ends', async () => {
    const id = await restartedWithRunningTask();
    const restarted = comeBack('gpu', []);
    expect(await resumedBy(restarted)).toEqual([]);
    await world.settle();
    expect((await restarted.assignment(id, 2)).attempt).toBe(2);
  });

  it('cancelled while its node is away: the node that comes back is told to give it up', async () => {
    const id = await restartedWithRunningTask();
    expect(await world.dispatcher.cancel(id, 'by the client')).toBe(true);
    expect(await resumedBy(comeBack('gpu', [{ taskId: id, attempt: 1 }]))).toEqual([]);
    await world.clock.advance(DEFAULT_RESUME_GRACE_MS);
    await world.settle();
    expect(await world.store.get(id)).toMatchObject({ state: 'cancelled' });
  });
});

describe('a node that brings a task another gateway of the database gave it (that gateway died)', () => {
  /**
   * A gateway sharing its store: task `id` runs, the store says, as attempt 1 on another gateway's node `gpu`.
   * The store's word on a take-over comes when the test gives it (`answer`).
   */
  async function runningElsewhere(takeOver?: () => Promise<boolean>) {
    let answer: (moved: boolean) => void = () => {};
    const asked: unknown[][] = [];
    world = createCoreWorld({
      maxAttempts: 3,
      shared: sharing(() => true),
      store: (inner) =>
        storeWith({
          takeOver: (...args: unknown[]) => {
            asked.push(args);
            return takeOver?.() ?? new Promise<boolean>((resolve) => (answer = resolve));
          },
        })(runningOnOtherGateway(inner)),
    });
    const id = 'elsewhere';
    await world.store.insert({ id, kind: 'txt2img', spec: txt2img(), owner: TEST_CALLER.owner, createdAt: world.clock.now() });
    await world.store.markRunning(id, 1, 'gpu-0a1b2c', world.clock.now());
    await world.dispatcher.recover();
    return { id, asked, answer: (moved: boolean) => answer(moved) };
  }

  it('takes it over once the store agrees it was given to that node: its result, sent meanwhile, ends the task', async () => {
    const { id, asked, answer } = await runningElsewhere();
    const back = comeBack('gpu', [{ taskId: id, attempt: 1 }]);
    expect(await resumedBy(back)).toEqual([id]);
    expect(asked).toEqual([[id, 1, identityOf('local', { name: 'gpu', nodeKey: fakeNodeKey('gpu') }), expect.stringMatching(/^gpu-/)]]);
    // The answer waits for the store's word.
    back.succeed(id, 3000, 1);
    await world.settle();
    expect(await world.store.get(id)).toMatchObject({ state: 'running' });
    answer(true);
    await expect.poll(() => world.store.get(id)).toMatchObject({ state: 'succeeded', attempts: 1 });
  });

  it('stops right after sending its result, while the store writes: the result counts once the store agrees', async () => {
    const { id, answer } = await runningElsewhere();
    const back = comeBack('gpu', [{ taskId: id, attempt: 1 }]);
    expect(await resumedBy(back)).toEqual([id]);
    back.succeed(id, 3000, 1);
    back.leave();
    await world.settle();
    answer(true);
    await expect.poll(() => world.store.get(id)).toMatchObject({ state: 'succeeded', attempts: 1 });
  });

  it('goes while the store writes, and the store says no: the task is as the store says, and the gateway goes on sending work', async () => {
    const { id, answer } = await runningElsewhere();
    const claimant = comeBack('gpu', [{ taskId: id, attempt: 1 }], { nodeKey: fakeNodeKey('someone-else') });
    expect(await resumedBy(claimant)).toEqual([id]);
    claimant.leave();
    await world.settle();
    answer(false);
    await world.settle();
    expect(await world.status(id)).toMatchObject({ status: 1 });
    // Nothing left half-done in the queue: a new task goes to a node that joins, and the other one is not sent.
    const other = world.connect('other');
    const next = await world.submit();
    await other.assignment(next, 1);
    await world.clock.advance(DEFAULT_RESUME_GRACE_MS);
    await world.settle();
    expect(other.assignments().map((a) => a.taskId)).toEqual([next]);
  });

  it('tries the take-over\'s write again when the database fails it a moment, and the task runs on there', async () => {
    let tries = 0;
    const { id, asked } = await runningElsewhere(async () => {
      tries += 1;
      if (tries === 1) throw new DanError('DAN_ERR_STORE_UNAVAILABLE', 'the database does not answer');
      return true;
    });
    const back = comeBack('gpu', [{ taskId: id, attempt: 1 }]);
    expect(await resumedBy(back)).toEqual([id]);
    back.succeed(id, 3000, 1);
    await world.settle();
    expect(await world.store.get(id)).toMatchObject({ state: 'running' });
    await world.clock.advance(5 * SECOND);
    await expect.poll(() => world.store.get(id)).toMatchObject({ state: 'succeeded', attempts: 1 });
    expect(asked).toHaveLength(2);
    expect(back.received.some((m) => m.type === 'cancel')).toBe(false);
  });

  it('not given to that node (the store says no): the node is told to stop it, its answer is dropped, and it runs on elsewhere', async () => {
    const { id, answer } = await runningElsewhere();
    const other = world.connect('other');
    const claimant = comeBack('gpu', [{ taskId: id, attempt: 1 }], { nodeKey: fakeNodeKey('someone-else') });
    expect(await resumedBy(claimant)).toEqual([id]);
    claimant.succeed(id, 3000, 1);
    answer(false);
    await world.settle();
    expect(claimant.received.some((m) => m.type === 'cancel' && m.taskId === id)).toBe(true);
    expect(await world.store.get(id)).toMatchObject({ state: 'running', attempts: 1, nodeId: 'gpu-0a1b2c' });
    // Still running on the other gateway's node: no node here is given it, and a client is told it runs.
    await world.clock.advance(DEFAULT_RESUME_GRACE_MS);
    await world.settle();
    expect(other.assignments()).toEqual([]);
    expect(claimant.assignments()).toEqual([]);
    expect(await world.status(id)).toMatchObject({ status: 1 });
  });

  it('taken over by another gateway while this one waits for its node, the notice missed: the next read of the store lets it go', async () => {
    const movedAway = new Set<string>();
    const { b, id } = await runningWhenDropped({ shared: sharing((task) => movedAway.has(task.id)) });
    // Node a took it to another gateway, which took it over; the `moved` notice did not arrive (the listening connection was lost).
    movedAway.add(id);
    await world.dispatcher.resync();
    await world.clock.advance(DEFAULT_RESUME_GRACE_MS);
    await world.settle();
    // Not counted lost, not run again here.
    expect(b.assignments()).toEqual([]);
    expect(await world.status(id)).toMatchObject({ status: 1 });
  });

  it('whose grace ends here as another gateway takes it over, its notice not there yet: the store is read first, and it is not run again here', async () => {
    const { b, id } = await runningWhenDropped({
      shared: sharing(() => true),
      // The row names the other gateway now: this one's requeue is refused (its SQL asks for the gateway holding it).
      store: storeWith({ requeue: async () => false }),
    });
    await world.clock.advance(DEFAULT_RESUME_GRACE_MS);
    await world.settle();
    await world.settle();
    expect(b.assignments()).toEqual([]);
    expect(await world.status(id)).toMatchObject({ status: 1 });
  });

  it('back through another gateway: what it did not bring there is retried after a moment, not when the grace ends', async () => {
    const { b, id } = await runningWhenDropped({ shared: sharing(() => false) });
    // Still waited for: a node of another name arriving elsewhere changes nothing.
    world.dispatcher.nodeArrivedElsewhere('not-a');
    await world.clock.advance(5 * SECOND);
    expect(b.assignments()).toEqual([]);
    // Node a is on another gateway now, without this task (the store says it still runs here: not taken over).
    world.dispatcher.nodeArrivedElsewhere('a');
    await world.clock.advance(2 * SECOND);
    await world.settle();
    expect((await b.assignment(id, 2)).attempt).toBe(2);
  });
});

