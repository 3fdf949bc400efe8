import { ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';

/** The dev runtime (local/dev.ts) as a child process, for tests that talk to it over HTTP. */

const ROOT = path.join(__dirname, '..', '..');
/** The environment before a test file loads any handler (loadHandler writes to process.env). */
const BASE_ENV: NodeJS.ProcessEnv = { ...process.env };

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns something other than undefined, or fails naming `what`. */
export async function until<T>(probe: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs = 15_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export interface DevProcess {
  readonly child: ChildProcess;
  readonly apiUrl: string;
  readonly emailViewerUrl: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** What it printed so far. */
  stdout(): string;
  stderr(): string;
}

/** The child exited before it was ready: how, and what it printed. */
export class DevExitedError extends Error {
  constructor(
    public readonly code: number | null,
    public readonly signal: NodeJS.Signals | null,
    public readonly stdout: string,
    public readonly stderr: string,
  ) {
    super(`local/dev.ts exited before it was ready (code ${code}, signal ${signal}):\n${stdout}\n${stderr}`);
  }
}

/** Every child still running, for afterAll clean-up. */
export const children = new Set<ChildProcess>();

/** SIGKILLs every child still running and waits until each has exited (afterAll clean-up). */
export async function killAllChildren(): Promise<void> {
  for (const child of [...children]) {
    child.kill('SIGKILL');
    await new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(undefined) : child.once('exit', resolve)));
  }
}

/** Starts `local/dev.ts` on free ports with `args` and waits until it prints its URLs. */
export async function startDev(args: readonly string[]): Promise<DevProcess> {
  const child = spawn(process.execPath, [
    '-r', 'ts-node/register/transpile-only', path.join('local', 'dev.ts'), '--port', '0', '--ses-port', '0', ...args,
  ], { cwd: ROOT, env: { ...BASE_ENV, TS_NODE_TRANSPILE_ONLY: 'true' }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    });
  });
  const closed = new Promise((resolve) => child.once('close', resolve));
  let gone: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void exited.then((exit) => (gone = exit));
  const urls = await until(async () => {
    if (gone) {
      await closed; // its output read to the end: what it printed last is usually why
      throw new DevExitedError(gone.code, gone.signal, stdout, stderr);
    }
    const api = /^\s*API\s+(http:\/\/\S+)\s*$/m.exec(stdout)?.[1];
    const viewer = /^\s*Email viewer\s+(http:\/\/\S+)\s*$/m.exec(stdout)?.[1];
    return api && viewer ? { api, viewer } : undefined;
  }, 'local/dev.ts to print its URLs', 30_000, 25);
  return { child, apiUrl: urls.api, emailViewerUrl: urls.viewer, stdout: () => stdout, stderr: () => stderr, exited };
}

export async function kill(dev: DevProcess, signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  dev.child.kill(signal);
  return dev.exited;
}

/** `work`, failing with the runtime's last lines of stderr added to the error: why it did not happen. */
export async function explained<T>(dev: DevProcess, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    // Without stack frames: jest would print the minified bundle's code around them.
    const tail = dev.stderr().trim().split('\n').filter((line) => !/^\s+at /.test(line)).slice(-8).join('\n');
    throw new Error(`${error instanceof Error ? error.message : String(error)}\nThe runtime's stderr ends with:\n${tail || '(nothing)'}`);
  }
}
