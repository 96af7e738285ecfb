/**
 * @module api/routes/node-list
 *
 * `GET /api/nodes`: the connected nodes as operators need to see them: what
 * they run, whether they take work (WebUI up, not draining, not set aside
 * for failing), and the speed the gateway has measured. Names, not the
 * addresses or owners of GPU donors.
 */
import type { NodeHub } from '../../network/node-hub.js';
import type { Scheduler } from '../../scheduler/scheduler.js';

export interface NodeListItem {
  id: string;
  name: string;
  state: 'ready' | 'busy' | 'webui-down' | 'draining' | 'set-aside';
  slots: number;
  running: number;
  loadedModel: string | null;
  models: string[];
  /** Measured it/s at 512² (null until the first result). */
  itPerSecond: number | null;
  switchSeconds: number | null;
  problem: string | null;
  setAsideUntil: string | null;
}

export function listNodes(hub: NodeHub, scheduler: Scheduler, now = Date.now()): NodeListItem[] {
  return [...hub.sessions.values()].map((session) => {
    const estimate = scheduler.estimates.get(session.name);
    const setAside = scheduler.health.setAside(session.name, now);
    const state = !session.backendUp
      ? 'webui-down'
      : session.draining
        ? 'draining'
        : setAside
          ? 'set-aside'
          : session.running.size >= session.slots
            ? 'busy'
            : 'ready';
    const round = (n: number) => Math.round(n * 10) / 10;
    return {
      id: session.id,
      name: session.name,
      state,
      slots: session.slots,
      running: session.running.size,
      loadedModel: session.loadedModel,
      models: [...session.offering.models.values()].map((m) => m.ref.name),
      itPerSecond: estimate.samples > 0 ? round(estimate.unitsPerSecond) : null,
      switchSeconds: estimate.samples > 0 ? round(estimate.switchSeconds) : null,
      problem: setAside?.reason ?? session.backendProblem,
      setAsideUntil: setAside ? new Date(setAside.until).toISOString() : null,
    };
  });
}
