/**
 * A task store with some of its methods replaced, for tests of what the gateway does when its store
 * answers otherwise (fails, holds a read, refuses a write, reads back as PostgreSQL does).
 */
import type { TaskStore } from '../../src/store/task-store.js';

/**
 * `inner`, but each method `replace` returns something for (asked at every read of the method, so that a test
 * may switch a replacement on and off) is that; the rest are the store's own, bound to it.
 */
export function overridden(inner: TaskStore, replace: (method: string, store: TaskStore) => unknown): TaskStore {
  return new Proxy(inner, {
    get(target, property) {
      const replaced = typeof property === 'string' ? replace(property, target) : undefined;
      if (replaced !== undefined) return replaced;
      const value: unknown = Reflect.get(target, property);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** As PostgreSQL reads them back on a gateway that shares its database: a running row names the gateway that started it (another one). */
export function runningOnOtherGateway(inner: TaskStore): TaskStore {
  return overridden(inner, (method, store) =>
    method === 'listUnfinished' ? async () => (await store.listUnfinished()).map((task) => ({ ...task, runningOn: task.state === 'running' ? 'gw_other' : null })) : undefined,
  );
}
