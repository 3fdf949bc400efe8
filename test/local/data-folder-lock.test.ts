import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LOCK_FILE } from '../../local/data-lock';
import { killAllChildren, DevExitedError, DevProcess, kill, sleep, startDev, until } from '../helpers/dev-process';
import { ReceiverPool } from '../helpers/receivers';

/*
 * One runtime per data folder (docs/architecture.md "Local runtime"), with `npm run dev` as a user runs it: a second
 * runtime on a folder in use is refused with one clear line and the first loses nothing; a
 * runtime killed with SIGKILL leaves a stale lock that the next start takes over at once.
 */

const API_KEY = 'data-folder-lock-key-0001';
const headers = { 'x-api-key': API_KEY, 'content-type': 'application/json' };

function devArgs(dataDir: string, ...more: string[]): string[] {
  // The receiver fails on purpose until the restart: a circuit breaker would rightly hold it for 30 s.
  return ['--data-dir', dataDir, '--api-key', API_KEY, '--allow-private-targets', '--retry-schedule', '0s,1s,1s,1s,1s,1s,1s,1s',
    '--circuit-breaker', 'off', ...more];
}

/** Runs `local/dev.ts` expecting it to exit before it is ready: how it exited and what it printed. */
async function startRefused(args: string[]): Promise<DevExitedError> {
  const started = await startDev(args).then(async (dev) => {
    await kill(dev, 'SIGKILL');
    return 'started';
  }, (error: unknown) => error);
  expect(started).toBeInstanceOf(DevExitedError);
  return started as DevExitedError;
}

async function publish(dev: DevProcess, title: string): Promise<string> {
  const answer = await fetch(`${dev.apiUrl}/events`, { method: 'POST', headers, body: JSON.stringify({ eventType: 'lock.test', severity: 'LOW', title }) });
  expect(answer.status).toBe(202);
  return ((await answer.json()) as { eventId: string }).eventId;
}

/** GET /events/{id}: not found (404) until the processor has stored it. */
async function state(dev: DevProcess, id: string): Promise<{ deliveryStatus?: string; notifications?: { status: string; attempts: unknown[] }[] }> {
  return (await fetch(`${dev.apiUrl}/events/${id}`, { headers })).json() as never;
}

