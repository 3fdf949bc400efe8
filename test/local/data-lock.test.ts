import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DataFolderInUseError, DataLock, LOCK_FILE, lockDataFolder } from '../../local/data-lock';

/* One runtime per data folder (docs/architecture.md "Local runtime"): the lock file, in one process. */

let dir: string;
const locks: DataLock[] = [];
const lock = () => {
  const taken = lockDataFolder(dir);
  locks.push(taken);
  return taken;
};
const lockFile = () => path.join(dir, LOCK_FILE);
const pidIn = (text: string) => Number(text.split('\n')[0]);

/** A pid that was alive a moment ago and is not any more. */
function deadPid(): number {
  const run = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(run.stdout);
}

beforeEach(() => {
  dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ens-data-lock-')), 'data');
});

afterEach(() => {
  for (const l of locks.splice(0)) l.release();
  fs.rmSync(path.dirname(dir), { recursive: true, force: true });
});

test('the first taker creates the folder and a lock file holding its pid; a second is refused naming folder and pid; release frees it', () => {
  const first = lock();
  expect(first.file).toBe(lockFile());
  expect(pidIn(fs.readFileSync(lockFile(), 'utf8'))).toBe(process.pid);

  let refused: unknown;
  try {
    lockDataFolder(dir);
  } catch (error) {
    refused = error;
  }
  expect(refused).toBeInstanceOf(DataFolderInUseError);
  expect(refused).toEqual(expect.objectContaining({ dataDir: dir, pid: process.pid }));
  expect((refused as Error).message).toBe(`Data folder ${dir} is in use by another local runtime (pid ${process.pid}): stop it, or start this one with another --data-dir.`);
  expect((refused as Error).message).not.toContain('\n');

  first.release();
  expect(fs.existsSync(lockFile())).toBe(false);
  first.release(); // twice is harmless
  lock();
  expect(pidIn(fs.readFileSync(lockFile(), 'utf8'))).toBe(process.pid);
});

test('a live process\'s lock is respected', async () => {
  const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
  try {
    fs.mkdirSync(dir, { recursive: true });
    // As that process would have written it (its start time too, where /proc has it).
    const stat = fs.existsSync(`/proc/${other.pid}/stat`) ? fs.readFileSync(`/proc/${other.pid}/stat`, 'utf8') : '';
    const started = stat ? stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] : '';
    fs.writeFileSync(lockFile(), `${other.pid}\n${started}\n`);
    expect(() => lockDataFolder(dir)).toThrow(`is in use by another local runtime (pid ${other.pid})`);
    expect(pidIn(fs.readFileSync(lockFile(), 'utf8'))).toBe(other.pid);
  } finally {
    other.kill('SIGKILL');
    await new Promise((resolve) => other.once('exit', resolve));
  }
  // Gone now: its lock is stale.
  lock();
  expect(pidIn(fs.readFileSync(lockFile(), 'utf8'))).toBe(process.pid);
});

test('a stale lock (its process is gone, e.g. after SIGKILL) is taken over', () => {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(lockFile(), `${deadPid()}\n\n`);
  lock();
  expect(pidIn(fs.readFileSync(lockFile(), 'utf8'))).toBe(process.pid);
});

test('a lock naming this very pid but not held by this process (a restarted container reuses pids) is stale', () => {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(lockFile(), `${process.pid}\n1\n`);
  lock();
  expect(fs.readFileSync(lockFile(), 'utf8')).not.toBe(`${process.pid}\n1\n`);
});

const linux = fs.existsSync('/proc/self/stat') ? test : test.skip;
linux('a lock whose pid now belongs to another process (start time differs) is stale', async () => {
  const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(lockFile(), `${other.pid}\n1\n`); // started at tick 1: not that process
    lock();
    expect(pidIn(fs.readFileSync(lockFile(), 'utf8'))).toBe(process.pid);
  } finally {
    other.kill('SIGKILL');
    await new Promise((resolve) => other.once('exit', resolve));
  }
});

test('an empty lock (its writer died between creating and writing it) is taken over after a grace period', () => {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(lockFile(), '');
  const started = Date.now();
  lock();
  expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  expect(pidIn(fs.readFileSync(lockFile(), 'utf8'))).toBe(process.pid);
});

test('release leaves a lock alone that is no longer this one', () => {
  const mine = lock();
  fs.writeFileSync(lockFile(), '999999\n\n'); // removed by hand and taken by another runtime
  mine.release();
  expect(fs.readFileSync(lockFile(), 'utf8')).toBe('999999\n\n');
});
