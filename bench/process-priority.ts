/**
 * Lowering a benchmark's helper processes below the gateway it measures. In a deployment the clients and
 * the nodes are other machines; here they share the gateway's cores, and at the same priority the kernel
 * runs them in the middle of the gateway's work (bench:fleet: half of the gateway's late turns under a flood
 * were time it stood ready to run while the client or the fleet had the cores).
 */
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';

/**
 * Sets the nice value of every thread of process `pid`. Linux keeps a nice value per thread, and
 * `setPriority(pid)` sets only the main thread's: the process's garbage-collector and thread-pool threads
 * would stay at the gateway's priority. Threads started later inherit from the thread that starts them, so
 * call it once the process has started its own (a forked helper's first message).
 */
export function niceAllThreads(pid: number, nice: number): void {
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      setPriority(Number(tid), nice);
    } catch (error) {
      // A thread that ended between the listing and the call.
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  }
}
