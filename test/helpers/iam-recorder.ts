/*
 * Records every AWS request a handler's SDK clients make, as IAM sees it: the action, the resource
 * ARN and the condition keys the request carries. A middleware at the start of each client's
 * stack ('initialize', high priority) sees every command before anything can answer it.
 *
 * aws-sdk-client-mock cannot be used on a recorded client: it replaces `Client#send`, so no
 * middleware ever runs (test/iam proves it). Services with no local server here (SQS, Secrets
 * Manager) are answered by `answerLocally`, a middleware at the end of the same step, after the
 * recorder.
 */

/** One request as IAM evaluates it. */
export interface IamRequest {
  /** What made it: a function's SDK call, a request AWS makes because of one, or a service. */
  readonly origin: 'sdk' | 'implied' | 'platform' | 'service';
  /** The scenario that was running (for messages). */
  readonly scenario: string;
  /** The calling principal: a role session ARN or a service principal (`cloudwatch.amazonaws.com`). */
  readonly principal: string;
  /** The logical id of the role whose identity policies apply (none for service principals). */
  readonly roleId?: string;
  /** What the SDK sent (e.g. `PutItemCommand`), or what implied the request. */
  readonly via: string;
  readonly action: string;
  readonly resource: string;
  readonly context: Record<string, string | string[]>;
}

/** Who makes the recorded requests. */
export interface Caller {
  readonly principal: string;
  readonly roleId: string;
  readonly roleArn: string;
  readonly account: string;
}

/** The partition key of a table or index, by table name (from the template). */
export type PartitionKeyOf = (tableName: string, indexName?: string) => string;

/** The part of an SDK v3 client the recorder needs. */
export interface RecordableClient {
  readonly middlewareStack: { add(middleware: any, options: any): void };
  readonly config: { region: string | (() => Promise<string>) };
}

export class RequestRecorder {
  public readonly requests: IamRequest[] = [];
  /** Commands seen, in order, for checks on the recorder itself. */
  public readonly commands: string[] = [];
  /** Commands the recorder could not translate (never thrown into the handler, which might swallow them). */
  public readonly problems: string[] = [];
  public scenario = 'setup';

  constructor(private readonly partitionKeyOf: PartitionKeyOf) {}

  /** Records every command `client` sends from now on, as requests of `caller`. */
  public attach(client: RecordableClient, caller: Caller): void {
    client.middlewareStack.add(
      (next: (args: any) => Promise<any>, context: { commandName?: string }) => async (args: { input: any }) => {
        const region = typeof client.config.region === 'function' ? await client.config.region() : client.config.region;
        const command = String(context.commandName);
        this.commands.push(command);
        try {
          for (const request of toIamRequests(command, args.input, { region, caller, partitionKeyOf: this.partitionKeyOf })) {
            this.requests.push({ origin: 'sdk', scenario: this.scenario, principal: caller.principal, roleId: caller.roleId, via: command, ...request });
          }
        } catch (error) {
          this.problems.push(`[${this.scenario}] ${command}: ${(error as Error).message}`);
        }
        return next(args);
      },
      { step: 'initialize', priority: 'high', name: 'iamRequestRecorder', override: true },
    );
  }

  /** Requests recorded since `mark` (an index into `requests`). */
  public since(mark: number): IamRequest[] {
    return this.requests.slice(mark);
  }
}

/**
 * Answers commands without a network call, after the recorder has seen them: the answer is what
 * the service would return (or throws what it would throw). Commands without an answer fail.
 */
export function answerLocally(client: RecordableClient, answers: Record<string, (input: any) => unknown>): void {
  client.middlewareStack.add(
    (_next: unknown, context: { commandName?: string }) => async (args: { input: any }) => {
      const answer = answers[String(context.commandName)];
      // Never the network: an unanswered command would go to the real AWS endpoint.
      if (!answer) throw new Error(`no local answer for ${context.commandName}`);
      return { output: { $metadata: { httpStatusCode: 200 }, ...(await answer(args.input) as object) }, response: {} };
    },
    { step: 'initialize', priority: 'low', name: 'answerLocally', override: true },
  );
}

interface Env {
  readonly region: string;
  readonly caller: Caller;
  readonly partitionKeyOf: PartitionKeyOf;
}

type Request = Pick<IamRequest, 'action' | 'resource' | 'context'>;

