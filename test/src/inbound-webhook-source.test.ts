import { App, Stack } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { inboundSourceSchema } from '../../lambda/core/inbound-webhooks';
import { HmacAlgorithm, InboundWebhookSource, Severity, SignatureEncoding } from '../../src';

/**
 * What the construct writes for each inbound source (INBOUND_SOURCES) is read by the ingest
 * function's own schema: every field the construct sets arrives under the same name and value.
 */
describe('InboundWebhookSource settings', () => {
  const stack = new Stack(new App(), 'S');
  const secret = secretsmanager.Secret.fromSecretNameV2(stack, 'Secret', 'inbound');
  const sources = [
    InboundWebhookSource.shopify({ name: 'shop', secret }),
    InboundWebhookSource.github({ name: 'gh', secret, severity: Severity.HIGH }),
    InboundWebhookSource.stripe({ name: 'pay', secret }),
    InboundWebhookSource.standardWebhooks({ name: 'std', secret, severity: Severity.LOW }),
    InboundWebhookSource.hmac({ name: 'min', secret, header: 'X-Sig' }),
    InboundWebhookSource.hmac({
      name: 'max',
      secret,
      header: 'X-Signature',
      algorithm: HmacAlgorithm.SHA512,
      encoding: SignatureEncoding.BASE64,
      prefix: 'sha512=',
      eventTypeHeader: 'X-Type',
      deliveryIdHeader: 'X-Delivery',
      severity: Severity.CRITICAL,
    }),
  ];

  test.each(sources.map((s) => [s.name, s] as const))('%s: the handler\'s schema reads every field', (_name, source) => {
    const setting = source._toSetting();
    const parsed = inboundSourceSchema.parse({ ...setting, secretId: 'arn:aws:secretsmanager:us-east-1:1:secret:x' });
    const { secretId: _secretId, ...rest } = parsed;
    expect(rest).toEqual(setting);
  });

  test('the generic HMAC source carries its options under the handler\'s names', () => {
    expect(sources[5]._toSetting()).toEqual({
      name: 'max',
      provider: 'hmac',
      severity: 'CRITICAL',
      header: 'X-Signature',
      algorithm: 'sha512',
      encoding: 'base64',
      prefix: 'sha512=',
      eventTypeHeader: 'X-Type',
      deliveryIdHeader: 'X-Delivery',
    });
    expect(sources[4]._toSetting()).toEqual({ name: 'min', provider: 'hmac', severity: 'MEDIUM', header: 'X-Sig', algorithm: 'sha256', encoding: 'hex' });
  });

  test('a provider source carries no HMAC fields', () => {
    expect(sources[1]._toSetting()).toEqual({ name: 'gh', provider: 'github', severity: 'HIGH' });
  });
});
