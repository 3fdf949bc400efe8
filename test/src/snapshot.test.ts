import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { EventNotificationService } from '../../src';

/**
 * Asset hashes (S3 keys of the handler bundles, asset metadata) change whenever a handler is
 * rebuilt; mask them so the snapshot only changes when the infrastructure does.
 */
function maskAssetHashes(template: unknown): unknown {
  return JSON.parse(JSON.stringify(template).replace(/[0-9a-f]{64}/g, 'ASSET-HASH'));
}

test('default template matches the snapshot', () => {
  const app = new App();
  const stack = new Stack(app, 'SnapshotStack', { env: { account: '123456789012', region: 'us-east-1' } });
  new EventNotificationService(stack, 'Notifications');
  const template = maskAssetHashes(Template.fromStack(stack).toJSON());

  // The mask must have hit the three handler bundles, or a rebuild would churn the snapshot.
  const functions = Object.values((template as { Resources: Record<string, any> }).Resources)
    .filter((r) => r.Type === 'AWS::Lambda::Function');
  expect(functions.map((f) => f.Properties.Code.S3Key)).toEqual(['ASSET-HASH.zip', 'ASSET-HASH.zip', 'ASSET-HASH.zip']);

  expect(template).toMatchSnapshot();
});
