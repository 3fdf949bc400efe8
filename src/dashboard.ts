import { Duration } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE, MetricName } from './contract';

export interface ServiceDashboardProps {
  readonly stage: apigateway.Stage;
  readonly eventsQueue: sqs.IQueue;
  readonly deadLetterQueue: sqs.IQueue;
  readonly functions: { readonly name: string; readonly function: lambda.IFunction }[];
  readonly alarms: cloudwatch.IAlarm[];
  /** The processor's Powertools service name: the `service` dimension of its EMF metrics. */
  readonly serviceName: string;
}

/**
 * The delivery channels: the values of the `channel` dimension of the processor's per-channel
 * metrics (lambda/core/subscription.ts CHANNELS; test/src/dashboard.test.ts keeps them equal).
 */
export const DASHBOARD_CHANNELS = ['WEBHOOK', 'EMAIL', 'SLACK'];
const PERIOD = Duration.minutes(5);
const WIDTH = 8;
const HEIGHT = 6;

/** The service's dashboard, one row per concern (docs/architecture.md "Operations"). */
export class ServiceDashboard extends Construct {
  public readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: ServiceDashboardProps) {
    super(scope, id);
    const emf = (name: MetricName, channel: string, statistic: string, label?: string) => new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: name,
      dimensionsMap: { service: props.serviceName, channel },
      statistic,
      period: PERIOD,
      label: label ?? `${name} ${channel}`,
    });
    const graph = (title: string, left: cloudwatch.IMetric[], extra: Partial<cloudwatch.GraphWidgetProps> = {}) =>
      new cloudwatch.GraphWidget({ title, left, width: WIDTH, height: HEIGHT, ...extra });

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(3) });
    const stage = props.stage;

    this.dashboard.addWidgets(new cloudwatch.TextWidget({
      markdown: '## Event notification service\nAPI, queues, deliveries per channel, functions and alarms.',
      width: 24,
      height: 2,
    }));
    this.dashboard.addWidgets(
      graph('API requests', [stage.metricCount({ period: PERIOD, statistic: 'Sum', label: 'Requests' })]),
      graph('API errors', [
        stage.metricClientError({ period: PERIOD, statistic: 'Sum', label: '4xx' }),
        stage.metricServerError({ period: PERIOD, statistic: 'Sum', label: '5xx' }),
      ]),
      graph('API latency (ms)', [
        stage.metricLatency({ period: PERIOD, statistic: 'p50', label: 'Latency p50' }),
        stage.metricLatency({ period: PERIOD, statistic: 'p99', label: 'Latency p99' }),
        stage.metricIntegrationLatency({ period: PERIOD, statistic: 'p99', label: 'Integration latency p99' }),
      ]),
    );
    this.dashboard.addWidgets(
      graph('Events queue depth', [
        props.eventsQueue.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: 'Maximum', label: 'Visible' }),
        props.eventsQueue.metricApproximateNumberOfMessagesNotVisible({ period: PERIOD, statistic: 'Maximum', label: 'In flight' }),
        props.eventsQueue.metricApproximateNumberOfMessagesDelayed({ period: PERIOD, statistic: 'Maximum', label: 'Delayed (retries)' }),
      ]),
      graph('Events queue: age of oldest message (s)', [
        props.eventsQueue.metricApproximateAgeOfOldestMessage({ period: PERIOD, statistic: 'Maximum', label: 'Age of oldest message' }),
      ]),
      graph('Dead-letter queue depth', [
        props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: 'Maximum', label: 'DLQ visible' }),
      ]),
    );
    this.dashboard.addWidgets(
      graph('Deliveries succeeded', DASHBOARD_CHANNELS.map((c) => emf('DeliveriesSucceeded', c, 'Sum'))),
      graph('Deliveries retried', DASHBOARD_CHANNELS.map((c) => emf('DeliveriesRetried', c, 'Sum'))),
      graph('Deliveries failed', DASHBOARD_CHANNELS.map((c) => emf('DeliveriesFailed', c, 'Sum'))),
    );
    // Endpoint health: deliveries held back by an open circuit breaker, subscriptions disabled after failing for disableAfter.
    this.dashboard.addWidgets(
      graph('Deliveries deferred (circuit open)', DASHBOARD_CHANNELS.map((c) => emf('DeliveriesDeferred', c, 'Sum')), { width: 12 }),
      graph('Subscriptions disabled', DASHBOARD_CHANNELS.map((c) => emf('SubscriptionsDisabled', c, 'Sum')), { width: 12 }),
    );
    this.dashboard.addWidgets(
      graph('Publish-to-delivery latency (ms)', DASHBOARD_CHANNELS.flatMap((c) => [
        emf('DeliveryLatency', c, 'p50', `DeliveryLatency ${c} p50`),
        emf('DeliveryLatency', c, 'p99', `DeliveryLatency ${c} p99`),
      ]), { width: 24 }),
    );
    const fns = props.functions;
    this.dashboard.addWidgets(
      graph('Function duration p99 (ms)', fns.map((f) => f.function.metricDuration({ period: PERIOD, statistic: 'p99', label: f.name }))),
      graph('Function errors', fns.map((f) => f.function.metricErrors({ period: PERIOD, statistic: 'Sum', label: f.name }))),
      graph('Function throttles', fns.map((f) => f.function.metricThrottles({ period: PERIOD, statistic: 'Sum', label: f.name }))),
    );
    this.dashboard.addWidgets(
      graph('Function concurrent executions', fns.map((f) => f.function.metric('ConcurrentExecutions', {
        period: PERIOD, statistic: 'Maximum', label: f.name,
      }))),
      graph('Function invocations', fns.map((f) => f.function.metricInvocations({ period: PERIOD, statistic: 'Sum', label: f.name }))),
    );
    const alarmWidgets = props.alarms.map((alarm) => new cloudwatch.AlarmWidget({ alarm, title: alarm.node.id, width: WIDTH, height: HEIGHT }));
    for (let i = 0; i < alarmWidgets.length; i += 3) this.dashboard.addWidgets(...alarmWidgets.slice(i, i + 3));
  }
}
