import { indentJson, memberText } from '../../raw-json';
import type { StoredEvent } from '../../stored-event';

export interface EmailContent {
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

/** A subject line: no line breaks (header injection), at most 200 characters. */
export function subjectLine(severity: string, title: string): string {
  const clean = title.replace(/[\r\n\t]+/g, ' ').replace(/[\u0000-\u001f\u007f]/g, '').trim();
  const subject = `[${severity}] ${clean}`;
  // Cut by code points, so a character outside the BMP (an emoji) is never split in half.
  const chars = Array.from(subject);
  return chars.length > 200 ? chars.slice(0, 199).join('') + '…' : subject;
}

/** The notification email of an event. Every user-supplied value is escaped in the HTML part. */
export function renderEmail(event: StoredEvent): EmailContent {
  // From the event's own text, so numbers show every digit the publisher sent.
  const raw = memberText(event.eventJson, 'details');
  const details = raw === undefined ? undefined : indentJson(raw);
  const text = [
    event.event.title,
    '',
    `Type:     ${event.event.eventType}`,
    `Severity: ${event.event.severity}`,
    `Event id: ${event.eventId}`,
    `Received: ${event.receivedAt}`,
    ...(details ? ['', 'Details:', details] : []),
  ].join('\n');
  const row = (label: string, value: string) => `<tr><th align="left">${label}</th><td>${escapeHtml(value)}</td></tr>`;
  const html = [
    '<!doctype html><html><body>',
    `<h2>${escapeHtml(event.event.title)}</h2>`,
    '<table>',
    row('Type', event.event.eventType),
    row('Severity', event.event.severity),
    row('Event id', event.eventId),
    row('Received', event.receivedAt),
    '</table>',
    ...(details ? [`<h3>Details</h3><pre>${escapeHtml(details)}</pre>`] : []),
    '</body></html>',
  ].join('');
  return { subject: subjectLine(event.event.severity, event.event.title), text, html };
}
