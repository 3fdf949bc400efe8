import { createHash, createHmac, randomUUID } from 'node:crypto';
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { INGEST_SETTINGS, MANAGEMENT_SETTINGS, PROCESSOR_SETTINGS, SETTINGS_FILE_VARIABLE } from '../../src/contract';
import { apiEvent, ApiEventOptions } from '../helpers/api-event';
import { FAKE_AWS_ENV, LocalDynamo } from '../helpers/dynamo';
import { apiGatewayInvoke } from '../helpers/iam-evaluate';
import { answerLocally, IamRequest, RequestRecorder } from '../helpers/iam-recorder';
import { ACCOUNT, EMAIL_FROM, FunctionWiring, INBOUND_SOURCE_NAME, REGION, ResolvedTemplate, SCHEMA_EVENT_TYPE } from '../helpers/iam-template';
import { Receiver, startReceiver } from '../helpers/receivers';
import { LocalSes } from '../helpers/ses';
import { lambdaContext, sqsEvent, sqsRecord } from '../helpers/sqs-event';

/*
 * Drives the three handlers through every code path that calls AWS, each configured exactly as
 * the template configures its function (environment and settings file), with local table names,
 * queue URLs and secret ARNs that the template resolver gave the template's resources.
 */

const PUBLISHER = 'key-iam-publisher';
const OWNER = 'key-iam-owner';
/** The signing secret of the inbound source (answered by the local Secrets Manager). */
const INBOUND_SECRET = 'gh-signing-secret-for-iam-tests';

