import fc from 'fast-check';
import { describeChannel } from '../../../../lambda/core/channels';
import {
  judgeSlackError, judgeSlackResponse, renderSlackMessage, SLACK_LIMITS, slackChannel, SlackMessage, slackTargetError, slackText,
} from '../../../../lambda/core/channels/slack';
import { ForbiddenTargetError, WebhookRequest, WebhookResponse } from '../../../../lambda/core/channels/webhook';
import { compactJson } from '../../../../lambda/core/raw-json';
import type { StoredEvent } from '../../../../lambda/core/stored-event';
import type { Subscription } from '../../../../lambda/core/subscription';

/*
 * The Slack channel (lambda/core/channels/slack): escaping for mrkdwn, Block Kit's documented
 * limits (limits.ts cites them), judging Slack's answers, and which targets it accepts.
 */

const HOOK = 'https://hooks.slack.com/services/T0123ABCD/B0456EFGH/abcdEFGH1234ijklMNOP5678';

function storedEvent(envelopeText: string): StoredEvent {
  const eventJson = compactJson(envelopeText);
  const event = JSON.parse(eventJson) as StoredEvent['event'];
  return {
    eventId: 'evt_01JD0000000000000000000000',
    eventJson,
    event,
    eventType: event.eventType,
    receivedAt: '2025-01-01T00:00:00.000Z',
    source: 'api',
    status: 'ACCEPTED',
    expiresAt: 0,
  };
}

const eventOf = (title: string, details?: unknown, eventType = 'deploy.finished') =>
  storedEvent(JSON.stringify({ eventType, severity: 'HIGH', title, ...(details === undefined ? {} : { details }) }));

/** Every text object of a message, with the limit that applies to it. */
function textsWithLimits(message: SlackMessage): Array<{ text: string; max: number; where: string }> {
  const out: Array<{ text: string; max: number; where: string }> = [{ text: message.text, max: SLACK_LIMITS.messageText, where: 'text' }];
  message.blocks.forEach((block, i) => {
    if (block.type === 'header') out.push({ text: block.text.text, max: SLACK_LIMITS.headerText, where: `blocks[${i}] header` });
    if (block.type === 'section' && block.text) out.push({ text: block.text.text, max: SLACK_LIMITS.sectionText, where: `blocks[${i}] section` });
    if (block.type === 'section') {
      for (const field of block.fields ?? []) out.push({ text: field.text, max: SLACK_LIMITS.fieldText, where: `blocks[${i}] field` });
    }
  });
  return out;
}

/** What Slack would show: entities decoded, the zero-width spaces gone. */
const shown = (text: string) => text.replace(/&lt;|&gt;|&amp;/g, (e) => ({ '&lt;': '<', '&gt;': '>', '&amp;': '&' })[e]!).replace(/\u200b/g, '');

/** Checks a message against every documented limit and the escaping rules. */
function expectWithinSlackRules(message: SlackMessage): void {
  expect(message.blocks.length).toBeGreaterThan(0);
  expect(message.blocks.length).toBeLessThanOrEqual(SLACK_LIMITS.blocksPerMessage);
  expect(message.blocks[0]).toMatchObject({ type: 'header', text: { type: 'plain_text' } });
  for (const block of message.blocks) {
    if (block.type === 'section') {
      expect(block.text !== undefined || (block.fields?.length ?? 0) > 0).toBe(true);
      expect(block.fields?.length ?? 0).toBeLessThanOrEqual(SLACK_LIMITS.sectionFields);
    }
  }
  for (const { text, max, where } of textsWithLimits(message)) {
    expect({ where, length: text.length <= max }).toEqual({ where, length: true });
    expect(text.length).toBeGreaterThan(0);
    // No control sequence can open: every <, > and & is an entity.
    expect(text).not.toMatch(/[<>]/);
    expect(text).not.toMatch(/&(?!(?:lt|gt|amp);)/);
    // No lone surrogate (a character cut in half).
    expect(text).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/);
  }
  expect(message).toMatchObject({ unfurl_links: false, unfurl_media: false });
}

