import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

/** `npm run dev` with a port in use: one line, exit 1, never a stack trace (README "Runbook"). */

const ROOT = path.join(__dirname, '..', '..');

function dev(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', path.join('local', 'dev.ts'), ...args], {
      cwd: ROOT, env: { ...process.env, TS_NODE_TRANSPILE_ONLY: 'true' }, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

let blocker: net.Server;
let taken: number;
let dataDir: string;
beforeAll(async () => {
  blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  taken = (blocker.address() as net.AddressInfo).port;
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ens-dev-ports-'));
});
afterAll(async () => {
  await new Promise<void>((resolve) => blocker.close(() => resolve()));
  fs.rmSync(dataDir, { recursive: true, force: true });
});

test('--ses-port in use', async () => {
  const result = await dev(['--port', '0', '--ses-port', String(taken), '--data-dir', dataDir]);
  expect(result.code).toBe(1);
  expect(result.stdout).toBe('');
  expect(result.stderr).toBe(`Port ${taken} on 127.0.0.1 is in use: choose another --ses-port.\n`);
}, 60_000);

test('--port in use', async () => {
  const result = await dev(['--port', String(taken), '--ses-port', '0', '--data-dir', dataDir]);
  expect(result.code).toBe(1);
  expect(result.stdout).toBe('');
  expect(result.stderr).toBe(`Port ${taken} on 127.0.0.1 is in use: choose another --port.\n`);
}, 60_000);
