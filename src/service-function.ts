import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Stack, Token, Tokenization } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import {
  METRICS_NAMESPACE, POWERTOOLS_METRICS_NAMESPACE, POWERTOOLS_SERVICE_NAME, POWERTOOLS_TRACE_ENABLED, SETTINGS_FILE_NAME, SETTINGS_FILE_VARIABLE,
} from './contract';
import { acknowledge, NagAcknowledgment } from './nag';
import { ServiceSettings } from './settings';

/** The prebuilt handler bundles (assets/<name>/index.js, built from lambda/handlers). */
export type HandlerBundle = 'ingest' | 'management' | 'processor';

/** What every function of one service is built with (src/functions/*). */
export interface ServiceFunctionContext {
  /** The service's unique name: Powertools' service name, the metrics' dimension. */
  readonly serviceName: string;
  /** The props after defaults and validation. */
  readonly settings: ServiceSettings;
  /** The service key: log groups, and the queues and tables the function reads and writes. */
  readonly encryptionKey: kms.IKey;
  /** X-Ray active tracing. */
  readonly tracing: boolean;
}

/** Why a function API Gateway invokes needs no dead-letter queue. */
export const INVOKED_BY_API_GATEWAY: NagAcknowledgment = {
  id: 'Serverless-LambdaDLQ',
  reason: 'Invoked synchronously by API Gateway, which waits for the answer and returns errors to the caller; a DLQ only serves asynchronous invocations.',
};

export interface ServiceFunctionProps {
  /** The service's name, settings and key: log retention and encryption, removal policy, tracing, and this bundle's sizing. */
  readonly context: ServiceFunctionContext;
  readonly bundle: HandlerBundle;
  readonly description: string;
  readonly environment: Record<string, string>;
  /**
   * Settings too large for Lambda's 4 KB environment (event schemas, inbound sources): written
   * to `settings.json` inside the function's asset and named by SETTINGS_FILE.
   */
  readonly settingsFile?: Record<string, string>;
}

/** Locates a prebuilt bundle; it ships in the npm package next to lib/. */
export function handlerAssetPath(bundle: HandlerBundle): string {
  const dir = path.join(__dirname, '..', 'assets', bundle);
  if (!fs.existsSync(path.join(dir, 'index.js'))) {
    throw new Error(`The ${bundle} handler bundle is missing at ${dir}. Run "npx projen bundle:handlers" (the build does this).`);
  }
  return dir;
}


/** Lambda's limit on a function's environment: the JSON of the variables, at most 4 KB. */
export const MAX_ENVIRONMENT_BYTES = 4096;

/**
 * A token (a table name, a queue URL) is resolved only at deploy time. Count it as the longest
 * value it can be here: a queue URL of an 80-character name in a long region is ~130 bytes.
 */
const TOKEN_ALLOWANCE_BYTES = 160;

/** The environment's size as Lambda measures it, each token in a value counted at its allowance. */
export function environmentBytes(environment: Record<string, string>): number {
  let size = Buffer.byteLength(JSON.stringify(environment));
  for (const value of Object.values(environment)) {
    if (!Token.isUnresolved(value)) continue;
    const tokens = Tokenization.reverseString(value).tokens.length;
    const literal = value.replace(/\$\{Token\[[^\]]*\]\}/g, '');
    size += Buffer.byteLength(JSON.stringify(literal)) + tokens * TOKEN_ALLOWANCE_BYTES - Buffer.byteLength(JSON.stringify(value));
  }
  return size;
}

/**
 * The bundle's files (index.js and the tracer it loads when tracing is on) plus its settings
 * file, in a folder of its own (named by their content, so the same settings give the same
 * asset hash on every synth).
 */
