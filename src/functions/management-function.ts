import { Construct } from 'constructs';
import { EVENT_KEY_PREFIX, FunctionSettings, ManagementSetting } from '../contract';
import { acknowledge } from '../nag';
import { INVOKED_BY_API_GATEWAY, ServiceFunction, ServiceFunctionContext } from '../service-function';
import { ServiceTables } from '../tables';
import { acknowledgeGrantWildcards, grantIndexQuery, grantItems } from './grants';

export interface ManagementFunctionProps extends ServiceFunctionContext {
  readonly tables: ServiceTables;
}

/**
 * The subscriptions API and `GET /events/{eventId}`. Its environment is the contract's
 * MANAGEMENT_SETTINGS; its role holds exactly the requests the handler makes: no Scan, no batch,
 * nothing of the idempotency records.
 */
export class ManagementFunction extends ServiceFunction {
  constructor(scope: Construct, id: string, props: ManagementFunctionProps) {
    const { settings, tables } = props;
    super(scope, id, {
      context: props,
      bundle: 'management',
      description: 'Event notification service: subscriptions API',
      environment: {
        SUBSCRIPTIONS_TABLE_NAME: tables.subscriptions.tableName,
        EVENTS_TABLE_NAME: tables.events.tableName,
        NOTIFICATIONS_TABLE_NAME: tables.notifications.tableName,
        MAX_SUBSCRIPTIONS_PER_KEY: String(settings.maxSubscriptionsPerKey),
        // The processor needs no copy: each rotation stamps its expiry on the subscription.
        SECRET_ROTATION_OVERLAP_SECONDS: String(settings.secretRotationOverlapSeconds),
      } satisfies FunctionSettings<ManagementSetting>,
    });
    grantItems(this.role, tables.subscriptions, ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem']);
    grantIndexQuery(this.role, tables.subscriptions); // byOwner
    grantItems(this.role, tables.events, ['GetItem'], { leadingKeys: EVENT_KEY_PREFIX }); // GET /events/{eventId}
    grantItems(this.role, tables.notifications, ['Query']);
    props.encryptionKey.grantEncryptDecrypt(this.role);
    acknowledge(this.function, INVOKED_BY_API_GATEWAY);
    acknowledgeGrantWildcards(this.role, tables.subscriptions);
  }
}
