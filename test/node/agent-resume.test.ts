/**
 * The node agent through dropped connections (protocol 4), against a gateway played by the test
 * (test/helpers/fake-gateway.ts): what its hellos name, what it sends again after a welcome, and how it
 * notices a connection that went quiet; its pace of tries while it carries work, and its looks at its
 * WebUI (one at a time). The gateway's side: test/gateway/node-returns.test.ts; both with real processes:
 * test/e2e/node-returns.e2e.test.ts.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { NodeAgent } from '../../src/node/agent.js';
import type { BackendSnapshot } from '../../src/node/backend-driver.js';
import { makeCapabilities } from '../helpers/capabilities.js';
import { pngBytes } from '../helpers/png-bytes.js';
import { agentOf, type FakeGateway, heldDriver, startFakeGateway } from '../helpers/fake-gateway.js';

let gateway: FakeGateway | undefined;
/** A second gateway of the node's list, when a test has one. */
let other: FakeGateway | undefined;
let agent: NodeAgent | undefined;
afterEach(async () => {
  await agent?.stop();
  await gateway?.close();
  await other?.close();
  agent = gateway = other = undefined;
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A fake gateway and an agent connected to it, welcomed; the gateway waits `graceMs` for what a dropped node holds. */
async function connected(options: { heartbeatMs?: number; graceMs?: number; welcomeTimeoutMs?: number; carryLimitMs?: number } = {}) {
  gateway = await startFakeGateway();
  const backend = heldDriver();
  const { welcomeTimeoutMs, carryLimitMs } = options;
  agent = agentOf(gateway, backend.driver, { ...(welcomeTimeoutMs === undefined ? {} : { welcomeTimeoutMs }), ...(carryLimitMs === undefined ? {} : { carryLimitMs }) });
  await agent.start();
  const first = await gateway.nextConnection();
  gateway.welcome(first, { heartbeatMs: options.heartbeatMs ?? 100, graceMs: options.graceMs ?? 10_000 });
  return { gateway, agent, backend, first };
}

/**
 * A node told two gateways (`gateway`, then `other`), welcomed by the first (`welcome`), which gave it task `t`
 * that it runs.
 */
async function runningOnFirstOfTwo(welcome: { heartbeatMs?: number; graceMs?: number } = {}) {
  gateway = await startFakeGateway();
  other = await startFakeGateway();
  const backend = heldDriver();
  agent = agentOf(gateway, backend.driver, { gatewayUrl: `${gateway.url},${other.url}` });
  await agent.start();
  const first = await gateway.nextConnection();
  gateway.welcome(first, welcome);
  gateway.assign(first, 't');
  await sleep(50);
  return { gateway, other, agent, backend, first };
}

describe('a node agent whose connection drops', () => {
  it('runs on, names the attempt in its next hello, and sends the answer once the welcome resumes it', async () => {
    const { gateway, backend, first } = await connected();
    gateway.assign(first, 't1');
    await sleep(50);
    first.socket.terminate();
    await sleep(30);
    backend.finishAll();
    const second = await gateway.nextConnection();
    expect(second.hello.resume).toEqual([{ taskId: 't1', attempt: 1 }]);
    // No answer before the welcome: the gateway may no longer wait for it.
    await sleep(50);
    expect(second.frames).toEqual([]);
    gateway.welcome(second, { resumed: ['t1'] });
    await expect.poll(() => gateway.answered('t1', 1)).toBe(true);
  });

  it('names the attempt it runs, not the answer of the attempt before it', async () => {
    const { gateway, backend, first } = await connected({ heartbeatMs: 5_000 });
    backend.state.failNext = true;
    gateway.assign(first, 't', 1);
    await expect.poll(() => gateway.answered('t', 1)).toBe(true);
    // The only node: the task comes back to it at once. Its failure is not confirmed yet (pings every 5 s).
    gateway.assign(first, 't', 2);
    await sleep(50);
    first.socket.terminate();
    const second = await gateway.nextConnection();
    expect(second.hello.resume).toEqual([{ taskId: 't', attempt: 2 }]);
  });

  it('answers a resumed attempt it gave up before the welcome came with a failure, so the gateway does not wait for its timeout', async () => {
    // Carried no longer than 1.5× the gateway's grace (the least it carries: a node told to hold little).
    const { gateway, first } = await connected({ heartbeatMs: 1_000, graceMs: 300, carryLimitMs: 0 });
    gateway.assign(first, 't');
    await sleep(50);
    first.socket.terminate();
    const second = await gateway.nextConnection();
    expect(second.hello.resume).toEqual([{ taskId: 't', attempt: 1 }]);
    // The node's grace (1.5× the gateway's: 450 ms) ends before the gateway's welcome arrives (the gateway's began later).
    await sleep(600);
    gateway.welcome(second, { heartbeatMs: 1_000, graceMs: 300, resumed: ['t'] });
    await expect.poll(() => second.frames.find((f) => f.type === 'failure' && f.taskId === 't')).toMatchObject({ attempt: 1, error: 'DAN_ERR_NODE_LOST', retryable: true });
  });

  it('carries its answer through a gateway silent far longer than its grace (paused, hung): the welcome, not a timer, says whether it is still wanted', async () => {
    const { gateway, backend, first } = await connected({ heartbeatMs: 1_000, graceMs: 300 });
    gateway.assign(first, 't');
    await sleep(50);
    first.socket.terminate();
    backend.finishAll();
    const second = await gateway.nextConnection();
    expect(second.hello.resume).toEqual([{ taskId: 't', attempt: 1 }]);
    // Three times 1.5× the grace without a welcome: a paused gateway has not given the task away.
    await sleep(1_350);
    gateway.welcome(second, { heartbeatMs: 1_000, graceMs: 300, resumed: ['t'] });
    await expect.poll(() => second.frames.find((f) => 'taskId' in f && f.taskId === 't')).toMatchObject({ type: 'result', attempt: 1 });
  });

  it('gives up a connection whose welcome never comes, and connects again', async () => {
    const { gateway, first } = await connected({ welcomeTimeoutMs: 300 });
    gateway.assign(first, 't');
    await sleep(50);
    first.socket.terminate();
    // The welcome of the second connection is lost in a cut that closes nothing.
    await gateway.nextConnection();
    const third = await gateway.nextConnection();
    expect(third.hello.resume).toEqual([{ taskId: 't', attempt: 1 }]);
  });

  it('tries the gateway that gave it the work again first, of several: only that one waits for it', async () => {
    const { gateway, other, first } = await runningOnFirstOfTwo();
    first.socket.terminate();
    const second = await gateway.nextConnection();
    expect(second.hello.resume).toEqual([{ taskId: 't', attempt: 1 }]);
    expect(other.connections).toEqual([]);
  });

  it('takes the work it carries to the next gateway of its list when the one that gave it cannot be reached (it died)', async () => {
    // The node carries the work for minutes without a welcome, longer than this test may take.
    const { gateway, other, agent, backend } = await runningOnFirstOfTwo({ heartbeatMs: 1_000, graceMs: 60_000 });
    await gateway.close();
    // The gateways of a list share a store: the next one may take the work over, so it is named there.
    const second = await other.nextConnection();
    expect(second.hello.resume).toEqual([{ taskId: 't', attempt: 1 }]);
    // It does not take it: the node gives it up (and holds nothing more for the gateway that died).
    const released = new Promise<void>((resolve) => agent.once('held:released', () => resolve()));
    other.welcome(second, { resumed: [] });
    await released;
    other.assign(second, 'u');
    await sleep(50);
    backend.finishAll();
    await expect.poll(() => other.answered('u', 1)).toBe(true);
    expect(other.answered('t', 1)).toBe(false);
  });

  it('leaves a gateway of several that says it is stopping at once, naming its work to the next', async () => {
    const { gateway, other, first } = await runningOnFirstOfTwo({ heartbeatMs: 1_000, graceMs: 60_000 });
    // The gateway's own close as it stops (it still listens: a restart would take seconds).
    first.socket.close(1001, 'gateway stopping');
    const second = await other.nextConnection();
    expect(second.hello.resume).toEqual([{ taskId: 't', attempt: 1 }]);
    expect(gateway.connections).toHaveLength(1);
  });

  it('leaves a gateway of several that fell silent (hung) at once too, naming its work to the next', async () => {
    const { gateway, other, first } = await runningOnFirstOfTwo({ heartbeatMs: 100, graceMs: 60_000 });
    // The gateway stops reading (a stopped process): no pong, no frame; its socket stays open.
    (first.socket as unknown as { _socket: { pause(): void } })._socket.pause();
    const second = await other.nextConnection();
    expect(second.hello.resume).toEqual([{ taskId: 't', attempt: 1 }]);
    expect(gateway.connections).toHaveLength(1);
  });

  it('does not take its own sleep for the gateway\'s silence: after a stall of its process, the gateway gets its allowance again', async () => {
    const { gateway, agent } = await connected({ heartbeatMs: 100 });
    let dropped = 0;
    agent.on('disconnected', () => (dropped += 1));
    await sleep(250);
    // The process stops for 0.6 s (six heartbeats, three times the silence allowed): nothing is read meanwhile.
    const until = Date.now() + 600;
    while (Date.now() < until);
    await sleep(300);
    expect(dropped).toBe(0);
    expect(gateway.connections).toHaveLength(1);
  });

  it('closed as replaced (4005) connects again once (a hello of its own held back on the way), and stops, saying why, when it happens again within a minute (another process is this node)', async () => {
    const { gateway, agent, first } = await connected();
    let rejected: string | undefined;
    agent.on('rejected', (message) => (rejected = message));
    first.socket.close(4005, 'the node connected again from 10.0.0.7: this older connection is left over');
    const second = await gateway.nextConnection();
    expect(rejected).toBeUndefined();
    gateway.welcome(second);
    await sleep(50);
    second.socket.close(4005, 'the node connected again from 10.0.0.7: this older connection is left over');
    await expect.poll(() => rejected).toMatch(/^another process connected to the gateway as this node \(name "gpu", the same node key; the gateway says: the node connected again from 10\.0\.0\.7/);
    await sleep(100);
    expect(gateway.connections).toHaveLength(2);
  });

  it('says what a close for want of a hello means (a slow or holding link)', async () => {
    gateway = await startFakeGateway();
    const lines: { msg: string; hint?: string }[] = [];
    agent = agentOf(gateway, heldDriver().driver, { log: pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string; hint?: string }) }) });
    await agent.start();
    (await gateway.nextConnection()).socket.close(4003, 'no hello');
    await gateway.nextConnection();
    expect(lines.find((l) => l.msg === 'gateway connection closed; reconnecting')?.hint).toMatch(/had no hello from this node within 5 s: the link to it is very slow/);
  });

  it('sends no answer for a task it gave up, even when its run ends with one', async () => {
    const { gateway, backend, first } = await connected();
    backend.state.ignoresAbort = true;
    gateway.assign(first, 't');
    await sleep(50);
    first.socket.terminate();
    const second = await gateway.nextConnection();
    // The gateway no longer waits for it (cancelled meanwhile); the WebUI hands its image over all the same.
    gateway.welcome(second, { resumed: [] });
    await sleep(50);
    backend.finishAll();
    await sleep(100);
    expect(gateway.answered('t')).toBe(false);
  });

  it('delivers the answers it made while away before a drain ends it', async () => {
    const { gateway, agent, backend, first } = await connected();
    gateway.assign(first, 't');
    await sleep(50);
    first.socket.terminate();
    await sleep(20);
    const drained = agent.drain();
    backend.finishAll();
    const second = await gateway.nextConnection();
    gateway.welcome(second, { resumed: ['t'] });
    await drained;
    expect(gateway.answered('t', 1)).toBe(true);
  });

  it('stopping while its gateway stops too, ends after a short wait for it, not after the whole carry', async () => {
    // The node would carry its answer for minutes without a welcome, longer than this test may take.
    const { gateway, agent, backend, first } = await connected({ graceMs: 60_000, heartbeatMs: 5_000 });
    gateway.assign(first, 't');
    await sleep(50);
    backend.finishAll();
    await expect.poll(() => gateway.answered('t', 1)).toBe(true);
    // The gateway goes before a ping confirmed the answer: the node holds it, and no gateway comes back.
    const disconnected = new Promise<void>((resolve) => agent.once('disconnected', () => resolve()));
    await gateway.close();
    await disconnected;
    await agent.drain();
    expect(agent.activeTasks).toBe(0);
  });

  it('after answers were sent again on a new connection, confirms the later ones: nothing is named after the next drop', async () => {
    const { gateway, backend, first } = await connected({ heartbeatMs: 100 });
    // Ten pings on the first connection, so that its count is well ahead of the next one's.
    await sleep(1_000);
    gateway.assign(first, 'away');
    await sleep(30);
    first.socket.terminate();
    await sleep(20);
    backend.finishAll();
    const second = await gateway.nextConnection();
    gateway.welcome(second, { heartbeatMs: 100, resumed: ['away'] });
    await expect.poll(() => gateway.answered('away')).toBe(true);
    backend.state.instant = true;
    for (let i = 0; i < 20; i++) gateway.assign(second, `later-${i}`);
    await expect.poll(() => second.frames.filter((f) => f.type === 'result').length).toBe(21);
    // A few pongs on the new connection (fewer than the first one had) confirm every answer sent on it.
    await sleep(400);
    second.socket.terminate();
    const third = await gateway.nextConnection();
    expect(third.hello.resume).toBeUndefined();
  });
});

