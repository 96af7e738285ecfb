/**
 * @module api/requests/task-id-request
 *
 * `{ taskId }` bodies (`/api/sd/task/status`, later `/api/sd/task/cancel`).
 * Ids are UUIDs today; the rule accepts any short id of letters, digits and
 * dashes so that it never has to change with the id scheme.
 */
import { invalidField } from '../../errors/dan-error.js';
import { quote } from './field-messages.js';
import { readString } from './field-readers.js';
import { parseGroup } from './known-fields.js';
import { taskIdRule } from './rules.js';

export const taskIdFields = ['taskId'] as const;

/**
 * @example
 * parseTaskIdRequest({ taskId: '803f1804-c79b-4c33-afd2-0d054076dea9' }); // the id
 */
export function parseTaskIdRequest(body: unknown): string {
  const group = parseGroup(body, '', { accepted: taskIdFields });
  const taskId = readString(group, 'taskId', taskIdRule);
  if (!taskIdRule.pattern.test(taskId)) {
    const problem = taskId === '' ? 'must not be empty' : `must be letters, digits and dashes only, got ${quote(taskId)}`;
    throw invalidField('taskId', problem);
  }
  return taskId;
}
