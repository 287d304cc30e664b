// The bench's child processes: started with an IPC channel, asked questions
// over it, and all of them (nginx's workers too) killed by pid when the bench
// ends, however it ends. Also: CPU time of a process tree from /proc.
import { execFileSync, fork, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';

/** pid -> what to do with it at exit. */
const living = new Map();
/** Temp dirs removed at exit. */
const tempDirs = new Set();

function killAll() {
  for (const [pid, { kill }] of living) {
    try {
      kill();
    } catch {
      // Already gone.
    }
    living.delete(pid);
  }
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    killAll();
    process.exit(130);
  });
}

/** Remove `dir` when the bench exits. */
export function removeAtExit(dir) {
  tempDirs.add(dir);
}

/** Kill every child now (the exit handler does it too). */
export function killChildren() {
  killAll();
}

/**
 * Fork a Node child (`script`, with `execArgv`) that sends `{ ready: true, ...info }`
 * over IPC once it listens. Resolves with a handle: `info`, `pid`, `ask(message)`, `stop()`.
 */
export function startNodeChild(name, script, { execArgv = [], args = [], init } = {}) {
  const child = fork(script, args, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  living.set(child.pid, { kill: () => child.kill('SIGKILL') });
  // A send to a dead child is reported by ask(); keep it from becoming an unhandled 'error'.
  child.on('error', () => {});
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const pending = [];
  child.once('exit', (code, signal) => {
    for (const waiter of pending.splice(0)) {
      waiter.settle({ error: `exited (code ${code}, signal ${signal})` });
    }
  });
  child.on('message', (message) => {
    if (message?.reply !== undefined) {
      const waiter = pending.find((p) => p.id === message.reply);
      if (waiter !== undefined) {
        pending.splice(pending.indexOf(waiter), 1);
        waiter.settle(message);
      }
    }
  });
  let nextId = 0;
  const ask = (message, timeoutMs = 60_000) =>
    new Promise((resolve, reject) => {
      if (!child.connected) {
        reject(new Error(`${name}: the process is gone`));
        return;
      }
      const id = ++nextId;
      const timer = setTimeout(() => {
        const at = pending.indexOf(waiter);
        if (at >= 0) pending.splice(at, 1);
        reject(new Error(`${name}: no answer to ${message.cmd} in ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = {
        id,
        settle: (answer) => {
          clearTimeout(timer);
          if (answer.error !== undefined) reject(new Error(`${name}: ${answer.error}`));
          else resolve(answer);
        },
      };
      pending.push(waiter);
      child.send({ ...message, id }, (error) => {
        if (error) waiter.settle({ error: `cannot send ${message.cmd}: ${error.message}` });
      });
    });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      // SIGTERM: the child exits normally, so a --cpu-prof profile gets written.
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    living.delete(child.pid);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name}: did not start in 20 s`)), 20_000);
    const early = (code, signal) =>
      reject(new Error(`${name}: exited before it was ready (code ${code}, signal ${signal})`));
    child.once('exit', early);
    const onReady = (message) => {
      if (message?.ready !== true) return;
      child.off('message', onReady);
      child.off('exit', early);
      clearTimeout(timer);
      resolve({ name, pid: child.pid, info: message, ask, stop, exited });
    };
    child.on('message', onReady);
    if (init !== undefined) child.send(init);
  });
}

/**
 * Spawn a non-Node server (nginx) in the foreground. `stop()` sends SIGTERM to the
 * master and waits; at exit, the master and the workers it had are killed by pid.
 */
export function spawnServer(name, command, args) {
  const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  const workers = () => childPids(child.pid);
  let knownWorkers = [];
  living.set(child.pid, {
    kill: () => {
      child.kill('SIGKILL');
      for (const pid of knownWorkers) process.kill(pid, 'SIGKILL');
    },
  });
  child.on('error', () => {});
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    name,
    pid: child.pid,
    exited,
    /** Remember the workers (for the exit handler): call once they are up. */
    noteWorkers: () => {
      knownWorkers = workers();
      return knownWorkers;
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      for (const pid of knownWorkers) {
        try {
          process.kill(pid, 0);
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone with its master, as it should be.
        }
      }
      living.delete(child.pid);
    },
  };
}

/** The direct children of `pid` (Linux /proc), [] where unknown. */
export function childPids(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

let clockTicks;
function ticksPerSecond() {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    } catch {
      clockTicks = 100;
    }
    if (!(clockTicks > 0)) clockTicks = 100;
  }
  return clockTicks;
}

/**
 * User+system CPU time of `pids` (each the whole process, all its threads), µs,
 * from /proc/<pid>/stat; `undefined` when /proc is not there.
 */
export function cpuMicros(pids) {
  let total = 0;
  for (const pid of pids) {
    let text;
    try {
      text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return undefined;
    }
    // Fields after the command name (which may hold spaces) start at state (field 3).
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    total += Number(fields[11]) + Number(fields[12]); // utime, stime
  }
  return (total * 1e6) / ticksPerSecond();
}

/** A free TCP port on 127.0.0.1 (for nginx, which cannot report a port 0 choice). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** The soft limit on open files of this process (children inherit it). */
export function openFileLimit() {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
    if (soft === 'unlimited') return Number.POSITIVE_INFINITY;
    if (soft !== undefined && Number(soft) > 0) return Number(soft);
  } catch {
    // No /proc: ask the shell.
  }
  try {
    const out = execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
    return out === 'unlimited' ? Number.POSITIVE_INFINITY : Number(out);
  } catch {
    return 1024;
  }
}
