/**
 * @module gateway/readiness
 *
 * What `/readyz` answers: what keeps the gateway from serving. A probe must
 * be answered quickly (orchestrators give it a second or so) and tell nobody
 * where the database is: a store that does not answer within a second is
 * "not answering", and the cause stays in the gateway's log (its heartbeat
 * says why).
 */
import type { TaskStore } from '../store/task-store.js';

/** How long the store has to answer a readiness probe. */
export const READY_PING_MS = 1_000;

/** The problems, as the probe says them (no detail of the store's address or errors); empty: ready. */
export async function readinessProblems(store: Pick<TaskStore, 'ping'>, servingProblem: string | null, pingMs = READY_PING_MS): Promise<string[]> {
  const problems: string[] = [];
  if (!(await answersWithin(store.ping(), pingMs))) problems.push('the task store does not answer; the gateway log says why');
  if (servingProblem !== null) problems.push(servingProblem);
  return problems;
}

/** Whether `promise` fulfils within `ms` (a rejection, or no answer in time: false). */
async function answersWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true, () => false), late]);
  } finally {
    clearTimeout(timer);
  }
}