describe('one runtime per data folder', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ens-folder-lock-'));
  const receivers = new ReceiverPool();

  afterAll(async () => {
    await killAllChildren();
    await receivers.closeAll();
    fs.rmSync(root, { recursive: true, force: true });
  });

  test('a second runtime on a folder in use exits non-zero with one line naming the folder and pid; the first loses nothing', async () => {
    const dataDir = path.join(root, 'shared');
    let accepting = false;
    const delivered = new Map<string, number>();
    const receiver = await receivers.start({
      responder: (request) => {
        if (!accepting) return { status: 503 };
        const id = (JSON.parse(request.body) as { data: { eventId: string } }).data.eventId;
        delivered.set(id, (delivered.get(id) ?? 0) + 1);
        return { status: 200 };
      },
    });
    let first = await startDev(devArgs(dataDir));
    const firstPid = first.child.pid!;
    expect(Number(fs.readFileSync(path.join(dataDir, LOCK_FILE), 'utf8').split('\n')[0])).toBe(firstPid);
    const subscribed = await fetch(`${first.apiUrl}/subscriptions`, {
      method: 'POST', headers, body: JSON.stringify({ eventType: 'lock.*', severityFilter: 'LOW', channel: 'WEBHOOK', target: `${receiver.url}/hook` }),
    });
    expect(subscribed.status).toBe(201);

    // Retries pending in the first runtime when the second starts.
    const before = [await publish(first, 'before 1'), await publish(first, 'before 2')];
    await until(async () => ((await Promise.all(before.map((id) => state(first, id)))).every((s) => s.notifications?.[0]?.status === 'PENDING') ? true : undefined),
      'the first attempts to fail');

    const refused = await startRefused(devArgs(dataDir));
    expect(refused.code).toBe(1);
    expect(refused.stdout).not.toContain('ready');
    const lines = refused.stderr.trim().split('\n');
    expect(lines).toEqual([`Data folder ${dataDir} is in use by another local runtime (pid ${firstPid}): stop it, or start this one with another --data-dir.`]);
    expect(refused.stderr).not.toMatch(/^\s+at /m);
    // The lock is still the first runtime's.
    expect(Number(fs.readFileSync(path.join(dataDir, LOCK_FILE), 'utf8').split('\n')[0])).toBe(firstPid);

    // The first keeps working: it accepts more, and its pending retries go on.
    const after = [await publish(first, 'after 1'), await publish(first, 'after 2')];
    await until(async () => ((await Promise.all(after.map((id) => state(first, id)))).every((s) => s.notifications?.[0]?.status === 'PENDING') ? true : undefined),
      'the first runtime to keep processing');
    const attempts = async () => (await state(first, before[0])).notifications![0].attempts.length;
    const pendingAttempts = await attempts();
    await until(async () => ((await attempts()) > pendingAttempts ? true : undefined), 'a retry in the first runtime');

    // Nothing it holds was replaced under it: killed and restarted on the folder (the stale lock
    // taken over at once), it delivers everything it accepted, before and after, once each.
    await kill(first, 'SIGKILL');
    first = await startDev(devArgs(dataDir));
    expect(Number(fs.readFileSync(path.join(dataDir, LOCK_FILE), 'utf8').split('\n')[0])).toBe(first.child.pid);
    accepting = true;
    const all = [...before, ...after];
    await until(async () => ((await Promise.all(all.map((id) => state(first, id)))).every((s) => s.deliveryStatus === 'COMPLETED') ? true : undefined),
      'every accepted event to be delivered after the restart', 20_000);
    await sleep(1_500); // room for a duplicate to show up
    expect(all.map((id) => [id, delivered.get(id)])).toEqual(all.map((id) => [id, 1]));

    // A clean stop removes the lock; the folder is free for the next runtime.
    expect(await kill(first, 'SIGTERM')).toEqual({ code: 0, signal: null });
    expect(fs.existsSync(path.join(dataDir, LOCK_FILE))).toBe(false);
  }, 90_000);

  test('a folder holding messages of a run in the other queue mode is refused with one line, not left unprocessed', async () => {
    const dataDir = path.join(root, 'mode');
    let dev = await startDev(devArgs(dataDir));
    // A retry pending on the standard queue when the runtime stops.
    const receiver = await receivers.start({ responder: () => ({ status: 503 }) });
    const subscribed = await fetch(`${dev.apiUrl}/subscriptions`, {
      method: 'POST', headers, body: JSON.stringify({ eventType: 'lock.*', severityFilter: 'LOW', channel: 'WEBHOOK', target: `${receiver.url}/hook` }),
    });
    expect(subscribed.status).toBe(201);
    const id = await publish(dev, 'pending');
    await until(async () => ((await state(dev, id)).notifications?.[0]?.status === 'PENDING' ? true : undefined), 'a retry to be pending');
    expect(await kill(dev, 'SIGTERM')).toEqual({ code: 0, signal: null });

    const refused = await startRefused(devArgs(dataDir, '--fifo'));
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim().split('\n')).toEqual([
      `Data folder ${dataDir} holds messages on ens-events from a run without --fifo: start it without --fifo until they are processed, or use another --data-dir.`,
    ]);
    // Refused before it changed anything: the lock is free again, and the message is still there.
    expect(fs.existsSync(path.join(dataDir, LOCK_FILE))).toBe(false);
    dev = await startDev(devArgs(dataDir));
    receiver.respond(() => ({ status: 200 }));
    await until(async () => ((await state(dev, id)).deliveryStatus === 'COMPLETED' ? true : undefined), 'the pending event to be delivered after all', 15_000);
    expect(await kill(dev, 'SIGTERM')).toEqual({ code: 0, signal: null });
  }, 60_000);

  test('SIGKILL, then an immediate restart on the same folder: the stale lock is taken over', async () => {
    const dataDir = path.join(root, 'killed');
    const first = await startDev(devArgs(dataDir));
    const id = await publish(first, 'kept');
    expect(await kill(first, 'SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
    expect(fs.existsSync(path.join(dataDir, LOCK_FILE))).toBe(true); // left behind by the kill

    const second = await startDev(devArgs(dataDir));
    expect(Number(fs.readFileSync(path.join(dataDir, LOCK_FILE), 'utf8').split('\n')[0])).toBe(second.child.pid);
    // What the killed runtime accepted is processed by the new one.
    await until(async () => ((await state(second, id)).deliveryStatus === 'NO_MATCHING_SUBSCRIPTIONS' ? true : undefined), 'the event to be processed');
    expect(await kill(second, 'SIGTERM')).toEqual({ code: 0, signal: null });
  }, 60_000);
});
