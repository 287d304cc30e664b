// What the run was measured on, and how busy the rest of the machine was meanwhile:
// on a shared 2-core machine, another process's CPU time is this benchmark's noise.
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';

/** nproc, CPU model, Node version, platform, load average at the start. */
export function machineInfo() {
  const [cpu] = cpus();
  return {
    nproc: availableParallelism(),
    cpu: cpu?.model ?? 'unknown',
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    loadAverage1m: loadavg()[0],
  };
}

/** Clock ticks per second of /proc/stat (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/**
 * Busy CPU time of the whole machine so far, in µs (all cores, from /proc/stat),
 * or `undefined` where there is no /proc/stat.
 */
export function machineBusyMicros() {
  let text;
  try {
    text = readFileSync('/proc/stat', 'utf8');
  } catch {
    return undefined;
  }
  const fields = text.slice(0, text.indexOf('\n')).trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user)
  const [user, nice, system, , , irq, softirq, steal] = fields;
  return ((user + nice + system + irq + softirq + (steal ?? 0)) * 1e6) / USER_HZ;
}
