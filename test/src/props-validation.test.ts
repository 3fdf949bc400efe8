import { App, Duration, Lazy, Size, Stack } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { EventNotificationService, EventNotificationServiceProps } from '../../src';

/** Builds the service in a fresh stack; `dlq` adds a dead-letter queue of the given kind. */
function build(props: EventNotificationServiceProps, dlq?: 'standard' | 'fifo'): EventNotificationService {
  const app = new App();
  const stack = new Stack(app, 'ValidationStack', { env: { account: '123456789012', region: 'us-east-1' } });
  const deadLetterQueue = dlq === undefined ? undefined : new sqs.Queue(stack, 'Dlq', {
    fifo: dlq === 'fifo' ? true : undefined,
    encryption: sqs.QueueEncryption.KMS_MANAGED,
    enforceSSL: true,
  });
  return new EventNotificationService(stack, 'Svc', { ...props, ...(deadLetterQueue ? { deadLetterQueue } : {}) });
}

const schema = (description: string): apigateway.JsonSchema => ({ type: apigateway.JsonSchemaType.OBJECT, description });

describe('invalid props are rejected with a message that says what to change', () => {
  test('fifo: true with a standard dead-letter queue', () => {
    expect(() => build({ fifo: true }, 'standard')).toThrow(/deadLetterQueue must be a FIFO queue when fifo is true/);
  });

  test('fifo: false (default) with a FIFO dead-letter queue', () => {
    expect(() => build({}, 'fifo')).toThrow(/deadLetterQueue must not be a FIFO queue when fifo is false/);
  });

  test.each([
    ['above 384 KiB', Size.kibibytes(385)],
    ['one byte above 384 KiB', Size.bytes(384 * 1024 + 1)],
    ['400 KiB (an event must fit in one DynamoDB item with its attributes)', Size.kibibytes(400)],
    ['1 MiB', Size.mebibytes(1)],
    ['below 1 KiB', Size.bytes(1023)],
  ])('maxEventSize %s', (_name, maxEventSize) => {
    expect(() => build({ maxEventSize })).toThrow(/maxEventSize must be between 1 KiB and 384 KiB \(each event is stored whole in one DynamoDB item/);
  });

  test.each(['ops', 'ops@', '@example.com', 'ops@example', 'ops example@example.com', 'ops@exa_mple.com'])('malformed alarmEmail %p', (alarmEmail) => {
    expect(() => build({ alarmEmail })).toThrow(/alarmEmail must be an email address/);
  });

  test('empty retrySchedule', () => {
    expect(() => build({ retrySchedule: [] })).toThrow(/retrySchedule must have at least one entry/);
  });

  test('more than 20 retry steps', () => {
    expect(() => build({ retrySchedule: Array.from({ length: 21 }, () => Duration.seconds(1)) })).toThrow(/retrySchedule may have at most 20 entries, got 21/);
  });

  test('a retry step over 12 hours names the step', () => {
    expect(() => build({ retrySchedule: [Duration.seconds(0), Duration.hours(12).plus(Duration.seconds(1))] }))
      .toThrow(/retrySchedule\[1\] must be between 0 and 12 hours/);
  });

  test('a retry schedule over 7 days in total', () => {
    // 14 steps of 12 h are exactly 7 days; one more second is too much.
    const schedule = [...Array.from({ length: 14 }, () => Duration.hours(12)), Duration.seconds(1)];
    expect(() => build({ retrySchedule: schedule })).toThrow(/retrySchedule must add up to at most 7 days/);
  });

  test.each([
    ['under 1 s', Duration.millis(999)],
    ['zero', Duration.seconds(0)],
    ['over 60 s', Duration.seconds(61)],
  ])('webhook.timeout %s', (_name, timeout) => {
    expect(() => build({ webhook: { timeout } })).toThrow(/webhook.timeout must be between 1 and 60 seconds/);
  });

  test.each([
    ['under 1 day', Duration.hours(23)],
    ['over 365 days', Duration.days(366)],
  ])('retention %s', (_name, retention) => {
    expect(() => build({ retention })).toThrow(/retention must be between 1 and 365 days/);
  });

  test.each(['has space', '', 'bad!', 'x'.repeat(129)])('eventSchemas key %p that is not an event type', (key) => {
    expect(() => build({ eventSchemas: { [key]: schema('x') } })).toThrow(/eventSchemas key ".*" is not a valid event type/);
  });

  test('eventSchemas larger than 1 MiB as JSON', () => {
    expect(() => build({ eventSchemas: { deployment: schema('x'.repeat(1024 * 1024)) } }))
      .toThrow(/eventSchemas are \d+ bytes as JSON; at most 1048576 \(1 MiB\) are accepted/);
  });

  test.each(['alerts', 'alerts@', 'alerts@localhost', '<alerts@example.com>'])('email.fromAddress %p', (fromAddress) => {
    expect(() => build({ email: { fromAddress } })).toThrow(/email.fromAddress must be an email address/);
  });

  test.each([
    ['another domain', 'alerts@example.com', 'other.com'],
    ['a domain that merely ends the same', 'alerts@example.com', 'ample.com'],
    ['a subdomain of the sender domain', 'alerts@example.com', 'mail.example.com'],
    ['another address', 'alerts@example.com', 'ops@example.com'],
  ])('email.identityName that is %s', (_name, fromAddress, identityName) => {
    expect(() => build({ email: { fromAddress, identityName } })).toThrow(/email.identityName ".*" does not cover email.fromAddress/);
  });

  test('email.identityName is required when fromAddress is a token', () => {
    expect(() => build({ email: { fromAddress: Lazy.string({ produce: () => 'alerts@example.com' }) } }))
      .toThrow(/email.identityName is required when email.fromAddress is a token/);
  });

  test.each([
    ['rateLimit 0', { rateLimit: 0 }, /throttle.rateLimit must be positive/],
    ['rateLimit negative', { rateLimit: -5 }, /throttle.rateLimit must be positive/],
    ['burstLimit 0', { burstLimit: 0 }, /throttle.burstLimit must be a positive whole number/],
    ['burstLimit fractional', { burstLimit: 1.5 }, /throttle.burstLimit must be a positive whole number/],
  ])('throttle %s', (_name, throttle, message) => {
    expect(() => build({ throttle })).toThrow(message);
  });

  test('queueAgeAlarmThreshold under 1 minute', () => {
    expect(() => build({ queueAgeAlarmThreshold: Duration.seconds(59) })).toThrow(/queueAgeAlarmThreshold must be at least 1 minute/);
  });

  test('several problems are reported together in one error', () => {
    let error: Error | undefined;
    try {
      build({
        fifo: true,
        maxEventSize: Size.mebibytes(2),
        alarmEmail: 'nope',
        retention: Duration.days(400),
        webhook: { timeout: Duration.minutes(2) },
        throttle: { rateLimit: 0 },
      }, 'standard');
    } catch (e) {
      error = e as Error;
    }
    expect(error).toBeInstanceOf(Error);
    const message = error!.message;
    // Named by its construct path: a stack may hold several services.
    expect(message).toMatch(/^Invalid EventNotificationService props at ValidationStack\/Svc:/);
    for (const expected of [/deadLetterQueue must be a FIFO queue/, /maxEventSize must be between/, /alarmEmail must be an email address/,
      /retention must be between/, /webhook.timeout must be between/, /throttle.rateLimit must be positive/]) {
      expect(message).toMatch(expected);
    }
    expect(message.split('\n').filter((line) => line.startsWith('- '))).toHaveLength(6);
  });
});

describe('valid edge values are accepted', () => {
  test.each<[string, EventNotificationServiceProps]>([
    ['maxEventSize exactly 384 KiB', { maxEventSize: Size.kibibytes(384) }],
    ['maxEventSize exactly 1 KiB', { maxEventSize: Size.kibibytes(1) }],
    ['retention exactly 1 day', { retention: Duration.days(1) }],
    ['retention exactly 365 days', { retention: Duration.days(365) }],
    ['webhook.timeout exactly 1 s', { webhook: { timeout: Duration.seconds(1) } }],
    ['webhook.timeout exactly 60 s', { webhook: { timeout: Duration.seconds(60) } }],
    ['a single immediate attempt', { retrySchedule: [Duration.seconds(0)] }],
    ['20 retry steps', { retrySchedule: Array.from({ length: 20 }, () => Duration.minutes(1)) }],
    ['a retry step of exactly 12 h', { retrySchedule: [Duration.seconds(0), Duration.hours(12)] }],
    ['a retry schedule of exactly 7 days', { retrySchedule: Array.from({ length: 14 }, () => Duration.hours(12)) }],
    ['queueAgeAlarmThreshold exactly 1 minute', { queueAgeAlarmThreshold: Duration.minutes(1) }],
    ['identityName equal to fromAddress', { email: { fromAddress: 'alerts@example.com', identityName: 'alerts@example.com' } }],
    ['identityName a parent domain of fromAddress', { email: { fromAddress: 'alerts@mail.example.com', identityName: 'example.com' } }],
    ['identityName in another case', { email: { fromAddress: 'Alerts@Example.com', identityName: 'example.COM' } }],
    ['a token fromAddress with identityName', { email: { fromAddress: Lazy.string({ produce: () => 'alerts@example.com' }), identityName: 'example.com' } }],
    ['valid eventSchemas keys', { eventSchemas: { 'deployment': schema('d'), 'order.created': schema('o'), 'a:b/c-d_e': schema('x') } }],
    ['throttle of 1 request per second', { throttle: { rateLimit: 1, burstLimit: 1 } }],
    ['fractional rateLimit', { throttle: { rateLimit: 0.5 } }],
  ])('%s', (_name, props) => {
    expect(() => build(props)).not.toThrow();
  });

  test('a FIFO dead-letter queue with fifo: true', () => {
    expect(() => build({ fifo: true }, 'fifo')).not.toThrow();
  });

  test('a standard dead-letter queue with default props', () => {
    expect(() => build({}, 'standard')).not.toThrow();
  });
});

describe('subscriptionCacheTtl', () => {
  test.each([Duration.minutes(6), Duration.hours(1)])('%s is rejected', (subscriptionCacheTtl) => {
    expect(() => build({ subscriptionCacheTtl })).toThrow(/subscriptionCacheTtl must be between 0 and 5 minutes/);
  });

  test.each([Duration.seconds(0), Duration.seconds(30), Duration.minutes(5)])('%s is accepted', (subscriptionCacheTtl) => {
    expect(() => build({ subscriptionCacheTtl })).not.toThrow();
  });
});
