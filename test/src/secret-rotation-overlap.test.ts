import { App, Duration, Stack } from 'aws-cdk-lib';
import { EventNotificationService, EventNotificationServiceProps } from '../../src';
import { functionSettings } from '../helpers/function-settings';

/* The secretRotationOverlap prop: validated at synth, handed to the management function only. */

function build(props: EventNotificationServiceProps) {
  const app = new App();
  const stack = new Stack(app, 'RotationStack', { env: { account: '123456789012', region: 'us-east-1' } });
  const svc = new EventNotificationService(stack, 'Svc', props);
  return { stack, svc };
}

test.each([
  ['default: 24 hours', undefined, '86400'],
  ['0: the old secret stops at once', Duration.seconds(0), '0'],
  ['7 days', Duration.days(7), '604800'],
  ['90 minutes', Duration.minutes(90), '5400'],
])('%s', (_name, secretRotationOverlap, expected) => {
  const { stack, svc } = build(secretRotationOverlap ? { secretRotationOverlap } : {});
  expect(functionSettings(stack, svc.managementFunction).SECRET_ROTATION_OVERLAP_SECONDS).toBe(expected);
  // The processor reads the expiry each rotation stamps on the subscription, not the setting.
  expect(functionSettings(stack, svc.processorFunction).SECRET_ROTATION_OVERLAP_SECONDS).toBeUndefined();
});

test('more than 7 days is refused at synth, naming the construct', () => {
  expect(() => build({ secretRotationOverlap: Duration.days(8) }))
    .toThrow(/Invalid EventNotificationService props at RotationStack\/Svc:\n- secretRotationOverlap must be between 0 and 7 days, got 8 days/);
});
