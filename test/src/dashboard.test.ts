import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { CHANNELS } from '../../lambda/core/subscription';
import { EventNotificationService, EventNotificationServiceProps } from '../../src';
import { METRIC_NAMES, METRICS_NAMESPACE } from '../../src/contract';
import { DASHBOARD_CHANNELS } from '../../src/dashboard';

const ENV = { account: '123456789012', region: 'us-east-1' };

function synth(props: EventNotificationServiceProps = {}) {
  const app = new App();
  const stack = new Stack(app, 'Dash', { env: ENV });
  const svc = new EventNotificationService(stack, 'Svc', props);
  return { stack, svc, template: Template.fromStack(stack) };
}

/** The dashboard body with its Fn::Join flattened (tokens as `{ref}`), and its widgets. */
function body(template: Template): { text: string; widgets: any[] } {
  const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
  expect(dashboards).toHaveLength(1);
  const parts = dashboards[0].Properties.DashboardBody['Fn::Join'][1] as unknown[];
  const text = parts.map((p) => (typeof p === 'string' ? p : 'REF')).join('');
  return { text, widgets: JSON.parse(text).widgets };
}

/** Every metric line of every graph: [namespace, name, dim, value, ...]. */
function metricLines(widgets: any[]): unknown[][] {
  return widgets.flatMap((w) => w.properties?.metrics ?? []);
}

describe('dashboard', () => {
  const s = synth();
  const { text, widgets } = body(s.template);
  const lines = metricLines(widgets);
  const has = (namespace: string, name: string) => lines.some((l) => l[0] === namespace && l[1] === name);

  test('exposed as a property', () => {
    expect(s.svc.dashboard).toBeDefined();
  });

  test('API: requests, 4xx, 5xx, latency', () => {
    for (const m of ['Count', '4XXError', '5XXError', 'Latency', 'IntegrationLatency']) expect(has('AWS/ApiGateway', m)).toBe(true);
  });

  test('queues: events queue depth and age of oldest message, DLQ depth', () => {
    for (const m of ['ApproximateNumberOfMessagesVisible', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateAgeOfOldestMessage']) {
      expect(has('AWS/SQS', m)).toBe(true);
    }
    expect(text).toContain('Dead-letter queue depth');
    // Two queues graphed: the events queue and the DLQ.
    const queueLines = lines.filter((l) => l[0] === 'AWS/SQS' && l[1] === 'ApproximateNumberOfMessagesVisible');
    expect(queueLines).toHaveLength(2);
  });

  test('deliveries succeeded / retried / failed and DeliveryLatency p50/p99, per channel, as the processor emits them', () => {
    expect(DASHBOARD_CHANNELS.slice().sort()).toEqual([...CHANNELS].sort());
    for (const name of ['DeliveriesSucceeded', 'DeliveriesRetried', 'DeliveriesFailed', 'DeliveryLatency'] as const) {
      expect(METRIC_NAMES).toContain(name);
      for (const channel of CHANNELS) {
        const found = lines.filter((l) => l[0] === METRICS_NAMESPACE && l[1] === name && l.includes('channel') && l.includes(channel));
        expect(found.length).toBeGreaterThan(0);
        // The same dimensions as the processor's single metrics: service (Powertools) and channel.
        for (const l of found) expect(l.filter((x) => x === 'service' || x === 'channel').sort()).toEqual(['channel', 'service']);
      }
    }
    const latencyStats = lines.filter((l) => l[1] === 'DeliveryLatency').map((l) => (l[l.length - 1] as { stat: string }).stat);
    expect(latencyStats.sort()).toEqual(CHANNELS.flatMap(() => ['p50', 'p99']).sort());
  });

  test('the service dimension is the processor\'s POWERTOOLS_SERVICE_NAME', () => {
    const fn = Object.values(s.template.findResources('AWS::Lambda::Function'))
      .find((f) => f.Properties.Description.includes('delivers'))!;
    const service = fn.Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME;
    const line = lines.find((l) => l[1] === 'DeliveriesSucceeded')!;
    expect(line[line.indexOf('service') + 1]).toBe(service);
  });

  test('functions: duration, errors, throttles, concurrent executions of all three', () => {
    for (const m of ['Duration', 'Errors', 'Throttles', 'ConcurrentExecutions']) {
      expect(lines.filter((l) => l[0] === 'AWS/Lambda' && l[1] === m)).toHaveLength(3);
    }
  });

  test('every alarm as an alarm widget', () => {
    const alarmWidgets = widgets.filter((w) => w.type === 'metric' && w.properties.annotations?.alarms);
    expect(alarmWidgets).toHaveLength(s.svc.alarms.length);
    expect(s.svc.alarms.length).toBe(6);
  });

  test('dashboard: false creates none', () => {
    const off = synth({ dashboard: false });
    off.template.resourceCountIs('AWS::CloudWatch::Dashboard', 0);
    expect(off.svc.dashboard).toBeUndefined();
  });
});
