/**
 * Starts the fleet of simulated nodes (bench/fleet-nodes.ts) in a process of its
 * own, at a lower priority than the gateways it loads, and reads its report.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { niceAllThreads } from './process-priority.js';

/** The fleet's priority: below the gateways' (in a real network the nodes are other machines). */
const FLEET_NICE = 10;

/**
 * Resolves once every node is welcomed; node i dials `gateways[i % n]`. `prefetch`: tasks each node holds
 * ready beyond its slot (`dan node --prefetch`). @defaultValue 0
 */
export function startFleet(gateways: readonly string[], fleet: { nodes: number; taskMs: number; prefetch?: number }): Promise<ChildProcess> {
  const child = fork(new URL('./fleet-nodes.ts', import.meta.url), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, FLEET_GATEWAY: gateways.map((g) => g.replace('http', 'ws')).join(','), FLEET_NODES: String(fleet.nodes), FLEET_TASK_MS: String(fleet.taskMs), FLEET_PREFETCH: String(fleet.prefetch ?? 0) },
  });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the fleet process exited (${code})`)));
    child.on('message', (message: { ready?: boolean }) => {
      if (!message.ready) return;
      // Every thread, now that it has started them (its collector's among them); below the gateways it loads.
      niceAllThreads(child.pid!, FLEET_NICE);
      resolve(child);
    });
  });
}

export interface FleetReport {
  /** When each result was sent (epoch ms). */
  sentAt: number[];
  /** When each task's assignment reached its node (epoch ms with a fraction), by task id. */
  assignedAt: Record<string, number>;
  /** Tasks that reached their node while it ran another (held ready behind it). */
  held: number;
}

export function fleetReport(child: ChildProcess): Promise<FleetReport> {
  return new Promise((resolve) => {
    child.on('message', (message: Partial<FleetReport>) => message.sentAt && resolve(message as FleetReport));
    child.send({ report: true });
  });
}
