/**
 * CPU time a process has used so far, user + system, read from
 * /proc/<pid>/stat: what a benchmark charges a gateway for its work, steadier
 * on a shared machine than latencies or rates.
 */
import { readFileSync } from 'node:fs';

/** Clock ticks a second of /proc's CPU times (USER_HZ: 100 on Linux, whatever the kernel's HZ). */
const TICKS_PER_SECOND = 100;

/** CPU seconds process `pid` has used so far (user + system). */
export function cpuSecondsOf(pid: number): number {
  // After the command name (in parentheses, which may hold spaces and parentheses): utime and stime are the 12th and 13th fields.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}