/** One SDK command → the IAM requests it makes (one per resource it touches). Unknown commands are errors. */
export function toIamRequests(command: string, input: any, env: Env): Request[] {
  const { region, caller } = env;
  const global: Record<string, string> = {
    // In AWS the functions use the SDK's default https endpoints: the template sets no AWS_ENDPOINT_URL_*.
    'aws:SecureTransport': 'true',
    'aws:RequestedRegion': region,
    'aws:PrincipalArn': caller.roleArn,
    'aws:PrincipalAccount': caller.account,
  };
  const operation = command.replace(/Command$/, '');
  const tableArn = (name: string) => `arn:aws:dynamodb:${region}:${caller.account}:table/${name}`;
  const dynamo = (action: string, tableName: string, keys: unknown[], extra: Record<string, string> = {}, indexName?: string): Request => ({
    action: `dynamodb:${action}`,
    resource: indexName ? `${tableArn(tableName)}/index/${indexName}` : tableArn(tableName),
    context: { ...global, 'dynamodb:LeadingKeys': unique(keys.map(scalar)), ...extra },
  });
  const returnValues = (i: any): Record<string, string> => (i.ReturnValues ? { 'dynamodb:ReturnValues': String(i.ReturnValues) } : {});

  switch (operation) {
    case 'GetItem':
    case 'DeleteItem':
    case 'UpdateItem':
      return [dynamo(operation, input.TableName, [input.Key[env.partitionKeyOf(input.TableName)]], returnValues(input))];
    case 'PutItem':
      return [dynamo(operation, input.TableName, [input.Item[env.partitionKeyOf(input.TableName)]], returnValues(input))];
    case 'Query': {
      const key = env.partitionKeyOf(input.TableName, input.IndexName);
      const value = keyConditionValue(input, key);
      return [dynamo('Query', input.TableName, [value], input.Select ? { 'dynamodb:Select': String(input.Select) } : {}, input.IndexName)];
    }
    case 'BatchWriteItem':
    case 'BatchGetItem':
      return Object.entries(input.RequestItems as Record<string, any>).map(([tableName, items]) => {
        const key = env.partitionKeyOf(tableName);
        const keys = operation === 'BatchGetItem'
          ? (items.Keys as any[]).map((k) => k[key])
          : (items as any[]).map((w) => (w.PutRequest ? w.PutRequest.Item[key] : w.DeleteRequest.Key[key]));
        return dynamo(operation, tableName, keys);
      });
    case 'SendMessage':
    case 'SendMessageBatch':
      return [{ action: 'sqs:SendMessage', resource: queueArn(input.QueueUrl), context: global }];
    case 'ChangeMessageVisibility':
    case 'ChangeMessageVisibilityBatch':
      return [{ action: 'sqs:ChangeMessageVisibility', resource: queueArn(input.QueueUrl), context: global }];
    case 'DeleteMessage':
    case 'DeleteMessageBatch':
      return [{ action: 'sqs:DeleteMessage', resource: queueArn(input.QueueUrl), context: global }];
    case 'ReceiveMessage':
    case 'GetQueueAttributes':
      return [{ action: `sqs:${operation}`, resource: queueArn(input.QueueUrl), context: global }];
    case 'SendEmail': {
      const from = emailAddress(String(input.FromEmailAddress));
      const recipients = ['ToAddresses', 'CcAddresses', 'BccAddresses'].flatMap((k) => input.Destination?.[k] ?? []).map(emailAddress);
      const context = {
        ...global,
        'ses:FromAddress': from,
        'ses:Recipients': recipients,
        'ses:ApiVersion': '2',
        ...(input.FromEmailAddress.includes('<') ? { 'ses:FromDisplayName': input.FromEmailAddress.split('<')[0].trim() } : {}),
      };
      const ses = (part: string) => `arn:aws:ses:${region}:${caller.account}:${part}`;
      // SES authorizes the send against the sending identity (the construct verifies the domain by
      // default) and, when one is named, the configuration set.
      return [
        { action: 'ses:SendEmail', resource: ses(`identity/${from.split('@')[1]}`), context },
        ...(input.ConfigurationSetName ? [{ action: 'ses:SendEmail', resource: ses(`configuration-set/${input.ConfigurationSetName}`), context }] : []),
      ];
    }
    case 'GetSecretValue': {
      if (!String(input.SecretId).startsWith('arn:')) throw new Error(`GetSecretValue by name (${input.SecretId}): the harness expects ARNs`);
      return [{
        action: 'secretsmanager:GetSecretValue',
        resource: input.SecretId,
        context: {
          ...global,
          'secretsmanager:SecretId': input.SecretId,
          ...(input.VersionStage ? { 'secretsmanager:VersionStage': input.VersionStage } : {}),
        },
      }];
    }
    default:
      throw new Error(`The IAM recorder does not know the command ${command}: add its action, resource and condition keys`);
  }
}

/** `https://sqs.<region>.amazonaws.com/<account>/<name>` → `arn:aws:sqs:<region>:<account>:<name>`. */
export function queueArn(queueUrl: string): string {
  const match = /^https?:\/\/[^/]*?sqs\.([a-z0-9-]+)\.amazonaws\.com\/(\d{12})\/([^/]+)$/.exec(queueUrl);
  if (!match) throw new Error(`not an SQS queue URL: ${queueUrl}`);
  return `arn:aws:sqs:${match[1]}:${match[2]}:${match[3]}`;
}

/** The partition key value in a Query's key condition (`key = :v` or `#k = :v`). */
function keyConditionValue(input: any, key: string): unknown {
  const names: Record<string, string> = input.ExpressionAttributeNames ?? {};
  for (const [, left, right] of String(input.KeyConditionExpression).matchAll(/([#\w]+)\s*=\s*(:\w+)/g)) {
    if ((names[left] ?? left) === key) return input.ExpressionAttributeValues[right];
  }
  throw new Error(`Query on ${input.TableName}${input.IndexName ? `/${input.IndexName}` : ''} has no condition on its partition key ${key}`);
}

/** A key value as IAM compares it: native, or in DynamoDB's wire form ({ S: '…' }). */
function scalar(value: unknown): string {
  if (value !== null && typeof value === 'object') {
    const wire = value as Record<string, unknown>;
    if ('S' in wire) return String(wire.S);
    if ('N' in wire) return String(wire.N);
  }
  return String(value);
}

function emailAddress(text: string): string {
  const angle = /<([^>]+)>/.exec(text);
  return (angle ? angle[1] : text).trim();
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