describe('a node agent carrying work while its gateway stays away', () => {
  it('tries again every second within the gateway\'s grace, then at its backoff (no storm of connections for minutes)', async () => {
    gateway = await startFakeGateway();
    const backend = heldDriver();
    const lines: { msg: string; retryInMs?: number; time: number }[] = [];
    // Debug: the third failed try in a row on is logged there.
    const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push({ ...(JSON.parse(line) as { msg: string; retryInMs?: number }), time: Date.now() }) });
    agent = agentOf(gateway, backend.driver, { log, reconnectMinMs: 200, reconnectMaxMs: 5_000 });
    await agent.start();
    const first = await gateway.nextConnection();
    gateway.welcome(first, { heartbeatMs: 1_000, graceMs: 400 });
    gateway.assign(first, 't');
    await sleep(50);
    const downAt = Date.now();
    await gateway.close();
    gateway = undefined;
    await sleep(3_500);
    const retries = lines.filter((l) => l.msg === 'gateway connection closed; reconnecting' && l.time >= downAt);
    // Within 1.5× the grace (600 ms), no wait over a second; past it, the backoff grows beyond one.
    expect(retries.filter((l) => l.time - downAt < 500).every((l) => (l.retryInMs ?? 0) <= 1_000)).toBe(true);
    expect(retries.some((l) => (l.retryInMs ?? 0) > 1_000)).toBe(true);
  });
});

