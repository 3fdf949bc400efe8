/**
 * A queue message body as tests read it: the versioned message with its exact event text
 * (`eventJson`) parsed into `event` instead, so assertions can look inside it.
 */
export function readQueueBody(body: string): any {
  const message = JSON.parse(body);
  if (typeof message?.eventJson !== 'string') return message;
  const { eventJson, ...rest } = message;
  return { ...rest, event: JSON.parse(eventJson) };
}
