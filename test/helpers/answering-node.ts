/**
 * An app driven through `inject` with one fake node that answers its tasks, in order, when a test says so:
 * for requests that wait for their tasks (the compatible front doors' sync answers). Closed after each test.
 */
import { afterEach } from 'vitest';
import type { FakeNode } from './fake-nodes.js';
import { createInjectApp, type InjectApp, type InjectAppOptions } from './inject-app.js';

export function useAnsweringApp() {
  let api: InjectApp | undefined;
  let node: FakeNode | undefined;
  let answered = 0;
  afterEach(async () => {
    await api?.close();
    api = undefined;
  });
  return {
    /** A fresh app with one node (`node-0`, one slot). */
    start: async (options: InjectAppOptions = {}): Promise<InjectApp> => {
      api = await createInjectApp(options);
      node = api.world.connect('node-0');
      answered = 0;
      return api;
    },
    node: (): FakeNode => node!,
    /** Answers the node's tasks as they are sent (one slot: one at a time) until `count` more are answered. */
    answer: async (count: number): Promise<void> => {
      for (const until = answered + count; answered < until; answered++) {
        const deadline = Date.now() + 5_000;
        while (node!.assignments().length <= answered) {
          if (Date.now() > deadline) throw new Error(`the node was sent ${node!.assignments().length} tasks, not ${answered + 1}`);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        node!.succeed(node!.assignments()[answered]!.taskId);
      }
    },
  };
}
