/**
 * The node agent's looks at its backend (discovery), against a gateway played by the test: two asked for at
 * once (after a welcome, and after a failed task) run one after the other, so the newest decides whether the
 * WebUI is up.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { NodeAgent } from '../../src/node/agent.js';
import type { BackendSnapshot } from '../../src/node/backend-driver.js';
import { makeCapabilities } from '../helpers/capabilities.js';
import { agentOf, type FakeGateway, heldDriver, startFakeGateway } from '../helpers/fake-gateway.js';

let gateway: FakeGateway | undefined;
let agent: NodeAgent | undefined;
afterEach(async () => {
  await agent?.stop();
  await gateway?.close();
  agent = gateway = undefined;
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
