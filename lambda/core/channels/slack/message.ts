import { SLACK_LIMITS } from './limits';
import { slackText } from './text';
import { indentJson, memberText } from '../../raw-json';
import type { StoredEvent } from '../../stored-event';

/** One Block Kit text object. */
export interface SlackTextObject {
  readonly type: 'plain_text' | 'mrkdwn';
  readonly text: string;
}

export type SlackBlock =
  | { readonly type: 'header'; readonly text: SlackTextObject }
  | { readonly type: 'section'; readonly text?: SlackTextObject; readonly fields?: readonly SlackTextObject[] };

/** The JSON an incoming webhook receives. */
export interface SlackMessage {
  /** The fallback: notifications and clients that show no blocks. */
  readonly text: string;
  readonly blocks: readonly SlackBlock[];
  /** No previews of links a publisher put in an event. */
  readonly unfurl_links: false;
  readonly unfurl_media: false;
}

const FENCE = '```';

/**
 * The Slack message of an event (docs/architecture.md "Delivery"): a header with the title, a
 * section of fields (severity, type, event id, source, received), and the event's `details` as
 * indented JSON in a code block, taken from the stored text so numbers keep every digit. Every
 * value is escaped and cut to Block Kit's limits (limits.ts); a cut is marked with `…`.
 */
export function renderSlackMessage(event: StoredEvent): SlackMessage {
  const { title, severity } = event.event;
  const field = (label: string, value: string): SlackTextObject => ({
    type: 'mrkdwn',
    text: `*${label}*\n${slackText(value, { max: SLACK_LIMITS.fieldText - label.length - 3 })}`,
  });
  const blocks: SlackBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: slackText(title, { max: SLACK_LIMITS.headerText }) } },
    {
      type: 'section',
      fields: [
        field('Severity', severity),
        field('Event type', event.eventType),
        field('Event id', event.eventId),
        field('Source', event.source),
        field('Received', event.receivedAt),
      ],
    },
  ];
  const details = detailsBlock(event);
  if (details) blocks.push(details);
  const fallback = `[${severity}] ${title} (${event.eventType})`;
  return {
    text: slackText(fallback, { max: SLACK_LIMITS.messageText }),
    blocks,
    unfurl_links: false,
    unfurl_media: false,
  };
}

/** The message's JSON body. */
export function slackBody(event: StoredEvent): string {
  return JSON.stringify(renderSlackMessage(event));
}

function detailsBlock(event: StoredEvent): SlackBlock | undefined {
  const raw = memberText(event.eventJson, 'details');
  if (raw === undefined || raw === '{}') return undefined;
  // A ``` inside a value would end the code block early: a zero-width space keeps it apart.
  const json = indentJson(raw).replace(/```/g, '`\u200b`\u200b`');
  const heading = '*Details*\n';
  const inner = slackText(json, { max: SLACK_LIMITS.sectionText - heading.length - 2 * FENCE.length - 2, keepLines: true });
  return { type: 'section', text: { type: 'mrkdwn', text: `${heading}${FENCE}\n${inner}\n${FENCE}` } };
}
