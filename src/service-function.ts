import * as fs from 'node:fs';
import * as path from 'node:path';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledge } from './nag';

/** The prebuilt handler bundles (assets/<name>/index.js, built from lambda/handlers). */
export type HandlerBundle = 'ingest' | 'management' | 'processor';

export interface ServiceFunctionProps {
  readonly bundle: HandlerBundle;
  readonly description: string;
  readonly memorySize: number;
  readonly timeout: Duration;
  readonly environment: Record<string, string>;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
}

/** Locates a prebuilt bundle; it ships in the npm package next to lib/. */
export function handlerAssetPath(bundle: HandlerBundle): string {
  const dir = path.join(__dirname, '..', 'assets', bundle);
  if (!fs.existsSync(path.join(dir, 'index.js'))) {
    throw new Error(`The ${bundle} handler bundle is missing at ${dir}. Run "npx projen bundle:handlers" (the build does this).`);
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

  constructor(scope: Construct, id: string, props: ServiceFunctionProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
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
      code: lambda.Code.fromAsset(handlerAssetPath(props.bundle)),
      memorySize: props.memorySize,
      timeout: props.timeout,
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      applicationLogLevelV2: lambda.ApplicationLogLevel.INFO,
      systemLogLevelV2: lambda.SystemLogLevel.WARN,
      environment: props.environment,
    });
    this.logGroup.grantWrite(this.role);
    acknowledge(this.role,
      {
        id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(this.logGroup.node.defaultChild as logs.CfnLogGroup)}.Arn>:*]`,
        reason: 'Lambda writes to log streams it creates at run time inside its own log group; their names are not known in advance.',
      },
    );
  }

}
