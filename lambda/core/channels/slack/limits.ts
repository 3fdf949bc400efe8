/**
 * Slack's documented limits for a message posted through an incoming webhook. Lengths are counted
 * here in UTF-16 code units (JavaScript's `length`), never fewer than Slack's characters, so a
 * text within them is within Slack's whichever way Slack counts.
 *
 * - Blocks per message: "You can include up to 50 blocks in each message"
 *   (https://docs.slack.dev/reference/block-kit/blocks).
 * - Header block: a `plain_text` object, "Maximum length for the text in this field is 150
 *   characters" (https://docs.slack.dev/reference/block-kit/blocks/header-block).
 * - Section block: `text` at most 3000 characters; `fields` at most 10 items of at most 2000
 *   characters each (https://docs.slack.dev/reference/block-kit/blocks/section-block).
 * - Top-level `text`: Slack truncates beyond 40,000 characters and earlier asked to keep messages
 *   under 4,000 (https://api.slack.com/changelog/2018-04-truncating-really-long-messages); the
 *   fallback stays under the 4,000.
 */
export const SLACK_LIMITS = {
  blocksPerMessage: 50,
  headerText: 150,
  sectionText: 3000,
  sectionFields: 10,
  fieldText: 2000,
  messageText: 4000,
} as const;
