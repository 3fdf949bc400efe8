/**
 * Integration app: the construct with default props, and a FIFO variant with every channel on.
 * Deploy with `npx cdk deploy --app "npx ts-node test/integ.default.ts" --all`, or synthesize it
 * in a test through `buildIntegApp`.
 */
import { App, Stack } from 'aws-cdk-lib';
import { EventNotificationService } from '../src';

export const DEFAULT_STACK_NAME = 'EventNotificationServiceIntegDefault';
export const FIFO_STACK_NAME = 'EventNotificationServiceIntegFifo';

export function buildIntegApp(outdir?: string): App {
  const app = new App(outdir ? { outdir } : {});
  const env = { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION };

  const defaults = new Stack(app, DEFAULT_STACK_NAME, { env, description: 'event-notification-service integ: default props' });
  new EventNotificationService(defaults, 'Notifications');

  const fifo = new Stack(app, FIFO_STACK_NAME, { env, description: 'event-notification-service integ: FIFO, email and alarm email' });
  new EventNotificationService(fifo, 'Notifications', {
    fifo: true,
    alarmEmail: 'ops@example.com',
    email: { fromAddress: 'alerts@example.com' },
  });

  return app;
}

if (require.main === module) {
  buildIntegApp().synth();
}
