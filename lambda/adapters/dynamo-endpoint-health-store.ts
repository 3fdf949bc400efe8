import { DynamoDBDocumentClient, UpdateCommand, UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import { isConditionFailed } from './dynamo-errors';
import { EndpointHealth, HealthOp, healthOf } from '../core/endpoint-health';
import { EndpointHealthStore } from '../core/endpoint-health-tracker';

type Update = Pick<UpdateCommandInput, 'UpdateExpression' | 'ConditionExpression' | 'ExpressionAttributeValues'>;

/**
 * Endpoint health on the subscription items (docs/architecture.md "Endpoint health"): each
 * change one UpdateItem, atomic (counters with if_not_exists, transitions conditional), the
 * state after it returned (ALL_NEW), so the processor knows it without a read. The same
 * semantics as `applyHealthOp` in lambda/core/endpoint-health.ts.
 */
export class DynamoEndpointHealthStore implements EndpointHealthStore {
  constructor(private readonly client: DynamoDBDocumentClient, private readonly tableName: string) {}

  public async apply(subscriptionId: string, op: HealthOp): Promise<EndpointHealth | undefined> {
    const update = updateFor(op);
    try {
      const result = await this.client.send(new UpdateCommand({
        TableName: this.tableName,
        Key: { subscriptionId },
        ...update,
        // Never create an item for a subscription deleted meanwhile.
        ConditionExpression: ['attribute_exists(subscriptionId)', update.ConditionExpression].filter(Boolean).join(' AND '),
        ExpressionAttributeValues: { ':at': op.nowMs, ...update.ExpressionAttributeValues },
        ReturnValues: 'ALL_NEW',
      }));
      return healthOf((result.Attributes ?? {}) as EndpointHealth);
    } catch (error) {
      if (isConditionFailed(error)) return undefined;
      throw error;
    }
  }

  public async disable(subscriptionId: string, change: { reason: string; nowMs: number; failingSince: string }): Promise<boolean> {
    const at = new Date(change.nowMs).toISOString();
    try {
      await this.client.send(new UpdateCommand({
        TableName: this.tableName,
        Key: { subscriptionId },
        UpdateExpression: 'SET enabled = :false, disabledReason = :reason, disabledAt = :iso, updatedAt = :iso, healthAt = :at',
        // Once: only the processor that finds it still enabled and failing since then disables it.
        ConditionExpression: 'attribute_exists(subscriptionId) AND enabled = :true AND healthFailingSince = :since',
        ExpressionAttributeValues: { ':false': false, ':true': true, ':reason': change.reason, ':iso': at, ':at': change.nowMs, ':since': change.failingSince },
      }));
      return true;
    } catch (error) {
      if (isConditionFailed(error)) return false;
      throw error;
    }
  }
}

const BREAKER = 'healthOpenUntil, healthCooldownSeconds, healthProbeUntil';

function updateFor(op: HealthOp): Update {
  const iso = new Date(op.nowMs).toISOString();
  switch (op.kind) {
    case 'failure':
      return {
        UpdateExpression: 'SET healthFailures = if_not_exists(healthFailures, :zero) + :one, '
          + 'healthFailingSince = if_not_exists(healthFailingSince, :iso), healthAt = :at',
        ExpressionAttributeValues: { ':zero': 0, ':one': 1, ':iso': iso },
      };
    case 'other-failure':
      return {
        UpdateExpression: `SET healthFailures = :zero, healthFailingSince = if_not_exists(healthFailingSince, :iso), healthAt = :at REMOVE ${BREAKER}`,
        ExpressionAttributeValues: { ':zero': 0, ':iso': iso },
      };
    case 'success':
      return {
        UpdateExpression: `SET healthFailures = :zero, healthAt = :at REMOVE healthFailingSince, ${BREAKER}`,
        ExpressionAttributeValues: { ':zero': 0 },
      };
    case 'open': {
      const counted = op.ifProbeUntil !== undefined;
      return {
        UpdateExpression: `SET healthOpenUntil = :until, healthCooldownSeconds = :cooldown, healthAt = :at${counted
          ? ', healthFailures = if_not_exists(healthFailures, :zero) + :one' : ''} REMOVE healthProbeUntil`,
        ConditionExpression: counted ? 'healthProbeUntil = :probe' : 'attribute_not_exists(healthOpenUntil)',
        ExpressionAttributeValues: {
          ':until': new Date(op.untilMs).toISOString(),
          ':cooldown': op.cooldownSeconds,
          ...(counted ? { ':probe': op.ifProbeUntil, ':zero': 0, ':one': 1 } : {}),
        },
      };
    }
    case 'claim-probe':
      return {
        UpdateExpression: 'SET healthProbeUntil = :lease, healthAt = :at',
        ConditionExpression: 'healthOpenUntil = :open AND healthOpenUntil <= :iso AND (attribute_not_exists(healthProbeUntil) OR healthProbeUntil <= :iso)',
        ExpressionAttributeValues: { ':lease': new Date(op.leaseUntilMs).toISOString(), ':open': op.ifOpenUntil, ':iso': iso },
      };
  }
}