describe('Slack message', () => {
  test('hostile titles and details cannot mention anyone or disguise a link', () => {
    const title = '<!channel> deploy & <https://evil.example|click here> <@U123> @here';
    const message = renderSlackMessage(eventOf(title, { note: '<!everyone> <#C999|general> & more', link: '<https://evil.example|login>' }));
    expectWithinSlackRules(message);
    const json = JSON.stringify(message);
    expect(json).not.toContain('<!channel>');
    expect(json).not.toContain('<!everyone>');
    expect(json).not.toContain('<https://');
    expect(json).not.toContain('<@U123>');
    expect(json).not.toMatch(/@here/i);
    const header = message.blocks[0];
    expect(header.type === 'header' && header.text.text).toBe('&lt;!channel&gt; deploy &amp; &lt;https://evil.example|click here&gt; &lt;@U123&gt; @\u200bhere');
    expect(shown(message.text)).toBe(`[HIGH] ${title} (deploy.finished)`);
    const details = message.blocks[2];
    expect(details.type === 'section' && details.text?.text).toContain('&lt;!everyone&gt; &lt;#C999|general&gt; &amp; more');
  });

  test('the message carries severity, title, type, event id and the details with every digit', () => {
    const event = storedEvent('{"eventType":"order.paid","severity":"CRITICAL","title":"Paid","details":{"id":18446744073709551615,"amount":1.50}}');
    const message = renderSlackMessage(event);
    expectWithinSlackRules(message);
    expect(message.blocks.map((b) => b.type)).toEqual(['header', 'section', 'section']);
    const fields = message.blocks[1].type === 'section' ? message.blocks[1].fields!.map((f) => f.text) : [];
    expect(fields).toEqual([
      '*Severity*\nCRITICAL',
      '*Event type*\norder.paid',
      `*Event id*\n${event.eventId}`,
      '*Source*\napi',
      `*Received*\n${event.receivedAt}`,
    ]);
    const details = message.blocks[2].type === 'section' ? message.blocks[2].text!.text : '';
    expect(details).toBe('*Details*\n```\n{\n  "id": 18446744073709551615,\n  "amount": 1.50\n}\n```');
    expect(message.text).toBe('[CRITICAL] Paid (order.paid)');
  });

  test('no details, or empty ones: no details block', () => {
    expect(renderSlackMessage(eventOf('t')).blocks).toHaveLength(2);
    expect(renderSlackMessage(eventOf('t', {})).blocks).toHaveLength(2);
  });

  test('huge details are cut to the section limit, inside a closed code block, marked with …', () => {
    const message = renderSlackMessage(eventOf('big', { blob: 'x&<'.repeat(100_000), more: Array.from({ length: 5000 }, (_, i) => i) }));
    expectWithinSlackRules(message);
    const text = message.blocks[2].type === 'section' ? message.blocks[2].text!.text : '';
    expect(text.length).toBeLessThanOrEqual(SLACK_LIMITS.sectionText);
    expect(text.length).toBeGreaterThan(SLACK_LIMITS.sectionText - 10);
    expect(text.endsWith('…\n```')).toBe(true);
    expect(text.match(/```/g)).toHaveLength(2);
  });

  test('a ``` inside the details cannot close the code block', () => {
    const message = renderSlackMessage(eventOf('t', { code: '```\n*bold* <!here>\n```' }));
    const text = message.blocks[2].type === 'section' ? message.blocks[2].text!.text : '';
    expect(text.match(/```/g)).toHaveLength(2);
    expect(text.startsWith('*Details*\n```\n')).toBe(true);
  });

  test('a 256-character title of emoji is cut at 150 code units without splitting a character', () => {
    const title = '🚀'.repeat(128);
    const message = renderSlackMessage(eventOf(title));
    expectWithinSlackRules(message);
    const header = message.blocks[0].type === 'header' ? message.blocks[0].text.text : '';
    expect(header).toBe(`${'🚀'.repeat(74)}…`);
    expect(header.length).toBe(149);
  });

  test('an entity is never cut in half at the header limit', () => {
    const message = renderSlackMessage(eventOf(`${'a'.repeat(146)}&&&&`));
    const header = message.blocks[0].type === 'header' ? message.blocks[0].text.text : '';
    expect(header).toBe(`${'a'.repeat(146)}…`);
  });

  test('control characters in the title become spaces (one-line header)', () => {
    const message = renderSlackMessage(eventOf('line1\r\nline2\u0007'));
    const header = message.blocks[0].type === 'header' ? message.blocks[0].text.text : '';
    expect(header).toBe('line1  line2 ');
  });

  test('property: any title and details stay within every documented limit and are escaped', () => {
    const text = fc.string({ unit: 'binary', maxLength: 400 });
    const number = fc.double({ noNaN: true, noDefaultInfinity: true });
    const value: fc.Arbitrary<unknown> = fc.oneof(text, fc.integer(), number, fc.boolean(), fc.constant(null));
    const details = fc.dictionary(fc.string({ unit: 'binary', maxLength: 20 }), fc.oneof(value, fc.array(value, { maxLength: 30 })), { maxKeys: 40 });
    fc.assert(fc.property(text.filter((t) => t.trim().length > 0), fc.option(details, { nil: undefined }), (title, d) => {
      const message = renderSlackMessage(eventOf(title.slice(0, 256), d));
      expectWithinSlackRules(message);
    }), { numRuns: 300 });
  });
});

describe('slackText', () => {
  test('escapes exactly &, < and >, and round-trips what fits', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), (s) => {
      const out = slackText(s, { max: 10_000, keepLines: true });
      expect(out).not.toMatch(/[<>]/);
      expect(shown(out)).toBe(s.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, ' ').replace(/\u200b/g, ''));
    }));
    expect(slackText('a & b < c > d "e" \'f\'', { max: 100 })).toBe('a &amp; b &lt; c &gt; d "e" \'f\'');
  });

  test('breaks @channel, @here and @everyone, in any case', () => {
    expect(slackText('@Channel @HERE @everyone @channels me@here.com', { max: 100 }))
      .toBe('@\u200bChannel @\u200bHERE @\u200beveryone @channels me@\u200bhere.com');
  });

  test('never exceeds max', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), fc.integer({ min: 2, max: 200 }), (s, max) => {
      expect(slackText(s, { max }).length).toBeLessThanOrEqual(max);
    }));
  });
});

