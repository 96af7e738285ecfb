/**
 * Webhook deliveries made due, for the delivery stores' tests: per owner (`key_<name>`), that many tasks
 * stored with an end webhook and ended at 50, their deliveries due from then.
 */
import type { TaskStore } from '../../src/store/task-store.js';
import type { DeliveryStore, DueShare } from '../../src/webhooks/delivery-store.js';
import { txt2img } from './specs.js';

/** Shares nothing out: what `due` hands out when no owner is held back. */
export const ANY_SHARE: DueShare = { perOwner: 1_000, skipOwners: [], skipIds: [] };

export async function endedWithWebhooks(tasks: TaskStore, deliveries: DeliveryStore, counts: Record<string, number>): Promise<void> {
  for (const [name, count] of Object.entries(counts)) {
    for (let i = 0; i < count; i++) {
      const id = `${name}-${i}`;
      await tasks.insert({ id, kind: 'txt2img', spec: txt2img(), owner: `key_${name}`, createdAt: i, endWebhook: { id: `msg_${name}_${i}`, url: 'https://hooks.example/' } });
      await tasks.markRunning(id, 1, 'node', 10);
      await tasks.fail(id, 1, { id: 'DAN_ERR_BACKEND_FAILED', message: 'x' }, 50);
      await deliveries.taskEnded(id, 50);
    }
  }
}
