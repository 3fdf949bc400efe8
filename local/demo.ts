import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { startRuntime } from './runtime';

/**
 * `npm run demo`: the whole flow once, on free ports, with a throw-away data folder — a webhook
 * receiver that verifies signatures, an email and a webhook subscription, a few events (one
 * below the severity filter, one the receiver refuses once), the deliveries, and a report.
 * Exits 0 only if everything expected happened, exactly once.
 */
interface Received {
  readonly webhookId: string;
  readonly type: string;
  readonly title: string;
  readonly verified: boolean;
  readonly answered: number;
}

const API_KEY = 'demo-api-key-0001';

async function main(): Promise<number> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ens-demo-'));
  const runtime = await startRuntime({ apiKeys: [API_KEY], dataDir, retryScheduleSeconds: [0, 1, 2, 4], allowPrivateTargets: true });
  const received: Received[] = [];
  let secret = '';
  const refusedOnce = new Set<string>();
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let verified = false;
      let payload: { type?: string; data?: { title?: string } } = {};
      try {
        payload = new Webhook(secret).verify(body, req.headers as Record<string, string>) as typeof payload;
        verified = true;
      } catch {
        verified = false;
      }
      const webhookId = String(req.headers['webhook-id']);
      const title = payload.data?.title ?? '?';
      // The "flaky" event is refused the first time, as a receiver under load would.
      const answered = !verified ? 401 : title.includes('flaky') && !refusedOnce.has(webhookId) ? 503 : 200;
      if (answered === 503) refusedOnce.add(webhookId);
      received.push({ webhookId, type: payload.type ?? '?', title, verified, answered });
      res.writeHead(answered).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/deploys`;

  const call = async (method: string, route: string, body?: unknown) => {
    const response = await fetch(runtime.apiUrl + route, {
      method,
      headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };

  const problems: string[] = [];
  const expect = (ok: boolean, message: string) => { if (!ok) problems.push(message); };
  try {
    const webhook = await call('POST', '/subscriptions', { eventType: 'deploy.*', severityFilter: 'MEDIUM', channel: 'WEBHOOK', target: receiverUrl });
    const email = await call('POST', '/subscriptions', { eventType: '*', severityFilter: 'HIGH', channel: 'EMAIL', target: 'oncall@example.com' });
    expect(webhook.status === 201 && email.status === 201, 'subscriptions were not created');
    secret = webhook.body.secret;

    const published = [
      { eventType: 'deploy.finished', severity: 'HIGH', title: 'Deploy 4711 of billing finished', details: { service: 'billing', version: 'v42' } },
      { eventType: 'deploy.started', severity: 'LOW', title: 'Deploy 4712 started (below every filter)' },
      { eventType: 'deploy.failed', severity: 'CRITICAL', title: 'Deploy 4713 failed (flaky receiver)', details: { service: 'search' } },
    ];
    const ids: string[] = [];
    for (const event of published) {
      const answer = await call('POST', '/events', event);
      expect(answer.status === 202, `POST /events answered ${answer.status}`);
      ids.push(answer.body.eventId);
    }
    const batch = await call('POST', '/events/batch', {
      events: [1, 2].map((n) => ({ eventType: 'deploy.progress', severity: 'MEDIUM', title: `Deploy 4711 step ${n}/2` })),
    });
    expect(batch.status === 202, `POST /events/batch answered ${batch.status}`);
    ids.push(...batch.body.events.map((e: { eventId: string }) => e.eventId));

    // Wait until every event is settled.
    const deadline = Date.now() + 30_000;
    let states: { eventId: string; deliveryStatus?: string; notifications?: { channel: string; status: string; attempts: unknown[] }[] }[] = [];
    while (Date.now() < deadline) {
      states = await Promise.all(ids.map(async (id) => (await call('GET', `/events/${id}`)).body ?? { eventId: id }));
      if (states.every((s) => s.deliveryStatus && s.deliveryStatus !== 'IN_PROGRESS')) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const emails = (await (await fetch(`${runtime.emailViewerUrl}/store`)).json() as { emails: { subject: string; destination: { to: string[] } }[] }).emails;

    // What should have happened.
    const delivered = received.filter((r) => r.answered === 200);
    const byTitle = (t: string) => delivered.filter((r) => r.title.includes(t));
    expect(received.every((r) => r.verified), 'a webhook signature did not verify');
    expect(byTitle('4711 of billing').length === 1, 'deploy.finished was not delivered exactly once');
    expect(byTitle('4712').length === 0, 'the LOW event passed the MEDIUM filter');
    expect(byTitle('4713').length === 1 && received.filter((r) => r.title.includes('4713')).length === 2, 'the flaky delivery was not retried exactly once');
    expect(byTitle('step 1/2').length === 1 && byTitle('step 2/2').length === 1, 'the batch events were not delivered exactly once');
    expect(new Set(received.filter((r) => r.title.includes('4713')).map((r) => r.webhookId)).size === 1, 'webhook-id changed between retries');
    expect(emails.length === 2 && emails.every((e) => e.destination.to.includes('oncall@example.com')), `expected 2 emails (HIGH and CRITICAL), found ${emails.length}`);
    expect(states[1].deliveryStatus === 'NO_MATCHING_SUBSCRIPTIONS', 'the filtered event matched a subscription');

    console.log('\nevent-notification-service demo — one pass through the whole pipeline\n');
    console.log(`  API ${runtime.apiUrl}   email viewer ${runtime.emailViewerUrl}   receiver ${receiverUrl}\n`);
    console.log('  event                                         severity  deliveries');
    for (const state of states) {
      const event = (state as { event?: { title: string; severity: string } }).event;
      const notes = (state.notifications ?? []).map((n) => `${n.channel.toLowerCase()} ${n.status.toLowerCase()}`
        + (n.attempts.length > 1 ? ` after ${n.attempts.length} attempts` : '')).join(', ');
      console.log(`  ${(event?.title ?? state.eventId).padEnd(46)}${(event?.severity ?? '').padEnd(10)}${notes || 'none: below every severity filter'}`);
    }
    console.log(`\n  webhooks received: ${received.length} (${delivered.length} accepted, ${received.length - delivered.length} refused once on purpose), `
      + `signatures verified: ${received.filter((r) => r.verified).length}/${received.length}`);
    console.log(`  emails sent: ${emails.length} — ${emails.map((e) => `"${e.subject}"`).join(', ')}`);
    console.log(problems.length === 0 ? '\n  OK: everything expected happened, exactly once.\n' : `\n  FAILED:\n  - ${problems.join('\n  - ')}\n`);
    return problems.length === 0 ? 0 : 1;
  } finally {
    receiver.closeAllConnections();
    receiver.close();
    await runtime.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  process.removeAllListeners('warning'); // the SDK's Node.js 20 notice; the functions run on 22+ in AWS
  main().then((code) => process.exit(code), (error) => {
    console.error(error);
    process.exit(1);
  });
}