type AwsClientsModule = typeof import('../../lambda/adapters/aws-clients');
type ApiHandler = (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;
type ProcessorHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

/** Settings a handler reads from its environment; cleared before each load, so no load sees another's. */
const HANDLER_VARIABLES = [...new Set([
  ...INGEST_SETTINGS, ...MANAGEMENT_SETTINGS, ...PROCESSOR_SETTINGS, SETTINGS_FILE_VARIABLE, 'LAMBDA_TASK_ROOT',
  'POWERTOOLS_SERVICE_NAME', 'POWERTOOLS_METRICS_NAMESPACE',
])];

export interface LocalServices {
  readonly dynamo: LocalDynamo;
  readonly ses: LocalSes;
}

/** The result of one variant's run: every request, and what each scenario asked of AWS. */
export interface ScenarioRun {
  readonly requests: IamRequest[];
  /** Commands the recorder could not translate into IAM requests (must be none). */
  readonly problems: string[];
  /** Scenario → the SDK commands it sent, in order. */
  readonly commands: Map<string, string[]>;
}

export class VariantScenarios {
  private readonly recorder: RequestRecorder;
  private readonly apiRequests: IamRequest[] = [];
  private readonly commands = new Map<string, string[]>();
  /** Bodies the ingest function sent to the events queue, by event id. */
  private readonly queued = new Map<string, string>();
  /** Follow-up messages of a fan-out the processor sent to the events queue. */
  private readonly followUps: string[] = [];
  private sqsFailures = 0;
  private readonly receivers: Receiver[] = [];
  private ingest!: ApiHandler;
  private management!: ApiHandler;
  private processor!: ProcessorHandler;

  constructor(
    private readonly model: ResolvedTemplate,
    private readonly services: LocalServices,
    private readonly assetDirs: Readonly<Record<string, string>>,
  ) {
    this.recorder = new RequestRecorder((table, index) => model.partitionKey(table, index));
  }

  /** Creates the template's tables in dynalite under the names the template resolver gave them. */
  public async createTables(): Promise<void> {
    for (const [id, table] of this.model.ofType('AWS::DynamoDB::Table')) {
      const p = table.Properties!;
      await this.services.dynamo.client.send(new CreateTableCommand({
        TableName: this.model.physicalName(id),
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: p.KeySchema,
        AttributeDefinitions: p.AttributeDefinitions,
        ...(p.GlobalSecondaryIndexes ? {
          GlobalSecondaryIndexes: p.GlobalSecondaryIndexes.map((g: any) => ({
            IndexName: g.IndexName, KeySchema: g.KeySchema, Projection: g.Projection,
          })),
        } : {}),
      }));
    }
  }

  public async run(): Promise<ScenarioRun> {
    await this.createTables();
    this.ingest = this.load<{ handler: ApiHandler }>(this.model.fn('Ingest'), 'ingest').handler;
    this.management = this.load<{ handler: ApiHandler }>(this.model.fn('Management'), 'management').handler;
    this.processor = this.load<{ handler: ProcessorHandler }>(this.model.fn('Processor'), 'processor').handler;
    try {
      await this.ingestScenarios();
      await this.managementAndProcessorScenarios();
    } finally {
      await Promise.all(this.receivers.map((r) => r.close()));
      for (const name of HANDLER_VARIABLES) delete process.env[name];
    }
    return { requests: [...this.recorder.requests, ...this.apiRequests], problems: this.recorder.problems, commands: this.commands };
  }

  private get fifo(): boolean {
    return this.model.fn('Ingest').environment.QUEUE_FIFO === 'true';
  }

  private get email(): boolean {
    return this.model.fn('Processor').environment.EMAIL_FROM_ADDRESS !== undefined;
  }

  /** Event schemas travel in the processor's settings file. */
  private get schemas(): boolean {
    return this.model.fn('Processor').environment.SETTINGS_FILE !== undefined;
  }

  private get inbound(): boolean {
    return this.model.fn('Ingest').environment.INBOUND_SECRET_IDS !== undefined;
  }

  /**
   * Loads a fresh copy of a handler with the environment its template gives it (plus local
   * endpoints), records its clients' requests and answers SQS and Secrets Manager locally.
   */
  private load<T extends object>(fn: FunctionWiring, bundle: 'ingest' | 'management' | 'processor'): T {
    for (const name of HANDLER_VARIABLES) delete process.env[name];
    Object.assign(process.env, {
      ...fn.environment,
      ...FAKE_AWS_ENV,
      AWS_REGION: REGION,
      AWS_ENDPOINT_URL_DYNAMODB: this.services.dynamo.endpoint,
      AWS_ENDPOINT_URL_SESV2: this.services.ses.endpoint,
      // Never reached (answered before the network), but never AWS either.
      AWS_ENDPOINT_URL_SQS: 'http://127.0.0.1:9',
      AWS_ENDPOINT_URL_SECRETS_MANAGER: 'http://127.0.0.1:9',
      // The settings file (SETTINGS_FILE) is read from the function's asset, as Lambda unpacks it.
      ...(this.assetDirs[fn.logicalId] ? { LAMBDA_TASK_ROOT: this.assetDirs[fn.logicalId] } : {}),
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      POWERTOOLS_METRICS_DISABLED: 'true',
      // Local receivers listen on 127.0.0.1 (the construct never sets this; it allows no AWS call).
      ALLOW_PRIVATE_TARGETS: 'true',
    });
    let loaded: { module: T; clients: AwsClientsModule } | undefined;
    jest.isolateModules(() => {
      const clients = jest.requireActual<AwsClientsModule>('../../lambda/adapters/aws-clients');
      const module = jest.requireActual<T>(`../../lambda/handlers/${bundle}`);
      loaded = { module, clients };
    });
    if (!loaded) throw new Error(`${bundle} did not load`);
    const { clients } = loaded;
    const caller = { principal: fn.sessionArn, roleId: fn.roleId, roleArn: fn.roleArn, account: ACCOUNT };
    for (const client of [clients.dynamoDocumentClient(), clients.sqs(), clients.ses(), clients.secretsManager()]) {
      this.recorder.attach(client as any, caller);
    }
    answerLocally(clients.sqs() as any, {
      SendMessageCommand: (input) => {
        if (this.sqsFailures > 0) {
          this.sqsFailures--;
          throw Object.assign(new Error('The queue is not available'), { name: 'ServiceUnavailable' });
        }
        const body = JSON.parse(input.MessageBody);
        if (input.QueueUrl === fn.environment.QUEUE_URL && body.eventId) this.queued.set(body.eventId, input.MessageBody);
        // The SDK checks the MD5 of the body SQS reports back.
        return { MessageId: randomUUID(), MD5OfMessageBody: md5(input.MessageBody) };
      },
      SendMessageBatchCommand: (input) => {
        for (const entry of input.Entries) {
          const body = JSON.parse(entry.MessageBody);
          if (body.fanOut) this.followUps.push(entry.MessageBody);
          else this.queued.set(body.eventId, entry.MessageBody);
        }
        const successful = input.Entries.map((e: any) => ({ Id: e.Id, MessageId: randomUUID(), MD5OfMessageBody: md5(e.MessageBody) }));
        return { Successful: successful, Failed: [] };
      },
      ChangeMessageVisibilityCommand: () => ({}),
    });
    answerLocally(clients.secretsManager() as any, {
      GetSecretValueCommand: (input) => {
        if (input.VersionStage === 'AWSPREVIOUS') {
          throw Object.assign(new Error('no AWSPREVIOUS version'), { name: 'ResourceNotFoundException' });
        }
        return { ARN: input.SecretId, SecretString: INBOUND_SECRET, VersionStages: ['AWSCURRENT'] };
      },
    });
    return loaded.module;
  }

  /** Runs `body` as one named scenario: its requests carry the name; its SDK commands are kept. */
  private async scenario<T>(name: string, body: () => Promise<T>): Promise<T> {
    this.recorder.scenario = name;
    const mark = this.recorder.commands.length;
    try {
      return await body();
    } finally {
      this.commands.set(name, this.recorder.commands.slice(mark));
      this.recorder.scenario = 'between scenarios';
    }
  }

  /** Invokes an API function as API Gateway does, and records API Gateway's invoke of it. */
  private async api(fn: 'Ingest' | 'Management', options: ApiEventOptions): Promise<APIGatewayProxyResult> {
    const event = apiEvent(options);
    this.apiRequests.push(apiGatewayInvoke(this.model, this.model.fn(fn).arn, event.httpMethod, event.path, this.recorder.scenario));
    return (fn === 'Ingest' ? this.ingest : this.management)(event);
  }

  private async publish(
    eventType: string, headers: Record<string, string> = {}, extra: Record<string, unknown> = {},
  ): Promise<APIGatewayProxyResult> {
    return this.api('Ingest', {
      method: 'POST',
      resource: '/events',
      apiKeyId: PUBLISHER,
      headers,
      body: { eventType, severity: 'HIGH', title: 'IAM harness event', details: { version: '1.0.0' }, ...extra },
    });
  }

  private async ingestScenarios(): Promise<void> {
    await this.scenario('ingest: POST /events', async () => {
      expectStatus(await this.publish('iam.single.created'), 202);
    });
    await this.scenario('ingest: POST /events/batch', async () => {
      const events = [1, 2, 3].map((i) => ({ eventType: 'iam.batch.created', severity: 'LOW', title: `batch ${i}` }));
      expectStatus(await this.api('Ingest', { method: 'POST', resource: '/events/batch', apiKeyId: PUBLISHER, body: { events } }), 202, 207);
    });
    const key = { 'Idempotency-Key': `iam-${randomUUID()}` };
    await this.scenario('ingest: idempotency claim, then release after a failed send', async () => {
      this.sqsFailures = 1;
      expectStatus(await this.publish('iam.idempotent.created', key), 503);
    });
    await this.scenario('ingest: idempotency read and take-over, send, mark enqueued', async () => {
      expectStatus(await this.publish('iam.idempotent.created', key), 202);
    });
    await this.scenario('ingest: idempotency replay (read only)', async () => {
      const replay = await this.publish('iam.idempotent.created', key);
      expectStatus(replay, 202);
    });
    if (this.inbound) {
      await this.scenario('ingest: inbound webhook (secret read, idempotency by delivery id)', async () => {
        const body = JSON.stringify({ ref: 'refs/heads/main', repository: { full_name: 'octo/hello' } });
        const signature = `sha256=${createHmac('sha256', INBOUND_SECRET).update(body, 'utf8').digest('hex')}`;
        expectStatus(await this.api('Ingest', {
          method: 'POST',
          resource: '/webhooks/{source}',
          pathParameters: { source: INBOUND_SOURCE_NAME },
          apiKeyId: null,
          body,
          headers: { 'X-GitHub-Event': 'push', 'X-GitHub-Delivery': randomUUID(), 'X-Hub-Signature-256': signature },
        }), 202);
      });
    }
  }

  private async subscribe(eventType: string, channel: 'WEBHOOK' | 'EMAIL', target: string): Promise<string> {
    const created = await this.api('Management', {
      method: 'POST', resource: '/subscriptions', apiKeyId: OWNER, body: { eventType, channel, target },
    });
    expectStatus(created, 201);
    return JSON.parse(created.body).subscriptionId;
  }

  private async receiver(status: number): Promise<Receiver> {
    const receiver = await startReceiver({ responder: () => ({ status }) });
    this.receivers.push(receiver);
    return receiver;
  }

  /** Publishes through the ingest handler and runs the message it queued through the processor. */
  private async deliver(
    eventType: string, options: { receiveCount?: number; body?: string; extra?: Record<string, unknown> } = {},
  ): Promise<{ eventId: string; body: string; result: SQSBatchResponse }> {
    let body = options.body;
    if (body === undefined) {
      const accepted = await this.publish(eventType, {}, options.extra);
      expectStatus(accepted, 202);
      const eventId = JSON.parse(accepted.body).eventId as string;
      body = this.queued.get(eventId);
      if (!body) throw new Error(`the ingest function queued nothing for ${eventId}`);
    }
    const record = sqsRecord({ body, receiveCount: options.receiveCount, ...(this.fifo ? { messageGroupId: eventType } : {}) });
    const result = await this.processor(sqsEvent(record), lambdaContext(this.model.fn('Processor').name));
    return { eventId: JSON.parse(body).eventId, body, result };
  }

  private async managementAndProcessorScenarios(): Promise<void> {
    const ok = await this.receiver(200);
    const failing = await this.receiver(500);
    const gone = await this.receiver(410);

    const subscription = await this.scenario('management: POST /subscriptions', () => this.subscribe('iam.deliver.*', 'WEBHOOK', `${ok.url}/hook`));
    await this.scenario('management: GET /subscriptions', async () => {
      expectStatus(await this.api('Management', { method: 'GET', resource: '/subscriptions', apiKeyId: OWNER }), 200);
    });
    const byId = { resource: '/subscriptions/{subscriptionId}', pathParameters: { subscriptionId: subscription }, apiKeyId: OWNER };
    await this.scenario('management: GET /subscriptions/{id}', async () => {
      expectStatus(await this.api('Management', { method: 'GET', ...byId }), 200);
    });
    await this.scenario('management: PATCH /subscriptions/{id}', async () => {
      expectStatus(await this.api('Management', { method: 'PATCH', ...byId, body: { severityFilter: 'MEDIUM' } }), 200);
    });
    await this.scenario('management: POST /subscriptions/{id}/secret/rotate', async () => {
      expectStatus(await this.api('Management', { method: 'POST', ...byId, resource: '/subscriptions/{subscriptionId}/secret/rotate' }), 200);
    });
    const throwaway = await this.scenario('management: POST /subscriptions (to delete)', () => this.subscribe('iam.throwaway', 'WEBHOOK', `${ok.url}/throwaway`));
    await this.scenario('management: DELETE /subscriptions/{id}', async () => {
      expectStatus(await this.api('Management', {
        method: 'DELETE', resource: '/subscriptions/{subscriptionId}', pathParameters: { subscriptionId: throwaway }, apiKeyId: OWNER,
      }), 204);
    });

    await this.scenario('management: POST /subscriptions (processor fixtures)', async () => {
      await this.subscribe('iam.retry.*', 'WEBHOOK', `${failing.url}/hook`);
      await this.subscribe('iam.dlq.*', 'WEBHOOK', `${failing.url}/hook`);
      await this.subscribe('iam.gone.*', 'WEBHOOK', `${gone.url}/hook`);
      if (this.email) await this.subscribe('iam.mail.*', 'EMAIL', `ops-${randomUUID()}@example.com`);
    });

    const delivered = await this.scenario('processor: new event (store, match, deliver, record)', async () => {
      const run = await this.deliver('iam.deliver.finished');
      expect(run.result.batchItemFailures).toEqual([]);
      expect(ok.requests.length).toBeGreaterThan(0);
      return run;
    });
    await this.scenario('processor: repeat of a stored event (reads its notifications)', async () => {
      const again = await this.deliver('iam.deliver.finished', { body: delivered.body, receiveCount: 2 });
      expect(again.result.batchItemFailures).toEqual([]);
    });
    await this.scenario('management: GET /events/{id}', async () => {
      expectStatus(await this.api('Management', {
        method: 'GET', resource: '/events/{eventId}', pathParameters: { eventId: delivered.eventId }, apiKeyId: PUBLISHER,
      }), 200);
    });
    await this.scenario('processor: retry later (visibility timeout)', async () => {
      const run = await this.deliver('iam.retry.finished');
      expect(run.result.batchItemFailures).toHaveLength(1);
    });
    await this.scenario('processor: last receive dead-letters the failed delivery', async () => {
      const maxReceiveCount = Number(this.model.fn('Processor').environment.MAX_RECEIVE_COUNT);
      const run = await this.deliver('iam.dlq.finished', { receiveCount: maxReceiveCount });
      expect(run.result.batchItemFailures).toEqual([]);
    });
    await this.scenario('processor: 410 Gone pauses the subscription', async () => {
      await this.deliver('iam.gone.finished');
      expect(gone.requests.length).toBeGreaterThan(0);
    });
    if (!this.fifo) {
      // More subscriptions than one follow-up holds (75 with the default webhook timeout).
      await this.scenario('management: POST /subscriptions (a large fan-out)', async () => {
        for (let i = 0; i < 76; i++) await this.subscribe('iam.fanout.*', 'WEBHOOK', `${ok.url}/fan-out/${i}`);
      });
      await this.scenario('processor: large fan-out split into follow-up messages on the events queue', async () => {
        expect((await this.deliver('iam.fanout.finished')).result.batchItemFailures).toEqual([]);
        expect(this.followUps).toHaveLength(2);
      });
      await this.scenario('processor: a follow-up reads its part\'s records by key range and delivers them', async () => {
        const [body] = this.followUps;
        expect((await this.deliver('iam.fanout.finished', { body, receiveCount: 2 })).result.batchItemFailures).toEqual([]);
      });
    }
    if (this.email) {
      await this.scenario('processor: email delivery (SES)', async () => {
        const run = await this.deliver('iam.mail.sent');
        expect(run.result.batchItemFailures).toEqual([]);
        const mails = (await this.services.ses.emails()).filter((m) => m.from === EMAIL_FROM);
        expect(mails.length).toBeGreaterThan(0);
      });
    }
    await this.scenario('processor: rejected event (stored REJECTED, dead-lettered)', async () => {
      // A message whose event is not an envelope (no severity, no title).
      const eventJson = '{"eventType":"iam.rejected"}';
      const body = JSON.stringify({ v: 2, eventId: `evt_${'0'.repeat(26)}`, receivedAt: new Date().toISOString(), source: 'api', publisherKeyId: PUBLISHER, eventJson });
      expect((await this.deliver('iam.rejected', { body })).result.batchItemFailures).toEqual([]);
    });
    if (this.schemas) {
      await this.scenario('processor: event refused by its schema (stored REJECTED, dead-lettered)', async () => {
        expect((await this.deliver(SCHEMA_EVENT_TYPE, { extra: { details: undefined } })).result.batchItemFailures).toEqual([]);
      });
    }
  }
}

const md5 = (text: string) => createHash('md5').update(text, 'utf8').digest('hex');

function expectStatus(result: APIGatewayProxyResult, ...statuses: number[]): void {
  if (!statuses.includes(result.statusCode)) {
    throw new Error(`expected HTTP ${statuses.join(' or ')}, got ${result.statusCode}: ${result.body.slice(0, 500)}`);
  }
}
