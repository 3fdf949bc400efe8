import { App, CfnElement, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { IConstruct } from 'constructs';
import { EventNotificationService, InboundWebhookSource } from '../../src';
import { API_ROUTES, ApiRoute } from '../../src/contract';

/*
 * The construct's API Gateway methods are the routes of API_ROUTES (src/contract), which the
 * handlers' route tables, the local runtime and the OpenAPI document also follow: each with the
 * same function behind it and the same API key requirement.
 */

const ENV = { account: '123456789012', region: 'us-east-1' };

function synth(withInbound: boolean) {
  const app = new App();
  const stack = new Stack(app, 'Routes', { env: ENV });
  const secret = new secretsmanager.Secret(stack, 'ShopSecret');
  const svc = new EventNotificationService(stack, 'Svc', withInbound ? { inboundWebhooks: [InboundWebhookSource.shopify({ name: 'shop', secret })] } : {});
  return { stack, svc, template: Template.fromStack(stack).toJSON() };
}

const logicalId = (stack: Stack, construct: IConstruct) => stack.getLogicalId(construct.node.defaultChild as CfnElement);

/** `METHOD /path` → { function logical id, apiKeyRequired } of every method in the template. */
function methods(template: any): Map<string, { functionId: string; apiKeyRequired: boolean }> {
  const resources: Record<string, any> = template.Resources;
  const pathOf = (id: string): string => {
    const resource = resources[id];
    if (!resource || resource.Type !== 'AWS::ApiGateway::Resource') return ''; // the API's root
    return `${pathOf(resource.Properties.ParentId.Ref ?? '')}/${resource.Properties.PathPart}`;
  };
  const found = new Map<string, { functionId: string; apiKeyRequired: boolean }>();
  for (const method of Object.values(resources).filter((r) => r.Type === 'AWS::ApiGateway::Method')) {
    const props = method.Properties;
    if (props.HttpMethod === 'OPTIONS') continue;
    const path = props.ResourceId.Ref ? pathOf(props.ResourceId.Ref) : '/';
    // The integration URI joins the function's ARN: { Fn::GetAtt: [<function>, Arn] }.
    const functionId = JSON.stringify(props.Integration.Uri).match(/"Fn::GetAtt":\["([^"]+)","Arn"\]/)?.[1] ?? '(none)';
    found.set(`${props.HttpMethod} ${path}`, { functionId, apiKeyRequired: props.ApiKeyRequired === true });
  }
  return found;
}

describe.each([
  ['with inbound webhook sources', true],
  ['without inbound webhook sources', false],
])('API Gateway methods %s', (_name, withInbound) => {
  const s = synth(withInbound);
  const found = methods(s.template);
  const functionIds = { ingest: logicalId(s.stack, s.svc.ingestFunction), management: logicalId(s.stack, s.svc.managementFunction) };
  const expected = (Object.keys(API_ROUTES) as ApiRoute[]).filter((route) => withInbound || route !== 'POST /webhooks/{source}');

  test('are exactly the contract\'s routes', () => {
    expect([...found.keys()].sort()).toEqual([...expected].sort());
  });

  test.each(expected)('%s: the contract\'s function and API key requirement', (route) => {
    expect(found.get(route)).toEqual({ functionId: functionIds[API_ROUTES[route].function], apiKeyRequired: API_ROUTES[route].apiKeyRequired });
  });
});