function stagedAsset(bundle: HandlerBundle, settings: Record<string, string>): string {
  const source = handlerAssetPath(bundle);
  const settingsJson = JSON.stringify(settings);
  const files = fs.readdirSync(source).sort().map((name) => ({ name, code: fs.readFileSync(path.join(source, name)) }));
  const hash = createHash('sha256');
  for (const file of files) hash.update(file.name).update(file.code);
  const digest = hash.update(settingsJson).digest('hex').slice(0, 16);
  const dir = path.join(os.tmpdir(), `event-notification-service-${bundle}-${digest}`);
  if (!fs.existsSync(path.join(dir, SETTINGS_FILE_NAME))) {
    fs.mkdirSync(dir, { recursive: true });
    for (const file of files) fs.writeFileSync(path.join(dir, file.name), file.code);
    fs.writeFileSync(path.join(dir, SETTINGS_FILE_NAME), settingsJson);
  }
  return dir;
}

/**
 * A Lambda function of the service: prebuilt asset, arm64, current Node.js LTS, its own log
 * group with retention, and its own role holding only what is granted to it (no managed policies).
 */
export class ServiceFunction extends Construct {
  public readonly function: lambda.Function;
  public readonly logGroup: logs.LogGroup;
  public readonly role: iam.Role;
  private readonly environment: Record<string, string>;

  constructor(scope: Construct, id: string, props: ServiceFunctionProps) {
    super(scope, id);
    const { serviceName, settings, encryptionKey, tracing } = props.context;
    const sizing = settings.functions[props.bundle];
    const hasSettings = props.settingsFile !== undefined && Object.keys(props.settingsFile).length > 0;
    if (hasSettings && Token.isUnresolved(JSON.stringify(props.settingsFile))) {
      throw new Error(`${this.node.path}: a settings file cannot hold deploy-time values (tokens); pass them in the environment`);
    }
    const environment = {
      [POWERTOOLS_SERVICE_NAME]: serviceName,
      [POWERTOOLS_METRICS_NAMESPACE]: METRICS_NAMESPACE,
      // The Powertools Tracer is on by default in Lambda; off, the handlers do not even load it.
      ...(tracing ? {} : { [POWERTOOLS_TRACE_ENABLED]: 'false' }),
      ...props.environment,
      ...(hasSettings ? { [SETTINGS_FILE_VARIABLE]: SETTINGS_FILE_NAME } : {}),
    };
    this.environment = environment;
    // Checked at synth, so variables added later (addEnvironment) count too.
    this.node.addValidation({
      validate: () => {
        const size = environmentBytes(this.environment);
        return size > MAX_ENVIRONMENT_BYTES
          ? [`the function's environment would be about ${size} bytes once deployed; Lambda allows ${MAX_ENVIRONMENT_BYTES}`]
          : [];
      },
    });
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: settings.logRetention,
      encryptionKey, // its policy lets CloudWatch Logs use it (src/encryption-key.ts)
      removalPolicy: settings.removalPolicy,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `${props.description} (execution role)`,
    });
    this.function = new lambda.Function(this, 'Function', {
      description: props.description,
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      handler: 'index.handler',
      code: lambda.Code.fromAsset(hasSettings ? stagedAsset(props.bundle, props.settingsFile!) : handlerAssetPath(props.bundle)),
      memorySize: sizing.memorySize,
      timeout: sizing.timeout,
      reservedConcurrentExecutions: sizing.reservedConcurrentExecutions,
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      applicationLogLevelV2: lambda.ApplicationLogLevel.INFO,
      systemLogLevelV2: lambda.SystemLogLevel.WARN,
      environment,
      tracing: tracing ? lambda.Tracing.ACTIVE : undefined,
    });
    this.logGroup.grantWrite(this.role);
    if (tracing) {
      acknowledge(this.role, {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'X-Ray active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions, so IAM requires Resource "*".',
      });
    } else {
      acknowledge(this.function, {
        id: 'Serverless-LambdaTracing',
        reason: 'X-Ray tracing was turned off by the tracing: false prop of EventNotificationService (on by default).',
      });
    }
    acknowledge(this.role,
      {
        id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(this.logGroup.node.defaultChild as logs.CfnLogGroup)}.Arn>:*]`,
        reason: 'Lambda writes to log streams it creates at run time inside its own log group; their names are not known in advance.',
      },
    );
  }

  /** Adds a variable to the function's environment (counted against Lambda's 4 KB at synth). */
  public addEnvironment(name: string, value: string): void {
    this.environment[name] = value;
    this.function.addEnvironment(name, value);
  }

}