describe('judging Slack answers', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  const judge = (status: number, body?: string, retryAfter?: string) => judgeSlackResponse({ status, body, retryAfter }, now);

  test('200 ok is delivered', () => {
    expect(judge(200, 'ok')).toEqual({ ok: true, retryable: false, httpStatus: 200 });
  });

  test.each([
    [404, 'no_service'],
    [404, 'channel_not_found'],
    [410, 'channel_is_archived'],
    [403, 'invalid_token'],
    [403, 'action_prohibited'],
  ])('%i %s disables the subscription with Slack\'s reason', (status, body) => {
    expect(judge(status, body)).toEqual({ ok: false, retryable: false, httpStatus: status, disableSubscription: true, error: `Slack answered ${status} ${body}` });
  });

  test('429 with Retry-After is retried after it; 5xx, 408 and redirects are retried', () => {
    expect(judge(429, '{"ok":false,"error":"rate_limited"}', '30')).toEqual({
      ok: false, retryable: true, httpStatus: 429, retryAfterSeconds: 30, error: 'Slack answered 429 rate_limited',
    });
    expect(judge(503, '', 'Wed, 01 Jan 2025 00:00:09 GMT')).toMatchObject({ retryable: true, retryAfterSeconds: 9 });
    expect(judge(500, 'rollup_error', '9')).toEqual({ ok: false, retryable: true, httpStatus: 500, error: 'Slack answered 500 rollup_error' });
    expect(judge(408)).toMatchObject({ retryable: true });
    expect(judge(302)).toMatchObject({ retryable: true });
  });

  test('other 4xx fail for good with Slack\'s error text, without disabling', () => {
    expect(judge(400, 'invalid_payload')).toEqual({ ok: false, retryable: false, httpStatus: 400, error: 'Slack answered 400 invalid_payload' });
    expect(judge(400, 'user_not_found\n')).toMatchObject({ retryable: false, error: 'Slack answered 400 user_not_found' });
    expect(judge(403, 'posting_to_general_channel_denied')).toEqual({
      ok: false, retryable: false, httpStatus: 403, error: 'Slack answered 403 posting_to_general_channel_denied',
    });
    expect(judge(413)).toEqual({ ok: false, retryable: false, httpStatus: 413, error: 'Slack answered 413' });
  });

  test('a hostile body is cut to one printable line of at most 100 characters', () => {
    const result = judge(400, `${'\u0007x'.repeat(300)}\nsecond line`);
    expect(result.error).toBe(`Slack answered 400 ${'x'.repeat(100)}`);
  });

  test('network errors are retried; a refused target is not', () => {
    expect(judgeSlackError(Object.assign(new Error('socket hang up'), { name: 'Error' }))).toMatchObject({ ok: false, retryable: true });
    expect(judgeSlackError(new ForbiddenTargetError('refused target address 10.0.0.1'))).toMatchObject({ ok: false, retryable: false });
  });
});

