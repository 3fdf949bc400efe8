import fc from 'fast-check';
import { escapeHtml, renderEmail, subjectLine } from '../../../../lambda/core/channels/email';
import { SEVERITIES } from '../../../../lambda/core/envelope';
import { StoredEvent } from '../../../../lambda/core/stored-event';

const severity = fc.constantFrom(...SEVERITIES);

describe('email content', () => {
  const allowedTags = /<!doctype html>|<\/?(?:html|body|h2|h3|table|tr|td|pre)>|<th align="left">|<\/th>/g;
  const text = fc.string({ unit: 'binary', maxLength: 300 });

  test('escapeHtml leaves no markup characters and round-trips', () => {
    const unescape = (s: string) => s.replace(/&lt;|&gt;|&quot;|&#39;|&amp;/g, (e) => ({ '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'", '&amp;': '&' })[e]!);
    fc.assert(fc.property(text, (s) => {
      const escaped = escapeHtml(s);
      expect(escaped).not.toMatch(/[<>"']/);
      expect(escaped).not.toMatch(/&(?!(?:lt|gt|quot|#39|amp);)/);
      expect(unescape(escaped)).toBe(s);
    }));
    expect(escapeHtml('<a href="x">\'&\'</a>')).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });

  test('subjectLine: no CR, LF or control characters, at most 200 characters, severity first', () => {
    fc.assert(fc.property(severity, text, (sev, title) => {
      const subject = subjectLine(sev, title);
      expect(subject).not.toMatch(/[\r\n\u0000-\u001f\u007f]/);
      expect(subject.length).toBeLessThanOrEqual(200);
      expect(subject.startsWith(`[${sev}] `)).toBe(true);
    }));
    expect(subjectLine('HIGH', 'Deploy\r\nBcc: victim@example.com')).toBe('[HIGH] Deploy Bcc: victim@example.com');
  });

  test('renderEmail escapes every user value in the HTML part', () => {
    fc.assert(fc.property(text, fc.dictionary(fc.string({ maxLength: 10 }), text, { maxKeys: 3 }), text, (title, details, extra) => {
      const envelope = { eventType: 'deploy.finished', severity: 'HIGH' as const, title: title || '-', details: { ...details, extra } };
      const event: StoredEvent = {
        eventId: 'evt_01JD0000000000000000000000',
        eventJson: JSON.stringify(envelope),
        event: envelope,
        eventType: 'deploy.finished',
        receivedAt: '2025-01-01T00:00:00.000Z',
        source: 'api',
        status: 'ACCEPTED',
        expiresAt: 0,
      };
      const email = renderEmail(event);
      expect(email.html.replace(allowedTags, '')).not.toMatch(/[<>]/);
      expect(email.html).toContain(`<h2>${escapeHtml(title || '-')}</h2>`);
      expect(email.text).toContain(title || '-');
      expect(email.subject).not.toMatch(/[\r\n]/);
    }), { numRuns: 300 });
  });
});
