import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { killAllChildren, DevProcess, sleep, startDev } from '../helpers/dev-process';
import { ReceiverPool } from '../helpers/receivers';

/*
 * In Lambda an execution environment runs one batch at a time; concurrent batches run in
 * separate environments, each with its own module state. The local runtime must do the same
 * with the processor bundle, or state the bundle keeps at module level (a batch processor, a
 * per-invocation flag) is shared between concurrent batches and records are acknowledged that
 * should have been retried.
 */

const API_KEY = 'processor-instances-key-0001';
const EVENTS = 200;
const PUBLISHERS = 8;

describe('the local runtime runs concurrent batches in separate processor instances', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ens-instances-'));
  const receivers = new ReceiverPool();
  let dev: DevProcess;

  afterAll(async () => {
    await killAllChildren();
    await receivers.closeAll();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test(`${EVENTS} events to a receiver answering 500, 500, then 200: every event delivered once, after three attempts`, async () => {
    // The breaker off: this receiver fails the first two attempts of every event on purpose (the breaker's own tests: endpoint-health).
    dev = await startDev(['--data-dir', dataDir, '--api-key', API_KEY, '--allow-private-targets', '--retry-schedule', '0s,1s,1s,1s,1s,1s',
      '--circuit-breaker', 'off']);
    // Per notification (webhook-id): 500 twice, then 200.
    const seen = new Map<string, number>();
    const receiver = await receivers.start({
      responder: (request) => {
        const id = String(request.headers['webhook-id']);
        const n = (seen.get(id) ?? 0) + 1;
        seen.set(id, n);
        return { status: n <= 2 ? 500 : 200 };
      },
    });
    const headers = { 'x-api-key': API_KEY, 'content-type': 'application/json' };
    const subscribed = await fetch(`${dev.apiUrl}/subscriptions`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ eventType: 'load.*', severityFilter: 'LOW', channel: 'WEBHOOK', target: `${receiver.url}/hook` }),
    });
    expect(subscribed.status).toBe(201);

    const ids: string[] = [];
    let next = 0;
    await Promise.all(Array.from({ length: PUBLISHERS }, async () => {
      while (next < EVENTS) {
        const n = next++;
        const answer = await fetch(`${dev.apiUrl}/events`, {
          method: 'POST', headers, body: JSON.stringify({ eventType: 'load.test', severity: 'LOW', title: `event ${n}` }),
        });
        expect(answer.status).toBe(202);
        ids.push(((await answer.json()) as { eventId: string }).eventId);
      }
    }));
    expect(new Set(ids).size).toBe(EVENTS);

    // Settled, or given up on: a lost retry leaves its event IN_PROGRESS for good.
    type State = { deliveryStatus: string; notifications: { status: string; attempts: { httpStatus?: number }[] }[] };
    let states: State[] = [];
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(1_000)) {
      states = await Promise.all(ids.map(async (id) => (await fetch(`${dev.apiUrl}/events/${id}`, { headers })).json() as Promise<State>));
      if (states.every((s) => s.deliveryStatus !== 'IN_PROGRESS')) break;
    }

    const delivered = states.filter((s) => s.deliveryStatus === 'COMPLETED').length;
    expect({ delivered, statuses: [...new Set(states.map((s) => s.deliveryStatus))] }).toEqual({ delivered: EVENTS, statuses: ['COMPLETED'] });
    for (const s of states) expect(s.notifications[0].attempts.map((a) => a.httpStatus)).toEqual([500, 500, 200]);
    // The receiver saw each notification exactly three times: no lost retry, no duplicate.
    expect(seen.size).toBe(EVENTS);
    expect([...new Set(seen.values())]).toEqual([3]);
  }, 90_000);
});
