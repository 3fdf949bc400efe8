import { Duration } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

import { METRICS_NAMESPACE, MetricName } from './contract';

export interface ServiceAlarmsProps {
  readonly topic: sns.ITopic;
  readonly deadLetterQueue: sqs.IQueue;
  readonly eventsQueue: sqs.IQueue;
  readonly processor: lambda.IFunction;
  readonly stage: apigateway.Stage;
  readonly serviceName: string;
  readonly queueAgeThreshold: Duration;
}

/** The alarms of docs/architecture.md "Operations", each notifying the alarm topic when it fires and when it clears. */
export class ServiceAlarms extends Construct {
  public readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: ServiceAlarmsProps) {
    super(scope, id);
    const period = Duration.minutes(5);

    this.add('DeadLetterQueueNotEmpty', 'Events are in the dead-letter queue: inspect, fix, redrive.',
      props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }), 1);

    this.add('ProcessorErrors', 'The processor function failed (crash or timeout), not just a delivery.',
      props.processor.metricErrors({ period, statistic: 'Sum' }), 1);

    this.add('EventsQueueBacklog', `The oldest event has waited over ${props.queueAgeThreshold.toHumanString()}: processing is stuck or too slow.`,
      props.eventsQueue.metricApproximateAgeOfOldestMessage({ period, statistic: 'Maximum' }), props.queueAgeThreshold.toSeconds());

    // Two periods in a row, so a single 5xx on a quiet API does not page anyone.
    this.add('ApiServerErrors', 'Over 5 % of API requests failed with a 5xx for 10 minutes.',
      props.stage.metricServerError({ period, statistic: 'Average' }), 0.05, 2);

    this.add('DeliveriesFailed', 'Notifications failed for good after their last retry.',
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName: 'DeliveriesFailed' satisfies MetricName,
        dimensionsMap: { service: props.serviceName },
        period,
        statistic: 'Sum',
      }), 1);

    // A subscriber's endpoint failed every delivery for disableAfter: its owner must fix it and PATCH enabled: true.
    this.add('SubscriptionsDisabled', 'A subscription was disabled: every delivery to its endpoint failed for disableAfter.',
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName: 'SubscriptionsDisabled' satisfies MetricName,
        dimensionsMap: { service: props.serviceName },
        period,
        statistic: 'Sum',
      }), 1);

    const action = new actions.SnsAction(props.topic);
    for (const alarm of this.alarms) {
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
    }
  }

  private add(id: string, description: string, metric: cloudwatch.IMetric, threshold: number, periods = 1): void {
    this.alarms.push(new cloudwatch.Alarm(this, id, {
      alarmDescription: description,
      metric,
      threshold,
      evaluationPeriods: periods,
      datapointsToAlarm: periods,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }));
  }
}
