import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { readConfig } from '../../lambda/adapters/config';
import { processorConfigSchema } from '../../lambda/adapters/processor-config';
import { CHANNELS } from '../../lambda/core/subscription';
import { EventNotificationService, EventNotificationServiceProps } from '../../src';
import { METRIC_NAMES, METRICS_NAMESPACE } from '../../src/contract';
import { flatSettings, functionSettings } from '../helpers/function-settings';

/** The construct's side of endpoint health: the `disableAfter` prop, the metrics on the dashboard, the alarm. */

function synth(props: EventNotificationServiceProps = {}) {
  const app = new App();
  const stack = new Stack(app, 'Health', { env: { account: '123456789012', region: 'us-east-1' } });
  const svc = new EventNotificationService(stack, 'Notifications', props);
  return { stack, svc, template: Template.fromStack(stack) };
}

describe('disableAfter', () => {
  test('default 5 days, as the processor reads it', () => {
    const { stack, svc } = synth();
    expect(readConfig(processorConfigSchema, flatSettings(functionSettings(stack, svc.processorFunction))).DISABLE_AFTER_SECONDS).toBe(5 * 86400);
  });

  test.each([Duration.seconds(30), Duration.hours(12), Duration.days(365)])('%s reaches the processor', (disableAfter) => {
    const { stack, svc } = synth({ disableAfter });
    expect(readConfig(processorConfigSchema, flatSettings(functionSettings(stack, svc.processorFunction))).DISABLE_AFTER_SECONDS)
      .toBe(disableAfter.toSeconds());
  });

  test.each([Duration.seconds(0), Duration.millis(1500), Duration.days(366)])('%s is rejected at synth, naming the construct and the prop', (disableAfter) => {
    expect(() => synth({ disableAfter })).toThrow(/Invalid EventNotificationService props at Health\/Notifications:\n- disableAfter must be whole seconds between 1 second and 365 days/);
  });
});

describe('circuitBreaker', () => {
  const breakerOf = (props: EventNotificationServiceProps) => {
    const { stack, svc } = synth(props);
    return readConfig(processorConfigSchema, flatSettings(functionSettings(stack, svc.processorFunction))).CIRCUIT_BREAKER;
  };

  test('default: 5 failures in a row, 30 s doubling up to 15 min; or as set (0: off)', () => {
    expect(breakerOf({})).toEqual({ failureThreshold: 5, baseCooldownSeconds: 30, maxCooldownSeconds: 900 });
    expect(breakerOf({ circuitBreaker: { failureThreshold: 10, cooldown: Duration.seconds(5), maxCooldown: Duration.hours(1) } }))
      .toEqual({ failureThreshold: 10, baseCooldownSeconds: 5, maxCooldownSeconds: 3600 });
    expect(breakerOf({ circuitBreaker: { failureThreshold: 0 } })).toMatchObject({ failureThreshold: 0 });
  });

  test.each([
    [{ failureThreshold: 101 }, /circuitBreaker.failureThreshold must be a whole number from 0 \(off\) to 100, got 101/],
    [{ failureThreshold: 2.5 }, /circuitBreaker.failureThreshold must be a whole number/],
    [{ cooldown: Duration.millis(500) }, /circuitBreaker.cooldown must be whole seconds between 1 second and 15 minutes/],
    [{ cooldown: Duration.minutes(16), maxCooldown: Duration.hours(1) }, /circuitBreaker.cooldown must be/],
    [{ cooldown: Duration.minutes(10), maxCooldown: Duration.minutes(5) }, /circuitBreaker.maxCooldown must be whole seconds from circuitBreaker.cooldown to 1 hour/],
    [{ maxCooldown: Duration.hours(2) }, /circuitBreaker.maxCooldown must be/],
  ])('%o is rejected at synth', (circuitBreaker, message) => {
    expect(() => synth({ circuitBreaker })).toThrow(message);
  });
});

describe('operations', () => {
  const { template } = synth();

  test('an alarm when a subscription is disabled', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties);
    const alarm = alarms.find((a) => a.MetricName === 'SubscriptionsDisabled');
    expect(alarm).toMatchObject({ Namespace: METRICS_NAMESPACE, Threshold: 1, Statistic: 'Sum', ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
  });

  test('the dashboard graphs deferred deliveries and disabled subscriptions per channel', () => {
    const dashboard = Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0];
    const text = (dashboard.Properties.DashboardBody['Fn::Join'][1] as unknown[]).map((p) => (typeof p === 'string' ? p : 'REF')).join('');
    const lines = (JSON.parse(text).widgets as any[]).flatMap((w) => w.properties?.metrics ?? []) as unknown[][];
    for (const name of ['DeliveriesDeferred', 'SubscriptionsDisabled'] as const) {
      expect(METRIC_NAMES).toContain(name);
      for (const channel of CHANNELS) expect(lines.some((l) => l[0] === METRICS_NAMESPACE && l[1] === name && l.includes(channel))).toBe(true);
    }
  });
});
