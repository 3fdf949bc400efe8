/**
 * Text for Slack (https://docs.slack.dev/messaging/formatting-message-text#escaping): `&`, `<` and
 * `>` are Slack's control characters in text objects (they open `<!channel>`, `<@U123>`,
 * `<https://…|label>` and `<!date…>` sequences) and must be sent as `&amp;`, `&lt;`, `&gt;` when
 * they are not meant to be parsed; only those three are encoded. Every value a publisher chose
 * goes through `slackText()`, so no event can mention a channel or disguise a link.
 */
const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;' };

/** Zero-width space: breaks a token for Slack's parser while showing the same text. */
const BREAK = '\u200b';

/**
 * Plain-text mentions (`@channel`, `@here`, `@everyone`) notify a whole channel where a hook or
 * workspace still parses names (the legacy `link_names`); a zero-width space after the `@` keeps
 * the words and loses the mention.
 */
function breakMentions(value: string): string {
  return value.replace(/@(channel|here|everyone)\b/gi, `@${BREAK}$1`);
}

/** Control characters (other than the line breaks and tabs `keepLines` allows) become spaces. */
function withoutControls(value: string, keepLines: boolean): string {
  const controls = keepLines ? /[\u0000-\u0008\u000b-\u001f\u007f]/g : /[\u0000-\u001f\u007f]/g;
  return value.replace(controls, ' ');
}

export interface SlackTextOptions {
  /** Most UTF-16 code units the result may have (Slack's limit for the place it goes). */
  readonly max: number;
  /** Keep line breaks and tabs (section text, code blocks); otherwise they become spaces. */
  readonly keepLines?: boolean;
}

/**
 * `value` escaped for a Slack text object and cut to `max` code units: whole characters only
 * (never half a surrogate pair or half an entity), with `…` when something was cut.
 */
export function slackText(value: string, { max, keepLines = false }: SlackTextOptions): string {
  const clean = breakMentions(withoutControls(value, keepLines));
  const whole = clean.replace(/[&<>]/g, (c) => ENTITIES[c]);
  if (whole.length <= max) return whole;
  let out = '';
  for (const char of clean) {
    const piece = ENTITIES[char] ?? char;
    if (out.length + piece.length > max - 1) break;
    out += piece;
  }
  return `${out}…`;
}