describe('a node agent carrying work over a slow link', () => {
  it('gives a welcome that takes seconds its usual time once past the gateway\'s grace, and joins again', async () => {
    gateway = await startFakeGateway();
    const backend = heldDriver();
    agent = agentOf(gateway, backend.driver);
    await agent.start();
    const first = await gateway.nextConnection();
    gateway.welcome(first, { heartbeatMs: 1_000, graceMs: 300 });
    gateway.assign(first, 't');
    await sleep(50);
    first.socket.terminate();
    // Every welcome from now on takes 3.5 s to arrive (a link that slow).
    const welcomed = new Promise<string>((resolve) => agent!.once('welcomed', (nodeId) => resolve(nodeId)));
    const slow = gateway;
    void (async () => {
      for (;;) {
        const next = await slow.nextConnection().catch(() => undefined);
        if (!next) return;
        setTimeout(() => slow.welcome(next, { heartbeatMs: 1_000, graceMs: 300, resumed: [] }), 3_500).unref();
      }
    })();
    await expect(Promise.race([welcomed, sleep(9_000).then(() => 'never')])).resolves.not.toBe('never');
  });
});

describe('a node agent asked to look at its WebUI while a look is under way', () => {
  it('lets the newer look decide: an older one that fails last does not mark a WebUI that answers as down', async () => {
    gateway = await startFakeGateway();
    const base = heldDriver();
    /** Looks made once `held`, each waiting for the test to end it. */
    const looks: { succeed: () => void; fail: () => void }[] = [];
    let held = false;
    const driver = {
      ...base.driver,
      discover: (): Promise<BackendSnapshot> =>
        held
          ? new Promise((resolve, reject) => looks.push({ succeed: () => resolve({ capabilities: makeCapabilities(), loadedModel: null }), fail: () => reject(new Error('WebUI restarting')) }))
          : base.driver.discover(),
    };
    agent = agentOf(gateway, driver);
    await agent.start();
    held = true;
    const connection = await gateway.nextConnection();
    // The welcome asks for a look; a task that fails asks for another while the first is under way.
    gateway.welcome(connection, {});
    await expect.poll(() => looks.length).toBe(1);
    base.state.failNext = true;
    gateway.assign(connection, 't');
    await expect.poll(() => gateway!.answered('t')).toBe(true);
    // The older look fails last (the WebUI was restarting when it was made); the newer one finds the WebUI up.
    if (looks.length === 2) {
      looks[1]!.succeed();
      await new Promise((resolve) => setTimeout(resolve, 20));
      looks[0]!.fail();
    } else {
      looks[0]!.fail();
      await expect.poll(() => looks.length).toBe(2);
      looks[1]!.succeed();
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(agent.backendUp).toBe(true);
  });
});

describe('a node agent whose driver says a run waited longer than it took', () => {
  it('reports no negative time (the gateway would refuse the answer and drop the node): a short run answered before the one ahead let go', async () => {
    gateway = await startFakeGateway();
    const base = heldDriver();
    // Answered at once, its wait behind the run before put at ten seconds.
    const driver = { ...base.driver, run: async () => ({ result: { kind: 'images' as const, images: [pngBytes(8, 8).toString('base64')], seeds: [1] }, loadedModel: null, waitedMs: 10_000 }) };
    agent = agentOf(gateway, driver);
    await agent.start();
    const first = await gateway.nextConnection();
    gateway.welcome(first, {});
    gateway.assign(first, 't');
    await expect.poll(() => first.frames.find((f) => f.type === 'result')).toMatchObject({ taskId: 't', elapsedMs: 0 });
  });
});
