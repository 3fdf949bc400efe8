import * as fs from 'node:fs';
import * as path from 'node:path';

/** The lock file in a data folder, holding the pid of the runtime that uses the folder. */
export const LOCK_FILE = 'runtime.lock';

/** Another live process holds the data folder. */
export class DataFolderInUseError extends Error {
  constructor(public readonly dataDir: string, public readonly pid: number) {
    super(`Data folder ${dataDir} is in use by another local runtime (pid ${pid}): stop it, or start this one with another --data-dir.`);
    this.name = 'DataFolderInUseError';
  }
}

export interface DataLock {
  readonly file: string;
  /** Removes the lock file (once; later calls do nothing). */
  release(): void;
}

/** Lock files held by this process, so that a lock naming this pid is known to be live or stale. */
const held = new Set<string>();

/** How long a lock file may stay empty (its creator between open and write) before it counts as abandoned. */
const EMPTY_LOCK_GRACE_MS = 1_000;

/**
 * Takes the data folder for this process, or throws DataFolderInUseError naming the process that
 * has it. The lock is a file created with O_EXCL (open fails if it exists) holding this pid and,
 * where /proc exists, this process's start time. A lock whose process is gone (killed with
 * SIGKILL, crashed) is taken over, so a restart right after a kill works; the start time tells a
 * reused pid (a container restart, a long-dead runtime) from the runtime that wrote the lock.
 *
 * Not covered: two runtimes taking over the same stale lock at the very same instant may both
 * get it (each checks, then removes it, then creates its own).
 */
export function lockDataFolder(dataDir: string): DataLock {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, LOCK_FILE);
  const content = `${process.pid}\n${startTime(process.pid) ?? ''}\n`;
  let emptySince: number | undefined;
  for (;;) {
    let fd: number | undefined;
    try {
      fd = fs.openSync(file, 'wx');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (fd !== undefined) {
      try {
        fs.writeSync(fd, content);
      } finally {
        fs.closeSync(fd);
      }
      break;
    }
    const holder = readLock(file);
    if (holder === 'gone') continue; // released meanwhile: try again
    if (holder === 'empty') {
      // Being written this very moment, or its writer died between create and write.
      emptySince ??= Date.now();
      if (Date.now() - emptySince < EMPTY_LOCK_GRACE_MS) {
        sleepSync(20);
        continue;
      }
    } else if (isLive(file, holder)) {
      throw new DataFolderInUseError(dataDir, holder.pid);
    }
    // Stale: remove it if it still is the lock just judged, then create ours.
    const again = readLock(file);
    if (again === 'gone' || sameHolder(again, holder)) fs.rmSync(file, { force: true });
  }
  held.add(file);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    held.delete(file);
    process.removeListener('exit', release);
    // Only our own lock: never one another runtime took over after ours was removed by hand.
    try {
      if (fs.readFileSync(file, 'utf8') === content) fs.rmSync(file, { force: true });
    } catch {
      // already gone
    }
  };
  // A process that exits without stopping the runtime (process.exit after an error) leaves no lock behind.
  process.on('exit', release);
  return { file, release };
}

interface LockHolder {
  readonly pid: number;
  /** The holder's start time (clock ticks since boot, /proc/<pid>/stat), when it was known. */
  readonly started?: string;
}

function readLock(file: string): LockHolder | 'empty' | 'gone' {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw error;
  }
  const [pidLine, startedLine] = text.split('\n');
  const pid = Number(pidLine);
  // A pid and its newline are written at once: anything else is a lock cut short (or not ours).
  if (!/^\d+$/.test(pidLine ?? '') || !Number.isSafeInteger(pid) || pid <= 0 || !text.includes('\n')) return 'empty';
  return { pid, ...(startedLine ? { started: startedLine } : {}) };
}

function sameHolder(a: LockHolder | 'empty' | 'gone', b: LockHolder | 'empty'): boolean {
  if (a === 'gone' || a === 'empty' || b === 'empty') return a === b;
  return a.pid === b.pid && a.started === b.started;
}

/** Whether the process that wrote the lock is still running. */
function isLive(file: string, holder: LockHolder): boolean {
  // This pid: live only if this process holds the lock (not a previous process that had our pid).
  if (holder.pid === process.pid) return held.has(file);
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by another user
  }
  const stat = procStat(holder.pid);
  if (stat === undefined) return true; // no /proc: the pid exists, assume it is the holder
  // Killed but not yet reaped by its parent: it holds nothing any more.
  if (stat.state === 'Z') return false;
  // The pid now belongs to another process than the one that wrote the lock.
  return holder.started === undefined || holder.started === stat.started;
}

function startTime(pid: number): string | undefined {
  return procStat(pid)?.started;
}

/** State and start time of a process from /proc (Linux); undefined elsewhere. */
function procStat(pid: number): { state: string; started: string } | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses; fields after it are plain.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // starttime is field 22 of the file, the 20th after comm.
  return fields.length > 19 ? { state: fields[0], started: fields[19] } : undefined;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