describe('Slack targets', () => {
  const aws = { allowPrivateTargets: false };
  const local = { allowPrivateTargets: true };

  test('in AWS only https://hooks.slack.com/services/… as Slack issues it', () => {
    expect(slackTargetError(HOOK, aws)).toBeUndefined();
    for (const bad of [
      'http://hooks.slack.com/services/T0123ABCD/B0456EFGH/abcdEFGH1234ijklMNOP5678',
      'https://hooks.slack.com.evil.example/services/T0123ABCD/B0456EFGH/abcdEFGH1234ijklMNOP5678',
      'https://evil.example/?https://hooks.slack.com/services/T0123ABCD/B0456EFGH/abcdEFGH1234ijklMNOP5678',
      'https://user@hooks.slack.com/services/T0123ABCD/B0456EFGH/abcdEFGH1234ijklMNOP5678',
      'https://hooks.slack.com:8443/services/T0123ABCD/B0456EFGH/abcdEFGH1234ijklMNOP5678',
      `${HOOK}?x=1`,
      `${HOOK}#x`,
      `${HOOK}/`,
      'https://hooks.slack.com/services/T0123ABCD/B0456EFGH/../../api/x',
      'https://hooks.slack.com/workflows/T0123ABCD/A0456EFGH/123/abc',
      'https://HOOKS.SLACK.COM/services/T0123ABCD/B0456EFGH/abcdEFGH1234ijklMNOP5678',
      'https://127.0.0.1/services/T0123ABCD/B0456EFGH/abcdEFGH1234ijklMNOP5678',
      'https://example.com/hook',
      'not a url',
    ]) {
      expect({ bad, error: slackTargetError(bad, aws) }).toEqual({ bad, error: expect.stringContaining('Slack incoming-webhook URL') });
    }
  });

  test('locally (allowPrivateTargets) any http(s) URL a webhook may have', () => {
    expect(slackTargetError('http://127.0.0.1:9999/slack', local)).toBeUndefined();
    expect(slackTargetError(HOOK, local)).toBeUndefined();
    expect(slackTargetError('ftp://127.0.0.1/x', local)).toBeDefined();
    expect(slackTargetError('http://u:p@127.0.0.1/x', local)).toBeDefined();
  });

  test('the registry describes SLACK: its targets, no signing secret', () => {
    const channel = describeChannel('SLACK');
    expect(channel.name).toBe('SLACK');
    expect(channel.hasSigningSecret).toBe(false);
    expect(channel.validateTarget('https://example.com/hook', aws)).toBeDefined();
  });
});

describe('slackChannel.deliver', () => {
  const subscription: Subscription = {
    subscriptionId: 'sub_01JD000000000000000000000A',
    ownerKeyId: 'key-1',
    eventType: '*',
    severityFilter: 'LOW',
    channel: 'SLACK',
    target: HOOK,
    enabled: true,
    createdAt: '2024-01-01T00:00:00.000Z',
    updatedAt: '2024-01-01T00:00:00.000Z',
  };
  const attempt = { notificationId: 'ntf_01JD0000000000000000000000', startedMs: 0, timeoutMs: 1234 };

  test('POSTs the Block Kit JSON, unsigned, with the time-out, and judges the answer', async () => {
    const sent: WebhookRequest[] = [];
    const channel = slackChannel({ post: async (request) => (sent.push(request), { status: 404, body: 'no_service' } satisfies WebhookResponse) }, () => 0);
    const result = await channel.deliver(eventOf('<!here> t', { a: 1 }), subscription, attempt);
    expect(result).toMatchObject({ ok: false, disableSubscription: true, error: 'Slack answered 404 no_service' });
    expect(sent).toHaveLength(1);
    expect(sent[0].url).toBe(HOOK);
    expect(sent[0].timeoutMs).toBe(1234);
    expect(Object.keys(sent[0].headers).some((h) => h.startsWith('webhook-'))).toBe(false);
    const body = JSON.parse(sent[0].body) as SlackMessage;
    expectWithinSlackRules(body);
    expect(body.text).toBe('[HIGH] &lt;!here&gt; t (deploy.finished)');
  });

  test('a throwing transport is a result, never an exception; no transport fails for good', async () => {
    const failing = slackChannel({ post: () => Promise.reject(new Error('ECONNRESET')) }, () => 0);
    await expect(failing.deliver(eventOf('t'), subscription, attempt)).resolves.toMatchObject({ ok: false, retryable: true });
    const off = slackChannel(undefined, () => 0);
    await expect(off.deliver(eventOf('t'), subscription, attempt)).resolves.toEqual({
      ok: false, retryable: false, error: 'the Slack channel is not enabled for this deployment',
    });
  });
});
